"""Adding a case type touches only its own files and one registry entry (issue 17).

``tests/example/case_type.py`` is such a case type: its input, its workflow (parties, summary fields,
result labels, the payload its decisions carry, checked by it) and one ``registry.register`` call;
``tests/example/exampletest.toml`` its profile data. Nothing in the engine, the case service,
the projection, the API or the notices names it. Here it runs end to end through the shared path,
against the real dev server, on SQLite and PostgreSQL: started by the case service, read, listed,
in the inbox with its own summary fields, decided with its payload refused and then taken, its
result shown with its own label, and its notices written with it.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from api_helpers import CONSUMER, GAJ, SCJGJ, auth
from sqlmodel import Session, select

from govshare.cases import service as case_service
from govshare.core import models
from workflows.case import Actor
from workflows.contracts import CaseStart

from example.case_type import EXAMPLE_CHECK, PROFILE  # isort: skip  (the example lives in tests/)


async def _visible(api, token: str, case_id: str) -> dict:
    for _ in range(100):
        response = await api.http.get(f"/cases/{case_id}", headers=auth(token))
        if response.status_code == 200:
            return response.json()
        await asyncio.sleep(0.05)
    raise AssertionError(response.text)


async def test_a_case_type_added_as_a_file_profile_data_and_one_registry_entry(api):
    rules = PROFILE.case_types["example_check"]
    case_id = f"XC-{uuid.uuid4().hex[:8].upper()}"
    start = CaseStart(
        case_id=case_id,
        profile_id=PROFILE.id,
        profile_version=PROFILE.version,
        profile_digest="example",
        profile_name_zh=PROFILE.title_zh,
        deadline_cutoff=PROFILE.deadline_cutoff,
        rules=rules,
        submitted_at=datetime.now(UTC),
        submitted_by=Actor("rsj", "consumer", "clerk"),
        platform_department="bdb",
    )
    inp = EXAMPLE_CHECK.build(
        start, {"reporter_department": "rsj", "provider_department": "gaj", "data_item": "户籍地址"}
    )
    # The generic start: the case service checks its parties through the registry entry.
    answer = await case_service.start_case(api.env.client, api.settings.task_queue, EXAMPLE_CHECK, inp)
    assert answer.status == "in_progress" and [t.step for t in answer.open_tasks] == ["verify"]

    case = await _visible(api, GAJ, case_id)
    assert case["case_type"] == "example_check" and case["subject_zh"] == "数据项“户籍地址”"
    assert (await api.http.get(f"/cases/{case_id}", headers=auth(SCJGJ))).status_code == 404  # no party
    # Lists and the inbox show its own summary fields, as it names them.
    params = {"case_type": "example_check"}
    listed = (await api.http.get("/cases", params=params, headers=auth(CONSUMER))).json()
    row = next(c for c in listed["items"] if c["id"] == case_id)
    assert row["data_item"] == "户籍地址" and row["reporter_department"] == "rsj"
    assert "consumer_department" not in row  # the sharing application's fields are its own
    inbox = [i for i in await api.inbox(GAJ) if i["case_id"] == case_id]
    assert len(inbox) == 1 and inbox[0]["data_item"] == "户籍地址"

    # Its decision payload is checked by the case type: a correction without the value is refused.
    task_id = case["open_tasks"][0]["task_id"]
    url = f"/cases/{case_id}/decisions"
    body = {"task_id": task_id, "action": "correct", "reason": "户籍地址已变更"}
    refused = await api.http.post(url, json=body, headers=auth(GAJ))
    assert refused.status_code == 422 and "更正后的值" in refused.text, refused.text
    taken = await api.http.post(
        url, json={**body, "payload": {"corrected_value": "XX市XX区XX路1号"}}, headers=auth(GAJ)
    )
    assert taken.status_code == 200, taken.text
    assert taken.json()["status"] == "corrected"

    done = (await api.http.get(f"/cases/{case_id}", headers=auth(CONSUMER))).json()
    assert done["status_zh"] == "已更正"  # its own label, from its registry entry
    assert done["attributes"]["correction"] == {"corrected_value": "XX市XX区XX路1号"}
    with Session(api.engine) as session:
        query = select(models.Notification).where(models.Notification.case_id == case_id)
        notices = session.exec(query).all()
    closed = next(n for n in notices if n.kind == "case_closed")
    assert "数据核查(示例)" in closed.text_zh and "已更正" in closed.text_zh and "户籍地址" in closed.text_zh
    assert "()" not in closed.text_zh  # no empty resource where a case has none
