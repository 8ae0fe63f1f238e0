"""Where a process's samples went: a py-spy ``--format raw`` (collapsed stacks) file, summarised.

    .venv/bin/python bench/profile_summary.py /tmp/prof/worker.txt [--top 25] [--match govshare]

Prints, per function (self = the sample's innermost frame, total = anywhere on the stack), the share
of all samples, and the share of samples spent idle (the event loop's ``select``/``epoll``, a thread
waiting on a lock or a queue). No pass/fail.
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
from pathlib import Path

IDLE = re.compile(r"\b(select|poll|epoll|_worker|wait|get) \((selectors|threading|queue|concurrent)")


def frames(stack: str) -> list[str]:
    return [frame for frame in stack.split(";") if frame]


def short(frame: str) -> str:
    # "name (path/to/module.py:123)" → "name (module.py)"
    match = re.match(r"(.*) \((.*?):?\d*\)$", frame)
    if not match:
        return frame
    name, path = match.groups()
    parts = Path(path.rstrip(":0123456789")).parts
    where = "/".join(parts[-2:]) if parts else path
    return f"{name} ({where})"


def summarise(path: Path, top: int, match: str | None) -> None:
    self_counts: collections.Counter[str] = collections.Counter()
    total_counts: collections.Counter[str] = collections.Counter()
    samples = 0
    idle = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        samples += n
        stack_frames = frames(stack)
        if not stack_frames:
            continue
        leaf = short(stack_frames[-1])
        if IDLE.search(stack_frames[-1]):
            idle += n
        self_counts[leaf] += n
        for frame in set(map(short, stack_frames)):
            total_counts[frame] += n
    if not samples:
        print(f"{path}: no samples")
        return
    print(f"## {path.name}: {samples} samples, idle {100 * idle / samples:.0f} %")
    print()
    print("| function (total: anywhere on the stack) | total | self |")
    print("|---|---|---|")
    shown = 0
    for frame, count in total_counts.most_common():
        if match and match not in frame:
            continue
        print(f"| `{frame}` | {100 * count / samples:.1f} % | {100 * self_counts[frame] / samples:.1f} % |")
        shown += 1
        if shown >= top:
            break
    print()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", help="only functions whose name or file contains this")
    args = parser.parse_args()
    for path in args.files:
        summarise(path, args.top, args.match)
    return 0


if __name__ == "__main__":
    sys.exit(main())
