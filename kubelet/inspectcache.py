"""Container inspections kept until Docker says the container changed (an evented-PLEG-like cache).

Contract: `InspectCache` holds the last `ContainerInfo` of each container id while it is
`enabled`, which the kubelet keeps true only while its Docker events stream is connected (a lost
stream disables it and drops everything; a reconnect starts empty). Anything that may change what
an inspect returns drops that container's entry: a Docker event for it (`changed`, from the
events stream: create, start, restart, die, oom, pause, unpause, rename, destroy), the kubelet's
own start/stop/remove (`changed`, from the runtime), and a fresh `docker ps` listing whose State
differs from the cached one (`check`: the listing every pod sync makes is the relist fallback
for an event that never came). An inspection runs with a `token()` taken before it; `put` keeps
the result only if nothing changed for that container since (an event that raced the inspect
wins). `get` returns a copy: callers may edit what they get (hostNetwork pods set `ip`).

Why (issue 17): every pod sync listed its containers and inspected each of them; with the 10 s
resync of every pod that was 741-916 inspects for a burst of 60 pods, 15% of the Docker time the
kubelet spent, competing with the `docker start`s the burst waits for.
"""

from __future__ import annotations

import copy
import itertools
from typing import Generic, Protocol, TypeVar


class Inspected(Protocol):
    """What the cache needs of an inspection (kubelet.runtime.ContainerInfo)."""

    id: str
    state: str
    labels: dict[str, str]


Info = TypeVar("Info", bound=Inspected)

MAX_TRACKED = 10_000  # change marks kept; past that the cache starts over (nothing is lost but hits)


class InspectCache(Generic[Info]):
    def __init__(self) -> None:
        self.enabled = False
        self.hits = 0
        self.misses = 0
        self._entries: dict[str, Info] = {}
        self._changed_at: dict[str, int] = {}
        self._seq = itertools.count(1)
        self._now = 0
        self._epoch_start = 0  # results of inspections that began before this are refused

    def _tick(self) -> int:
        self._now = next(self._seq)
        return self._now

    def enable(self) -> None:
        self._reset()
        self.enabled = True

    def disable(self) -> None:
        self._reset()
        self.enabled = False

    def _reset(self) -> None:
        self._entries.clear()
        self._changed_at.clear()
        self._epoch_start = self._tick()

    def token(self) -> int:
        return self._tick()

    def get(self, cid: str) -> Info | None:
        info = self._entries.get(cid) if self.enabled else None
        if info is None:
            self.misses += 1
            return None
        self.hits += 1
        return _copy(info)

    def put(self, cid: str, info: Info, token: int) -> None:
        if not self.enabled or token <= self._epoch_start or info.id != cid:
            return  # disabled, reset meanwhile, or asked by name / short id: not a stable key
        if self._changed_at.get(cid, 0) >= token:
            return  # changed while this inspection ran: its answer may be older than the change
        self._entries[cid] = _copy(info)

    def changed(self, cid: str) -> None:
        self._entries.pop(cid, None)
        if len(self._changed_at) >= MAX_TRACKED:
            self._reset()
        self._changed_at[cid] = self._tick()

    def check(self, cid: str, listed_state: str | None) -> None:
        """A fresh listing says the container is in `listed_state`: drop a cached entry that disagrees."""
        info = self._entries.get(cid)
        if info is not None and listed_state is not None and info.state != listed_state:
            self.changed(cid)


def _copy(info: Info) -> Info:
    out = copy.copy(info)
    out.labels = dict(info.labels)
    return out


__all__ = ["InspectCache"]
