"""Working-day arithmetic: the bisect index vs a day-by-day loop vs chinese_calendar, in one run.

    .venv/bin/python bench/calendar_bench.py [--pairs 20000] [--seed 42]

The same (start date, N) pairs — N from 1 to 30, starts across 2018–2026 — go through:

* ``WorkingDayCalendar.nth_working_day_after``: the per-year bisect index (the hot path);
* ``WorkingDayCalendar.add_working_days``: the same plus the full ``Deadline`` record
  (instants, calendar data refs, explanation lines);
* a naive loop: step one day at a time, asking ``is_working_day`` (the straightforward rule);
* ``chinese_calendar.find_workday(N - 1, start + 1 day)``: the same count in chinesecalendar
  (``find_workday(k, d)`` is the (k+1)-th workday on or after ``d``);
* workalendar's own ``add_working_days`` on our ``NoticeCalendar``.

chinese_calendar and workalendar run on the first tenth of the pairs (they are slow).

All answers are checked to agree before timing is reported. Timing is informative only: no pass/fail.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import chinese_calendar

from calendars import SHANGHAI, WorkingDayCalendar
from calendars.notices import notices_dir

Pair = tuple[date, int]


def make_pairs(count: int, seed: int) -> list[Pair]:
    """Starts from 2018-01-01 to 2026-11-15 so that N <= 30 stays inside chinese_calendar's data."""
    rng = random.Random(seed)
    first, span = date(2018, 1, 1), (date(2026, 11, 15) - date(2018, 1, 1)).days
    return [(first + timedelta(days=rng.randrange(span + 1)), rng.randint(1, 30)) for _ in range(count)]


def naive_loop(cal: WorkingDayCalendar) -> Callable[[date, int], date]:
    def nth_after(start: date, n: int) -> date:
        day, counted = start, 0
        while counted < n:
            day += timedelta(days=1)
            if cal.is_working_day(day):
                counted += 1
        return day

    return nth_after


def run(label: str, fn: Callable[[date, int], date], pairs: list[Pair]) -> tuple[str, int, float, list[date]]:
    started = time.perf_counter()
    answers = [fn(start, n) for start, n in pairs]
    return label, len(pairs), time.perf_counter() - started, answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--json", action="store_true", help="print the rows of make bench's table last, as JSON"
    )
    args = parser.parse_args()

    started = time.perf_counter()
    cal = WorkingDayCalendar.from_directory(notices_dir())
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    cal.warm_up(range(2018, 2028))
    index_seconds = time.perf_counter() - started

    pairs = make_pairs(args.pairs, args.seed)
    # chinese_calendar re-validates its whole table on every call and workalendar rebuilds a set
    # per day, so they get a sample of the same pairs to keep the run to a few seconds.
    sample = pairs[: max(1, len(pairs) // 10)]
    at_nine = clock_time(9, 0)
    fast = run("index: nth_working_day_after", cal.nth_working_day_after, pairs)
    full = run(
        "index: add_working_days -> Deadline",
        lambda d, n: cal.add_working_days(datetime.combine(d, at_nine, SHANGHAI), n).due_date,
        pairs,
    )
    naive = run("naive loop over is_working_day", naive_loop(cal), pairs)
    chinese = run(
        "chinese_calendar.find_workday",
        lambda d, n: chinese_calendar.find_workday(n - 1, d + timedelta(days=1)),
        sample,
    )
    reference = run("workalendar NoticeCalendar.add_wd", cal.reference.add_working_days, sample)

    expected = fast[3]
    for label, calls, _, answers in (full, naive, chinese, reference):
        mismatches = sum(a != b for a, b in zip(answers, expected[:calls], strict=True))
        if mismatches:
            raise SystemExit(f"{label}: {mismatches} of {calls} answers differ from the index")

    print(f"notices: {', '.join(map(str, cal.data_years))}  ({notices_dir()})")
    print(f"load + validate notice files: {load_seconds * 1e3:7.2f} ms")
    print(f"build index for 2018-2027:    {index_seconds * 1e3:7.2f} ms  (lazy per year, once)")
    print(
        f"pairs: {len(pairs)} (N 1..30, starts 2018-01-01..2026-11-15, seed {args.seed}); "
        "all methods give the same due dates\n"
    )
    naive_rate = naive[1] / naive[2]
    print(f"{'method':<38} {'calls':>7} {'seconds':>8} {'calls/s':>11} {'vs naive loop':>14}")
    for label, calls, seconds, _ in (fast, full, naive, chinese, reference):
        rate = calls / seconds
        print(f"{label:<38} {calls:>7} {seconds:>8.3f} {rate:>11,.0f} {rate / naive_rate:>13.2f}x")
    if args.json:
        fast_rate, full_rate = fast[1] / fast[2], full[1] / full[2]
        chinese_rate = chinese[1] / chinese[2]
        section = "6. Working days and catalog search"
        rows = [
            {
                "section": section,
                "what": "working-day counts (the index)",
                "figure": f"{fast_rate:,.0f}/s",
                "target": None,
                "met": None,
            },
            {
                "section": section,
                "what": "full Deadline records",
                "figure": f"{full_rate:,.0f}/s",
                "target": None,
                "met": None,
            },
            {
                "section": section,
                "what": "the index vs chinesecalendar.find_workday (same answers)",
                "figure": f"{fast_rate / chinese_rate:,.0f}×",
                "target": "keep ≈ 740×",
                "met": None,
            },
        ]
        print(json.dumps({"bench": "calendar_bench", "rows": rows}, ensure_ascii=False))


if __name__ == "__main__":
    main()
