"""Teardown that neither stops half-way nor hides what happened: used by the e2e cluster
fixture (tests/e2e/conftest.py `run_cluster`) and so by bench/controllers.py, which starts
its cluster through it.

- `remove_network(client, name)`: removes the Docker network called exactly `name` (nothing
  when there is none). Docker 20.10 may keep stale endpoints on a user-defined network after
  the containers attached to it were force-removed, and then refuses the removal ("has active
  endpoints"). So every endpoint still listed is disconnected with force (by container id and
  by endpoint name, since a stale endpoint may only be known by its name), then the removal
  is retried with a short backoff for up to `timeout_s`; the last error is raised after that.
- `Cleanup`: ordered teardown steps. `run(failing=...)` runs EVERY step even when one raises
  and collects the errors. When the protected code already failed (`failing=True`) the
  cleanup errors are only reported on stderr, so the original error propagates unchanged;
  otherwise the first cleanup error is raised after all steps ran (a dirty teardown of a
  passing test is still visible), with the others reported.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import docker
import docker.errors
import docker.models.networks


def _exact(client: docker.DockerClient, name: str) -> list[docker.models.networks.Network]:
    # The name filter of the Docker API matches substrings: keep the exact name only.
    return [n for n in client.networks.list(names=[name]) if n.name == name]


def _disconnect_all(net: docker.models.networks.Network) -> None:
    net.reload()
    for cid, endpoint in (net.attrs.get("Containers") or {}).items():
        for target in (cid, (endpoint or {}).get("Name")):
            if not target:
                continue
            try:
                net.disconnect(target, force=True)
                break
            except docker.errors.APIError:
                continue  # already gone, or only known by its other handle


def remove_network(client: docker.DockerClient, name: str, *, timeout_s: float = 30.0) -> None:
    """Remove the network `name`, forcing stale endpoints off it first (see module doc)."""
    deadline = time.monotonic() + timeout_s
    delay_s = 0.1
    while True:
        nets = _exact(client, name)
        if not nets:
            return
        try:
            for net in nets:
                _disconnect_all(net)
                net.remove()
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError:
            if time.monotonic() >= deadline:
                raise
        time.sleep(delay_s)
        delay_s = min(delay_s * 2, 2.0)


@dataclass
class Cleanup:
    """Teardown steps run in order, all of them, whatever fails (see module doc)."""

    steps: list[tuple[str, Callable[[], object]]] = field(default_factory=list)

    def add(self, what: str, step: Callable[[], object]) -> None:
        self.steps.append((what, step))

    def run(self, *, failing: bool) -> None:
        errors: list[tuple[str, BaseException]] = []
        for what, step in self.steps:
            try:
                step()
            except Exception as e:  # noqa: BLE001 - every step must run; reported below
                errors.append((what, e))
        self.steps.clear()
        if not errors:
            return
        shown = errors if failing else errors[1:]
        for what, err in shown:
            print(f"cleanup: {what} failed: {type(err).__name__}: {err}", file=sys.stderr)
        if not failing:
            what, first = errors[0]
            raise RuntimeError(f"cleanup: {what} failed: {type(first).__name__}: {first}") from first
