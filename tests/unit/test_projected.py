"""kubelet/projected.py and the token renewal schedule, with a fake API (no Docker, no server)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from cli.create_token import parse_duration_s, token_request
from cli.errors import CliError
from kubelet import projected
from kubelet.volumes import mounts_for, prepare_volumes, reproject
from kubelet.volumesource import VolumeError
from machinery.models import Pod, Volume

RAW_POD: dict[str, Any] = {
    "metadata": {"name": "p", "namespace": "team", "uid": "u-1", "labels": {"app": "web"}},
    "spec": {"serviceAccountName": "robot", "nodeName": "n1",
             "containers": [{"name": "c", "volumeMounts": [
                 {"name": "kube-api-access-abcde", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                  "readOnly": True}]}],
             "volumes": [{"name": "kube-api-access-abcde", "projected": {"defaultMode": 420, "sources": [
                 {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                 {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                 {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}},
                                            {"path": "app", "fieldRef": {"fieldPath": "metadata.labels['app']"}}]}},
             ]}}]},
}


POD = Pod.model_validate(RAW_POD)
POD_VOLUME = POD.spec.volumes[0] if POD.spec and POD.spec.volumes else Volume(name="missing")


class FakeApi:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.objects = {("configmaps", "team", "kube-root-ca.crt"): {"data": {"ca.crt": "CA-PEM"}}}

    async def fetch(self, plural: str, ns: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((plural, ns, name))

    async def request_token(self, ns: str, sa: str, audiences: list[str] | None, expiration_s: int,
                            pod_name: str, pod_uid: str) -> tuple[str, float]:
        self.calls.append((ns, sa, audiences, expiration_s, pod_name, pod_uid))
        return f"token-{len(self.calls)}", 1000.0 + expiration_s


async def test_projected_volume_files_modes_and_renewal(tmp_path: Path) -> None:
    api = FakeApi()
    refresh: dict[str, float] = {}
    paths = await prepare_volumes(POD, str(tmp_path), api.fetch, request_token=api.request_token, refresh=refresh)
    d = Path(paths["kube-api-access-abcde"])
    assert (d / "token").read_text() == "token-1" and (d / "ca.crt").read_text() == "CA-PEM"
    assert (d / "namespace").read_text() == "team" and (d / "app").read_text() == "web"
    assert stat.S_IMODE(os.stat(d / "token").st_mode) == 0o644
    assert api.calls == [("team", "robot", None, 3607, "p", "u-1")]
    # Renewed at 80% of the lifetime the server granted (the fake's clock: expiry 1000 + 3607).
    name = "kube-api-access-abcde"
    assert refresh[name] > 0
    inode = os.stat(d).st_ino
    due = await reproject(POD, str(tmp_path), api.fetch, api.request_token, [name], now=1000.0)
    assert due == {name: pytest.approx(1000.0 + 0.8 * 3607)}
    # Same directory (a bind mount keeps seeing it), new token.
    assert os.stat(d).st_ino == inode and (d / "token").read_text() == "token-2"
    assert POD.spec is not None
    mounts = mounts_for(POD, POD.spec.containers[0], paths)
    assert mounts[0].read_only and mounts[0].target == "/var/run/secrets/kubernetes.io/serviceaccount"


async def test_projected_volume_errors(tmp_path: Path) -> None:
    api = FakeApi()
    api.objects.clear()
    with pytest.raises(VolumeError, match=r'configmap "kube-root-ca\.crt" not found'):
        await prepare_volumes(POD, str(tmp_path), api.fetch, request_token=api.request_token)

    async def failing(*args: Any) -> tuple[str, float]:
        raise RuntimeError('serviceaccounts "robot" not found')

    with pytest.raises(VolumeError, match="failed to fetch token"):
        await projected.project(POD, POD_VOLUME, tmp_path / "x", api.fetch, failing, 0.0)
    bad = Volume.model_validate({"name": "bad", "projected": {"sources": [{"downwardAPI": {"items": [
        {"path": "../x", "fieldRef": {"fieldPath": "metadata.name"}}]}}]}})
    with pytest.raises(VolumeError, match="invalid path"):
        await projected.project(POD, bad, tmp_path / "y", api.fetch, None, 0.0)


def test_create_token_flags() -> None:
    assert parse_duration_s("10m") == 600 and parse_duration_s("1h30m") == 5400 and parse_duration_s("45s") == 45
    with pytest.raises(CliError, match='invalid duration "ten"'):
        parse_duration_s("ten")
    body = token_request(600, ["a"], "Pod", "p", "u")
    assert body["spec"] == {"audiences": ["a"], "expirationSeconds": 600,
                            "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p", "uid": "u"}}
    with pytest.raises(CliError, match="--bound-object-name is required"):
        token_request(0, [], "Pod", "", "")
    with pytest.raises(CliError, match="supported --bound-object-kind"):
        token_request(0, [], "Deployment", "d", "")
