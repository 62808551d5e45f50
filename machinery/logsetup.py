"""One logging setup for every daemon: timestamped lines on stderr, quiet HTTP client.

`setup_logging(level)` configures the root logger (`2026-01-02 03:04:05,678 INFO name: msg`)
and keeps httpx/httpcore at WARNING whatever the level: they log one line per API call, which
at a few hundred calls per second drowns everything else (and costs CPU). An unknown level name
falls back to INFO.
"""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
NOISY = ("httpx", "httpcore")


def setup_logging(level: str | int = "INFO") -> None:
    if isinstance(level, str):
        level = getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(level=level, stream=sys.stderr, format=FORMAT)
    for name in NOISY:
        logging.getLogger(name).setLevel(max(logging.WARNING, int(level)))
