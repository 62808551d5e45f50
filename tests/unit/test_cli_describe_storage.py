"""`describe` of StatefulSet, PV, PVC and StorageClass: kubectl's fields and wording."""

from __future__ import annotations

from typing import Any

from cli.describe import describe_object
from cli.describe_writer import Writer
from controllers.volume import localpath
from machinery.models import PersistentVolumeClaim


def _render(obj: dict[str, Any], **related: list[dict[str, Any]]) -> str:
    w = Writer()
    describe_object(w, obj, dict(related))
    return w.render()


def test_describe_statefulset() -> None:
    sts = {"kind": "StatefulSet", "metadata": {"name": "web", "namespace": "default"},
           "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "nginx"}},
                    "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
                    "template": {"metadata": {"labels": {"app": "nginx"}},
                                 "spec": {"containers": [{"name": "nginx", "image": "kubelite/busybox:latest"}]}},
                    "volumeClaimTemplates": [{"metadata": {"name": "www"}, "spec": {
                        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]},
           "status": {"replicas": 2}}
    text = _render(sts, pods=[{"status": {"phase": "Running"}}, {"status": {"phase": "Pending"}}])
    lines = [line.split() for line in text.splitlines()]
    assert ["Replicas:", "3", "desired", "|", "2", "total"] in lines
    assert ["Update", "Strategy:", "RollingUpdate"] in lines and ["Partition:", "2"] in lines
    assert ["Pods", "Status:", "1", "Running", "/", "1", "Waiting", "/", "0", "Succeeded", "/", "0", "Failed"] in lines
    assert ["Volume", "Claims:"] in lines and ["Capacity:", "1Gi"] in lines
    assert ["Access", "Modes:", "[ReadWriteOnce]"] in lines


def test_describe_claim_volume_and_class() -> None:
    claim = PersistentVolumeClaim.from_dict({"metadata": {"name": "www-web-0", "namespace": "default", "uid": "u"},
                                             "spec": {"accessModes": ["ReadWriteOnce"],
                                                      "resources": {"requests": {"storage": "1Gi"}}}})
    pv = localpath.new_volume(claim, localpath.default_class("standard"), "node-a", "/srv/lp").to_dict()
    pv["kind"] = "PersistentVolume"
    pv["status"] = {"phase": "Bound"}
    text = _render(pv)
    assert "Claim:           default/www-web-0" in text
    assert "Reclaim Policy:  Delete" in text and "Access Modes:    RWO" in text
    assert "Term 0:  metadata.name in [node-a]" in text
    assert "HostPathType:  DirectoryOrCreate" in text
    pvc = {**claim.to_dict(), "kind": "PersistentVolumeClaim"}
    pvc["spec"]["volumeName"] = "pvc-u"
    pvc["status"] = {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}
    text = _render(pvc, pods=[{"metadata": {"name": "web-0"}}])
    assert "Status:        Bound" in text and "Used By:       web-0" in text and "Access Modes:  RWO" in text
    sc = {**localpath.default_class("standard").to_dict(), "kind": "StorageClass"}
    text = _render(sc)
    assert "IsDefaultClass:        Yes" in text and "VolumeBindingMode:     WaitForFirstConsumer" in text
