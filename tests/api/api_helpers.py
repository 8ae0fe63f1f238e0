"""Constants and small helpers shared by the API tests (the demo tokens of ``govshare.seed``)."""

from __future__ import annotations

CONSUMER = "demo-rsj-consumer"
CONSUMER2 = "demo-mzj-consumer"
PLATFORM = "demo-bdb-platform"
GAJ = "demo-gaj-provider"
GAJ_CONSUMER = "demo-gaj-consumer"
SCJGJ = "demo-scjgj-provider"
LEADING_GROUP = "demo-lgo-leading_group"
AUDITOR = "demo-sjj-auditor"


def auth(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}
