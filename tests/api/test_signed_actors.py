"""Issue 23: a decision that did not come through the API is refused by the case itself.

Against the suite's running system (dev server, worker, API): a client that talks to Temporal
directly — as anyone who reaches its port could — sends ``decide`` naming the platform. Unsigned,
signed with another key, or signed for another case, it is refused and nothing changes (the case
stays at its first task, no audit event is added); signed with the deployment's key it is taken,
which proves the check is the only thing in the way. The API's own path keeps working throughout.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from api_helpers import AUDITOR, CONSUMER, PLATFORM, SCJGJ, auth
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy

from govshare.core.converter import DATA_CONVERTER
from workflows import registry
from workflows.case import Actor, CaseAnswer, CaseFile, DecisionRequest
from workflows.engine import signing

#: What an outsider claims to be: the platform's clerk.
PLATFORM_ACTOR = Actor("bdb", "platform", "刘洋")


def raw_client(api) -> Client:
    """A client to the same Temporal server that signs nothing (the suite's clients sign)."""
    return Client(
        api.env.client.service_client, namespace=api.env.client.namespace, data_converter=DATA_CONVERTER
    )


def workflow_id(case_id: str) -> str:
    kind = registry.by_case_id(case_id)
    assert kind is not None
    return kind.workflow_id(case_id)


def accept(**kw) -> DecisionRequest:
    return DecisionRequest(actor=PLATFORM_ACTOR, action="accept", step="platform_check", **kw)


async def events(api, case_id: str) -> list[dict]:
    response = await api.http.get(f"/applications/{case_id}/events", headers=auth(AUDITOR))
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def refused(client: Client, case_id: str, req: DecisionRequest) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await client.get_workflow_handle(workflow_id(case_id)).execute_update(
            "decide", req, result_type=CaseAnswer
        )
    cause = err.value.cause
    assert getattr(cause, "type", None) == "Forbidden", cause
    return str(cause)


async def unchanged(api, client: Client, case_id: str, trail: list[dict]) -> None:
    state = await client.get_workflow_handle(workflow_id(case_id)).query("state", result_type=CaseFile)
    assert [t.step for t in state.open_tasks] == ["platform_check"]
    assert all(t.decision is None for t in state.tasks)
    seen = await api.get_case(CONSUMER, case_id)
    assert seen["open_task"]["step"] == "platform_check"
    assert await events(api, case_id) == trail


async def test_a_decision_sent_past_the_api_is_refused_unless_the_api_signed_it(api):
    client = raw_client(api)
    case = await api.apply()
    other = await api.apply()
    case_id = case["id"]
    trail = await events(api, case_id)
    key = signing.key_from_settings(api.settings)
    wid = workflow_id(case_id)

    # (a) No signature: what `temporal workflow update execute --name decide` sends.
    assert "not signed" in await refused(client, case_id, accept())
    await unchanged(api, client, case_id, trail)

    # (b) Signed, but with a key that is not the deployment's.
    forged = signing.sign(accept(), wid, "decide", bytes(32 * [7]))
    assert "does not match" in await refused(client, case_id, forged)
    await unchanged(api, client, case_id, trail)

    # (c) A good signature, for another case (and one for another Update on this case).
    elsewhere = signing.sign(accept(), workflow_id(other["id"]), "decide", key)
    assert "does not match" in await refused(client, case_id, elsewhere)
    other_update = signing.sign(accept(), wid, "withdraw", key)
    assert "does not match" in await refused(client, case_id, other_update)
    # … a good one issued eleven minutes ago, and a signed consumer request turned into the platform's.
    stale = signing.sign(accept(), wid, "decide", key, issued_at=datetime.now(UTC) - timedelta(minutes=11))
    assert "10 minutes" in await refused(client, case_id, stale)
    as_consumer = signing.sign(
        DecisionRequest(actor=Actor("rsj", "consumer", "clerk"), action="accept", step="platform_check"),
        wid,
        "decide",
        key,
    )
    as_consumer.actor = PLATFORM_ACTOR
    assert "does not match" in await refused(client, case_id, as_consumer)
    await unchanged(api, client, case_id, trail)

    # (d) Signed with the deployment's key for this case and Update: taken (the path works).
    answer = await client.get_workflow_handle(wid).execute_update(
        "decide", signing.sign(accept(), wid, "decide", key), result_type=CaseAnswer
    )
    assert [t.step for t in answer.open_tasks] == ["provider_authorization"]

    # The API's own path keeps working, on this case and on the other.
    case = await api.decide(SCJGJ, case_id, "provider_authorization", "grant")
    assert case["result"] == "granted"
    assert (await api.decide(PLATFORM, other["id"], "platform_check", "accept"))["open_task"]["step"] == (
        "provider_authorization"
    )


async def test_a_signed_grant_that_breaks_the_door_s_date_rule_is_refused(api):
    """A request signed but sent past the API is held to the API's checks (a grant's end in the past)."""
    client = raw_client(api)
    case = await api.apply()
    await api.decide(PLATFORM, case["id"], "platform_check", "accept")
    wid = workflow_id(case["id"])
    grant = DecisionRequest(
        actor=Actor("scjgj", "provider", "reviewer"),
        action="grant",
        step="provider_authorization",
        payload={"valid_until": "2020-01-01T00:00:00+08:00"},
    )
    signed = signing.sign(grant, wid, "decide", signing.key_from_settings(api.settings))
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await client.get_workflow_handle(wid).execute_update("decide", signed, result_type=CaseAnswer)
    assert getattr(err.value.cause, "type", None) == "Invalid"


async def test_a_case_started_past_the_api_records_nothing(api):
    """An unsigned start (submitted_by forged) fails its first workflow task: no case row, no trail."""
    from factories import application, resource

    client = raw_client(api)
    inp = application("hubei", resource(), case_id=f"SA-FORGED{uuid.uuid4().hex[:6].upper()}")
    inp.case.directory = {"platform": "bdb", "leading_group": "lgo", "coordinator": "jxw"}
    handle = await client.start_workflow(
        registry.SHARING_APPLICATION.workflow_type,
        inp,
        id=workflow_id(inp.case.case_id),
        task_queue=api.settings.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    try:
        failure = ""
        for _ in range(150):
            async for event in handle.fetch_history_events():
                if event.HasField("workflow_task_failed_event_attributes"):
                    failure = event.workflow_task_failed_event_attributes.failure.message
            if failure:
                break
            await asyncio.sleep(0.1)
        assert "case start refused" in failure and "not signed" in failure
        response = await api.http.get(f"/applications/{inp.case.case_id}", headers=auth(AUDITOR))
        assert response.status_code == 404, response.text
    finally:
        await handle.terminate("test: a forged start")
