"""`kubelite cp`: kubectl's cp (k8s.io/kubectl pkg/cmd/cp), tar over exec.

Contract, as kubectl:
- File specs `[[namespace/]pod:]path`; exactly one side is in a pod (`one of src or dest must
  be a local file specification` / `... a remote file specification`); `-c` picks the
  container; `--no-preserve` extracts without owner and permissions.
- From a pod: runs `tar cf - SRC` in the container, then unpacks locally: every member must
  start with SRC without its leading slashes (`tar contents corrupted` otherwise) and is
  written under DEST with that prefix replaced; so a file lands AT dest, a directory's
  content INSIDE dest. Members escaping dest are skipped with a warning, symlinks are skipped
  with kubectl's warning. tar's stderr goes to stdout (as kubectl does).
- To a pod: `test -d DEST` in the container first (a directory: the source goes inside it
  under its own name), a tar built locally with the members named after DEST's base name,
  then `tar -xmf - -C DEST_DIR` in the container with the tar as stdin.
- A non-zero exit of the remote tar is `command terminated with exit code N` and exit code N.
- `--retries N` (from a pod; 0 = none, negative = forever), as kubectl's tarPipe: the remote
  command becomes `sh -c 'tar cf - SRC | tail -c+OFFSET'`; when the exec connection is lost
  (podstream.StreamInterrupted) it prints `Resuming copy at B bytes, retry I/N` and runs again
  from the next byte, so the archive is assembled whole; past N: `Dropping out copy after N
  retries` and the error. (With retries the exit code is tail's, as in kubectl.)
"""

from __future__ import annotations

import io
import os
import posixpath
import shlex
import sys
import tarfile
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from cli import podstream
from cli.errors import CliError, ExitCode
from cli.logs_multi import LogsOptions, containers_of
from cli.session import Globals, open_client
from machinery import errors

CHUNK = 64 * 1024


@dataclass(frozen=True)
class FileSpec:
    namespace: str
    pod: str
    path: str


def parse_spec(arg: str) -> FileSpec:
    i = arg.find(":")
    if i == 0:
        raise CliError("filespec must match the canonical format: [[namespace/]pod:]file/path")
    if i < 0:
        return FileSpec("", "", arg)
    pod, path = arg[:i], arg[i + 1:]
    pieces = pod.split("/")
    if len(pieces) == 1:
        return FileSpec("", pieces[0], path)
    if len(pieces) == 2:
        return FileSpec(pieces[0], pieces[1], path)
    raise CliError("filespec must match the canonical format: [[namespace/]pod:]file/path")


def strip_shortcuts(p: str) -> str:
    """kubectl's stripPathShortcuts: no leading `../`, and `.`/`..` become empty."""
    while p.startswith("../"):
        p = p[3:]
    return "" if p in (".", "..") else p


def member_prefix(src: str) -> str:
    return strip_shortcuts(posixpath.normpath(src.lstrip("/")))


def untar(data: Any, prefix: str, dest: str, src: str, warn: list[str], *, ns: str, pod: str) -> None:
    """kubectl's untarAll from the open tar stream `data` into the local path `dest`."""
    dest_abs = os.path.abspath(dest)
    symlink_warned = False
    with tarfile.open(fileobj=data, mode="r|") as tar:
        for member in tar:
            if not member.name.startswith(prefix):
                raise CliError("tar contents corrupted")
            rest = posixpath.normpath("/" + member.name[len(prefix):]).lstrip("/")
            target = os.path.join(dest, rest) if rest else dest
            target_abs = os.path.abspath(target)
            if target_abs != dest_abs and not target_abs.startswith(dest_abs.rstrip(os.sep) + os.sep):
                warn.append(f'warning: file "{target}" is outside target destination, skipping')
                continue
            os.makedirs(os.path.dirname(target_abs) or ".", mode=0o755, exist_ok=True)
            if member.isdir():
                os.makedirs(target_abs, mode=0o755, exist_ok=True)
                continue
            if member.issym() or member.islnk():
                if not symlink_warned:
                    warn.append(f'warning: skipping symlink: "{target}" -> "{member.linkname}" (consider using '
                                f'"kubelite exec -n "{ns}" "{pod}" -- tar cf - "{src}" | tar xf -")')
                    symlink_warned = True
                else:
                    warn.append(f'warning: skipping symlink: "{target}" -> "{member.linkname}"')
                continue
            source = tar.extractfile(member)
            if source is None:
                continue
            with open(target_abs, "wb") as out:
                while chunk := source.read(CHUNK):
                    out.write(chunk)


def make_tar(src: str, dest: str) -> bytes:
    """kubectl's makeTar: `src` (file, directory or symlink) under the name `dest`'s base."""
    buf = io.BytesIO()
    src = os.path.normpath(src)
    name = posixpath.basename(posixpath.normpath(dest))
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        _add(tar, src, name)
    return buf.getvalue()


def _add(tar: tarfile.TarFile, path: str, name: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        entries = sorted(os.listdir(path))
        if not entries:
            info = tar.gettarinfo(path, arcname=name)
            tar.addfile(info)
        for entry in entries:
            _add(tar, os.path.join(path, entry), posixpath.join(name, entry))
        return
    info = tar.gettarinfo(path, arcname=name)
    if info.isreg():
        with open(path, "rb") as f:
            tar.addfile(info, f)
    else:
        tar.addfile(info)


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), CHUNK):
        yield data[i:i + CHUNK]


def _write_out(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


def _write_err(data: bytes) -> None:
    sys.stderr.buffer.write(data)
    sys.stderr.flush()


async def cp(g: Globals, args: list[str], *, container: str | None, no_preserve: bool, retries: int = 0) -> int:
    if len(args) != 2:
        raise CliError("source and destination are required")
    src, dest = parse_spec(args[0]), parse_spec(args[1])
    if src.pod and dest.pod:
        raise CliError("one of src or dest must be a local file specification")
    if not src.path or not dest.path:
        raise CliError("filepath can not be empty")
    if not src.pod and not dest.pod:
        raise CliError("one of src or dest must be a remote file specification")
    client, namespace = open_client(g)
    async with client:
        spec = src if src.pod else dest
        container = container or await default_container(client, spec.namespace or namespace, spec.pod)
        if src.pod:
            return await _from_pod(client, src.namespace or namespace, src, dest.path, container, retries)
        return await _to_pod(client, dest.namespace or namespace, src.path, dest, container, no_preserve)


async def default_container(client: Any, ns: str, pod: str) -> str | None:
    """kubectl exec's default: the annotated or first container, saying so when there are more."""
    try:
        obj = await client.request("GET", f"/api/v1/namespaces/{ns}/pods/{pod}")
    except errors.NotFound:
        return None  # the exec reports it as kubectl does
    warn: list[str] = []
    names = containers_of(obj, LogsOptions(), warn)
    for line in warn:
        print(line, file=sys.stderr)
    return names[0] if names else None


def _check(code: int) -> None:
    if code:
        print(f"command terminated with exit code {code}", file=sys.stderr)
        raise ExitCode(code)


def tar_command(src: str, retries: int, offset: int) -> list[str]:
    """The remote command reading SRC as a tar, from byte `offset` (0-based) when retrying."""
    if retries == 0:
        return ["tar", "cf", "-", src]
    return ["sh", "-c", f"tar cf - {shlex.quote(src)} | tail -c+{offset + 1}"]


async def _from_pod(client: Any, ns: str, src: FileSpec, dest: str, container: str | None, retries: int = 0) -> int:
    with tempfile.TemporaryFile() as spool:
        def sink(data: bytes) -> None:
            spool.write(data)

        tries = 0
        while True:
            try:
                code = await podstream.stream(client, ns, src.pod, tar_command(src.path, retries, spool.tell()),
                                              container=container, on_stdout=sink,
                                              on_stderr=_write_out)  # kubectl: tar's stderr to Out
                break
            except podstream.StreamInterrupted:
                if 0 <= retries <= tries:
                    if retries:
                        print(f"Dropping out copy after {tries} retries", flush=True)
                    raise
                tries += 1
                print(f"Resuming copy at {spool.tell()} bytes, retry {tries}/{retries}", flush=True)
        spool.seek(0)
        warn: list[str] = []
        if spool.read(1):
            spool.seek(0)
            try:
                untar(spool, member_prefix(src.path), dest, src.path, warn, ns=ns, pod=src.pod)
            finally:
                for line in warn:
                    print(line, file=sys.stderr)
    _check(code)
    return 0


def _check_local(src: str) -> None:
    if not os.path.lexists(src):
        raise CliError(f"{src} doesn't exist in local filesystem")


def _base(src: str) -> str:
    return os.path.basename(os.path.normpath(src))


async def _to_pod(client: Any, ns: str, src: str, dest: FileSpec, container: str | None, no_preserve: bool) -> int:
    _check_local(src)
    remote = dest.path
    is_dir = await podstream.stream(client, ns, dest.pod, ["test", "-d", remote], container=container,
                                    on_stdout=lambda _: None, on_stderr=lambda _: None)
    if is_dir == 0:
        remote = posixpath.join(remote, _base(src))
    archive = make_tar(src, remote)
    command = ["tar", "--no-same-permissions", "--no-same-owner", "-xmf", "-"] if no_preserve else ["tar", "-xmf", "-"]
    command += ["-C", posixpath.dirname(posixpath.normpath(remote)) or "."]  # Go's path.Dir
    code = await podstream.stream(client, ns, dest.pod, command, container=container, stdin=_chunks(archive),
                                  on_stdout=_write_out, on_stderr=_write_err)
    _check(code)
    return 0
