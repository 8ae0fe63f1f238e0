"""Does a string say anything a person can see? (issue 23: a blank reason is no reason).

A reason, a withdrawal's grounds, an approver's name must be *visible* text: a string made only of
spaces, zero-width characters or fillers that draw nothing satisfies ``str.strip()`` (U+200B is
not whitespace to Python) but tells the reader nothing. :func:`has_visible_text` is the one check,
used by the API's request types (``api/requests.py``) and by the engine's update validators
(``workflows/engine``).

What counts as invisible (removed before looking for anything left):

- Unicode general categories **Cc** (controls: tab, newline, NUL …), **Cf** (format characters:
  U+200B ZERO WIDTH SPACE, U+200C/U+200D ZW(N)J, U+2060 WORD JOINER, U+FEFF BOM, U+00AD SOFT HYPHEN,
  U+180E MONGOLIAN VOWEL SEPARATOR, bidi marks and isolates U+200E/U+200F/U+202A–U+202E/U+2066–U+2069,
  U+2061–U+2064 invisible operators, tag characters U+E0000–U+E007F …), **Zs** (every space: U+0020,
  U+00A0, U+2000–U+200A, U+202F, U+205F, U+3000 IDEOGRAPHIC SPACE …), **Zl** (U+2028) and **Zp**
  (U+2029);
- the fillers that are letters or symbols by category but draw nothing: U+115F HANGUL CHOSEONG
  FILLER, U+1160 HANGUL JUNGSEONG FILLER, U+3164 HANGUL FILLER, U+FFA0 HALFWIDTH HANGUL FILLER,
  U+2800 BRAILLE PATTERN BLANK (:data:`INVISIBLE_FILLERS`);
- and a remainder made only of combining marks (category **Mn**, e.g. U+034F COMBINING GRAPHEME
  JOINER, U+FE00–U+FE0F variation selectors, U+0301 alone) has nothing to combine with: invisible
  too. Marks on a visible base (é written as e + U+0301) are of course fine.

Everything else is visible: letters, digits, punctuation, symbols, CJK, emoji.
"""

from __future__ import annotations

import unicodedata

#: Categories whose characters never draw anything on their own.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})

#: Characters of other categories (Lo, So) that render as blank.
INVISIBLE_FILLERS = frozenset(
    {
        "\u115f",  # HANGUL CHOSEONG FILLER (Lo)
        "\u1160",  # HANGUL JUNGSEONG FILLER (Lo)
        "\u3164",  # HANGUL FILLER (Lo)
        "\uffa0",  # HALFWIDTH HANGUL FILLER (Lo)
        "\u2800",  # BRAILLE PATTERN BLANK (So)
        "\u17b4",  # KHMER VOWEL INHERENT AQ (Mn; listed for clarity)
        "\u17b5",  # KHMER VOWEL INHERENT AA (Mn; listed for clarity)
    }
)


def visible_characters(text: str) -> str:
    """``text`` without its invisible characters (see the module docstring); marks stay."""
    return "".join(
        ch
        for ch in text
        if ch not in INVISIBLE_FILLERS and unicodedata.category(ch) not in INVISIBLE_CATEGORIES
    )


def has_visible_text(text: object) -> bool:
    """True when ``text`` is a string with at least one character a reader can see: something left
    after removing controls, format characters, separators and blank fillers, and not only combining
    marks. Not a string → False."""
    if not isinstance(text, str):
        return False
    return any(unicodedata.category(ch) != "Mn" for ch in visible_characters(text))
