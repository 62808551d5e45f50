"""`make test`: the whole suite in two lanes that run at the same time, then the heaviest tests alone.

Contract (`python tests/run_lanes.py [--serial] [PYTEST ARGS...]`):
- Stage 1, two lanes at once: `e2e` is tests/e2e (real Docker and iptables: it mostly waits on
  Docker); `api` is tests/unit then tests/integration (real etcd and API servers: it mostly uses
  the CPU). They share nothing but the machine: every fixture names its clusters, networks,
  chains, ports and temp dirs uniquely (which is also what lets several checkouts test on one
  machine).
- Stage 2, lane `alone`: the tests that load the whole machine or time failure detection
  against a grace period (ALONE: the multi-host lab with its Docker-in-Docker nodes, the HA
  chaos test, the 50-node lifecycle test), by themselves, so that stage 1 cannot slow them down.
- Each lane is one pytest process writing to .test-logs/LANE.log. While they run, one progress
  line every PROGRESS_S seconds (each lane's tests done and pytest's percentage). At the end,
  each lane's whole output in lane order, then one verdict line per lane.
- Extra arguments go to every lane (e.g. `-x`, `--durations=30`, `-k name`); a lane where they
  select no test (pytest exit code 5) counts as passed.
- Exit code 0 when every lane passed, else 1. `--serial` runs every lane one after the other
  (for a machine too small to run two).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / ".test-logs"
PROGRESS_S = 30.0
NO_TESTS_COLLECTED = 5
ALONE = ["tests/e2e/test_lab.py", "tests/integration/test_ha_chaos.py", "tests/integration/test_node_lifecycle.py"]
STAGES: list[dict[str, list[str]]] = [
    {"e2e": ["tests/e2e", *(f"--ignore={p}" for p in ALONE if p.startswith("tests/e2e/"))],
     "api": ["tests/unit", "tests/integration", *(f"--ignore={p}" for p in ALONE if not p.startswith("tests/e2e/"))]},
    {"alone": ALONE},
]
_PERCENT = re.compile(rb"\[\s*(\d+)%\]")
_RESULTS = re.compile(rb"^([.FEsxX]+)(?=\s*(?:\[\s*\d+%\])?\s*$)", re.MULTILINE)


@dataclass
class Lane:
    name: str
    paths: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None
    started: float = 0.0
    elapsed_s: float = 0.0

    def start(self, extra: list[str]) -> None:
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in finish()
        # Lanes must not write one pytest cache at the same time.
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *self.paths, *extra]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def progress(self) -> str:
        """Tests done so far (pytest -q's result characters) and its last percentage."""
        try:
            text = self.log_path.read_bytes()
        except OSError:
            return "?"
        done = sum(len(m) for m in _RESULTS.findall(text))
        found = _PERCENT.findall(text[-4096:])
        return f"{done} tests" + (f" ({int(found[-1])}%)" if found else "")

    def running(self) -> bool:
        """Still running; notes the lane's duration when it ends."""
        if self.proc is None or self.proc.poll() is not None:
            if self.proc is not None and not self.elapsed_s:
                self.elapsed_s = time.monotonic() - self.started
            return False
        return True

    def finish(self) -> int:
        assert self.proc is not None and self.log is not None
        code = self.proc.wait()
        self.running()
        self.log.close()
        return 0 if code == NO_TESTS_COLLECTED else code


def run(stages: list[list[Lane]], extra: list[str], *, serial: bool) -> dict[str, int]:
    codes: dict[str, int] = {}
    batches = [[lane] for stage in stages for lane in stage] if serial else stages
    for batch in batches:
        for lane in batch:
            lane.start(extra)
        next_report = time.monotonic() + PROGRESS_S
        while [lane for lane in batch if lane.running()]:
            time.sleep(0.5)
            if time.monotonic() >= next_report:
                next_report += PROGRESS_S
                print("  " + " · ".join(f"{lane.name} {lane.progress()}" for lane in batch), flush=True)
        for lane in batch:
            codes[lane.name] = lane.finish()
    return codes


def main(argv: list[str]) -> int:
    serial = "--serial" in argv
    extra = [a for a in argv if a != "--serial"]
    LOGS.mkdir(exist_ok=True)
    stages = [[Lane(name, paths, LOGS / f"{name}.log") for name, paths in stage.items()] for stage in STAGES]
    lanes = [lane for stage in stages for lane in stage]
    for i, stage in enumerate(stages, 1):
        how = "by itself" if len(stage) == 1 else "one after the other" if serial else "at once"
        print(f"stage {i}, {how}: " + "; ".join(f"{lane.name} ({' '.join(lane.paths)})" for lane in stage),
              flush=True)
    print(f"output in {LOGS.relative_to(ROOT)}/", flush=True)
    codes = run(stages, extra, serial=serial)
    for lane in lanes:
        print(f"\n===== lane {lane.name}: {' '.join(lane.paths)} =====", flush=True)
        sys.stdout.buffer.write(lane.log_path.read_bytes())
        sys.stdout.flush()
    print()
    for lane in lanes:
        verdict = "passed" if codes[lane.name] == 0 else f"FAILED (exit {codes[lane.name]})"
        print(f"lane {lane.name}: {verdict} in {lane.elapsed_s:.0f} s", flush=True)
    return 0 if all(code == 0 for code in codes.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
