"""API server settings and their command line (`python -m apiserver --help`).

Contract: `ApiServerConfig` is a plain dataclass (one docstring per field); `parse_args(argv)`
builds it from kube-apiserver-like flags. TLS and authentication flags are accepted and kept
for the modules that will use them; nothing here opens connections.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field


@dataclass
class ApiServerConfig:
    etcd_servers: list[str] = field(default_factory=lambda: ["http://127.0.0.1:2379"])
    """etcd client URLs (only the first is used: kubelite runs one etcd member)."""
    bind_address: str = "127.0.0.1"
    """Address the HTTP server listens on."""
    port: int = 6443
    """Port the HTTP server listens on."""
    service_cluster_ip_range: str = "10.96.0.0/16"
    """CIDR Service ClusterIPs are allocated from (first address: the `kubernetes` Service)."""
    service_node_port_range: tuple[int, int] = (30000, 32767)
    """Inclusive range of NodePorts."""
    max_body_bytes: int = 3 * 1024 * 1024
    """Largest request body accepted (Kubernetes' limit is 3 MiB); larger gets 413."""
    etcd_timeout_s: float = 5.0
    """Deadline of each etcd call."""
    watch_cache_capacity: int = 10_000
    """Events kept per resource for watches resuming from an older resourceVersion."""
    bookmark_interval_s: float = 5.0
    """How often idle watches that asked for bookmarks get one."""
    min_watch_timeout_s: float = 1800.0
    """Accepted for command-line compatibility only: a watch without timeoutSeconds stays open
    until the client leaves (`kubectl get -w` relies on it), clients that want an end send
    timeoutSeconds."""
    bootstrap: bool = True
    """Create the initial namespaces and the `kubernetes` Service at start-up."""
    advertise_port: int | None = None
    """Port the `kubernetes` Service's Endpoints point at (default: `port`)."""
    log_level: str = "info"
    """Python logging level name."""
    metrics: bool = True
    """Count and time every request for `GET /metrics` (apiserver/metrics.py); `--no-metrics`
    turns the per-request instrumentation off (the benchmark's baseline)."""
    default_not_ready_toleration_seconds: int = 300
    """tolerationSeconds of the not-ready:NoExecute toleration added to pods that have none."""
    default_unreachable_toleration_seconds: int = 300
    """tolerationSeconds of the unreachable:NoExecute toleration added to pods that have none."""
    tls_cert_file: str | None = None
    """Serving certificate (PEM). `python -m apiserver` serves HTTPS only and requires it."""
    tls_private_key_file: str | None = None
    """Serving key (PEM)."""
    client_ca_file: str | None = None
    """CA bundle that verifies client certificates (CN = user, O = groups)."""
    token_auth_file: str | None = None
    """Static token file (CSV: token,user,uid[,"group1,group2"])."""
    service_account_key_files: list[str] = field(default_factory=list)
    """PEM keys (public, or private: their public half) that verify ServiceAccount tokens
    (default: the signing key)."""
    service_account_signing_key_file: str | None = None
    """Private ECDSA P-256 key that signs ServiceAccount tokens (TokenRequest)."""
    service_account_issuer: str = "https://kubernetes.default.svc.cluster.local"
    """`iss` of the tokens this server issues and accepts."""
    api_audiences: list[str] = field(default_factory=list)
    """Audiences a token must carry one of (default: the issuer), and the default audience of
    TokenRequests that name none."""
    service_account_max_token_expiration_s: float = 0.0
    """Longest TokenRequest lifetime granted (0: no limit; a longer request gets this one)."""
    disable_admission_plugins: list[str] = field(default_factory=list)
    """Admission plugins turned off (kubelite knows "ServiceAccount"; the others always run)."""
    enable_bootstrap_token_auth: bool = True
    """Accept bootstrap tokens (kube-system/bootstrap-token-ID Secrets) as bearer tokens."""
    anonymous_auth: bool = True
    """Anonymous requests are allowed on /healthz, /livez, /readyz and /version only (all
    paths when no authenticator is configured, as for an in-process test app)."""
    authorization_mode: str = "AlwaysAllow"
    """Comma-separated authorizers asked in order: AlwaysAllow, AlwaysDeny, Node, RBAC
    (apiserver/auth/authz_runtime.py). Kubernetes' binary also defaults to AlwaysAllow;
    Node,RBAC is what a secured cluster passes (not yet `kubelite up`'s default)."""
    audit_log_path: str | None = None
    """JSON-lines audit log (`-`: stdout); needs `audit_policy_file` (apiserver/audit.py)."""
    audit_policy_file: str | None = None
    """audit.k8s.io/v1 Policy deciding each request's level."""
    audit_log_maxsize_mb: float = 100.0
    """Rotate the audit log past this many megabytes (Kubernetes' --audit-log-maxsize)."""
    audit_log_maxbackup: int = 10
    """Rotated audit files kept (Kubernetes' --audit-log-maxbackup)."""
    user_qps: float = 0.0
    """Per-user requests per second (0: no per-user rate limit; apiserver/limits.py)."""
    user_burst: int = 0
    """Per-user burst (0: twice user_qps)."""
    max_watches_per_user: int = 0
    """Concurrent watches per user (0: no cap)."""
    max_requests_inflight: int = 400
    """Read-only requests served at once, long-running ones aside (0: no cap)."""
    max_mutating_requests_inflight: int = 200
    """Mutating requests served at once (0: no cap)."""
    request_timeout_s: float = 60.0
    kubelet_client_certificate: str | None = None
    """Client certificate the API server presents to kubelets (logs, exec, attach, port-forward);
    its identity needs nodes/proxy (kubeadm: kube-apiserver-kubelet-client in system:masters)."""
    kubelet_client_key: str | None = None
    """Key of `kubelet_client_certificate`."""
    kubelet_certificate_authority: str | None = None
    """CA that verifies the kubelets' serving certificates (unset: not verified, as Kubernetes)."""
    encryption_provider_config: str | None = None
    """EncryptionConfiguration file: which resources are encrypted in etcd, with which keys
    (apiserver/storage/encryption.py)."""
    """Time a client may take to send each body chunk or take each response chunk."""


def _port_range(value: str) -> tuple[int, int]:
    lo, sep, hi = value.partition("-")
    if not sep:
        raise argparse.ArgumentTypeError("expected LOW-HIGH, e.g. 30000-32767")
    return int(lo), int(hi)


def _non_negative(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return n


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def parse_args(argv: list[str] | None = None) -> ApiServerConfig:
    p = argparse.ArgumentParser(prog="python -m apiserver", description="kubelite API server")
    d = ApiServerConfig()
    p.add_argument("--etcd-servers", default=",".join(d.etcd_servers),
                   help="comma-separated etcd client URLs")
    p.add_argument("--bind-address", default=d.bind_address)
    p.add_argument("--port", "--secure-port", dest="port", type=int, default=d.port)
    p.add_argument("--service-cluster-ip-range", default=d.service_cluster_ip_range)
    p.add_argument("--service-node-port-range", type=_port_range, default=d.service_node_port_range)
    p.add_argument("--max-request-body-bytes", dest="max_body_bytes", type=int, default=d.max_body_bytes)
    p.add_argument("--etcd-timeout", dest="etcd_timeout_s", type=float, default=d.etcd_timeout_s)
    p.add_argument("--watch-cache-size", dest="watch_cache_capacity", type=int, default=d.watch_cache_capacity)
    p.add_argument("--bookmark-interval", dest="bookmark_interval_s", type=float, default=d.bookmark_interval_s)
    p.add_argument("--min-request-timeout", dest="min_watch_timeout_s", type=float, default=d.min_watch_timeout_s)
    p.add_argument("--no-bootstrap", dest="bootstrap", action="store_false")
    p.add_argument("--advertise-port", type=int, default=None)
    p.add_argument("--log-level", default=d.log_level)
    p.add_argument("--no-metrics", dest="metrics", action="store_false",
                   help="do not count and time requests for /metrics")
    p.add_argument("--default-not-ready-toleration-seconds", type=_non_negative,
                   default=d.default_not_ready_toleration_seconds,
                   help="tolerationSeconds of the default not-ready:NoExecute toleration")
    p.add_argument("--default-unreachable-toleration-seconds", type=_non_negative,
                   default=d.default_unreachable_toleration_seconds,
                   help="tolerationSeconds of the default unreachable:NoExecute toleration")
    p.add_argument("--tls-cert-file", default=None)
    p.add_argument("--tls-private-key-file", default=None)
    p.add_argument("--client-ca-file", default=None)
    p.add_argument("--token-auth-file", default=None)
    p.add_argument("--service-account-key-file", dest="service_account_key_files", action="append", default=[])
    p.add_argument("--service-account-signing-key-file", default=None)
    p.add_argument("--service-account-issuer", default=d.service_account_issuer)
    p.add_argument("--api-audiences", default="", help="comma-separated (default: the issuer)")
    p.add_argument("--service-account-max-token-expiration", dest="service_account_max_token_expiration_s",
                   type=float, default=0.0, help="seconds (0: no limit)")
    p.add_argument("--disable-admission-plugins", default="", help="comma-separated, e.g. ServiceAccount")
    p.add_argument("--enable-bootstrap-token-auth", type=_bool, default=d.enable_bootstrap_token_auth)
    p.add_argument("--anonymous-auth", type=_bool, default=d.anonymous_auth,
                   help="allow anonymous requests to the health and version paths (true|false)")
    p.add_argument("--authorization-mode", default=d.authorization_mode)
    p.add_argument("--audit-log-path", default=None)
    p.add_argument("--audit-policy-file", default=None)
    p.add_argument("--audit-log-maxsize", dest="audit_log_maxsize_mb", type=float, default=d.audit_log_maxsize_mb)
    p.add_argument("--audit-log-maxbackup", type=_non_negative, default=d.audit_log_maxbackup)
    p.add_argument("--user-qps", type=float, default=d.user_qps)
    p.add_argument("--user-burst", type=_non_negative, default=d.user_burst)
    p.add_argument("--max-watches-per-user", type=_non_negative, default=d.max_watches_per_user)
    p.add_argument("--max-requests-inflight", type=_non_negative, default=d.max_requests_inflight)
    p.add_argument("--max-mutating-requests-inflight", type=_non_negative, default=d.max_mutating_requests_inflight)
    p.add_argument("--request-timeout", dest="request_timeout_s", type=float, default=d.request_timeout_s)
    p.add_argument("--encryption-provider-config", default=None)
    p.add_argument("--kubelet-client-certificate", default=None)
    p.add_argument("--kubelet-client-key", default=None)
    p.add_argument("--kubelet-certificate-authority", default=None)
    ns = p.parse_args(argv)
    values = vars(ns)
    values["etcd_servers"] = [s.strip() for s in str(values["etcd_servers"]).split(",") if s.strip()]
    values["disable_admission_plugins"] = [a.strip() for a in str(values["disable_admission_plugins"]).split(",")
                                           if a.strip()]
    values["api_audiences"] = [a.strip() for a in str(values["api_audiences"]).split(",") if a.strip()]
    return ApiServerConfig(**values)
