"""The HA layout of `kubelite up --ha` (cli/ha.py) as the supervisor builds it: ports, the
etcd cluster's members, the API servers on every member, HAProxy's config, doubled leaders."""

from __future__ import annotations

from pathlib import Path

from cli import ha
from cli.clusterplan import Settings, commands, control_plane


def _settings(tmp_path: Path) -> Settings:
    return Settings(tmp_path, api_port=7000, etcd_port=8000, cluster_name="c", node_name="n",
                    components=["scheduler", "controllers", "kubelet"], ha=True)


def test_ports_and_members(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    assert s.etcd_urls == ["http://127.0.0.1:8000", "http://127.0.0.1:8002", "http://127.0.0.1:8004"]
    assert sorted(p for _, p in ha.ports(s)) == [7000, 7001, 7002, *range(8000, 8006)]
    assert ha.initial_cluster(s) == ("etcd-0=http://127.0.0.1:8001,etcd-1=http://127.0.0.1:8003,"
                                     "etcd-2=http://127.0.0.1:8005")


def test_commands(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    cmds = commands(s, s.components or [])
    assert control_plane(s) == ["etcd-0", "etcd-1", "etcd-2", "apiserver-0", "apiserver-1", "haproxy"]
    assert sorted(cmds) == sorted([*control_plane(s), "scheduler-0", "scheduler-1", "controllers-0", "controllers-1",
                                   "kubelet"])
    etcd1 = cmds["etcd-1"]
    assert etcd1[etcd1.index("--data-dir") + 1] == str(tmp_path / "etcd-1")
    assert etcd1[etcd1.index("--listen-client-urls") + 1] == "http://127.0.0.1:8002"
    api1 = cmds["apiserver-1"]
    assert api1[api1.index("--port") + 1] == "7002"
    assert api1[api1.index("--etcd-servers") + 1] == ",".join(s.etcd_urls)
    assert "--leader-elect" in cmds["scheduler-0"] and "--leader-elect" in cmds["controllers-1"]
    assert "--leader-elect" not in cmds["kubelet"]
    assert cmds["haproxy"][-1] == str(tmp_path / "haproxy.cfg")


def test_haproxy_config_is_tcp_with_checks(tmp_path: Path) -> None:
    cfg = ha.haproxy_config(_settings(tmp_path))
    assert "mode tcp" in cfg and "bind 127.0.0.1:7000" in cfg and "option redispatch" in cfg
    assert "server apiserver-0 127.0.0.1:7001 check" in cfg and "server apiserver-1 127.0.0.1:7002 check" in cfg


def test_single_node_layout_is_unchanged(tmp_path: Path) -> None:
    s = Settings(tmp_path, api_port=7000, etcd_port=8000, components=["scheduler"])
    assert control_plane(s) == ["etcd", "apiserver"] and s.etcd_urls == ["http://127.0.0.1:8000"]
    assert sorted(commands(s, ["scheduler"])) == ["apiserver", "etcd", "scheduler"]
