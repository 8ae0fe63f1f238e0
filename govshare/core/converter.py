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
from temporalio.converter import DataConverter

#: One adapter per type hint for the whole process.
_ADAPTERS: Any = functools.lru_cache(maxsize=4096)(TypeAdapter)


class SharedPydanticPayloadConverter(PydanticPayloadConverter):
    """The contrib pydantic payload converter, whose JSON converter uses the process-wide cache."""

    def __init__(self) -> None:
        super().__init__()
        for converter in self.converters.values():
            if isinstance(converter, PydanticJSONPlainPayloadConverter):
                converter._type_adapter = _ADAPTERS


DATA_CONVERTER = DataConverter(payload_converter_class=SharedPydanticPayloadConverter)

__all__ = ["DATA_CONVERTER", "SharedPydanticPayloadConverter"]
