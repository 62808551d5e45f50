"""Container spec building, Docker inspect parsing and guard rule rendering (pure parts)."""

from typing import Any

import pytest

from kubelet.containers import ConfigError, build_spec, container_of, expand, quantity, resolve_env
from kubelet.network import _guard_rules, bridge_name_for
from kubelet.runtime import info_from_attrs
from machinery.models import Pod


def test_quantity_and_expand() -> None:
    assert quantity("250m") * 1000 == 250
    assert quantity("1.5") == pytest.approx(1.5)
    assert quantity("128Mi") == 128 * 2**20
    with pytest.raises(ConfigError):
        quantity("lots")
    assert expand("$(A)-$(B)-$$(A)", {"A": "1"}) == "1-$(B)-$(A)"


async def test_env_from_and_missing_keys() -> None:
    objs = {("configmaps", "ns", "cm"): {"data": {"X": "1", "Y": "2"}}}

    async def fetch(plural: str, ns: str, name: str) -> dict[str, Any] | None:
        return objs.get((plural, ns, name))

    pod = Pod.model_validate({"metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web"}},
                              "spec": {"nodeName": "n", "containers": []}})
    c = container_of({"name": "c", "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "P_"}],
         "env": [{"name": "P_X", "value": "override"},
                 {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                 {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "nope", "optional": True}}}]})
    env = await resolve_env(pod, c, fetch, pod_ip="10.0.0.1", host_ip="h")
    assert env == {"P_X": "override", "P_Y": "2", "APP": "web"}
    with pytest.raises(ConfigError, match="couldn't find key nope"):
        await resolve_env(pod, container_of({"name": "c", "env": [
            {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "nope"}}}]}),
                          fetch, pod_ip=None, host_ip="h")


def test_build_spec_command_args_and_labels() -> None:
    pod = Pod.model_validate({"metadata": {"name": "p", "namespace": "ns", "uid": "0123456789"}})
    spec = build_spec(pod, container_of({"name": "c", "image": "img", "command": ["echo"], "workingDir": "/w"}),
                      cluster="k",
                      node="n", kind="app", sandbox_id="sb", restarts=2, backoff_steps=1, env={}, mounts=[])
    assert spec.name == "k8s_c_p_ns_01234567_2"
    assert spec.command == ["echo"] and spec.args == [] and spec.working_dir == "/w"
    assert spec.network_mode == "container:sb"
    assert spec.labels["io.kubernetes.container.restartCount"] == "2"
    assert spec.nano_cpus is None and spec.mem_limit is None


async def test_resource_field_ref_and_unsupported_value_from() -> None:
    async def fetch(plural: str, ns: str, name: str) -> dict[str, Any] | None:
        return None

    pod = Pod.model_validate({"metadata": {"name": "p", "namespace": "ns"}})
    c = container_of({"name": "c", "resources": {"limits": {"memory": "64Mi"}, "requests": {"cpu": 1}},
                      "env": [{"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory"}}},
                              {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu"}}},
                              {"name": "NONE", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
                              {"name": "E", "value": "$(MEM)/$(CPU)"}]})
    assert await resolve_env(pod, c, fetch, pod_ip=None, host_ip="h") == {
        "MEM": "64Mi", "CPU": "1", "NONE": "0", "E": "64Mi/1"}
    with pytest.raises(ConfigError, match="env X: unsupported valueFrom"):
        await resolve_env(pod, container_of({"name": "c", "env": [{"name": "X", "valueFrom": {"fileKeyRef": {}}}]}),
                          fetch, pod_ip=None, host_ip="h")


def test_a_container_the_model_refuses_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"container 'c': env\.0\.value: "):
        container_of({"name": "c", "env": [{"name": "N", "value": 5}]})
    with pytest.raises(ConfigError, match="container '': name: Field required"):
        container_of({"image": "img"})


def test_info_from_attrs() -> None:
    attrs = {"Id": "abc", "Name": "/x", "Created": "2026-01-01T00:00:00.1Z", "Image": "sha256:1",
             "Config": {"Labels": {"io.kubernetes.container.name": "c", "io.kubernetes.container.restartCount": "3"},
                        "Image": "img"},
             "State": {"Status": "exited", "ExitCode": 137, "OOMKilled": True,
                       "StartedAt": "2026-01-01T00:00:01.5Z", "FinishedAt": "2026-01-01T00:00:02Z"},
             "NetworkSettings": {"Networks": {"n": {"IPAddress": "10.244.0.9"}}}}
    info = info_from_attrs(attrs)
    assert (info.name, info.container, info.restarts, info.exit_code, info.oom_killed, info.ip) == (
        "x", "c", 3, 137, True, "10.244.0.9")
    assert not info.running
    never = info_from_attrs({"State": {"Status": "created", "ExitCode": 0, "StartedAt": "0001-01-01T00:00:00Z"}})
    assert never.exit_code is None and never.started_at is None
    failed_start = info_from_attrs({"State": {"Status": "created", "ExitCode": 127}})
    assert failed_start.exit_code == 127


def test_guard_rules_cover_both_cidrs_and_pod_egress() -> None:
    rules = _guard_rules(["eth0"], ("10.244.0.0/16", "10.96.0.0/16"))
    assert rules == [
        "-A KUBELITE-GUARD -d 10.244.0.0/16 -o eth0 -j REJECT --reject-with icmp-net-unreachable",
        "-A KUBELITE-GUARD -d 10.96.0.0/16 -o eth0 -j REJECT --reject-with icmp-net-unreachable",
        "-A KUBELITE-GUARD -s 10.244.0.0/16 -o eth0 -j REJECT --reject-with icmp-net-unreachable",
    ]
    assert len(bridge_name_for("a-very-long-cluster-name")) <= 15
