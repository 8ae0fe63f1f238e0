"""One factory for the Temporal client, shared by the API, the worker and the tests.

The pydantic data converter is required: workflow inputs carry ``datetime``/``date`` fields and the
pinned profile rules (pydantic models), which the default JSON converter cannot round-trip.
"""

from __future__ import annotations

from temporalio.client import Client

from govshare.core.converter import DATA_CONVERTER
from govshare.core.settings import Settings, get_settings


async def connect_client(settings: Settings | None = None) -> Client:
    settings = settings or get_settings()
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=DATA_CONVERTER,
    )
