"""Shared helpers of the scale benchmarks (``bench/open_cases.py``, ``bench/deadline_storm.py``).

Sizes and memory from /proc and the file system, quantiles, a sequential HTTP latency probe, the
sharing applications the benches start through the case service (as ``bench/bulk_replay.py`` does:
no HTTP, concurrent starts), and the report rows both print as their last stdout line with ``--json``.
Not a test: nothing here passes or fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlmodel import Session, select  # noqa: E402

from govshare.cases import service as case_service  # noqa: E402
from govshare.core.models import Department, Resource  # noqa: E402
from govshare.core.seed import DEPARTMENTS  # noqa: E402
from workflows import registry  # noqa: E402
from workflows.case import Actor  # noqa: E402

#: Who plays each directory role when the app DB is not seeded (the demo seed's rows).
DIRECTORY = {"platform": "bdb", "leading_group": "lgo", "coordinator": "jxw", "government_office": "szfb"}


# --------------------------------------------------------------------------------------------------
# Processes, files, numbers
# --------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in bytes, from /proc/PID/status (Linux)."""
    found: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far, from /proc/PID/stat (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pid(name: str, parent: int | None = None) -> int | None:
    """The pid of a child process of ``parent`` (default: this one) whose command is ``name``."""
    parent = os.getpid() if parent is None else parent
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            command, _, rest = stat.read_text().partition(") ")
        except OSError:
            continue
        if int(rest.split()[1]) == parent and command.partition(" (")[2].startswith(name[:15]):
            return int(stat.parent.name)
    return None


def db_size(path: Path | str) -> int:
    """Bytes of a SQLite database with its -wal and -shm files."""
    path = Path(path)
    return sum(
        Path(f"{path}{suffix}").stat().st_size
        for suffix in ("", "-wal", "-shm")
        if Path(f"{path}{suffix}").exists()
    )


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def aware(value: object) -> datetime:
    """A datetime as SQLite gives it back (text or naive, UTC), made aware."""
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


# --------------------------------------------------------------------------------------------------
# Report rows
# --------------------------------------------------------------------------------------------------


@dataclass
class Row:
    section: str
    what: str
    figure: str
    target: str | None = None
    met: bool | None = None


class Report:
    """Rows printed as they come (human-readable), and as one JSON object at the end (``--json``)."""

    def __init__(self, bench: str, section: str) -> None:
        self.bench, self.section, self.rows = bench, section, []

    def add(self, what: str, figure: str, target: str | None = None, met: bool | None = None) -> None:
        self.rows.append(Row(self.section, what, figure, target, met))
        verdict = "" if met is None else ("  [met]" if met else "  [NOT met]")
        print(f"  {what}: {figure}" + (f"  (target {target})" if target else "") + verdict, flush=True)

    def emit_json(self) -> None:
        print(json.dumps({"bench": self.bench, "rows": [asdict(r) for r in self.rows]}, ensure_ascii=False))


# --------------------------------------------------------------------------------------------------
# HTTP latency
# --------------------------------------------------------------------------------------------------


def latencies(base_url: str, path: str, token: str, n: int, warmup: int = 5) -> tuple[list[float], Any]:
    """``n`` sequential GETs of ``path`` with ``token`` (after ``warmup`` not counted): seconds each,
    and the last answer's JSON. Raises on a status other than 200."""
    import httpx

    times: list[float] = []
    body: Any = None
    with httpx.Client(base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {token}"}) as http:
        for i in range(warmup + n):
            t0 = time.perf_counter()
            response = http.get(path)
            elapsed = time.perf_counter() - t0
            if response.status_code != 200:
                raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:300]}")
            if i >= warmup:
                times.append(elapsed)
            body = response.json()
    return times, body


# --------------------------------------------------------------------------------------------------
# Sharing applications through the case service
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Applicant:
    """A consumer department applying for one catalog resource (a provider authorizes it)."""

    consumer: str
    resource: Any  # ResourceSnapshot


def applicants(engine) -> tuple[list[Applicant], dict[str, str]]:
    """Every (consumer, resource) pair of the seeded catalog that a provider authorizes under Hubei
    (published, conditional or with controlled parameters, a provider), spread over the consumers;
    and the department names cases pin. An unseeded DB gives one pair (gaj's household data)."""
    with Session(engine) as session:
        departments = session.exec(select(Department)).all()
        resources = session.exec(
            select(Resource).where(Resource.status == "published").order_by(Resource.id)
        ).all()
    names = {d.code: d.name_zh for d in departments}
    # Departments with a demo consumer token (the seed's), so a bench can read as one of them.
    codes = sorted(code for code, _zh, _en, roles in DEPARTMENTS if "consumer" in roles and code in names)
    pairs: list[Applicant] = []
    for index, resource in enumerate(resources):
        if not resource.provider_department or resource.share_type == "not_shared":
            continue
        if resource.share_type == "unconditional" and not resource.controlled_parameters:
            continue  # the platform authorizes those directly: no provider step
        others = [c for c in codes if c != resource.provider_department and c != DIRECTORY["platform"]]
        consumer = others[index % len(others)]
        pairs.append(Applicant(consumer, case_service.resource_snapshot(resource)))
    if not pairs:
        from workflows.case import ResourceSnapshot

        pairs = [
            Applicant(
                "rsj",
                ResourceSnapshot(
                    id="gaj-household-members",
                    version=1,
                    name_zh="户籍及家庭成员关系信息",
                    name_en="Household registration",
                    provider_department="gaj",
                    share_type="conditional",
                    controlled_parameters=True,
                    sharing_modes=["online_query", "data_comparison"],
                    fields=["citizen_id", "name", "members"],
                ),
            )
        ]
    return pairs, names


def application_input(
    case_id: str,
    who: Applicant,
    submitted_at: datetime,
    *,
    directory: dict[str, str],
    names: dict[str, str] | None = None,
    platform: str = "bdb",
) -> Any:
    """A Hubei application's start input, as ``POST /applications`` builds it."""
    return case_service.new_case_input(
        registry.SHARING_APPLICATION,
        case_id=case_id,
        profile_id="hubei",
        submitted_at=submitted_at,
        submitted_by=Actor(who.consumer, "consumer", "clerk"),
        platform_department=platform,
        department_names=dict(names or {}),
        directory=dict(directory),
        fields={
            "consumer_department": who.consumer,
            "resource": who.resource,
            "purpose": "社会保险待遇资格认证",
            "reason": "核验参保人员身份",
            "requested_fields": list(who.resource.fields[:2]),
            "requested_mode": "",
        },
    )


async def run_bounded(
    count: int, clients: int, job: Callable[[int], Awaitable[None]], progress_every: int = 0
) -> float:
    """Run ``job(0) … job(count-1)``, at most ``clients`` at once; the wall seconds it took."""
    indexes: Iterable[int] = iter(range(count))
    done = 0
    started = time.perf_counter()

    async def client() -> None:
        nonlocal done
        for index in indexes:
            await job(index)
            done += 1
            if progress_every and done % progress_every == 0:
                rate = done / (time.perf_counter() - started)
                print(f"    … {done:,} / {count:,} ({rate:.1f}/s)", flush=True)

    await asyncio.gather(*(client() for _ in range(max(1, clients))))
    return time.perf_counter() - started


def worker_env(**overrides: str) -> dict[str, str]:
    """The environment for a worker child (``python -m govshare.ops.launcher --worker-only``)."""
    env = dict(os.environ)
    env.update(PYTHONUNBUFFERED="1", LOG_FORMAT="json", LOG_LEVEL="WARNING")
    env.update(overrides)
    return env
