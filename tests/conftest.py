"""Session-wide fixtures shared by every test directory.

`etcd_server`: one real etcd for the whole session (free ports, temp data dir), stopped and
removed at the end. Tests share it, so each test must use its own key prefix (e.g. a random
resource plural). Tests that stop or restart etcd start their own `EtcdProcess` instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support import EtcdProcess


@dataclass(frozen=True)
class EtcdServer:
    url: str
    process: EtcdProcess


@pytest.fixture(scope="session")
def etcd_server() -> Iterator[EtcdServer]:
    proc = EtcdProcess(name="kubelite-session")
    try:
        proc.start()
        yield EtcdServer(url=proc.url, process=proc)
    finally:
        proc.cleanup()
