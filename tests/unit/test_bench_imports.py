"""Every benchmark must at least load: benches are not run in CI (they are not timed tests), so
a helper they import that moved or vanished would otherwise go unnoticed. Helpers shared by
benches live in bench/lib/ (a package: bench/__init__.py), loaded through the benches."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("path", sorted(p for p in BENCH.glob("*.py") if p.name != "__init__.py"),
                         ids=lambda p: p.name)
def test_bench_module_loads(path: Path) -> None:
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)  # imports and definitions only
    finally:
        sys.modules.pop(spec.name, None)
    assert callable(getattr(module, "main", None)), f"{path.name} has no main()"
