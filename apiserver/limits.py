"""Request limits: per-user rate limit, concurrent watches per user, max-in-flight, slow clients.

Contract (`Limits(config).enter(scope) -> (error | None, release)`; call `release()` when the
request ends, whatever happened):
- Who: the authenticated user's name (apiserver/auth/user.py), or the client address when no
  user is known. `system:masters` is exempt from all of these, as Kubernetes exempts it from
  max-in-flight and API priority and fairness.
- Rate: a token bucket per user (`--user-qps` per second, `--user-burst` deep; 0 = off). An
  empty bucket answers 429 TooManyRequests with `Retry-After` = the seconds until a token is
  back (at least 1) and details.retryAfterSeconds.
- Watches: at most `--max-watches-per-user` open watches per user (0 = no cap); one more is 429
  with Retry-After 1 (`too many watches for user "u": the limit is N`).
- In flight (`--max-requests-inflight` 400, `--max-mutating-requests-inflight` 200, as
  Kubernetes; 0 = no cap): requests being served, read-only (GET/HEAD/OPTIONS) and mutating
  counted apart; long-running requests (watches, log follow, exec/attach/port-forward,
  proxy) are not counted, as in Kubernetes. Over the cap: 429 `Too many requests, please try
  again later.` with Retry-After 1.
- Slow clients: `wrap_io(scope, receive, send)` gives every non-long-running request
  `--request-timeout` seconds to deliver each body chunk and to take each response chunk;
  a client that stalls gets 504 Timeout (while reading its body) or its connection dropped
  (while we write), so it cannot hold an in-flight slot forever. Slow watch readers are
  already closed by the watch cache's bounded queues.
Counters are plain ints: one event loop, no locks.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qsl

from starlette.types import Message, Receive, Send

from apiserver.auth.user import MASTERS, user_of
from machinery import errors

_READ_ONLY = frozenset({"GET", "HEAD", "OPTIONS"})
_LONG_SUBRESOURCES = frozenset({"exec", "attach", "portforward", "proxy"})


@dataclass
class LimitsConfig:
    user_qps: float = 0.0
    """Sustained requests per second per user (0: no rate limit)."""
    user_burst: int = 0
    """Bucket depth per user (default: max(1, 2 x user_qps))."""
    max_watches_per_user: int = 0
    """Open watches per user (0: no cap)."""
    max_inflight: int = 400
    """Read-only requests served at once (0: no cap)."""
    max_mutating_inflight: int = 200
    """Mutating requests served at once (0: no cap)."""
    request_timeout_s: float = 60.0
    """How long a client may take to send each body chunk or take each response chunk."""


def _query(scope: MutableMapping[str, Any]) -> dict[str, str]:
    raw = scope.get("query_string", b"")
    return dict(parse_qsl(raw.decode("latin-1") if isinstance(raw, bytes) else str(raw), keep_blank_values=True))


def is_watch(scope: MutableMapping[str, Any]) -> bool:
    path = str(scope.get("path", ""))
    if "/watch/" in path:
        return True
    return scope.get("method") == "GET" and _query(scope).get("watch", "").lower() in ("1", "true")


def is_long_running(scope: MutableMapping[str, Any]) -> bool:
    if scope.get("type") == "websocket" or is_watch(scope):
        return True
    parts = str(scope.get("path", "")).rstrip("/").split("/")
    last = parts[-1] if parts else ""
    if last in _LONG_SUBRESOURCES:
        return True
    return last == "log" and _query(scope).get("follow", "").lower() in ("1", "true")


class TokenBucket:
    def __init__(self, rate: float, burst: int, now_s: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.last_s = now_s

    def take(self, now_s: float) -> float:
        """0 when a token was taken, else the seconds until one is available."""
        self.tokens = min(self.burst, self.tokens + (now_s - self.last_s) * self.rate)
        self.last_s = now_s
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


def _too_many(message: str, retry_after_s: float) -> errors.TooManyRequests:
    return errors.TooManyRequests(message, retry_after_s=max(1, math.ceil(retry_after_s)))


class Limits:
    def __init__(self, config: LimitsConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.buckets: dict[str, TokenBucket] = {}
        self.watches: dict[str, int] = {}
        self.inflight = {False: 0, True: 0}

    def _who(self, scope: MutableMapping[str, Any]) -> tuple[str, bool]:
        user = user_of(cast(dict[str, Any], scope))
        if user is not None:
            return user.name, MASTERS in user.groups
        client = scope.get("client") or ("unknown", 0)
        return f"address {client[0]}", False

    def _rate(self, who: str) -> float:
        qps = self.config.user_qps
        if qps <= 0:
            return 0.0
        bucket = self.buckets.get(who)
        now_s = self.clock()
        if bucket is None:
            if len(self.buckets) > 10_000:  # forget idle users rather than grow without bound
                self.buckets = {k: b for k, b in self.buckets.items() if now_s - b.last_s < 60}
            burst = self.config.user_burst or max(1, int(2 * qps))
            bucket = self.buckets[who] = TokenBucket(qps, burst, now_s)
        return bucket.take(now_s)

    def enter(self, scope: MutableMapping[str, Any]) -> tuple[errors.ApiError | None, Callable[[], None]]:
        who, exempt = self._who(scope)
        if exempt:
            return None, _nothing
        wait_s = self._rate(who)
        if wait_s > 0:
            return _too_many(f"the rate limit of user {who!r} is {self.config.user_qps:g} requests per second; "
                             "retry later", wait_s), _nothing
        if is_long_running(scope):
            if not is_watch(scope):
                return None, _nothing
            cap = self.config.max_watches_per_user
            if cap and self.watches.get(who, 0) >= cap:
                return _too_many(f"too many watches for user {who!r}: the limit is {cap}", 1), _nothing
            self.watches[who] = self.watches.get(who, 0) + 1
            return None, lambda: self._end_watch(who)
        mutating = scope.get("method", "GET") not in _READ_ONLY
        cap = self.config.max_mutating_inflight if mutating else self.config.max_inflight
        if cap and self.inflight[mutating] >= cap:
            return _too_many("Too many requests, please try again later.", 1), _nothing
        self.inflight[mutating] += 1
        return None, lambda: self._end(mutating)

    def _end(self, mutating: bool) -> None:
        self.inflight[mutating] -= 1

    def _end_watch(self, who: str) -> None:
        left = self.watches.get(who, 1) - 1
        if left > 0:
            self.watches[who] = left
        else:
            self.watches.pop(who, None)

    def wrap_io(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> tuple[Receive, Send]:
        timeout_s = self.config.request_timeout_s
        if timeout_s <= 0 or is_long_running(scope):
            return receive, send

        async def timed_receive() -> Message:
            try:
                return await asyncio.wait_for(receive(), timeout_s)
            except TimeoutError:
                raise errors.Timeout(f"the client sent no data for {timeout_s:g}s; request abandoned") from None

        async def timed_send(message: Message) -> None:
            try:
                await asyncio.wait_for(send(message), timeout_s)
            except TimeoutError:
                raise OSError(f"the client took no data for {timeout_s:g}s") from None

        return timed_receive, timed_send


def _nothing() -> None:
    return None
