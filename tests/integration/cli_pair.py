"""Run the same command with the real kubectl and with kubelite, against the real API server.

Contract: `Pair(kubeconfig, ns_kubectl, ns_kubelite, home)` has `kubectl(*args)` (a subprocess of
.venv/bin/kubectl with a private cache dir) run in `ns_kubectl`, and `kubelite(*args)` (typer's
CliRunner, in process) run in `ns_kubelite`, both returning `Result(code, out, err)`; so the two
tools can create objects of the same names side by side. `json(*args, ns=...)` reads with
kubectl (`get ... -o json`); `comparable(obj)` drops what differs between two creations.
Everything goes through the kubeconfig the API server fixture wrote: no URL is built here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.integration.conftest import ROOT, ApiServerProcess
from tests.support import delete_namespace_now

KUBECTL = ROOT / ".venv" / "bin" / "kubectl"
VOLATILE = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink")


@dataclass
class Result:
    code: int
    out: str
    err: str


class Pair:
    def __init__(self, kubeconfig: str, ns_kubectl: str, ns_kubelite: str, home: Path) -> None:
        self.kubeconfig = kubeconfig
        self.ns_kubectl = ns_kubectl
        self.ns_kubelite = ns_kubelite
        self.home = home

    def kubectl(self, *args: str, stdin: str | None = None, ns: str | None = "", timeout_s: float = 60.0) -> Result:
        """`ns=""`: the kubectl namespace; None: no -n at all."""
        env = {**os.environ, "HOME": str(self.home), "KUBECONFIG": self.kubeconfig}
        namespace = self.ns_kubectl if ns == "" else ns
        cmd = [str(KUBECTL), "--cache-dir", str(self.home / "cache"), *(["-n", namespace] if namespace else []),
               *args]
        r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env, timeout=timeout_s)
        return Result(r.returncode, r.stdout, r.stderr)

    def kubelite(self, *args: str, stdin: str | None = None, ns: str | None = "") -> Result:
        namespace = self.ns_kubelite if ns == "" else ns
        argv = ["--kubeconfig", self.kubeconfig, *(["-n", namespace] if namespace else []), *args]
        r = CliRunner().invoke(app, argv, input=stdin)
        return Result(r.exit_code, r.stdout, r.stderr)

    def both(self, *args: str, stdin: str | None = None) -> tuple[Result, Result]:
        return self.kubectl(*args, stdin=stdin), self.kubelite(*args, stdin=stdin)

    def json(self, *args: str, ns: str | None = "") -> Any:
        r = self.kubectl("get", *args, "-o", "json", ns=ns)
        assert r.code == 0, r.err
        return json.loads(r.out)

    def pair_json(self, *args: str) -> tuple[Any, Any]:
        """The same object as kubectl and as kubelite created it, comparable."""
        return (comparable(self.json(*args, ns=self.ns_kubectl)),
                comparable(self.json(*args, ns=self.ns_kubelite)))


def comparable(obj: dict[str, Any]) -> dict[str, Any]:
    """An object without what differs between two creations (name, uid, versions, times, IPs, node ports)."""
    uid = str((obj.get("metadata") or {}).get("uid") or "")
    text = json.dumps(obj)
    out: dict[str, Any] = json.loads(text.replace(uid, "<uid>") if uid else text)  # Job selectors carry the uid
    meta = out.get("metadata") or {}
    meta.pop("namespace", None)
    for key in VOLATILE:
        meta.pop(key, None)
    for ann in ("kubectl.kubernetes.io/last-applied-configuration",):
        (meta.get("annotations") or {}).pop(ann, None)
    spec = out.get("spec") or {}
    for key in ("clusterIP", "clusterIPs"):
        if spec.get(key) not in (None, "None", ["None"]):
            spec.pop(key)
    for port in spec.get("ports") or []:  # allocated from the node port range: one per Service
        if isinstance(port, dict) and "nodePort" in port:
            port["nodePort"] = "<allocated>"
    return out


@pytest.fixture(name="pair")
def pair_fixture(apiserver: ApiServerProcess) -> Iterator[Pair]:
    """Two fresh namespaces (one per tool) and a private kubectl home; all removed afterwards."""
    home = Path(tempfile.mkdtemp(prefix="kubelite-pair-"))
    tag = uuid.uuid4().hex[:8]
    p = Pair(apiserver.kubeconfig, f"k-{tag}", f"l-{tag}", home)
    for ns in (p.ns_kubectl, p.ns_kubelite):
        r = p.kubectl("create", "namespace", ns, ns=None)
        assert r.code == 0, r.err
    try:
        yield p
    finally:
        for ns in (p.ns_kubectl, p.ns_kubelite):
            delete_namespace_now(apiserver.url, ns)  # no namespace controller here
        shutil.rmtree(home, ignore_errors=True)
