"""tests.cleanup.Cleanup and bench/controllers.py: a teardown error never hides a result or the
original error, and every step runs."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.cleanup import Cleanup

BENCH = Path(__file__).resolve().parents[2] / "bench" / "controllers.py"


def _boom(msg: str) -> None:
    raise RuntimeError(msg)


def test_every_step_runs_and_the_first_error_is_raised_after(capsys: pytest.CaptureFixture[str]) -> None:
    ran: list[str] = []
    c = Cleanup()
    c.add("a", lambda: ran.append("a"))
    c.add("network", lambda: _boom("has active endpoints"))
    c.add("b", lambda: ran.append("b"))
    c.add("etcd", lambda: _boom("second"))
    with pytest.raises(RuntimeError, match="network failed: RuntimeError: has active endpoints"):
        c.run(failing=False)
    assert ran == ["a", "b"]
    assert "etcd failed: RuntimeError: second" in capsys.readouterr().err


def test_cleanup_errors_never_replace_the_original_error(capsys: pytest.CaptureFixture[str]) -> None:
    c = Cleanup()
    c.add("network", lambda: _boom("has active endpoints"))
    with pytest.raises(ValueError, match="the test's own failure"):  # noqa: PT012 - the failure path of a test
        try:
            raise ValueError("the test's own failure")
        except BaseException:
            c.run(failing=True)  # only reports
            raise
    assert "network failed" in capsys.readouterr().err


def test_clean_run_is_silent(capsys: pytest.CaptureFixture[str]) -> None:
    c = Cleanup()
    c.add("a", lambda: None)
    c.run(failing=False)
    assert capsys.readouterr().err == ""


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_controllers_cleanup", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def test_bench_prints_its_figures_when_teardown_fails(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load_bench()
    try:
        async def measure(args: argparse.Namespace, tag: str, rows: list[Any], notes: list[str]) -> None:
            rows.append(("50 replicas: create -> all Running", bench.Phase(seconds=12.5), bench.Phase(seconds=10.0)))
            raise RuntimeError("cleanup: removing network kubelite-x failed: has active endpoints")

        bench._measure = measure  # type: ignore[attr-defined]  # the bench module is loaded from its file
        args = bench.parse_args(["--skip-hollow"])
        with pytest.raises(RuntimeError, match="has active endpoints"):
            await bench.amain(args)
        out = capsys.readouterr().out
        assert "50 replicas: create -> all Running" in out and "12.5 s" in out and "1.25x" in out
    finally:
        sys.modules.pop("bench_controllers_cleanup", None)
