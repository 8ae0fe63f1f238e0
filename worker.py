"""The worker: runs the case workflows and the activities that touch the outside world.

    python worker.py        # against TEMPORAL_ADDRESS / DATABASE_URL from the settings

An entry point only; what the worker runs is built in ``govshare/ops/worker_build.py``.
"""

import asyncio

from govshare.ops.worker_build import main

if __name__ == "__main__":
    asyncio.run(main())
