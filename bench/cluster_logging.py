"""Benchmark: cluster-level logging (issue 16 item 4).

1. Shipping: container log files in the kubelet's layout and CRI format (written by the kubelet's
   own RotatingWriter, rotated), then the real node agent (`python -m addons.logagent`) ships
   them to the real log store (`python -m addons.logstore`); measured: lines/s from agent start
   until the store holds every line. Baselines in the same run on the same files: `cat` of
   every file to /dev/null, and `tail -q -n +1` (what a `tail -F` reads before it waits).
2. Search: N lines (default 1,000,000) in the SQLite FTS5 store; the latency of a rare-token
   search and of a label-selected common-word search (newest 1000), beside `grep -F` of the
   same token over the same lines in one flat file.

    .venv/bin/python bench/cluster_logging.py            # 200k lines shipped, 1M lines searched
    .venv/bin/python bench/cluster_logging.py --quick    # 50k / 200k
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from addons.logstore.store import Query, SqliteStore  # noqa: E402
from kubelet.logs import RotatingWriter, container_log_path  # noqa: E402
from machinery.logwire import Entry, Stream, ns_to_ts  # noqa: E402
from machinery.selectors import parse_label_selector  # noqa: E402
from tests.support import free_port, spawn_python, stop_process_group  # noqa: E402

PODS = 8
T0 = 1_714_557_600 * 10**9


def line_text(i: int) -> str:
    return f"GET /api/items/{i % 9973} 200 {i % 97}ms user={i % 1013} req={i:08d}"


def write_files(log_dir: Path, n: int) -> list[Path]:
    per = n // PODS
    for p in range(PODS):
        w = RotatingWriter(container_log_path(str(log_dir), "bench", f"web-{p}", f"uid-{p:04d}", "app", 0),
                           max_bytes=10 * 1024 * 1024, max_files=100)
        for i in range(per):
            w.write(ns_to_ts(T0 + (p * per + i) * 1000), "stdout", line_text(p * per + i).encode())
        w.close()
    return sorted(log_dir.rglob("*.log*"))


def timed(argv: list[str], files: list[Path]) -> float:
    start = time.perf_counter()
    with open("/dev/null", "wb") as null:
        subprocess.run([*argv, *map(str, files)], stdout=null, check=True)
    return time.perf_counter() - start


async def ship(tmp: Path, n: int) -> None:
    log_dir = tmp / "pods"
    files = write_files(log_dir, n)
    n = (n // PODS) * PODS
    cat_s = timed(["cat"], files)
    tail_s = timed(["tail", "-q", "-n", "+1"], files)
    port = free_port()
    store = spawn_python(["-m", "addons.logstore", "--listen", f"127.0.0.1:{port}", "--db", str(tmp / "ship.db"),
                          "--log-level", "warning"], tmp / "store.log")
    agent = None
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            while True:
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
            start = time.perf_counter()
            agent = spawn_python(["-m", "addons.logagent", "--store-url", f"http://127.0.0.1:{port}",
                                  "--node-name", "bench", "--log-dir", str(log_dir), "--state-file",
                                  str(tmp / "offsets.json"), "--log-level", "warning"], tmp / "agent.log")
            while True:
                if (await http.get("/v1/stats")).json()["lines"] >= n:
                    break
                await asyncio.sleep(0.1)
            agent_s = time.perf_counter() - start
    finally:
        if agent is not None:
            stop_process_group(agent)
        stop_process_group(store)
    size_mb = sum(f.stat().st_size for f in files) / 1e6
    print(f"shipping {n:,} lines ({size_mb:.0f} MB in {len(files)} files, {PODS} pods):")
    print(f"  agent -> store (committed, searchable): {n / agent_s:>12,.0f} lines/s  ({agent_s:.2f} s, incl. start-up)")
    print(f"  cat of the same files:                  {n / cat_s:>12,.0f} lines/s  ({cat_s:.3f} s)"
          f"  ratio {agent_s / cat_s:,.0f}x slower")
    print(f"  tail -q -n +1 of the same files:        {n / tail_s:>12,.0f} lines/s  ({tail_s:.3f} s)"
          f"  ratio {agent_s / tail_s:,.0f}x slower")


def search(tmp: Path, n: int) -> None:
    store = SqliteStore(tmp / "search.db", max_bytes=1 << 40)
    flat = tmp / "flat.log"
    start = time.perf_counter()
    batch = 20_000
    with open(flat, "w") as fh:
        for b in range(0, n, batch):
            streams = []
            for p in range(PODS):
                entries = [Entry(ns_to_ts(T0 + i * 1000), "stdout", line_text(i), i)
                           for i in range(b + p, min(b + batch, n), PODS)]
                streams.append(Stream("bench", f"web-{p}", f"uid-{p}", "app", "node1", f"src-{p}",
                                      {"app": "web" if p % 2 else "db"}, entries))
                fh.writelines(f"{e.ts} stdout F {e.line}\n" for e in entries)
            store.append(streams)
    load_s = time.perf_counter() - start
    needle = f"req={n // 2:08d}"

    def best(fn: object, runs: int = 5) -> float:
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            fn()  # type: ignore[operator]
            times.append(time.perf_counter() - t)
        return min(times)

    rare = best(lambda: store.search(Query(grep=needle)))
    common = best(lambda: store.search(Query(grep="GET /api/items/42", selector=parse_label_selector("app=web"),
                                             limit=1000)))
    grep_s = best(lambda: subprocess.run(["grep", "-F", needle, str(flat)], stdout=subprocess.DEVNULL, check=True),
                  runs=3)
    assert [r.line for r in store.search(Query(grep=needle))[0]] == [line_text(n // 2)]
    print(f"search over {n:,} lines (stored in {load_s:.1f} s, {n / load_s:,.0f} lines/s into SQLite FTS5):")
    print(f"  rare token (1 hit):                     {rare * 1000:>8.2f} ms")
    print(f"  grep -F of the same token, flat file:   {grep_s * 1000:>8.2f} ms  ratio {grep_s / rare:,.1f}x faster")
    print(f"  common phrase + label selector, 1000:   {common * 1000:>8.2f} ms")
    store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--ship-lines", type=int, default=None)
    ap.add_argument("--search-lines", type=int, default=None)
    args = ap.parse_args()
    ship_n = args.ship_lines or (50_000 if args.quick else 200_000)
    search_n = args.search_lines or (200_000 if args.quick else 1_000_000)
    tmp = Path(tempfile.mkdtemp(prefix="kubelite-bench-logging-"))
    try:
        asyncio.run(ship(tmp, ship_n))
        search(tmp, search_n)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
