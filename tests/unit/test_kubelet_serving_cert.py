"""Where the kubelet's HTTPS certificate comes from: issued from the cluster CA for `kubelite up`
(machinery/pki.py, cli/clusterplan.py), kept while it still fits, reissued when the node's address
changed; self-signed when nothing else is given (kubelet/serving.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from cli import clusterplan as plan
from kubelet.serving import client_ca, self_signed, serving_cert
from machinery.kubeconfig import write_kubeconfig
from machinery.pki import cert_sans, ensure_cluster_pki, ensure_kubelet_serving_cert, subject_of


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _ips(path: str) -> set[str]:
    return cert_sans(Path(path).read_bytes())[1]


def test_serving_cert_from_the_cluster_ca_and_reissued_when_the_address_changes(tmp_path: Path) -> None:
    pki = ensure_cluster_pki(tmp_path / "pki")
    crt, key = ensure_kubelet_serving_cert(pki, "n1", dns_names=["host-a"], ip_addresses=["10.0.0.5"])
    assert (crt, key) == (pki.cert("kubelet-n1"), pki.key("kubelet-n1"))
    assert key.stat().st_mode & 0o777 == 0o600
    assert cert_sans(crt.read_bytes()) == ({"n1", "host-a"}, {"10.0.0.5", "127.0.0.1"})
    assert subject_of(crt.read_bytes()) == ("system:node:n1", ("system:nodes",))
    cert = _cert(crt)
    cert.verify_directly_issued_by(_cert(pki.ca_cert))
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    serial = cert.serial_number
    ensure_kubelet_serving_cert(pki, "n1", ip_addresses=["10.0.0.5"])  # still fits: kept
    assert _cert(crt).serial_number == serial
    ensure_kubelet_serving_cert(pki, "n1", ip_addresses=["10.0.0.6"])  # new address: reissued
    assert _cert(crt).serial_number != serial and "10.0.0.6" in cert_sans(crt.read_bytes())[1]


def test_kubelite_up_issues_the_kubelets_certificate(tmp_path: Path) -> None:
    s = plan.Settings(tmp_path, node_name="n1", node_ip="10.9.8.7")
    plan.write_credentials(s, ["kubelet"])
    dns, ips = cert_sans((tmp_path / "pki" / "kubelet-n1.crt").read_bytes())
    assert dns == {"n1", socket.gethostname()} and ips == {"10.9.8.7", "127.0.0.1"}
    joined = tmp_path / "joined"
    plan.write_credentials(plan.Settings(joined, node_name="n2"), ["proxy"])  # no kubelet: none issued
    assert not (joined / "pki" / "kubelet-n2.crt").exists()


async def test_given_files_win_else_self_signed(tmp_path: Path) -> None:
    got = await serving_cert(cert_file="/c.crt", key_file="/c.key", rotate=True, client=None,  # type: ignore[arg-type]
                             node="n1", node_ip="10.0.0.5", cert_dir=str(tmp_path))
    assert got == ("/c.crt", "/c.key")
    crt, key = await serving_cert(cert_file=None, key_file=None, rotate=False, client=None,  # type: ignore[arg-type]
                                  node="n1", node_ip="10.0.0.5", cert_dir=str(tmp_path))
    assert (crt, key) == (str(tmp_path / "kubelet.crt"), str(tmp_path / "kubelet.key"))
    assert _ips(crt) == {"10.0.0.5", "127.0.0.1"}
    serial = _cert(Path(crt)).serial_number
    assert self_signed("n1", "10.0.0.5", tmp_path) == (Path(crt), Path(key))
    assert _cert(Path(crt)).serial_number == serial  # kept across restarts


def test_client_ca_defaults_to_the_kubeconfigs(tmp_path: Path) -> None:
    pki = ensure_cluster_pki(tmp_path / "pki")
    kc = write_kubeconfig(tmp_path / "kc", "https://127.0.0.1:6443", ca_file=str(pki.ca_cert))
    assert client_ca(None, str(kc)) == str(pki.ca_cert)
    assert client_ca("/other.crt", str(kc)) == "/other.crt"
    bare = write_kubeconfig(tmp_path / "bare", "https://127.0.0.1:6443")
    with pytest.raises(ValueError, match="--client-ca-file"):
        client_ca(None, str(bare))  # a kubelet that could verify no caller must not start
