"""Scheduling queue (priority order, backoff with a fake clock, flush) and the scheduler cache."""

from __future__ import annotations

import asyncio

from scheduler.cache import SchedulerCache
from scheduler.queue import SchedulingQueue
from tests.unit.test_scheduler_support import node_dict, pod


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def drain(q: SchedulingQueue) -> list[str]:
    out = []
    while (k := q.pop_nowait()) is not None:
        out.append(k)
        q.done(k)
    return out


def test_priority_then_creation_then_fifo() -> None:
    q = SchedulingQueue(clock=FakeClock())
    q.add("low-old", 0, "2026-01-01T00:00:00Z")
    q.add("high", 10, "2026-01-01T00:00:05Z")
    q.add("low-new", 0, "2026-01-01T00:00:09Z")
    q.add("low-same-1", 0, "2026-01-01T00:00:09Z")
    assert drain(q) == ["high", "low-old", "low-new", "low-same-1"]


def test_add_twice_is_one_entry_and_in_flight_requeues_once() -> None:
    q = SchedulingQueue(clock=FakeClock())
    q.add("a")
    q.add("a")
    assert len(q) == 1
    assert q.pop_nowait() == "a"
    q.add("a")  # changed while in flight
    q.add("a")
    assert q.pop_nowait() is None  # never twice at once
    q.done("a")
    assert q.pop_nowait() == "a"
    q.done("a")
    assert q.pop_nowait() is None


def test_backoff_doubles_to_max() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock=clock, initial_backoff_s=1.0, max_backoff_s=10.0)
    delays = []
    for _ in range(6):
        delays.append(q.backoff_s("p"))
        q.add_unschedulable("p")
        clock.t += 100
        assert q.pop_nowait() == "p"
        q.done("p")
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    q.forget("p")
    assert q.backoff_s("p") == 1.0


def test_parked_pod_waits_for_backoff() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock=clock)
    q.add("p")
    assert q.pop_nowait() == "p"
    q.add_unschedulable("p")
    q.done("p")
    assert q.pop_nowait() is None
    assert q.next_ready_in_s() == 1.0
    clock.t += 0.99
    assert q.pop_nowait() is None
    clock.t += 0.02
    assert q.pop_nowait() == "p"


def test_flush_moves_parked_pods_in_priority_order() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock=clock)
    q.add_unschedulable("low", 0, "2026-01-01T00:00:00Z")
    q.add_unschedulable("low", 0, "2026-01-01T00:00:00Z")  # longer backoff
    q.add_unschedulable("high", 100, "2026-01-01T00:00:10Z")
    assert q.pop_nowait() is None
    assert q.flush() == 2
    assert drain(q) == ["high", "low"]


def test_flush_during_attempt_retries_at_once() -> None:
    q = SchedulingQueue(clock=FakeClock())
    q.add("p")
    assert q.pop_nowait() == "p"
    q.flush()  # e.g. a node was added while "p" was being filtered
    q.add_unschedulable("p")
    q.done("p")
    assert q.pop_nowait() == "p"


def test_remove_drops_everywhere() -> None:
    q = SchedulingQueue(clock=FakeClock())
    q.add("a")
    q.add_unschedulable("b")
    q.remove("a")
    q.remove("b")
    assert len(q) == 0 and q.flush() == 0 and q.pop_nowait() is None


async def test_pop_waits_for_add_and_for_backoff() -> None:
    q = SchedulingQueue(initial_backoff_s=0.05)
    waiter = asyncio.create_task(q.pop())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    q.add("a")
    assert await asyncio.wait_for(waiter, 1) == "a"
    q.add_unschedulable("a")
    q.done("a")
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert await asyncio.wait_for(q.pop(), 1) == "a"
    assert loop.time() - t0 >= 0.04


# ---- cache ---------------------------------------------------------------------------------
def test_cache_assume_counts_at_once_and_forget_undoes() -> None:
    c = SchedulerCache(clock=FakeClock())
    c.set_node(node_dict("n", cpu="1"))
    p = pod("p", cpu="600m")
    c.assume(p, "n")
    n = c.get_node("n")
    assert n is not None and n.requested.milli_cpu == 600 and c.is_assumed("default/p")
    c.forget("default/p")
    assert n.requested.milli_cpu == 0 and not c.is_assumed("default/p")


def test_cache_watch_confirms_assumption_on_real_node() -> None:
    c = SchedulerCache(clock=FakeClock())
    c.set_node(node_dict("a"))
    c.set_node(node_dict("b"))
    c.assume(pod("p", cpu="1"), "a")
    c.add_pod(pod("p", cpu="1", node="b"))  # the API says b: the truth wins
    a, b = c.get_node("a"), c.get_node("b")
    assert a is not None and b is not None
    assert a.requested.milli_cpu == 0 and b.requested.milli_cpu == 1000
    assert not c.is_assumed("default/p")


def test_cache_assumption_expires_only_after_binding_finished() -> None:
    clock = FakeClock()
    c = SchedulerCache(clock=clock, assume_ttl_s=30)
    c.set_node(node_dict("n"))
    c.assume(pod("p", cpu="1"), "n")
    clock.t += 100
    assert c.cleanup_expired() == []  # binding still in flight: never expire
    c.finish_binding("default/p")
    clock.t += 29
    assert c.cleanup_expired() == []
    clock.t += 2
    assert c.cleanup_expired() == ["default/p"]
    n = c.get_node("n")
    assert n is not None and n.requested.milli_cpu == 0


def test_cache_nodes_sorted_and_relevant_change_detection() -> None:
    c = SchedulerCache()
    assert c.set_node(node_dict("b")) is True
    assert c.set_node(node_dict("a")) is True
    assert [n.name for n in c.nodes()] == ["a", "b"]
    assert c.set_node(node_dict("a")) is False  # same again: nothing a filter reads changed
    assert c.set_node(node_dict("a", unschedulable=True)) is True
    c.remove_node("a")
    assert [n.name for n in c.nodes()] == ["b"]


def test_cache_pod_on_unknown_node_is_kept_until_node_appears() -> None:
    c = SchedulerCache()
    c.add_pod(pod("p", cpu="1", node="later"))
    assert c.nodes() == []
    c.set_node(node_dict("later", cpu="1"))
    n = c.get_node("later")
    assert n is not None and n.requested.milli_cpu == 1000
    c.remove_pod("default/p")
    assert n.requested.milli_cpu == 0
