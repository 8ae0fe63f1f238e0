"""Bursts of concurrent requests against a real API process: does it answer, and how fast?

    .venv/bin/python bench/api_burst.py                       # 120 × GET /tasks, then 50 readers + 10 writers
    .venv/bin/python bench/api_burst.py --rounds 6 --readers 120

Starts the system exactly as ``govshare run`` does (``govshare.ops.launcher``: the Temporal dev server on a
temp file, the worker, the API under uvicorn on a free port, the app DB in SQLite in the temp dir unless
``--database-url``, with the demo seed). Then, per round, fires all requests at once with
``httpx.AsyncClient`` (one connection per request, like ``xargs -P120 curl``) and prints the status
counts, the slowest answer and the wall time of the burst. Burst 1: N readers (``GET /tasks`` as the
platform). Burst 2: readers + writers at once (writers: ``POST /applications`` as 人社局). A 500 or an
answer after tens of seconds is the deadlock of issue 13; a healthy API answers 200/201, or 429/503
with ``Retry-After`` when it sheds load. No pass/fail; ``--json`` prints the raw figures too.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import socket
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from govshare.core.settings import Settings
from govshare.ops.launcher import Launcher

CONSUMER = "demo-rsj-consumer"
PLATFORM = "demo-bdb-platform"
APPLICATION = {
    "resource_id": "scjgj-legal-entity-basic",
    "purpose": "社会保险登记时核验用人单位信息",
    "reason": "办理用人单位社会保险登记",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def one(base_url: str, method: str, path: str, token: str, body: dict | None, timeout: float) -> dict:
    started = time.perf_counter()
    # A client per request: its own TCP connection, as concurrent curl processes would have.
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout) as http:
        try:
            response = await http.request(
                method, path, json=body, headers={"Authorization": f"Bearer {token}"}
            )
            status: int | str = response.status_code
            retry_after = response.headers.get("retry-after")
            problem = response.json() if response.status_code >= 400 else {}
            code, detail = problem.get("code"), problem.get("detail_en")
        except httpx.HTTPError as err:
            status, retry_after, code, detail = type(err).__name__, None, None, None
    return {
        "kind": "write" if method == "POST" else "read",
        "status": status,
        "retry_after": retry_after,
        "code": code,
        "detail": detail,
        "seconds": time.perf_counter() - started,
    }


async def burst(base_url: str, readers: int, writers: int, timeout: float) -> dict:
    calls = [one(base_url, "GET", "/tasks", PLATFORM, None, timeout) for _ in range(readers)]
    calls += [one(base_url, "POST", "/applications", CONSUMER, APPLICATION, timeout) for _ in range(writers)]
    wall = time.perf_counter()
    results = await asyncio.gather(*calls)
    wall = time.perf_counter() - wall
    return {"readers": readers, "writers": writers, "wall": wall, "results": results}


def summarize(outcome: dict) -> str:
    results = outcome["results"]
    counts = collections.Counter(
        f"{r['kind']} {r['status']}{'/' + r['code'] if r['code'] else ''}" for r in results
    )
    shed_without_retry_after = sum(1 for r in results if r["status"] in (429, 503) and not r["retry_after"])
    slowest = max(r["seconds"] for r in results)
    text = (
        f"{outcome['readers']} readers + {outcome['writers']} writers: wall {outcome['wall']:.1f} s, "
        f"slowest {slowest:.1f} s; " + ", ".join(f"{k} × {v}" for k, v in sorted(counts.items()))
    )
    if shed_without_retry_after:
        text += f"; {shed_without_retry_after} shed WITHOUT Retry-After"
    examples = {r["code"]: r["detail"] for r in results if r["code"] and r["detail"]}
    for code, detail in sorted(examples.items()):
        text += f"\n    {code}: {detail}"
    return text


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both bursts (default 3)")
    parser.add_argument("--readers", type=int, default=120, help="readers of the first burst (120)")
    parser.add_argument("--mixed-readers", type=int, default=50, help="readers of the mixed burst (50)")
    parser.add_argument("--writers", type=int, default=10, help="writers of the mixed burst (10)")
    parser.add_argument("--timeout", type=float, default=60, help="client timeout per request (60 s)")
    parser.add_argument("--database-url", help="app DB (default: SQLite in the temp dir)")
    parser.add_argument("--json", action="store_true", help="also print the raw figures as JSON")
    args = parser.parse_args()

    outcomes = []
    with tempfile.TemporaryDirectory(prefix="govshare-burst-") as tmp:
        settings = Settings(
            var_dir=Path(tmp),
            database_url=args.database_url or f"sqlite:///{Path(tmp) / 'govshare.db'}",
            temporal_address=f"127.0.0.1:{free_port()}",
            temporal_ui_port=free_port(),
            api_host="127.0.0.1",
            api_port=free_port(),
            task_queue="burst",
            seed_demo=True,
        )
        launcher = Launcher(settings)
        try:
            t0 = time.perf_counter()
            launcher.start()
            print(f"system up in {time.perf_counter() - t0:.1f} s (logs in {launcher.log_dir})", flush=True)
            for round_no in range(1, args.rounds + 1):
                for readers, writers in ((args.readers, 0), (args.mixed_readers, args.writers)):
                    outcome = asyncio.run(burst(launcher.api_url, readers, writers, args.timeout))
                    outcomes.append(outcome)
                    print(f"round {round_no}: {summarize(outcome)}", flush=True)
                    time.sleep(1)  # let a stalled server drain before the next burst
        finally:
            launcher.stop_all()
    if args.json:
        print(json.dumps(outcomes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
