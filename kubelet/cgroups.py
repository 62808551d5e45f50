"""Reading a container's CPU and memory counters straight from its cgroup (v1 or v2), and the
node's from /proc, as cAdvisor does: plain file reads, no Docker call.

Contract:
- `CgroupFS(root="/sys/fs/cgroup", proc="/proc")`: `container(cid, pid) -> Usage | None` finds
  the container's cgroup by Docker's cgroupfs/systemd layouts (`docker/<id>`,
  `system.slice/docker-<id>.scope`) under the v2 root or the v1 `cpuacct`/`memory` hierarchies,
  else through `/proc/<pid>/cgroup` (a nested Docker, e.g. the lab, lists its paths there), and
  reads the counters; None when no readable cgroup is found (the caller falls back to Docker).
- `Usage`: `cpu_ns` (cumulative CPU time, ns), `memory_bytes` (usage), `working_set_bytes`
  (usage minus inactive file pages, Kubernetes' definition), `rss_bytes` (anon memory).
- `node_usage(proc)`: the machine's cumulative CPU ns from /proc/stat and memory from
  /proc/meminfo (working set = total - available); `net_dev(pid, proc)` -> (rx, tx) bytes
  summed over the interfaces of the network namespace of `pid` (0 = this process), loopback
  excluded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

USER_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Usage:
    cpu_ns: int
    memory_bytes: int
    working_set_bytes: int
    rss_bytes: int


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip().split()[0])
    except (ValueError, IndexError):
        return None


def _kv(text: str | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


class CgroupFS:
    def __init__(self, root: str = "/sys/fs/cgroup", proc: str = "/proc") -> None:
        self.root = Path(root)
        self.proc = Path(proc)
        self.v2 = (self.root / "cgroup.controllers").exists()
        self._paths: dict[str, tuple[Path, Path] | None] = {}

    def _candidates(self, cid: str, pid: int) -> list[str]:
        rels = [f"docker/{cid}", f"system.slice/docker-{cid}.scope"]
        text = _read(self.proc / str(pid) / "cgroup") if pid else None
        for line in (text or "").splitlines():
            _, controllers, path = line.split(":", 2)
            if (self.v2 and controllers == "") or (not self.v2 and "cpuacct" in controllers.split(",")):
                rel = path.strip("/")
                # A nested engine shows the full path from the outer root; its /sys/fs/cgroup may
                # be mounted at any suffix of it: try each suffix.
                parts = rel.split("/")
                rels += ["/".join(parts[i:]) for i in range(len(parts))]
        return rels

    def _locate(self, cid: str, pid: int) -> tuple[Path, Path] | None:
        if cid in self._paths:
            return self._paths[cid]
        found: tuple[Path, Path] | None = None
        for rel in self._candidates(cid, pid):
            if self.v2:
                d = self.root / rel
                if (d / "cpu.stat").exists() and (d / "memory.current").exists():
                    found = (d, d)
                    break
            else:
                cpu, mem = self.root / "cpuacct" / rel, self.root / "memory" / rel
                if (cpu / "cpuacct.usage").exists() and (mem / "memory.usage_in_bytes").exists():
                    found = (cpu, mem)
                    break
        if found is not None or pid:
            self._paths[cid] = found
        return found

    def forget(self, keep: set[str]) -> None:
        """Drop the cached paths of containers not in `keep`."""
        for cid in [c for c in self._paths if c not in keep]:
            del self._paths[cid]

    def container(self, cid: str, pid: int = 0) -> Usage | None:
        loc = self._locate(cid, pid)
        if loc is None:
            return None
        cpu_dir, mem_dir = loc
        if self.v2:
            cpu_us = _kv(_read(cpu_dir / "cpu.stat")).get("usage_usec")
            usage = _int(_read(mem_dir / "memory.current"))
            stat = _kv(_read(mem_dir / "memory.stat"))
            if cpu_us is None or usage is None:
                return None
            inactive, rss, cpu_ns = stat.get("inactive_file", 0), stat.get("anon", 0), cpu_us * 1000
        else:
            cpu_ns_v1 = _int(_read(cpu_dir / "cpuacct.usage"))
            usage = _int(_read(mem_dir / "memory.usage_in_bytes"))
            stat = _kv(_read(mem_dir / "memory.stat"))
            if cpu_ns_v1 is None or usage is None:
                return None
            inactive, rss, cpu_ns = stat.get("total_inactive_file", 0), stat.get("total_rss", 0), cpu_ns_v1
        return Usage(cpu_ns=cpu_ns, memory_bytes=usage, working_set_bytes=max(0, usage - inactive), rss_bytes=rss)


def node_usage(proc: str = "/proc") -> Usage:
    """The whole machine: CPU from /proc/stat's first line, memory from /proc/meminfo."""
    cpu_ns = 0
    first = (_read(Path(proc) / "stat") or "").split("\n", 1)[0].split()
    if first and first[0] == "cpu":
        # user nice system idle iowait irq softirq steal: busy = all but idle and iowait
        vals = [int(v) for v in first[1:9]] + [0] * 8
        busy = vals[0] + vals[1] + vals[2] + vals[5] + vals[6] + vals[7]
        cpu_ns = busy * 1_000_000_000 // USER_HZ
    mem = _kv((_read(Path(proc) / "meminfo") or "").replace(":", ""))
    total, avail = mem.get("MemTotal", 0) * 1024, mem.get("MemAvailable", 0) * 1024
    used = max(0, total - mem.get("MemFree", 0) * 1024)
    anon = mem.get("AnonPages", 0) * 1024
    return Usage(cpu_ns=cpu_ns, memory_bytes=used, working_set_bytes=max(0, total - avail), rss_bytes=anon)


def net_dev(pid: int = 0, proc: str = "/proc") -> tuple[int, int]:
    """(rx_bytes, tx_bytes) of the network namespace of `pid`, loopback excluded."""
    text = _read(Path(proc) / (str(pid) if pid else "self") / "net" / "dev")
    rx = tx = 0
    for line in (text or "").splitlines()[2:]:
        name, _, rest = line.partition(":")
        fields = rest.split()
        if name.strip() == "lo" or len(fields) < 9:
            continue
        rx += int(fields[0])
        tx += int(fields[8])
    return rx, tx
