"""machinery.gcsettle.settle: the objects alive are frozen (never scanned by collections), the
youngest generation's threshold is set, and cycles made later are still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from machinery import gcsettle


@pytest.fixture
def restore_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


class Node:
    def __init__(self) -> None:
        self.peer: Node | None = None


@pytest.mark.usefixtures("restore_gc")
def test_settle_freezes_what_is_alive_and_sets_threshold0() -> None:
    kept = [Node() for _ in range(1000)]
    gc.unfreeze()
    gcsettle.settle(12_345)
    assert gc.get_freeze_count() >= len(kept)
    assert gc.get_threshold()[0] == 12_345
    # A cycle made after settling is garbage a collection still finds.
    a, b = Node(), Node()
    a.peer, b.peer = b, a
    gone = weakref.ref(a)
    del a, b
    gc.collect()
    assert gone() is None
