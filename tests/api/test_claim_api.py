"""Claiming a task (签收) over HTTP: ``POST`` / ``DELETE /cases/{id}/tasks/{seq}/claim``.

Two persons of the platform department (大数据局) work the platform's check of an application: one
claims it, the other is refused (409, naming the claimer) — to claim, to decide, to release (403);
another party is refused 403, a department not party to the case 404; the claimer releases, the other
claims and decides. The case, the inbox and the task rows show who claimed and who decided, and the
record rebuilt from the history agrees with the projection. A first-generation case takes no claim.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from api_helpers import AUDITOR, CONSUMER, CONSUMER2, PLATFORM, SCJGJ, auth
from sqlmodel import Session

from govshare.core import models
from govshare.core.tokens import token_digest


def new_person(api, department: str, role: str, name: str) -> tuple[str, str]:
    """A person acting in ``department`` in ``role`` (its identity, and a credential naming it)."""
    person = f"P-{uuid.uuid4().hex[:10]}"
    token = f"test-person-{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    with Session(api.engine) as session:
        session.add(
            models.PartyIdentity(
                id=person,
                kind="person",
                name=name,
                id_type="resident_id",
                id_number=f"4103{uuid.uuid4().int % 10**14:014d}",
                department=department,
                created_at=now,
            )
        )
        session.flush()
        session.add(
            models.Credential(
                token_sha256=token_digest(token),
                department_code=department,
                person_id=person,
                role=role,
                label=f"test person {person}",
                created_at=now,
            )
        )
        session.commit()
    return person, token


def claim_url(case_id: str, seq: int) -> str:
    return f"/cases/{case_id}/tasks/{seq}/claim"


def task_row(api, task_id: str) -> models.Task:
    with Session(api.engine) as session:
        row = session.get(models.Task, task_id)
        assert row is not None
        return row


async def test_a_task_claimed_by_one_person_is_decided_by_that_person_only(api):
    zhang, token_a = new_person(api, "bdb", "platform", "张伟")
    li, token_b = new_person(api, "bdb", "platform", "李娜")
    case = await api.apply()
    case_id = case["id"]
    task = case["open_task"]
    seq, task_id = task["seq"], task["task_id"]
    assert task["step"] == "platform_check" and task["claimed_by"] == "" and task["claimed_at"] is None

    # Claimed by the first person: the case shows who and when.
    response = await api.http.post(claim_url(case_id, seq), headers=auth(token_a))
    assert response.status_code == 200, response.text
    (claimed,) = response.json()["open_tasks"]
    assert (claimed["claimed_by"], claimed["claimed_by_name"]) == (zhang, "张伟")
    assert claimed["claimed_at"].endswith("+08:00")
    # Claimed again by its claimer (with an empty body): nothing changes.
    again = await api.http.post(claim_url(case_id, seq), json={}, headers=auth(token_a))
    assert again.status_code == 200, again.text
    assert again.json()["revision"] == response.json()["revision"]
    assert again.json()["open_tasks"][0]["claimed_at"] == claimed["claimed_at"]

    # The other person of the department: refused, naming the claimer — to claim, decide, release.
    other = await api.http.post(claim_url(case_id, seq), headers=auth(token_b))
    assert other.status_code == 409, other.text
    assert "已由张伟签收" in other.json()["detail_zh"] and "张伟" in other.json()["detail_en"]
    decision = {"task_id": task_id, "action": "accept"}
    refused = await api.http.post(f"/cases/{case_id}/decisions", json=decision, headers=auth(token_b))
    assert refused.status_code == 409, refused.text
    assert "张伟" in refused.json()["detail_zh"]
    # The department's own credential acts under its label: not the claimer either.
    assert (await api.http.post(claim_url(case_id, seq), headers=auth(PLATFORM))).status_code == 409
    released_by_other = await api.http.delete(claim_url(case_id, seq), headers=auth(token_b))
    assert released_by_other.status_code == 403, released_by_other.text

    # Another party is not the assignee (403); a department not party to the case does not see it (404).
    assert (await api.http.post(claim_url(case_id, seq), headers=auth(SCJGJ))).status_code == 403
    assert (await api.http.post(claim_url(case_id, seq), headers=auth(CONSUMER2))).status_code == 404
    # A body with anything in it, and a task the case does not have: 422.
    assert (
        await api.http.post(claim_url(case_id, seq), json={"who": "me"}, headers=auth(token_a))
    ).status_code == 422
    assert (await api.http.post(claim_url(case_id, 99), headers=auth(token_a))).status_code == 422

    # The inbox and the case say who claimed it; the task row too.
    (mine,) = [i for i in await api.inbox(token_b) if i["task_id"] == task_id]
    assert (mine["claimed_by"], mine["claimed_by_name"]) == (zhang, "张伟")
    view = (await api.http.get(f"/cases/{case_id}", headers=auth(CONSUMER))).json()
    assert view["open_task"]["claimed_by_name"] == "张伟"
    assert task_row(api, task_id).claimed_by == zhang

    # Released by its claimer; releasing again is refused; the other person claims and decides.
    released = await api.http.delete(claim_url(case_id, seq), headers=auth(token_a))
    assert released.status_code == 200, released.text
    assert released.json()["open_tasks"][0]["claimed_by"] == ""
    assert task_row(api, task_id).claimed_by == ""
    assert (await api.http.delete(claim_url(case_id, seq), headers=auth(token_a))).status_code == 409
    assert (await api.http.post(claim_url(case_id, seq), headers=auth(token_b))).status_code == 200
    decided = await api.http.post(f"/cases/{case_id}/decisions", json=decision, headers=auth(token_a))
    assert decided.status_code == 409 and "李娜" in decided.json()["detail_zh"]
    decided = await api.http.post(f"/cases/{case_id}/decisions", json=decision, headers=auth(token_b))
    assert decided.status_code == 200, decided.text
    (first,) = [t for t in decided.json()["timeline"] if t["task_id"] == task_id]
    assert first["decision"]["actor"]["person"] == li and first["decision"]["actor"]["person_name"] == "李娜"
    assert (first["claimed_by"], first["claimed_by_name"]) == (li, "李娜")
    row = task_row(api, task_id)
    assert (row.claimed_by, row.decided_by, row.status) == (li, li, "done")
    # A task no longer open is not claimed.
    done = await api.http.post(claim_url(case_id, seq), headers=auth(token_a))
    assert done.status_code == 409, done.text

    # The next task is the provider's: unclaimed.
    (provider_task,) = decided.json()["open_tasks"]
    assert provider_task["claimed_by"] == ""
    # The record rebuilt from the history agrees with the projection, the claim columns included.
    for _ in range(50):
        record = (await api.http.get(f"/cases/{case_id}/history", headers=auth(AUDITOR))).json()
        if record["agrees"]:
            break
        await asyncio.sleep(0.05)
    assert record["agrees"], record["differences"]
    (line,) = [t for t in record["tasks"] if t["task_id"] == task_id]
    assert (line["claimed_by"], line["claimed_by_name"], line["decision"]["by"]["user"]) == (li, "李娜", li)
    kinds = [e["kind"] for e in record["timeline"]]
    assert kinds.count("task_claimed") == 2 and kinds.count("task_released") == 1


async def test_a_department_credential_claims_under_its_label(api):
    case = await api.apply()
    case_id, seq = case["id"], case["open_task"]["seq"]
    response = await api.http.post(claim_url(case_id, seq), headers=auth(PLATFORM))
    assert response.status_code == 200, response.text
    claimed = response.json()["open_tasks"][0]
    assert claimed["claimed_by"] and claimed["claimed_by_name"] == claimed["claimed_by"]
    decided = await api.decide(PLATFORM, case_id, "platform_check", "accept")
    row = task_row(api, case["open_task"]["task_id"])
    assert row.decided_by == row.claimed_by == claimed["claimed_by"] and decided["status"] == "in_progress"


async def test_a_first_generation_case_takes_no_claim(api):
    """A case of the frozen first engine is refused before anything is sent to it (422)."""
    case_id = f"SA-OLD{uuid.uuid4().hex[:8].upper()}"
    now = datetime.now(UTC)
    with Session(api.engine) as session:
        session.add(
            models.Case(
                id=case_id,
                workflow_id=f"SharingApplication:{case_id}",
                case_type="sharing_application",
                profile_id="hubei",
                profile_version="1.0",
                status="in_progress",
                submitted_at=now,
                updated_at=now,
                engine=1,
                workflow_type="SharingApplication",
            )
        )
        session.flush()
        session.add(models.CaseParty(case_id=case_id, role="platform", department="bdb"))
        session.commit()
    response = await api.http.post(claim_url(case_id, 1), headers=auth(PLATFORM))
    assert response.status_code == 422, response.text
    assert "旧版流程" in response.json()["detail_zh"]
    # Not a party: as ever, 404 before anything else.
    assert (await api.http.delete(claim_url(case_id, 1), headers=auth(CONSUMER))).status_code == 404
