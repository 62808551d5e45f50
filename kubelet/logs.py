"""Container logs: copy Docker's stdout/stderr into CRI-format files, rotate, and read back.

Contract:
- Files live at `<log_dir>/<ns>_<pod>_<uid>/<container>/<restart>.log`, one line per record:
  `<RFC3339Nano timestamp> <stdout|stderr> F <line>` (the CRI format kubectl users know).
- `RotatingWriter` rotates by size: `<n>.log` -> `<n>.log.1` -> `<n>.log.2` ..., keeping at
  most `max_files` files for one container instance (current included). The previous
  instance's files (`<restart-1>.log*`) are kept for `--previous` until the pod goes.
- `copy_container_logs(cid, writer, http=docker_http(socket))` follows Docker's multiplexed log
  stream over its unix socket (async httpx, no thread per container) and returns when the
  container's stream ends. On kubelet restart it resumes after the last timestamp already
  written. `LogCopiers` shares one client among all its copiers: building an httpx client
  builds an SSL context (tens of ms of CPU on the event loop), which per container start was
  the kubelet's main cost under a burst of pod creations.
- `read_log(...)` / `follow_log(...)` serve the kubelet's /containerLogs endpoint.
"""

from __future__ import annotations

import asyncio
import os
import re
import struct
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import BinaryIO

import httpx

from machinery.clock import parse_time

DEFAULT_MAX_SIZE = 10 * 1024 * 1024
DEFAULT_MAX_FILES = 5
_SIZE = re.compile(r"^(\d+)(Ki|Mi|Gi|K|M|G)?$")


def parse_size(s: str) -> int:
    """'10Mi' -> 10485760; plain numbers are bytes."""
    m = _SIZE.match(s.strip())
    if not m:
        raise ValueError(f"invalid size {s!r} (expected e.g. 10Mi, 512Ki, 1048576)")
    mult = {None: 1, "K": 1000, "M": 1000**2, "G": 1000**3, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}[m.group(2)]
    return int(m.group(1)) * mult


def pod_log_dir(log_dir: str, ns: str, pod: str, uid: str) -> Path:
    return Path(log_dir) / f"{ns}_{pod}_{uid}"


def container_log_path(log_dir: str, ns: str, pod: str, uid: str, container: str, restart: int) -> Path:
    return pod_log_dir(log_dir, ns, pod, uid) / container / f"{restart}.log"


class RotatingWriter:
    """Appends CRI lines to one instance's log file, rotating at `max_bytes`."""

    def __init__(self, path: Path, *, max_bytes: int = DEFAULT_MAX_SIZE, max_files: int = DEFAULT_MAX_FILES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.max_files = max(1, max_files)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(path, "ab")  # noqa: SIM115 - long-lived handle, closed in close()
        self._size = self._fh.tell()

    def last_timestamp(self) -> str | None:
        """The timestamp of the last line already written (to resume without duplicates)."""
        for p in [self.path, *rotated_files(self.path)[::-1]]:
            try:
                data = p.read_bytes()[-65536:]
            except OSError:
                continue
            lines = [ln for ln in data.splitlines() if ln.strip()]
            if lines:
                return lines[-1].split(b" ", 1)[0].decode()
        return None

    def write(self, ts: str, stream: str, line: bytes) -> None:
        rec = ts.encode() + b" " + stream.encode() + b" F " + line.rstrip(b"\n") + b"\n"
        if self._size and self._size + len(rec) > self.max_bytes:
            self.rotate()
        self._fh.write(rec)
        self._size += len(rec)

    def flush(self) -> None:
        self._fh.flush()

    def rotate(self) -> None:
        self._fh.close()
        keep = self.max_files - 1
        for i in range(keep, 0, -1):
            src = self.path.with_name(f"{self.path.name}.{i}")
            if not src.exists():
                continue
            if i >= keep:
                src.unlink()
            else:
                src.rename(self.path.with_name(f"{self.path.name}.{i + 1}"))
        if keep >= 1:
            self.path.rename(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink(missing_ok=True)
        self._fh = open(self.path, "ab")  # noqa: SIM115
        self._size = 0

    def close(self) -> None:
        self._fh.close()


def rotated_files(path: Path) -> list[Path]:
    """Rotated parts of `path`, oldest first."""
    parts = [p for p in path.parent.glob(path.name + ".*") if p.name[len(path.name) + 1 :].isdigit()]
    return sorted(parts, key=lambda p: -int(p.name.rsplit(".", 1)[1]))


def remove_instance_logs(path: Path) -> None:
    """Delete one container instance's log file and its rotated parts."""
    for p in [path, *rotated_files(path)]:
        p.unlink(missing_ok=True)


def _docker_ts_to_since(ts: str) -> str:
    """RFC3339Nano -> Docker's `since` "seconds.nanoseconds"."""
    _, _, frac = ts.rstrip("Z").partition(".")
    parsed = parse_time(ts)
    secs = int(parsed.timestamp()) if parsed is not None else 0
    return f"{secs}.{(frac or '0').ljust(9, '0')[:9]}"


def docker_http(socket: str = "/var/run/docker.sock") -> httpx.AsyncClient:
    """A client for Docker's API on its unix socket, without a cap on open streams (each
    followed log holds one connection for the container's life)."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=8)
    return httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=socket, limits=limits),
                             base_url="http://docker", timeout=None)


async def copy_container_logs(cid: str, writer: RotatingWriter, *, http: httpx.AsyncClient | None = None,
                              socket: str = "/var/run/docker.sock") -> None:
    """Follow the container's log stream into `writer` until Docker ends the stream."""
    if http is None:
        async with docker_http(socket) as own:
            await copy_container_logs(cid, writer, http=own)
        return
    params = {"follow": "1", "stdout": "1", "stderr": "1", "timestamps": "1"}
    last = writer.last_timestamp()
    if last:
        params["since"] = _docker_ts_to_since(last)
    buf = {1: b"", 2: b""}
    async with http.stream("GET", f"/containers/{cid}/logs", params=params) as resp:
        if resp.status_code != 200:
            return
        pending = b""
        async for chunk in resp.aiter_bytes():
            pending += chunk
            while len(pending) >= 8:
                stream_id, size = pending[0], struct.unpack(">I", pending[4:8])[0]
                if len(pending) < 8 + size:
                    break
                payload, pending = pending[8 : 8 + size], pending[8 + size :]
                buf[stream_id] = buf.get(stream_id, b"") + payload
                while b"\n" in buf[stream_id]:
                    line, buf[stream_id] = buf[stream_id].split(b"\n", 1)
                    ts, _, text = line.partition(b" ")
                    tss = ts.decode()
                    if last and tss <= last:
                        continue  # already written before a kubelet restart
                    writer.write(tss, "stderr" if stream_id == 2 else "stdout", text)
            writer.flush()
    for stream_id, rest in buf.items():
        if rest:
            ts, _, text = rest.partition(b" ")
            writer.write(ts.decode(), "stderr" if stream_id == 2 else "stdout", text)
    writer.flush()


def parse_cri_line(raw: bytes) -> tuple[str, str, bytes]:
    """`ts stream tag text` -> (ts, stream, text)."""
    parts = raw.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 4:
        return ("", "stdout", raw.rstrip(b"\n"))
    return parts[0].decode(), parts[1].decode(), parts[3]


def _format(raw: bytes, timestamps: bool) -> bytes:
    ts, _, text = parse_cri_line(raw)
    return (ts.encode() + b" " + text + b"\n") if timestamps and ts else text + b"\n"


def _ts_ok(raw: bytes, since: str | None) -> bool:
    return since is None or parse_cri_line(raw)[0] >= since


def read_log(path: Path, *, tail_lines: int | None = None, since: str | None = None,
             timestamps: bool = False) -> bytes:
    """The whole log of one instance (rotated parts included), filtered and formatted."""
    keep: deque[bytes] = deque(maxlen=tail_lines if tail_lines is not None and tail_lines >= 0 else None)
    for p in [*rotated_files(path), path]:
        try:
            with open(p, "rb") as fh:
                for raw in fh:
                    if _ts_ok(raw, since):
                        keep.append(raw)
        except FileNotFoundError:
            continue
    return b"".join(_format(r, timestamps) for r in keep)


def _open_if_exists(path: Path, *, at_end: bool) -> BinaryIO | None:
    try:
        fh = open(path, "rb")  # noqa: SIM115 - handed to the caller, which closes it
    except FileNotFoundError:
        return None
    if at_end:
        fh.seek(0, os.SEEK_END)
    return fh


def _replaced(path: Path, fh: BinaryIO) -> bool:
    """True when `path` now names another file than `fh` (it was rotated away)."""
    try:
        return os.stat(path).st_ino != os.fstat(fh.fileno()).st_ino
    except FileNotFoundError:
        return False


def _read_complete_lines(fh: BinaryIO) -> list[bytes]:
    data = fh.read()
    if not data:
        return []
    lines = data.splitlines(keepends=True)
    if not lines[-1].endswith(b"\n"):  # a line being written: read it again next time
        fh.seek(-len(lines[-1]), os.SEEK_CUR)
        lines = lines[:-1]
    return lines


async def follow_log(path: Path, *, tail_lines: int | None = None, since: str | None = None,
                     timestamps: bool = False, poll_s: float = 0.2,
                     still_running: Callable[[], Awaitable[bool]] | None = None) -> AsyncIterator[bytes]:
    """Yield existing lines then new ones as they are written, until `still_running()` is false
    and the file stopped growing. Follows rotation by reopening when the inode changes."""
    first = read_log(path, tail_lines=tail_lines, since=since, timestamps=timestamps)
    if first:
        yield first
    fh = _open_if_exists(path, at_end=True)
    try:
        idle = 0
        while True:
            if fh is None:
                fh = _open_if_exists(path, at_end=False)
            lines = _read_complete_lines(fh) if fh is not None else []
            if lines:
                idle = 0
                out = b"".join(_format(r, timestamps) for r in lines if _ts_ok(r, since))
                if out:
                    yield out
                continue
            if fh is not None and _replaced(path, fh):
                fh.close()
                fh = _open_if_exists(path, at_end=False)  # rotated: read the new file from 0
                continue
            if still_running is not None and not await still_running():
                idle += 1
                if idle > 2:
                    return
            await asyncio.sleep(poll_s)
    finally:
        if fh is not None:
            fh.close()


class LogCopiers:
    """One copier task per container id; a container whose stream ended is not copied again."""

    def __init__(self, *, max_bytes: int, max_files: int, socket: str = "/var/run/docker.sock") -> None:
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.socket = socket
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._done: set[str] = set()
        self._http: httpx.AsyncClient | None = None

    def ensure(self, cid: str, path: Path) -> None:
        if cid in self._tasks or cid in self._done:
            return
        self._tasks[cid] = asyncio.create_task(self._copy(cid, path))

    async def _copy(self, cid: str, path: Path) -> None:
        writer = RotatingWriter(path, max_bytes=self.max_bytes, max_files=self.max_files)
        try:
            if self._http is None:
                self._http = docker_http(self.socket)
            await copy_container_logs(cid, writer, http=self._http)
            self._done.add(cid)
        except (httpx.HTTPError, OSError):
            pass  # the next sync starts it again (resuming after the last written line)
        finally:
            writer.close()
            self._tasks.pop(cid, None)

    async def wait(self, cid: str, timeout_s: float = 2.0) -> None:
        """Let the copier of a finished container drain (before its file is needed)."""
        task = self._tasks.get(cid)
        if task is not None:
            await asyncio.wait({task}, timeout=timeout_s)

    def forget(self, cid: str) -> None:
        task = self._tasks.pop(cid, None)
        if task is not None:
            task.cancel()
        self._done.discard(cid)

    async def close(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
        if self._http is not None:
            await self._http.aclose()
            self._http = None
