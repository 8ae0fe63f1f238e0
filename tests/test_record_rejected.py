"""A projection write the database can never take does not stall the case: the workflow logs it,
marks the case through ``mark_record_failed`` and moves on (issue 13, defect 3). The ``record``
activity here is the database refusing every write, as PostgreSQL does for a value it cannot store."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from factories import PLATFORM, application, resource
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities.deadlines import DeadlineActivities
from govshare.cases.service import decide, start_case
from govshare.ops.worker_build import SANDBOX_RUNNER, WORKFLOWS
from workflows import registry
from workflows.case import RECORD_REJECTED, CaseDelta, DecisionRequest, RecordFailure


async def test_a_write_refused_for_good_is_marked_and_the_case_moves_on(time_skipping_env, ts_client) -> None:
    attempts: list[int] = []
    full: list[bool] = []
    marked: list[RecordFailure] = []

    @activity.defn(name="record_delta")
    def refusing_record(delta: CaseDelta) -> int:
        attempts.append(delta.revision)
        full.append(delta.full)
        raise ApplicationError("value too long for type character varying(32)", type=RECORD_REJECTED)

    @activity.defn(name="mark_record_failed")
    def mark(failure: RecordFailure) -> bool:
        marked.append(failure)
        return True

    task_queue = f"refusing-{uuid.uuid4().hex[:8]}"
    worker = Worker(
        ts_client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        workflow_runner=SANDBOX_RUNNER,
        activities=[DeadlineActivities().compute_deadline, refusing_record, mark],
        activity_executor=ThreadPoolExecutor(4),
    )
    async with worker:
        # Recorded at the test server's time (other tests may have skipped it far ahead of the wall clock).
        inp = application("hubei", resource("conditional"), await time_skipping_env.get_current_time())
        answer = await start_case(
            ts_client, task_queue, registry.SHARING_APPLICATION, inp, settle_timeout_s=30
        )
        assert [t.step for t in answer.open_tasks] == ["platform_check"]
        accept = DecisionRequest(PLATFORM, "accept", "platform_check")
        answer = await decide(ts_client, inp.case.case_id, accept, settle_timeout_s=30)
        assert [t.step for t in answer.open_tasks] == ["provider_authorization"]
        # Leave nothing open on the shared test server that no worker will serve.
        await ts_client.get_workflow_handle(f"SharingApplication:{inp.case.case_id}").terminate("test done")
    # Each write was tried once (non-retryable), and each refused revision marked the case.
    # (revision 1: submitted and first task; 2: the acceptance with the next task)
    assert attempts == [1, 2] == [f.revision for f in marked]
    # After a refused write the next one carries the whole case, so the projection can heal.
    assert full == [False, True]
    assert all(f.case_id == inp.case.case_id and "varying" in f.error for f in marked)
