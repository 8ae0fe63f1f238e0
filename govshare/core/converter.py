"""The data converter every process uses with Temporal: pydantic JSON, with its type adapters shared.

``temporalio.contrib.pydantic``'s converter caches a ``TypeAdapter`` per type, but the cache belongs
to the converter instance, and the workflow sandbox makes a new instance for every workflow run:
each run (and each replayed history) built the adapters of its input, its Updates and its activity
results again — about a third of a replay's time. Here the cache is one for the process, keyed by the
type itself (our dataclasses are passed through the sandbox, so a type is the same object in every
run). The encoding is unchanged (``json/plain``): histories written with either converter read the
same.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import TypeAdapter
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter, PydanticPayloadConverter
from temporalio.converter import CompositePayloadConverter, DataConverter

#: One adapter per type hint for the whole process.
_ADAPTERS: Any = functools.lru_cache(maxsize=4096)(TypeAdapter)


def _prototype() -> PydanticPayloadConverter:
    made = PydanticPayloadConverter()
    for converter in made.converters.values():
        if isinstance(converter, PydanticJSONPlainPayloadConverter):
            converter._type_adapter = _ADAPTERS
    return made


#: The encoding converters, made once: they hold no state but the shared adapter cache (the SDK makes
#: a payload converter per workflow run and per command's serialization context).
_CONVERTERS = tuple(_prototype().converters.values())


class SharedPydanticPayloadConverter(PydanticPayloadConverter):
    """The contrib pydantic payload converter, its encoding converters (and the JSON one's type
    adapters) shared by every instance in the process."""

    def __init__(self) -> None:
        CompositePayloadConverter.__init__(self, *_CONVERTERS)


DATA_CONVERTER = DataConverter(payload_converter_class=SharedPydanticPayloadConverter)

__all__ = ["DATA_CONVERTER", "SharedPydanticPayloadConverter"]
