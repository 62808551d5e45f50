"""The cluster's PKI: a CA, and the serving and client certificates signed by it.

Contract:
- `CertificateAuthority.create(common_name)` makes a self-signed CA (ECDSA P-256, 10 years);
  `CertificateAuthority.load(cert_path, key_path)` reads one back.
- `ca.issue(common_name, organizations=(), *, server=False, client=True, dns_names=(),
  ip_addresses=(), validity_s=...) -> KeyPair` signs a new key: CN = user name, O = groups (as
  Kubernetes reads client certificates), SANs for serving certificates.
- `ca.sign_csr(csr_pem, *, usages, validity_s) -> bytes` signs a PEM PKCS#10 request keeping
  its subject (the CertificateSigningRequest signer); raises ValueError for a bad request.
- `write_pair(dir, stem, pair)` writes `stem.crt` (0644) and `stem.key` (0600, created with
  that mode: never world-readable even for a moment).
- `ensure_cluster_pki(dir, *, sans, nodes)` creates (or keeps, when present) what a cluster
  needs under `dir`: `ca`, `apiserver` (serving, SANs), `admin` (CN=kubernetes-admin,
  O=system:masters), `scheduler`, `controller-manager`, `kube-proxy`, `node-NAME`
  (system:node:NAME in system:nodes) for each node, `apiserver-kubelet-client`
  (O=system:masters, as kubeadm's), `kube-dns`, `routeagent`, `logstore`, `logagent` (kubelite's
  add-on daemons: system:kube-dns, system:kubelite-routeagent, -logstore, -logagent) and `sa.key`/`sa.pub` (the ServiceAccount token signing
  key). Returns the `ClusterPki` paths. Idempotent: an existing file is never regenerated, so
  a restarted cluster keeps its identity; missing node certificates are added.
- `ensure_kubelet_serving_cert(pki, node, *, dns_names, ip_addresses)`: the kubelet's HTTPS
  certificate `kubelet-NODE` (CN=system:node:NODE, O=system:nodes, server auth, SANs = the names
  and addresses given plus 127.0.0.1), as Kubernetes' kubelet-serving signer issues it; reissued
  when the existing one lacks a wanted SAN (the node's address changed) or expired.
- `cert_sans(cert_pem) -> (dns_names, ip_addresses)`; `cert_valid(cert_pem)`.

Decisions: ECDSA P-256 keys everywhere (kubeadm's default is RSA 2048; P-256 is accepted by
Kubernetes and makes key generation ~50x and handshakes cheaper, which matters for per-test
PKIs). Client and serving certificates last one year, the CA ten, as kubeadm.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_VALIDITY_S = 10 * 365 * 86400.0
CERT_VALIDITY_S = 365 * 86400.0
# Clock skew between hosts: certificates are valid from a little before now (kubeadm: 5 min).
BACKDATE_S = 300.0

# The identities of the control-plane components (Kubernetes' names).
ADMIN_USER, ADMIN_GROUP = "kubernetes-admin", "system:masters"
SCHEDULER_USER = "system:kube-scheduler"
CONTROLLER_MANAGER_USER = "system:kube-controller-manager"
PROXY_USER = "system:kube-proxy"
NODES_GROUP = "system:nodes"
KUBELET_CLIENT_USER = "kube-apiserver-kubelet-client"


def node_user(node: str) -> str:
    return f"system:node:{node}"


@dataclass(frozen=True)
class KeyPair:
    cert_pem: bytes
    key_pem: bytes


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common_name: str, organizations: Sequence[str] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _sans(dns_names: Iterable[str], ip_addresses: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    return names


class CertificateAuthority:
    def __init__(self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        self.cert = cert
        self.key = key

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @classmethod
    def create(cls, common_name: str = "kubernetes") -> CertificateAuthority:
        key = new_key()
        name = _name(common_name)
        now = _now()
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(seconds=BACKDATE_S))
                .not_valid_after(now + datetime.timedelta(seconds=CA_VALIDITY_S))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                             key_encipherment=True, data_encipherment=False,
                                             key_agreement=False, key_cert_sign=True, crl_sign=False,
                                             encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        return cls(cert, key)

    @classmethod
    def load(cls, cert_path: str | os.PathLike[str], key_path: str | os.PathLike[str]) -> CertificateAuthority:
        cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
        key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path}: expected an ECDSA key")
        return cls(cert, key)

    def _build(self, subject: x509.Name, public_key: ec.EllipticCurvePublicKey, *, server: bool,
               client: bool, sans: list[x509.GeneralName], validity_s: float) -> x509.Certificate:
        now = _now()
        usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + (
            [ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(self.cert.subject)
                   .public_key(public_key).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(seconds=BACKDATE_S))
                   .not_valid_after(now + datetime.timedelta(seconds=validity_s))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                                key_encipherment=True, data_encipherment=False,
                                                key_agreement=False, key_cert_sign=False, crl_sign=False,
                                                encipher_only=False, decipher_only=False), critical=True)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                                  critical=False))
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def issue(self, common_name: str, organizations: Sequence[str] = (), *, server: bool = False,
              client: bool = True, dns_names: Iterable[str] = (), ip_addresses: Iterable[str] = (),
              validity_s: float = CERT_VALIDITY_S) -> KeyPair:
        key = new_key()
        cert = self._build(_name(common_name, organizations), key.public_key(), server=server, client=client,
                           sans=_sans(dns_names, ip_addresses), validity_s=validity_s)
        return KeyPair(cert.public_bytes(serialization.Encoding.PEM), key_pem(key))

    def sign_csr(self, csr_pem: bytes, *, server: bool = False, client: bool = True,
                 validity_s: float = CERT_VALIDITY_S) -> bytes:
        """A certificate for the request's key and subject (SANs kept for serving certificates)."""
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except ValueError as exc:
            raise ValueError(f"not a PEM certificate request: {exc}") from None
        if not csr.is_signature_valid:
            raise ValueError("the certificate request's signature is invalid")
        public_key = csr.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise ValueError("only ECDSA keys are signed")
        sans: list[x509.GeneralName] = []
        if server:
            try:
                sans = list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
            except x509.ExtensionNotFound:
                sans = []
        cert = self._build(csr.subject, public_key, server=server, client=client, sans=sans,
                           validity_s=validity_s)
        return cert.public_bytes(serialization.Encoding.PEM)


def make_csr(common_name: str, organizations: Sequence[str] = (), *, dns_names: Iterable[str] = (),
             ip_addresses: Iterable[str] = ()) -> tuple[bytes, bytes]:
    """A new key and a PEM PKCS#10 request for it: (csr_pem, key_pem)."""
    key = new_key()
    builder = x509.CertificateSigningRequestBuilder().subject_name(_name(common_name, organizations))
    sans = _sans(dns_names, ip_addresses)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    csr = builder.sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM), key_pem(key)


def subject_of(cert_pem: bytes) -> tuple[str, tuple[str, ...]]:
    """(CN, O values) of a PEM certificate or request."""
    try:
        obj: x509.Certificate | x509.CertificateSigningRequest = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        obj = x509.load_pem_x509_csr(cert_pem)
    cns = obj.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    orgs = obj.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return (str(cns[0].value) if cns else "", tuple(str(o.value) for o in orgs))


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` with mode 0600 from the first byte (atomic replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write_public(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def write_pair(directory: Path, stem: str, pair: KeyPair) -> tuple[Path, Path]:
    cert, key = directory / f"{stem}.crt", directory / f"{stem}.key"
    write_private(key, pair.key_pem)
    write_public(cert, pair.cert_pem)
    return cert, key


@dataclass(frozen=True)
class ClusterPki:
    """Paths of a cluster's certificates (`stem.crt`/`stem.key` under `dir`)."""

    dir: Path

    @property
    def ca_cert(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def sa_key(self) -> Path:
        return self.dir / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.dir / "sa.pub"

    def cert(self, stem: str) -> Path:
        return self.dir / f"{stem}.crt"

    def key(self, stem: str) -> Path:
        return self.dir / f"{stem}.key"

    def ca(self) -> CertificateAuthority:
        return CertificateAuthority.load(self.ca_cert, self.ca_key)


# stem -> (CN, O) of the fixed client certificates.
CLIENT_IDENTITIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "admin": (ADMIN_USER, (ADMIN_GROUP,)),
    "scheduler": (SCHEDULER_USER, ()),
    "controller-manager": (CONTROLLER_MANAGER_USER, ()),
    "kube-proxy": (PROXY_USER, ()),
    "apiserver-kubelet-client": (KUBELET_CLIENT_USER, (ADMIN_GROUP,)),
    # kubelite's own add-on daemons (Kubernetes runs them as pods with ServiceAccounts).
    "kube-dns": ("system:kube-dns", ()),
    "routeagent": ("system:kubelite-routeagent", ()),
    "logstore": ("system:kubelite-logstore", ()),
    "logagent": ("system:kubelite-logagent", ()),
    "metrics-server": ("system:metrics-server", ()),
    "dashboard": ("system:kubelite-dashboard", ()),
}

# Which certificate each local daemon uses (`kubelite up` writes one kubeconfig per daemon).
COMPONENT_CERTS = {"scheduler": "scheduler", "controllers": "controller-manager", "proxy": "kube-proxy",
                   "dns": "kube-dns", "routeagent": "routeagent", "logstore": "logstore", "logagent": "logagent",
                   "metrics": "metrics-server", "dashboard": "dashboard"}

DEFAULT_DNS_SANS = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                    "kubernetes.default.svc.cluster.local")
DEFAULT_IP_SANS = ("127.0.0.1", "::1")


def ensure_cluster_pki(directory: str | os.PathLike[str], *, dns_sans: Sequence[str] = (),
                       ip_sans: Sequence[str] = (), nodes: Sequence[str] = ()) -> ClusterPki:
    pki = ClusterPki(Path(directory))
    pki.dir.mkdir(parents=True, exist_ok=True)
    os.chmod(pki.dir, 0o700)
    if pki.ca_cert.exists() and pki.ca_key.exists():
        ca = pki.ca()
    else:
        ca = CertificateAuthority.create("kubernetes")
        write_private(pki.ca_key, key_pem(ca.key))
        write_public(pki.ca_cert, ca.cert_pem)
    if not pki.cert("apiserver").exists():
        write_pair(pki.dir, "apiserver", ca.issue(
            "kube-apiserver", server=True, client=False,
            dns_names=dict.fromkeys([*DEFAULT_DNS_SANS, *dns_sans]),
            ip_addresses=dict.fromkeys([*DEFAULT_IP_SANS, *ip_sans])))
    for stem, (cn, orgs) in CLIENT_IDENTITIES.items():
        if not pki.cert(stem).exists():
            write_pair(pki.dir, stem, ca.issue(cn, orgs))
    for node in nodes:
        ensure_node_cert(pki, node, ca=ca)
    if not pki.sa_key.exists():
        sa = new_key()
        write_private(pki.sa_key, key_pem(sa))
        write_public(pki.sa_pub, sa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return pki


KUBELET_SERVING_IPS = ("127.0.0.1",)


def cert_sans(cert_pem: bytes) -> tuple[set[str], set[str]]:
    """(DNS names, IP addresses) of a PEM certificate's subjectAltName."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    return (set(ext.get_values_for_type(x509.DNSName)),
            {str(ip) for ip in ext.get_values_for_type(x509.IPAddress)})


def cert_valid(cert_pem: bytes, *, margin_s: float = 0.0) -> bool:
    """The certificate parses and is valid now (and for `margin_s` more seconds)."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        return False
    now = _now()
    return cert.not_valid_before_utc <= now and cert.not_valid_after_utc > now + datetime.timedelta(seconds=margin_s)


def kubelet_serving_sans(node: str, dns_names: Iterable[str] = (),
                         ip_addresses: Iterable[str] = ()) -> tuple[list[str], list[str]]:
    """The SANs of a kubelet's serving certificate: the node name, the given names, the given
    addresses and loopback (the API server reaches the kubelet at the Node's InternalIP)."""
    dns = list(dict.fromkeys([node, *(d for d in dns_names if d)]))
    ips = list(dict.fromkeys([*(i for i in ip_addresses if i), *KUBELET_SERVING_IPS]))
    return dns, ips


def ensure_kubelet_serving_cert(pki: ClusterPki, node: str, *, dns_names: Iterable[str] = (),
                                ip_addresses: Iterable[str] = (),
                                ca: CertificateAuthority | None = None) -> tuple[Path, Path]:
    """`kubelet-NODE.crt/.key`: the kubelet's HTTPS certificate signed by the cluster CA."""
    stem = f"kubelet-{node}"
    dns, ips = kubelet_serving_sans(node, dns_names, ip_addresses)
    cert, key = pki.cert(stem), pki.key(stem)
    if cert.exists() and key.exists():
        pem = cert.read_bytes()
        have_dns, have_ips = cert_sans(pem)
        if set(dns) <= have_dns and set(ips) <= have_ips and cert_valid(pem, margin_s=86400.0):
            return cert, key
    pair = (ca or pki.ca()).issue(node_user(node), (NODES_GROUP,), server=True, client=False,
                                  dns_names=dns, ip_addresses=ips)
    return write_pair(pki.dir, stem, pair)


def ensure_node_cert(pki: ClusterPki, node: str, *, ca: CertificateAuthority | None = None) -> tuple[Path, Path]:
    """The kubelet's client certificate (system:node:NODE, O=system:nodes), created if missing."""
    stem = f"node-{node}"
    if pki.cert(stem).exists() and pki.key(stem).exists():
        return pki.cert(stem), pki.key(stem)
    return write_pair(pki.dir, stem, (ca or pki.ca()).issue(node_user(node), (NODES_GROUP,)))
