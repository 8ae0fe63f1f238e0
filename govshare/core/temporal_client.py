"""One factory for the Temporal client, shared by the API, the worker and the tests.

The pydantic data converter is required: workflow inputs carry ``datetime``/``date`` fields and the
pinned profile rules (pydantic models), which the default JSON converter cannot round-trip.
"""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client
from temporalio.service import TLSConfig

from govshare.core.converter import DATA_CONVERTER
from govshare.core.settings import Settings, get_settings


async def connect_client(settings: Settings | None = None) -> Client:
    settings = settings or get_settings()
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=DATA_CONVERTER,
        tls=tls_config(settings),
    )


def tls_config(settings: Settings) -> TLSConfig | bool:
    """mTLS to the frontend when ``TEMPORAL_TLS_CERT`` / ``_KEY`` (and ``_CA``) name PEM files; False
    (plain, as the embedded dev server on loopback) when none is set. A certificate without its key,
    or a key without its certificate, is refused."""
    cert, key, ca = settings.temporal_tls_cert, settings.temporal_tls_key, settings.temporal_tls_ca
    if not (cert or key or ca):
        return False
    if bool(cert) != bool(key):
        raise ValueError(
            "TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together (this client's certificate, key)"
        )
    return TLSConfig(
        server_root_ca_cert=Path(ca).read_bytes() if ca else None,
        client_cert=Path(cert).read_bytes() if cert else None,
        client_private_key=Path(key).read_bytes() if key else None,
    )
