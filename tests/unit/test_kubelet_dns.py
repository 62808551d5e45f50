"""Pod resolv.conf per dnsPolicy."""

from typing import Any

from kubelet.dns import resolv_conf


def pod(**spec: object) -> dict[str, Any]:
    return {"metadata": {"namespace": "team"}, "spec": spec}


def test_cluster_first() -> None:
    assert resolv_conf(pod(), cluster_dns=["10.96.0.10"]) == (
        "nameserver 10.96.0.10\nsearch team.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n")


def test_default_and_no_cluster_dns_keep_docker() -> None:
    assert resolv_conf(pod(dnsPolicy="Default"), cluster_dns=["10.96.0.10"]) is None
    assert resolv_conf(pod(), cluster_dns=[]) is None
    assert resolv_conf(pod(hostNetwork=True), cluster_dns=["10.96.0.10"]) is None
    host = resolv_conf(pod(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet"), cluster_dns=["1.2.3.4"])
    assert host is not None and host.startswith("nameserver 1.2.3.4\n")


def test_policy_none_uses_dns_config_only() -> None:
    text = resolv_conf(pod(dnsPolicy="None", dnsConfig={"nameservers": ["9.9.9.9"], "searches": ["a.b"],
                                                        "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}),
                       cluster_dns=["10.96.0.10"])
    assert text == "nameserver 9.9.9.9\nsearch a.b\noptions ndots:2 edns0\n"


def test_dns_config_merges_into_cluster_first_options_by_name() -> None:
    text = resolv_conf(pod(dnsConfig={"nameservers": ["1.1.1.1"], "searches": ["svc.cluster.local", "extra.x"],
                                      "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}),
                       cluster_dns=["10.96.0.10"], cluster_domain="k.local")
    assert text == ("nameserver 10.96.0.10\nnameserver 1.1.1.1\n"
                    "search team.svc.k.local svc.k.local k.local svc.cluster.local extra.x\noptions ndots:2 edns0\n")


def test_node_resolv_conf_is_not_copied_in() -> None:
    # Docker owns what a container inherits from the host (its embedded resolver on the pod
    # bridge): the node's own /etc/resolv.conf must never leak into a pod's file.
    host = resolv_conf(pod(dnsPolicy="Default", dnsConfig={"searches": ["only.search"]}), cluster_dns=["10.96.0.10"])
    assert host is None  # no nameserver to offer: keep Docker's file rather than break DNS
    text = resolv_conf(pod(dnsPolicy="Default", dnsConfig={"nameservers": ["9.9.9.9"]}), cluster_dns=["10.96.0.10"])
    assert text == "nameserver 9.9.9.9\n"

