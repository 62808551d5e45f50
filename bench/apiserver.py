"""Benchmark: the API server (and its storage layer) against etcd itself, measured in one run.

What it prints, for 1, 8 and 32 concurrent clients: pod creates/s and gets/s with p50/p99
latency, through (a) the API server over HTTP (raw httpx, JSON), (b) `EtcdStorage` in-process
(the storage layer alone), (c) etcd directly with aetcd (a create txn / a get of the same JSON),
and the ratio API server / etcd; then pods "scheduled" per second at 32 clients (create + binding
+ Scheduled event: the API side of bench/scheduler.py; on etcd: create txn, get, compare-and-put,
event txn). Then the time for one change to reach 100 and 1,000
concurrent watchers: HTTP watches on the API server, watchers of `EtcdStorage`'s watch cache,
and one aetcd watch each on etcd.

    .venv/bin/python bench/apiserver.py                  # starts its own etcd + API server
    .venv/bin/python bench/apiserver.py --server https://127.0.0.1:6443 --etcd http://127.0.0.1:2379 \
        --kubeconfig ~/.kubelite/kubeconfig      # its credentials (CA + client certificate)
    .venv/bin/python bench/apiserver.py --quick          # smaller counts (CI smoke)
    .venv/bin/python bench/apiserver.py --quick --creates-only --py-spy /tmp/api   # profile creates

`--py-spy PREFIX` records the API server with py-spy during each create phase (PREFIX.c1,
PREFIX.c8, PREFIX.c32: raw collapsed stacks for flamegraph.pl or speedscope) and prints where
its samples went (bench/lib/pyspy.py: phases of a create, top frames). `--creates-only` skips
the gets, scheduled pods, fan-out and /metrics phases.

Every phase stops at its op count or its time budget, whichever comes first, so a run takes
well under 3 minutes. Clients run in this process: client-side Python cost is part of every
column (a 1,000-watcher fan-out measures this process parsing 1,000 streams, too); `cli` is
this process's CPU ms per op (compare it with the etcd column's: aetcd is gRPC in C). The API
server's creates and gets use a lean HTTP/1.1 client (bench/lib/rawhttp.py) by default; with
`--client httpx` (what earlier runs used) httpx cost about as much CPU per request as the
server, and at 32 clients the bench measured itself. The load average is printed at the start
and the end: on a shared machine compare ratios and CPU per op, not rates.
The API server serves HTTPS only: each client holds its connections (keep-alive), so the TLS
handshake is paid once per connection, not per request.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import ssl
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aetcd  # noqa: E402

from apiserver.storage import EtcdStorage  # noqa: E402
from bench.lib import pyspy  # noqa: E402
from bench.lib.apiserver_targets import (  # noqa: E402
    NS,
    ApiTarget,
    EtcdTarget,
    Result,
    StorageTarget,
    run_ops,
)
from machinery.kubeconfig import load_kubeconfig, ssl_context  # noqa: E402
from tests.support import EtcdProcess, apiserver_process, tls_context  # noqa: E402

# --- phases ---------------------------------------------------------------------------------

async def crud(target: Any, tag: str, conc: int, count: int, budget_s: float, *,
               spy_to: Path | None = None, gets: bool = True) -> tuple[Result, Result | None]:
    """Creates then gets; `spy_to`: py-spy records the server (target.pid) during the creates."""
    names = [f"{tag}-c{conc}-{i}" for i in range(count)]
    pid = getattr(target, "pid", None)
    spy = pyspy.start(pid, spy_to, spy_to.with_suffix(".log")) if spy_to and pid else None
    if spy is not None:
        await asyncio.sleep(1.0)  # py-spy attaches
    try:
        created = await run_ops(lambda i, w: target.create(names[i], w), concurrency=conc, count=count,
                                budget_s=budget_s, server_pid=pid)
    finally:
        if spy is not None:
            await asyncio.to_thread(pyspy.stop, spy)
    if not gets:
        return created, None
    got = await run_ops(lambda i, w: target.get(names[i % max(created.ops, 1)], w), concurrency=conc,
                        count=count, budget_s=budget_s, server_pid=pid)
    return created, got


async def _ready_or_done(ready: asyncio.Event, task: asyncio.Task[None]) -> None:
    waiter = asyncio.ensure_future(ready.wait())
    await asyncio.wait([waiter, task], return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()


async def fan_out(target: Any, n: int, tag: str, budget_s: float = 45.0) -> tuple[float, float] | None:
    """(p50 ms, time for all n watchers ms) for one create to reach n watchers."""
    rv = await target.list_rv()
    t_create = 0.0
    arrivals: list[float] = []
    results: list[Any] = []
    readies = [asyncio.Event() for _ in range(n)]

    def got() -> None:
        arrivals.append(time.perf_counter())

    tasks = [asyncio.create_task(target.watch(rv, readies[i], got, i)) for i in range(n)]
    try:
        async with asyncio.timeout(budget_s):
            await asyncio.gather(*(_ready_or_done(r, t) for r, t in zip(readies, tasks, strict=True)))
            await asyncio.sleep(0.5 + n / 1000)  # let the server register every watcher
            t_create = time.perf_counter()
            await target.create(f"{tag}-watch-{n}-{uuid.uuid4().hex[:6]}")
            results = await asyncio.gather(*tasks, return_exceptions=True)
    except TimeoutError:
        failed = [t for t in tasks if t.done() and t.exception() is not None]
        print(f"  ! fan-out to {n} watchers: {sum(r.is_set() for r in readies)} connected, "
              f"{len(arrivals)} got the event within {budget_s}s, {len(failed)} failed"
              + (f" ({failed[0].exception()!r})" if failed else ""), file=sys.stderr)
        return None
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t
        reset = getattr(target, "reset_watchers", None)
        if reset is not None:
            await reset()
    errs = [r for r in results if isinstance(r, BaseException)]
    if errs:
        print(f"  ! fan-out to {n} watchers: {len(errs)} watch(es) failed, e.g. {errs[0]!r}",
              file=sys.stderr)
    lat = sorted((a - t_create) * 1000 for a in arrivals)
    return (statistics.median(lat), lat[-1]) if lat else None


# --- setup and report ----------------------------------------------------------------------

def _log_tail(path: Path, chars: int = 800) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


@contextlib.asynccontextmanager
async def started_apiserver(etcd_url: str, log_path: Path, *flags: str) -> AsyncIterator[tuple[str, int] | None]:
    """(URL, pid) of an API server of this run on `etcd_url` (tests.support.apiserver_process:
    ready once /readyz answers, stopped with its process group), or None, with the end of its
    log on stderr, when it did not start."""
    async with contextlib.AsyncExitStack() as stack:
        try:
            url, proc = await stack.enter_async_context(
                apiserver_process(etcd_url, log_path, timeout_s=20.0, extra_args=flags))
        except RuntimeError as exc:
            tail = await asyncio.to_thread(_log_tail, log_path)
            print(f"  ! {exc}:\n{tail}", file=sys.stderr)
            yield None
            return
        yield url, proc.pid


@contextlib.asynccontextmanager
async def cluster(args: argparse.Namespace) -> AsyncIterator[tuple[str | None, str, int | None]]:
    """(API server URL or None if none could be started, etcd URL, the server's pid if known)."""
    if args.server:
        yield args.server, args.etcd, args.server_pid
        return
    with EtcdProcess(name="kubelite-bench") as etcd:
        # info: the server's default log level, as a cluster runs it
        async with started_apiserver(etcd.url, etcd.base_dir / "apiserver.log", "--log-level", "info") as started:
            yield (started[0], etcd.url, started[1]) if started else (None, etcd.url, None)


async def metrics_overhead(server: str, pid: int | None, etcd_url: str, counts: dict[int, int], budget: float,
                           tag: str, tls: ssl.SSLContext) -> None:
    """The same creates and gets against this API server (Prometheus instrumentation on, the
    default) and a second one started with --no-metrics, alternating, in this run."""
    with tempfile.TemporaryDirectory(prefix="kubelite-bench-") as tmp:
        log_path = Path(tmp) / "apiserver-no-metrics.log"
        async with started_apiserver(etcd_url, log_path, "--no-bootstrap", "--no-metrics") as bare:
            if bare is None:
                print("  ! the --no-metrics API server did not start", file=sys.stderr)
                return
            await _metrics_overhead(server, pid, bare, counts, budget, tag, tls)


async def _metrics_overhead(server: str, pid: int | None, bare: tuple[str, int], counts: dict[int, int],
                            budget: float, tag: str, tls: ssl.SSLContext) -> None:
    """The comparison itself, `bare` being the --no-metrics server's (URL, pid)."""
    on, off = ApiTarget(server, tls), ApiTarget(bare[0], tls_context())
    on.pid, off.pid = pid, bare[1]
    await on.setup()
    await off.setup()
    print(f"\n{'metrics cost':<16} {'API server, /metrics on':<58} {'API server --no-metrics':<58} {'on/off':>8}")
    try:
        for conc, count in counts.items():
            results = {}
            for name, t in (("off", off), ("on", on)):
                results[name] = await crud(t, f"m{name}-{tag}-{conc}", conc, count, budget)
            for i, verb in enumerate(("create", "get")):
                a, b = results["on"][i], results["off"][i]
                print(f"{verb:<7} c={conc:<3d}   {fmt_rate(a):<58} {fmt_rate(b):<58} {ratio(a.rate if a else None, b.rate if b else None):>8}")
    finally:
        await on.close()
        await off.close()
    print("  (on/off below 1.00x = the instrumentation's cost in throughput)")


def bench_tls(args: argparse.Namespace) -> ssl.SSLContext:
    """The credentials to use: --kubeconfig's for a given --server, else the test PKI's admin."""
    if args.server and args.kubeconfig:
        cfg = load_kubeconfig(args.kubeconfig)
        return ssl_context(cfg.ca_file, cfg.cert_file, cfg.key_file, cfg.verify)
    return tls_context()


def fmt_rate(r: Result | None) -> str:
    if r is None:
        return "n/a"
    cpu = "" if r.server_cpu_ms is None else f" cpu {r.server_cpu_ms:4.2f}"
    cli = "" if r.client_cpu_ms is None else f" cli {r.client_cpu_ms:4.2f}"
    return f"{r.rate:7.0f}/s p50 {r.pct(50):5.1f} p99 {r.pct(99):6.1f}{cpu}{cli}"


def ratio(a: float | None, b: float | None) -> str:
    return "n/a" if not a or not b else f"{a / b:5.2f}x"


async def main(args: argparse.Namespace) -> None:  # noqa: C901 - one flat sequence of cases, read best in one place
    t_start = time.perf_counter()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    counts = {1: 200, 8: 800, 32: 1600} if args.quick else {1: 500, 8: 2000, 32: 4000}
    budget = 3.0 if args.quick else 6.0
    watchers = (100, 1000)
    async with cluster(args) as (server, etcd_url, server_pid):
        u = urlparse(etcd_url)
        client = aetcd.Client(host=u.hostname or "127.0.0.1", port=u.port or 2379, timeout=10)
        await client.connect()
        storage = await EtcdStorage.connect([etcd_url], timeout_s=10)
        tag = uuid.uuid4().hex[:6]
        targets: dict[str, Any] = {
            "apiserver": ApiTarget(server, bench_tls(args), args.client) if server else None,
            "storage": StorageTarget(storage),
            "etcd": EtcdTarget(client, f"/bench-{tag}/pods/{NS}/"),
        }
        if targets["apiserver"] is not None:
            targets["apiserver"].pid = server_pid
        for name, t in targets.items():
            if t is not None:
                try:
                    await t.setup()
                except Exception as e:  # noqa: BLE001 - the bench still reports the other columns
                    print(f"  ! {name} setup failed: {e}", file=sys.stderr)
                    targets[name] = None
        rows: list[tuple[str, dict[str, Result | None]]] = []
        for conc, count in counts.items():
            cr: dict[str, Result | None] = {}
            gr: dict[str, Result | None] = {}
            for name, t in targets.items():
                cr[name] = gr[name] = None
                if t is None:
                    continue
                spy_to = Path(f"{args.py_spy}.c{conc}") if args.py_spy and name == "apiserver" else None
                try:
                    cr[name], gr[name] = await crud(t, f"{name}-{tag}", conc, count, budget, spy_to=spy_to,
                                                    gets=not args.creates_only)
                except Exception as e:  # noqa: BLE001 - the bench reports the failure and goes on
                    print(f"  ! {name} c={conc}: {e}", file=sys.stderr)
            rows += [(f"create  c={conc:<3d}", cr)] + ([] if args.creates_only else [(f"get     c={conc:<3d}", gr)])
        # One scheduled pod = create + binding + event (bench/scheduler.py's API side).
        sr: dict[str, Result | None] = {}
        for name, t in targets.items() if not args.creates_only else ():
            sr[name] = None
            if t is not None:
                n = counts[32] // 4
                names = [f"{name}-{tag}-s-{i}" for i in range(n)]

                def op(i: int, w: int, t: Any = t, names: list[str] = names) -> Awaitable[None]:
                    return t.schedule(names[i], w)  # type: ignore[no-any-return]

                try:
                    sr[name] = await run_ops(op, concurrency=32, count=n, budget_s=budget,
                                             server_pid=getattr(t, "pid", None))
                except Exception as e:  # noqa: BLE001 - the bench reports the failure and goes on
                    print(f"  ! {name} schedule: {e}", file=sys.stderr)
        if not args.creates_only:
            rows.append(("sched'd c=32", sr))
        fan: list[tuple[int, dict[str, tuple[float, float] | None]]] = []
        for n in watchers if not args.creates_only else ():
            res: dict[str, tuple[float, float] | None] = {}
            for name, t in targets.items():
                res[name] = None
                if t is not None:
                    try:
                        res[name] = await fan_out(t, n, f"{name}-{tag}")
                    except Exception as e:  # noqa: BLE001 - the bench reports the failure and goes on
                        print(f"  ! {name} fan-out {n}: {e}", file=sys.stderr)
            fan.append((n, res))
        if server and not args.server and not args.creates_only:  # the Prometheus instrumentation's cost, same run
            await metrics_overhead(server, server_pid, etcd_url, counts, budget, tag, bench_tls(args))
        for t in targets.values():
            if t is not None:
                await t.close()
        await storage.close()
        await client.close()

    w = 58 if server_pid else 49
    print(f"\n{'operation':<16} {'API server (HTTP)':<{w}} {'EtcdStorage (in-process)':<{w}} "
          f"{'etcd direct (aetcd)':<{w}} {'API/etcd':>8}")
    for label, r in rows:
        a, s, base = r["apiserver"], r["storage"], r["etcd"]
        print(f"{label:<16} {fmt_rate(a):<{w}} {fmt_rate(s):<{w}} {fmt_rate(base):<{w}} "
              f"{ratio(base.rate if base else None, a.rate if a else None):>8}")
    print("  (rates in ops/s, latencies in ms; API/etcd = how many times slower the API server is;"
          "\n   cpu = the API server's CPU ms per op, the figure to compare on a busy machine;"
          f"\n   cli = this process's CPU ms per op, the client side: {args.client} for the API server)")
    print(f"\n{'watch fan-out':<16} {'API server (HTTP)':<{w}} {'EtcdStorage (watch cache)':<{w}} "
          f"{'etcd direct (one watch each)':<{w}} {'API/etcd':>8}")
    for n, res in fan:
        def cell(x: tuple[float, float] | None) -> str:
            return "n/a" if x is None else f"all in {x[1]:7.1f} ms (p50 {x[0]:6.1f})"
        a2, e2 = res["apiserver"], res["etcd"]
        print(f"{n:>5} watchers   {cell(a2):<{w}} {cell(res['storage']):<{w}} {cell(e2):<{w}} "
              f"{ratio(a2[1] if a2 else None, e2[1] if e2 else None):>8}")
    for conc in counts if args.py_spy and server else ():
        spied = Path(f"{args.py_spy}.c{conc}")
        if spied.exists():  # noqa: ASYNC240 - the run is over
            pyspy.report(spied, f"API server, creates at {conc} client(s), py-spy {spied}")
    print(f"\ntotal run time {time.perf_counter() - t_start:.1f} s, "
          f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", help="use this API server instead of starting one (needs --etcd)")
    p.add_argument("--etcd", default="http://127.0.0.1:2379", help="its etcd, for the baseline")
    p.add_argument("--kubeconfig", help="the --server's credentials (CA and client certificate)")
    p.add_argument("--quick", action="store_true", help="smaller counts")
    p.add_argument("--server-pid", type=int, help="the --server's pid (local): report its CPU ms per op")
    p.add_argument("--client", choices=("raw", "httpx"), default="raw",
                   help="the API server's HTTP client for creates and gets (default: bench/lib/rawhttp.py)")
    p.add_argument("--py-spy", metavar="PREFIX", help="record the API server during the create phases")
    p.add_argument("--creates-only", action="store_true", help="only the create phases")
    asyncio.run(main(p.parse_args()))
