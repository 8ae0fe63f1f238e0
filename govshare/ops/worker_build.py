"""The worker's build: the case workflows and the activities that touch the outside world.

``worker.py`` (the entry point) runs ``main``; ``govshare run`` starts one for the embedded default.
Activities are methods of classes built here with their dependencies (DB engine, calendar) injected,
so tests build the same worker on their own database.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import signal
from datetime import date, timedelta
from pathlib import Path

import structlog
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from activities.catalog import CatalogActivities, FreshnessActivities
from activities.deadlines import DeadlineActivities
from activities.open_catalog import OpenCatalogActivities
from activities.records import RecordActivities
from calendars import WorkingDayCalendar
from govshare.cases.replaying import SANDBOX_RUNNER
from workflows import registry
from workflows.audit_anchor import AuditAnchorWorkflow
from workflows.engine import signing
from workflows.freshness import FreshnessSweepWorkflow

#: Every registered case type's workflow, and the frozen generations their old histories ran on.
WORKFLOWS = registry.workflows()

log = structlog.get_logger("govshare.worker")


def build_worker(
    client: Client,
    *,
    task_queue: str,
    engine: Engine,
    calendar: WorkingDayCalendar | None = None,
    max_concurrent_activities: int = 16,
    signing_key: bytes | None = None,
) -> Worker:
    # The key the Update validators check the API's signatures with (issue 23): given, or from the
    # settings (ACTOR_SIGNING_KEY, var/actor-signing.key); SigningKeyError if there is none.
    if signing_key is not None:
        signing.install_key(signing_key)
    else:
        signing.current_key()
    precompile_workflows()
    deadlines = DeadlineActivities(calendar)
    records = RecordActivities(engine)
    catalog = CatalogActivities(engine)
    open_catalog = OpenCatalogActivities(engine)
    freshness = FreshnessActivities(engine)
    return Worker(
        client,
        task_queue=task_queue,
        # Read at build time, so a case type registered after import (tests) is run too.
        workflows=[*registry.workflows(), FreshnessSweepWorkflow, AuditAnchorWorkflow],
        workflow_runner=SANDBOX_RUNNER,
        activities=[
            deadlines.compute_deadline,
            deadlines.working_days_left,
            records.record_delta,
            records.record,
            records.mark_record_failed,
            records.record_case,
            records.send_notices,
            catalog.check_change_set,
            catalog.publish_change_set,
            open_catalog.change_open_catalog,
            freshness.sweep_freshness,
        ],
        # The activities are synchronous (SQLAlchemy, the calendar): run them on a thread pool.
        activity_executor=concurrent.futures.ThreadPoolExecutor(max_concurrent_activities),
        max_concurrent_activities=max_concurrent_activities,
    )


def precompile_workflows() -> None:
    """Write the bytecode of the workflow modules, which the sandbox imports anew for every workflow
    run: without it (``PYTHONDONTWRITEBYTECODE``, common in containers, or a fresh checkout) each run
    compiles them from source — about a sixth of a sandboxed run's import (issue 24). Up-to-date files
    are only looked at; a folder that cannot be written is left as it is."""
    import compileall

    import workflows

    compileall.compile_dir(Path(workflows.__file__).parent, quiet=2, workers=1)


async def main() -> None:
    # Imported here, not at the top: test modules that define workflows import this module, and the
    # workflow sandbox re-imports them; the database and logging stacks must stay out of it.
    from govshare.core.db import get_engine
    from govshare.core.heartbeat import Heartbeat
    from govshare.core.logs import configure_logging
    from govshare.core.settings import get_settings
    from govshare.core.temporal_client import connect_client

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        signing.install_key(signing.key_from_settings(settings))
    except signing.SigningKeyError as err:
        raise SystemExit(f"worker: {err}") from None
    engine = get_engine()
    from govshare.core.seed import DemoCredentialsInProduction, refuse_demo_in_production

    try:  # issue 23: production refuses to run while a public demo credential works
        refuse_demo_in_production(engine, settings)
    except DemoCredentialsInProduction as err:
        raise SystemExit(f"worker: {err}") from None
    client = await connect_client(settings)
    worker = build_worker(client, task_queue=settings.task_queue, engine=engine)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started", task_queue=settings.task_queue, temporal=settings.temporal_address)
    missing = WorkingDayCalendar.default().missing_years_ahead(date.today())
    if missing:
        log.warning(
            "holiday notice missing: deadlines in these years are provisional until it is added "
            "(calendars/notices/<year>.toml, then govshare replan-deadlines)",
            years=missing,
        )
    _warn_unplayed_roles(engine)
    await ensure_freshness_schedule(client, settings.task_queue, settings.default_profile)
    # The heartbeat /healthz reads: beats while the worker runs, its row deleted on a clean stop.
    heartbeat = Heartbeat(
        engine, settings.task_queue, settings.worker_heartbeat_interval_s, alive=lambda: worker.is_running
    )
    async with worker, heartbeat.running():
        await stop.wait()
    log.info("worker stopped")


def _warn_unplayed_roles(engine) -> None:
    """Say at start which rungs no department can act on (new cases under them are refused, 422)."""
    from sqlmodel import Session

    from govshare.core.directory import read_directory
    from regulations import list_profiles
    from regulations.roles import unplayed_roles

    with Session(engine) as session:
        directory = read_directory(session)
    missing = [m for profile in list_profiles() for m in unplayed_roles(profile, directory)]
    if missing:
        log.warning(
            "role directory incomplete: cases whose ladder names these roles are refused "
            "(govshare directory set ROLE DEPARTMENT)",
            unplayed=missing,
        )


async def ensure_freshness_schedule(client: Client, task_queue: str, profile_id: str) -> None:
    """The hourly data-freshness sweep (``workflows/freshness.py``): created once, left as it is
    (an operator may pause or change it in the Temporal UI)."""
    from temporalio.client import (
        Schedule,
        ScheduleActionStartWorkflow,
        ScheduleAlreadyRunningError,
        ScheduleIntervalSpec,
        ScheduleSpec,
    )

    from workflows.contracts import FreshnessSweepRequest
    from workflows.freshness import SCHEDULE_ID

    try:
        schedule_id = f"{SCHEDULE_ID}-{task_queue}"  # one per deployment sharing a namespace
        await client.create_schedule(
            schedule_id,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    FreshnessSweepWorkflow.run,
                    FreshnessSweepRequest(profile_id=profile_id),
                    id=f"{SCHEDULE_ID}:{task_queue}",
                    task_queue=task_queue,
                ),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
            ),
        )
        log.info("freshness sweep scheduled", schedule_id=schedule_id, every="1h")
    except ScheduleAlreadyRunningError:
        pass
    except Exception as err:  # the worker runs without it; said once, loudly
        log.warning("freshness sweep not scheduled", error=str(err))
