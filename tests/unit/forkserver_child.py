"""A daemon stand-in for tests/unit/test_forkserver.py: `python -m tests.unit.forkserver_child
CODE SLEEP_S` prints what a daemon would see (argv, cwd, session, an env var, whether the
preloaded modules are there), sleeps, then exits with CODE."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main() -> None:
    code, sleep_s = int(sys.argv[1]), float(sys.argv[2])
    print(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "sid": os.getsid(0), "pid": os.getpid(),
                      "marker": os.environ.get("FORKSERVER_TEST"), "name": __name__,
                      "preloaded": "machinery.client" in sys.modules,
                      "comm": Path("/proc/self/comm").read_text().strip()}), flush=True)
    time.sleep(sleep_s)
    raise SystemExit(code)


if __name__ == "__main__":
    main()
