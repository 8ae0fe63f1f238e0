"""Building blocks for workflow tests and the sample-history recorder: parties, resources, inputs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from govshare.case_service import build_sharing_application
from workflows.case import Actor, ResourceSnapshot
from workflows.contracts import SharingApplicationInput

CONSUMER = Actor("rsj", "consumer", "clerk")
PROVIDER = Actor("gaj", "provider", "reviewer")
PLATFORM = Actor("bdb", "platform", "operator")


def resource(share_type: str = "conditional", *, controlled: bool = False, **kw) -> ResourceSnapshot:
    return ResourceSnapshot(
        id=kw.pop("id", "RES-POP-001"),
        version=1,
        name_zh="人口基础信息",
        name_en="Population basic data",
        provider_department="gaj",
        share_type=share_type,
        controlled_parameters=controlled,
        sharing_modes=kw.pop("modes", ["system_docking", "data_comparison"]),
        legal_basis=kw.pop("legal_basis", ""),
        fields=["name", "id_number", "address"],
    )


def application(
    profile: str,
    res: ResourceSnapshot,
    submitted_at: datetime | None = None,
    mode: str = "",
    case_id: str | None = None,
) -> SharingApplicationInput:
    return build_sharing_application(
        case_id=case_id or f"SA-TEST-{uuid.uuid4().hex[:8].upper()}",
        profile_id=profile,
        resource=res,
        consumer_department="rsj",
        platform_department="bdb",
        purpose="社会保险待遇资格认证",
        reason="核验参保人员身份",
        requested_fields=["name", "id_number"],
        requested_mode=mode,
        submitted_at=submitted_at or datetime.now(UTC),
        submitted_by=CONSUMER,
    )
