"""How a case becomes a response, without servers: the view must render what the case pinned."""

from __future__ import annotations

from datetime import UTC, datetime

from api.views import task_actions
from workflows.case import ActionInfo, Actor, Party, Task
from workflows.legacy.shapes import CaseState


def _state(task: Task, version: str) -> CaseState:
    return CaseState(
        case_id="SA-1",
        case_type="sharing_application",
        workflow_id="SharingApplication:SA-1",
        profile_id="hubei",
        profile_version=version,
        profile_digest="",
        profile_name_zh="湖北省政务信息资源共享管理办法",
        parties={"consumer": "rsj", "provider": "gaj", "platform": "bdb"},
        submitted_at=datetime(2026, 11, 23, tzinfo=UTC),
        submitted_by=Actor("rsj", "consumer"),
        tasks=[task],
    )


def _task(**kw) -> Task:
    kw.setdefault("opened_at", datetime(2026, 11, 23, tzinfo=UTC))
    return Task(
        task_id="SA-1/1",
        seq=1,
        step="provider_authorization",
        name_zh="提供部门授权",
        name_en="Authorization by the provider",
        assignee=Party("gaj", "provider"),
        actions=["grant", "refuse"],
        article="20",
        limit_basis="statute",
        **kw,
    )


def test_actions_come_from_the_pinned_rules_even_when_the_profile_file_moved_on() -> None:
    task = _task(
        action_info=[
            ActionInfo("grant", "同意授权", "Grant", grant=True),
            ActionInfo("refuse", "不同意授权", "Refuse", reason_required=True),
        ]
    )
    actions = task_actions(_state(task, "0.1-no-longer-on-disk"), task)
    assert [(a.id, a.name_zh, a.reason_required, a.grant) for a in actions] == [
        ("grant", "同意授权", False, True),
        ("refuse", "不同意授权", True, False),
    ]


def test_records_without_action_info_fall_back_to_the_profile_file() -> None:
    from regulations import load_profile

    task = _task()
    actions = task_actions(_state(task, load_profile("hubei").version), task)
    assert [a.name_zh for a in actions] == ["同意授权", "不同意授权"]
    assert [a.reason_required for a in actions] == [False, True]


def test_working_days_taken_is_counted_like_a_deadline() -> None:
    from zoneinfo import ZoneInfo

    from api.views import task_out

    shanghai = ZoneInfo("Asia/Shanghai")
    task = _task(opened_at=datetime(2026, 9, 30, 16, tzinfo=shanghai))
    assert task_out(_state(task, "1.1"), task, {}, datetime.now(UTC)).working_days_taken is None
    task.status, task.closed_at = "done", datetime(2026, 10, 10, 11, tzinfo=shanghai)
    assert task_out(_state(task, "1.1"), task, {}, datetime.now(UTC)).working_days_taken == 3


def test_every_instant_reads_in_shanghai_time() -> None:
    import json

    from api.views import task_out

    task = _task(opened_at=datetime(2026, 9, 30, 17, 30, tzinfo=UTC))  # 10-01 01:30 in Shanghai
    body = json.loads(task_out(_state(task, "1.1"), task, {}, datetime.now(UTC)).model_dump_json())
    assert body["opened_at"] == "2026-10-01T01:30:00+08:00"


def test_tasks_carry_a_ready_citation() -> None:
    from api.views import task_out

    task = _task()
    out = task_out(_state(task, "1.1"), task, {}, datetime.now(UTC))
    assert out.citation_zh == "《湖北省政务信息资源共享管理办法》第20条"
