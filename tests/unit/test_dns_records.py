"""addons.dns.records (pure) and DnsServer.answer on packets built and parsed with dnslib."""

from __future__ import annotations

from typing import Any

from dnslib import QTYPE, RCODE, DNSRecord

from addons.dns.records import NOERROR, NXDOMAIN, REFUSED, Zone, resolve
from addons.dns.server import DnsServer
from machinery.endpointslices import slices_from_endpoints
from machinery.models import Endpoints, EndpointSlice, Service


def svc(name: str, ns: str = "ns1", **spec: Any) -> Service:
    return Service.from_dict({"metadata": {"name": name, "namespace": ns}, "spec": spec})


def eps(name: str, addrs: list[dict[str, Any]], ports: list[dict[str, Any]], ns: str = "ns1",
        not_ready: list[dict[str, Any]] | None = None) -> list[EndpointSlice]:
    """The Service's slices, as the mirroring of this Endpoints object gives them."""
    subset: dict[str, Any] = {"addresses": addrs, "ports": ports}
    if not_ready:
        subset["notReadyAddresses"] = not_ready
    return slices_from_endpoints(Endpoints.from_dict({"metadata": {"name": name, "namespace": ns},
                                                      "subsets": [subset]}))


SERVICES = {
    "ns1/web": svc("web", clusterIP="10.96.0.20", ports=[{"name": "http", "port": 80, "protocol": "TCP"},
                                                          {"name": "dns", "port": 53, "protocol": "UDP"}]),
    "ns1/db": svc("db", clusterIP="None", ports=[{"name": "pg", "port": 5432, "protocol": "TCP"}]),
    "ns1/ext": svc("ext", type="ExternalName", externalName="example.invalid"),
}
ENDPOINTS = {
    "ns1/db": eps("db", [{"ip": "10.244.0.8", "hostname": "db-0"}, {"ip": "10.244.0.7"}],
                  [{"name": "pg", "port": 15432, "protocol": "TCP"}], not_ready=[{"ip": "10.244.0.99"}]),
}
ZONE = Zone(service=lambda ns, n: SERVICES.get(f"{ns}/{n}"), endpoints=lambda ns, n: ENDPOINTS.get(f"{ns}/{n}", []))


def rdatas(answer: Any) -> list[str]:
    return [str(rr.rdata) for rr in answer.answers]


def test_cluster_ip_service_a_record_case_insensitive() -> None:
    a = resolve("Web.NS1.svc.cluster.local.", "A", ZONE)
    assert a.rcode == NOERROR and rdatas(a) == ["10.96.0.20"]
    assert str(a.answers[0].rname) == "Web.NS1.svc.cluster.local."


def test_headless_service_lists_ready_pod_ips_only() -> None:
    assert rdatas(resolve("db.ns1.svc.cluster.local", "A", ZONE)) == ["10.244.0.7", "10.244.0.8"]


def test_pod_hostname_and_dashed_ip_under_headless_service() -> None:
    assert rdatas(resolve("db-0.db.ns1.svc.cluster.local", "A", ZONE)) == ["10.244.0.8"]
    assert rdatas(resolve("10-244-0-7.db.ns1.svc.cluster.local", "A", ZONE)) == ["10.244.0.7"]
    assert resolve("db-1.db.ns1.svc.cluster.local", "A", ZONE).rcode == NXDOMAIN
    assert resolve("10-244-0-99.db.ns1.svc.cluster.local", "A", ZONE).rcode == NXDOMAIN  # not ready
    assert resolve("x.web.ns1.svc.cluster.local", "A", ZONE).rcode == NXDOMAIN  # not headless


def test_srv_for_named_ports() -> None:
    a = resolve("_http._tcp.web.ns1.svc.cluster.local", "SRV", ZONE)
    assert rdatas(a) == ["0 100 80 web.ns1.svc.cluster.local."]
    assert rdatas(resolve("_dns._udp.web.ns1.svc.cluster.local", "SRV", ZONE)) == [
        "0 100 53 web.ns1.svc.cluster.local."]
    assert resolve("_http._udp.web.ns1.svc.cluster.local", "SRV", ZONE).rcode == NXDOMAIN
    headless = resolve("_pg._tcp.db.ns1.svc.cluster.local", "SRV", ZONE)
    assert rdatas(headless) == ["0 50 15432 10-244-0-7.db.ns1.svc.cluster.local.",
                                "0 50 15432 db-0.db.ns1.svc.cluster.local."]
    assert [str(rr.rdata) for rr in headless.additional] == ["10.244.0.7", "10.244.0.8"]


def test_external_name_is_a_cname_never_followed() -> None:
    a = resolve("ext.ns1.svc.cluster.local", "A", ZONE)
    assert [QTYPE[rr.rtype] for rr in a.answers] == ["CNAME"] and rdatas(a) == ["example.invalid."]


def test_nodata_nxdomain_and_refused() -> None:
    nodata = resolve("web.ns1.svc.cluster.local", "AAAA", ZONE)
    assert nodata.rcode == NOERROR and nodata.answers == [] and QTYPE[nodata.authority[0].rtype] == "SOA"
    for interior in ("cluster.local", "svc.cluster.local", "ns1.svc.cluster.local"):
        assert resolve(interior, "A", ZONE).rcode == NOERROR
    for missing in ("nope.ns1.svc.cluster.local", "web.ns2.svc.cluster.local", "a.b.c.d.e.f.cluster.local",
                    "web.ns1.svc.cluster.local.ns1.svc.cluster.local"):
        assert resolve(missing, "A", ZONE).rcode == NXDOMAIN, missing
    assert resolve("example.com", "A", ZONE).rcode == REFUSED
    assert resolve("notcluster.local", "A", ZONE).rcode == REFUSED


def test_pod_a_records() -> None:
    assert rdatas(resolve("10-244-0-5.ns1.pod.cluster.local", "A", ZONE)) == ["10.244.0.5"]
    assert resolve("10-244-0-500.ns1.pod.cluster.local", "A", ZONE).rcode == NXDOMAIN


def test_custom_domain() -> None:
    zone = Zone(service=ZONE.service, endpoints=ZONE.endpoints, domain="corp.lan", ttl_s=5)
    a = resolve("web.ns1.svc.corp.lan", "A", zone)
    assert rdatas(a) == ["10.96.0.20"] and a.answers[0].ttl == 5
    assert resolve("web.ns1.svc.cluster.local", "A", zone).rcode == REFUSED


def test_server_answers_packets() -> None:
    server = DnsServer(ZONE)
    q = DNSRecord.question("web.ns1.svc.cluster.local", "A")
    reply = DNSRecord.parse(server.answer(q.pack()) or b"")
    assert reply.header.id == q.header.id and reply.header.qr == 1 and reply.header.aa == 1
    assert [str(rr.rdata) for rr in reply.rr] == ["10.96.0.20"]
    refused = DNSRecord.parse(server.answer(DNSRecord.question("example.com").pack()) or b"")
    assert refused.header.rcode == RCODE.REFUSED and refused.rr == []


def test_server_formerr_on_garbage_and_silence_on_tiny_packets() -> None:
    server = DnsServer(ZONE)
    assert server.answer(b"\x01") is None
    bad = server.answer(b"\x12\x34" + b"\x01\x00\x00\x05" + b"\x00" * 6 + b"\xff\xff")
    assert bad is not None
    reply = DNSRecord.parse(bad)
    assert reply.header.id == 0x1234 and reply.header.rcode == RCODE.FORMERR


def test_udp_truncation_over_512_bytes() -> None:
    many = {"ns1/big": svc("big", clusterIP="None", ports=[{"name": "p", "port": 1}])}
    big_eps = {"ns1/big": eps("big", [{"ip": f"10.244.1.{i}"} for i in range(1, 60)], [{"name": "p", "port": 1}])}
    server = DnsServer(Zone(service=lambda ns, n: many.get(f"{ns}/{n}"),
                            endpoints=lambda ns, n: big_eps.get(f"{ns}/{n}", [])))
    packet = DNSRecord.question("big.ns1.svc.cluster.local", "A").pack()
    udp = DNSRecord.parse(server.answer(packet, udp=True) or b"")
    assert udp.header.tc == 1 and udp.rr == []
    tcp = DNSRecord.parse(server.answer(packet) or b"")
    assert tcp.header.tc == 0 and len(tcp.rr) == 59


# -- machinery.dnsconfig: the pod's resolv.conf -------------------------------------------------

def _pod(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": "team"}, "spec": spec}


def _host_conf(tmp_path: Any, text: str) -> str:
    path = tmp_path / "resolv.conf"
    path.write_text(text)
    return str(path)


def test_resolv_conf_cluster_first(tmp_path: Any) -> None:
    from machinery.dnsconfig import pod_resolv_conf
    from machinery.models import Pod

    empty = _host_conf(tmp_path, "")
    expected = "nameserver 10.96.0.10\nsearch team.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"
    assert pod_resolv_conf(_pod(), host_resolv_conf=empty) == expected
    model = Pod.from_dict({"metadata": {"name": "p", "namespace": "team"},
                           "spec": {"containers": [{"name": "c", "image": "i"}], "dnsPolicy": "ClusterFirst"}})
    assert pod_resolv_conf(model, host_resolv_conf=empty) == expected
    host = _host_conf(tmp_path, "nameserver 1.1.1.1\nsearch corp.lan\n")
    assert pod_resolv_conf(_pod(), cluster_domain="k.test", host_resolv_conf=host) == (
        "nameserver 10.96.0.10\nsearch team.svc.k.test svc.k.test k.test corp.lan\noptions ndots:5\n")


def test_resolv_conf_default_and_host_network_fallbacks(tmp_path: Any) -> None:
    from machinery.dnsconfig import pod_resolv_conf

    host = _host_conf(tmp_path, "# comment\nnameserver 10.255.255.53\nsearch a.b\noptions edns0\n")
    host_text = "nameserver 10.255.255.53\nsearch a.b\noptions edns0\n"
    assert pod_resolv_conf(_pod(dnsPolicy="Default"), host_resolv_conf=host) == host_text
    assert pod_resolv_conf(_pod(hostNetwork=True), host_resolv_conf=host) == host_text
    assert pod_resolv_conf(_pod(), cluster_dns=[], host_resolv_conf=host) == host_text
    with_net = pod_resolv_conf(_pod(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet"), host_resolv_conf=host)
    assert with_net.startswith("nameserver 10.96.0.10\nsearch team.svc.cluster.local")
    assert pod_resolv_conf(_pod(dnsPolicy="Default"), host_resolv_conf=str(tmp_path / "missing")) == ""


def test_resolv_conf_none_and_dns_config_merge(tmp_path: Any) -> None:
    from machinery.dnsconfig import pod_resolv_conf

    empty = _host_conf(tmp_path, "")
    cfg = {"nameservers": ["9.9.9.9"], "searches": ["x.y", "svc.cluster.local"],
           "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}
    assert pod_resolv_conf(_pod(dnsPolicy="None", dnsConfig=cfg), host_resolv_conf=empty) == (
        "nameserver 9.9.9.9\nsearch x.y svc.cluster.local\noptions ndots:2 edns0\n")
    assert pod_resolv_conf(_pod(dnsConfig=cfg), host_resolv_conf=empty) == (
        "nameserver 10.96.0.10\nnameserver 9.9.9.9\n"
        "search team.svc.cluster.local svc.cluster.local cluster.local x.y\noptions ndots:2 edns0\n")
    many = {"nameservers": ["1.1.1.1", "2.2.2.2", "3.3.3.3"]}
    text = pod_resolv_conf(_pod(dnsConfig=many), host_resolv_conf=empty)
    assert text.count("nameserver") == 3 and "3.3.3.3" not in text
