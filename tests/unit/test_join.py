"""`kubelite token create` / `kubelite join`: the pure parts (token format and validity, clock
skew, the supervisor's join mode)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from cli import join
from cli.clusterplan import Settings, commands
from cli.errors import CliError

NOW = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)


def test_new_tokens_have_the_kubeadm_format_and_differ() -> None:
    a, b = join.new_token(), join.new_token()
    assert join.TOKEN_RE.match(a) and join.TOKEN_RE.match(b) and a != b
    assert join.parse_token("abcdef.0123456789abcdef") == ("abcdef", "0123456789abcdef")
    for bad in ("abcdef0123456789abcdef", "ABCDEF.0123456789abcdef", "abc.0123456789abcdef", ""):
        with pytest.raises(CliError, match="invalid token"):
            join.parse_token(bad)


def test_token_secret_is_a_bootstrap_token_secret() -> None:
    s = join.token_secret("abcdef.0123456789abcdef", ttl_s=3600, now=NOW)
    assert s["type"] == "bootstrap.kubernetes.io/token"
    assert s["metadata"] == {"name": "bootstrap-token-abcdef", "namespace": "kube-system"}
    data = {k: base64.b64decode(v).decode() for k, v in s["data"].items()}
    assert data["token-id"] == "abcdef" and data["token-secret"] == "0123456789abcdef"
    assert data["expiration"] == "2026-12-06T13:00:00Z"
    assert data["usage-bootstrap-authentication"] == "true"
    assert "expiration" not in join.token_secret("abcdef.0123456789abcdef", ttl_s=0, now=NOW)["data"]


def test_token_problem_names_what_is_wrong() -> None:
    tok = "abcdef.0123456789abcdef"
    secret = join.token_secret(tok, ttl_s=60, now=NOW)
    assert join.token_problem(secret, tok, now=NOW) is None
    assert "expired" in (join.token_problem(secret, tok, now=NOW + timedelta(minutes=2)) or "")
    assert "does not match" in (join.token_problem(secret, "abcdef.ffffffffffffffff", now=NOW) or "")
    assert "unknown" in (join.token_problem(None, tok, now=NOW) or "")
    assert "not of type" in (join.token_problem({**secret, "type": "Opaque"}, tok, now=NOW) or "")


def test_clock_skew_from_the_http_date_header() -> None:
    assert join.clock_skew_s(format_datetime(NOW - timedelta(seconds=40), usegmt=True), NOW) == 40.0
    assert join.clock_skew_s(None, NOW) is None
    assert join.clock_skew_s("not a date", NOW) is None


def test_supervisor_join_mode_runs_only_the_node_components(tmp_path: Path) -> None:
    s = Settings(tmp_path, node_name="m2", components=["kubelet", "proxy", "routeagent"],
                 server="http://10.0.0.1:6443", cluster_dns="10.96.0.10")
    assert s.planned() == ["kubelet", "proxy", "routeagent"]
    cmds = commands(s, s.planned())
    kubelet = cmds["kubelet"]
    assert kubelet[kubelet.index("--cluster-dns") + 1] == "10.96.0.10"
    assert "--pod-cidr" not in kubelet  # the cluster's node IPAM assigns it
    assert cmds["routeagent"][-2:] == ["--node-name", "m2"]
    # TLS bootstrap: the kubelet gets its own certificate with the join token (H/kubeconfig);
    # the proxy and route agent use the certificates join asked for.
    assert kubelet[kubelet.index("--bootstrap-kubeconfig") + 1] == str(tmp_path / "kubeconfig")
    assert kubelet[kubelet.index("--kubeconfig") + 1] == str(tmp_path / "kubeconfigs" / "kubelet.kubeconfig")
    assert cmds["proxy"][cmds["proxy"].index("--kubeconfig") + 1] == str(tmp_path / "kubeconfigs" / "proxy.kubeconfig")


def test_local_controller_manager_signs_with_the_cluster_ca(tmp_path: Path) -> None:
    s = Settings(tmp_path, components=["controllers", "kubelet"])
    cm = commands(s, s.planned())["controllers"]
    assert cm[cm.index("--cluster-signing-cert-file") + 1] == str(tmp_path / "pki" / "ca.crt")
    assert cm[cm.index("--cluster-signing-key-file") + 1] == str(tmp_path / "pki" / "ca.key")
    assert "--bootstrap-kubeconfig" not in commands(s, s.planned())["kubelet"]


def test_route_agent_is_never_started_automatically(tmp_path: Path) -> None:
    assert "routeagent" not in Settings(tmp_path).planned()
