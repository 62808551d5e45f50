"""Reading and writing standard kubeconfig files (the format kubectl uses).

Contract:
- `default_kubeconfig_path()`: the first non-empty entry of `$KUBECONFIG`, else
  `$KUBELITE_HOME/kubeconfig`, else `~/.kubelite/kubeconfig`.
- `load_kubeconfig(path=None, context=None) -> KubeConfig`: picks `context` (else
  `current-context`), then its cluster and user. Understands `server`,
  `certificate-authority(-data)`, `insecure-skip-tls-verify`, `token`, `tokenFile`,
  `client-certificate(-data)`, `client-key(-data)` and the context's `namespace` (default
  "default"). Relative file paths are relative to the kubeconfig's directory (as kubectl).
  `*-data` fields (base64 PEM) are written to private temp files (0600, removed at exit)
  because httpx/ssl load certificates from files. Auth plugins (`exec`, `auth-provider`) and
  basic auth are not supported: such a user simply gets no credentials.
- Every problem (missing file, bad YAML, unknown context/cluster/user, no server, bad
  base64) raises `KubeconfigError` (a ValueError) naming the file and what is wrong.
- `ssl_context(ca_file, cert_file, key_file, verify)`: those settings as an `ssl.SSLContext`.
- `write_kubeconfig(path, server, ...)` writes a one-cluster file (0600) that kubectl and the
  official kubernetes Python client load unchanged.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import os
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class KubeconfigError(ValueError):
    """The kubeconfig is missing or does not describe a usable cluster."""


@dataclass(frozen=True)
class KubeConfig:
    """What a client needs to reach the API server of one context."""

    server: str
    namespace: str = "default"
    token: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify: bool = True
    context: str = ""


def kubelite_home() -> Path:
    return Path(os.environ.get("KUBELITE_HOME") or Path.home() / ".kubelite")


def default_kubeconfig_path() -> Path:
    for entry in os.environ.get("KUBECONFIG", "").split(os.pathsep):
        if entry.strip():
            return Path(entry.strip()).expanduser()
    return kubelite_home() / "kubeconfig"


def load_kubeconfig(path: str | os.PathLike[str] | None = None, context: str | None = None) -> KubeConfig:
    file = Path(path).expanduser() if path is not None else default_kubeconfig_path()
    try:
        text = file.read_text()
    except FileNotFoundError:
        raise KubeconfigError(f"kubeconfig {file} does not exist (run `kubelite up`, or pass "
                              "--kubeconfig / set KUBECONFIG)") from None
    except OSError as exc:
        raise KubeconfigError(f"kubeconfig {file} cannot be read: {exc}") from exc
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KubeconfigError(f"kubeconfig {file} is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise KubeconfigError(f"kubeconfig {file} is not a mapping")
    return _resolve(doc, file, context)


def _named(doc: dict[str, Any], section: str, key: str, name: str, file: Path) -> dict[str, Any]:
    """The `key` mapping of the entry called `name` in the `section` list."""
    entries = doc.get(section) or []
    if not isinstance(entries, list):
        raise KubeconfigError(f"kubeconfig {file}: {section} must be a list")
    for entry in entries:
        if isinstance(entry, dict) and entry.get("name") == name:
            body = entry.get(key) or {}
            if not isinstance(body, dict):
                raise KubeconfigError(f"kubeconfig {file}: {section}[name={name}].{key} must be a mapping")
            return body
    known = ", ".join(str(e.get("name")) for e in entries if isinstance(e, dict)) or "none"
    raise KubeconfigError(f"kubeconfig {file}: no {key} named {name!r} in {section} (known: {known})")


def _resolve(doc: dict[str, Any], file: Path, context: str | None) -> KubeConfig:
    ctx_name = context or doc.get("current-context") or ""
    if not ctx_name:
        raise KubeconfigError(f"kubeconfig {file}: current-context is not set and no context was given")
    ctx = _named(doc, "contexts", "context", str(ctx_name), file)
    cluster_name = ctx.get("cluster")
    if not cluster_name:
        raise KubeconfigError(f"kubeconfig {file}: context {ctx_name!r} names no cluster")
    cluster = _named(doc, "clusters", "cluster", str(cluster_name), file)
    user: dict[str, Any] = {}
    if ctx.get("user"):
        user = _named(doc, "users", "user", str(ctx["user"]), file)
    server = str(cluster.get("server") or "").rstrip("/")
    if not server:
        raise KubeconfigError(f"kubeconfig {file}: cluster {cluster_name!r} has no server")
    where = f"kubeconfig {file}"
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token_path = _path(user["tokenFile"], file)
        try:
            token = Path(token_path).read_text().strip()
        except OSError as exc:
            raise KubeconfigError(f"{where}: tokenFile {token_path} cannot be read: {exc}") from exc
    return KubeConfig(
        server=server,
        namespace=str(ctx.get("namespace") or "default"),
        token=str(token) if token else None,
        ca_file=_file_or_data(cluster, "certificate-authority", file, where),
        cert_file=_file_or_data(user, "client-certificate", file, where),
        key_file=_file_or_data(user, "client-key", file, where),
        verify=not bool(cluster.get("insecure-skip-tls-verify", False)),
        context=str(ctx_name),
    )


def _path(value: Any, file: Path) -> str:
    p = Path(str(value)).expanduser()
    return str(p if p.is_absolute() else file.parent / p)


def _file_or_data(section: dict[str, Any], field: str, file: Path, where: str) -> str | None:
    """A file path for `field`, writing `field-data` (base64) to a private temp file."""
    data = section.get(f"{field}-data")
    if data:
        try:
            raw = base64.b64decode(str(data), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise KubeconfigError(f"{where}: {field}-data is not valid base64") from exc
        return _write_private(raw, field)
    if section.get(field):
        return _path(section[field], file)
    return None


_tmpdir: str | None = None


def _write_private(data: bytes, stem: str) -> str:
    global _tmpdir
    if _tmpdir is None:
        _tmpdir = tempfile.mkdtemp(prefix="kubelite-kubeconfig-")  # 0700
        atexit.register(shutil.rmtree, _tmpdir, True)
    fd, name = tempfile.mkstemp(prefix=f"{stem}-", suffix=".pem", dir=_tmpdir)  # 0600
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return name


def ssl_context(ca_file: str | None = None, cert_file: str | None = None, key_file: str | None = None,
                verify: bool = True) -> ssl.SSLContext:
    """The TLS settings of a KubeConfig as an SSLContext (what httpx takes as `verify=`)."""
    ctx = ssl.create_default_context(cafile=ca_file)
    if cert_file:
        ctx.load_cert_chain(cert_file, key_file)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def kubeconfig_dict(server: str, *, cluster_name: str = "kubelite", user: str = "admin",
                    namespace: str = "default", token: str | None = None,
                    ca_file: str | None = None, insecure_skip_tls_verify: bool = False,
                    cert_file: str | None = None, key_file: str | None = None) -> dict[str, Any]:
    """The standard kubeconfig document for one cluster, one user and one context (file paths
    for the CA and the client certificate/key, as kubeadm's kubeconfigs may use)."""
    cluster: dict[str, Any] = {"server": server}
    if ca_file:
        cluster["certificate-authority"] = ca_file
    if insecure_skip_tls_verify:
        cluster["insecure-skip-tls-verify"] = True
    user_body: dict[str, Any] = {"token": token} if token else {}
    if cert_file:
        user_body["client-certificate"] = str(cert_file)
    if key_file:
        user_body["client-key"] = str(key_file)
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": cluster_name, "cluster": cluster}],
        "users": [{"name": user, "user": user_body}],
        "contexts": [{"name": cluster_name,
                      "context": {"cluster": cluster_name, "user": user, "namespace": namespace}}],
        "current-context": cluster_name,
    }


def write_kubeconfig(path: str | os.PathLike[str], server: str, *, cluster_name: str = "kubelite",
                     user: str = "admin", namespace: str = "default", token: str | None = None,
                     ca_file: str | None = None, insecure_skip_tls_verify: bool = False,
                     cert_file: str | None = None, key_file: str | None = None) -> Path:
    """Write (atomically, mode 0600: it may hold a token) a one-cluster kubeconfig."""
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    doc = kubeconfig_dict(server, cluster_name=cluster_name, user=user, namespace=namespace,
                          token=token, ca_file=ca_file, insecure_skip_tls_verify=insecure_skip_tls_verify,
                          cert_file=cert_file, key_file=key_file)
    fd, tmp = tempfile.mkstemp(prefix=".kubeconfig-", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(doc, f, default_flow_style=False, sort_keys=False)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
