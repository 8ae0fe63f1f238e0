"""The data-freshness sweep (Hubei 17, Luzhou 23): each published entry with an update period expects
its data refreshed each period; a missed period is a breach on the entry, told to its provider once.

No workflow and no timer per entry: an entry waits as one indexed column (``resource.next_refresh_due``),
and a Temporal Schedule (``govshare-freshness-sweep``, hourly, created by the worker) starts this small
workflow, which reads the entries past due in one range scan (``sweep_freshness``). 100,000 entries
waiting cost their index entries and nothing else.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import FreshnessSweepRequest, FreshnessSweepResult

WORKFLOW_TYPE = "FreshnessSweep"
SCHEDULE_ID = "govshare-freshness-sweep"


@workflow.defn(name=WORKFLOW_TYPE)
class FreshnessSweepWorkflow:
    @workflow.run
    async def run(self, req: FreshnessSweepRequest) -> FreshnessSweepResult:
        return await workflow.execute_activity(
            "sweep_freshness",
            req,
            result_type=FreshnessSweepResult,
            start_to_close_timeout=timedelta(minutes=5),
        )
