"""Two people acting on the same open step at the same moment: exactly one decision is taken."""

from __future__ import annotations

import asyncio

from api_helpers import CONSUMER, PLATFORM, auth


async def test_concurrent_decisions_on_one_step(api):
    created = await api.http.post(
        "/applications",
        json={"resource_id": "gaj-household-members", "purpose": "低保核对", "reason": "核实家庭成员"},
        headers=auth(CONSUMER),
    )
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]
    accept = {"step": "platform_check", "action": "accept"}
    reject = {"step": "platform_check", "action": "reject", "reason": "材料不全"}
    responses = await asyncio.gather(
        *(
            api.http.post(f"/applications/{case_id}/decisions", json=body, headers=auth(PLATFORM))
            for body in (accept, reject, accept, reject)
        )
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 409, 409, 409], [r.text for r in responses]
    case = (await api.http.get(f"/applications/{case_id}", headers=auth(PLATFORM))).json()
    decided = [t for t in case["timeline"] if t["decision"] is not None]
    assert len(decided) == 1 and decided[0]["step"] == "platform_check"
    # The case followed the one decision that was taken, and only that one.
    winner = next(r for r in responses if r.status_code == 200).json()
    assert case["status"] == winner["status"]
