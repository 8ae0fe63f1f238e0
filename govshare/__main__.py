"""``python -m govshare …`` — the same command line as the ``govshare`` console script."""

import sys

from govshare.ops.cli import main

if __name__ == "__main__":
    sys.exit(main())
