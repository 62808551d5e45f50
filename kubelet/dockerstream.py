"""Interactive Docker streams (exec with stdin/tty, attach) as asyncio byte streams.

Contract: `open_exec(client, cid, command, stdin=, stdout=, stderr=, tty=)` creates a Docker exec
and starts it over a hijacked connection; `open_attach(client, cid, stdin=, stdout=, stderr=,
tty=)` attaches to the container's main process. Both return a `DockerStream`:
- `await s.read()` -> `(channel, bytes)` with channel 1 (stdout) or 2 (stderr), or None at the
  end of the output. Without a tty Docker multiplexes the two (8-byte frame headers); with a
  tty everything is stdout, as Kubernetes reports it. Bytes are passed through unchanged.
- `await s.write(data)` feeds stdin; `await s.close_stdin()` half-closes the connection, which
  makes Docker close the process's stdin (EOF), so `cat`/`sh` reading stdin end.
- `await s.resize(width, height)` resizes the exec's (or the container's) tty (retried while
  Docker says the exec is not running yet).
- `await s.exit_code()` (exec only) waits until Docker reports the exec finished.
- `await s.close()` drops the connection (an exec keeps running if it ignores its stdin).

The hijack is done by hand over the Docker socket (`DOCKER_HOST`, default
`unix:///var/run/docker.sock`) so that no output written right after the 101 response can be
lost in a reader's buffer; the docker SDK is used only for the plain JSON calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlparse

DEFAULT_SOCKET = "/var/run/docker.sock"
HEADER = 8


class DockerStreamError(RuntimeError):
    """Docker refused the exec/attach (message from Docker)."""


async def _connect(docker_host: str | None) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host = docker_host if docker_host is not None else os.environ.get("DOCKER_HOST", "")
    if host.startswith("tcp://"):
        u = urlparse(host)
        return await asyncio.open_connection(u.hostname or "127.0.0.1", u.port or 2375, limit=1 << 20)
    path = host[len("unix://"):] if host.startswith("unix://") else DEFAULT_SOCKET
    return await asyncio.open_unix_connection(path, limit=1 << 20)


async def hijack(path: str, body: dict[str, Any] | None, *,
                 docker_host: str | None = None) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """POST `path` with `Upgrade: tcp`; returns the raw stream after Docker's 101 (or 200)."""
    reader, writer = await _connect(docker_host)
    payload = json.dumps(body).encode() if body is not None else b""
    head = (f"POST {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: kubelite-kubelet\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n").encode()
    writer.write(head + payload)
    await writer.drain()
    raw = await reader.readuntil(b"\r\n\r\n")
    status_line = raw.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    if code not in (101, 200):
        length = 0
        for line in raw.decode("latin-1").split("\r\n")[1:]:
            if line.lower().startswith("content-length:"):
                length = int(line.split(":", 1)[1].strip() or 0)
        detail = (await reader.readexactly(length)).decode(errors="replace") if length else status_line
        writer.close()
        try:
            msg = str(json.loads(detail).get("message") or detail)
        except (ValueError, AttributeError):
            msg = detail
        raise DockerStreamError(msg.strip())
    return reader, writer


@dataclass
class DockerStream:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    tty: bool
    client: Any
    exec_id: str | None = None
    container_id: str | None = None
    _stdin_closed: bool = field(default=False)

    async def read(self) -> tuple[int, bytes] | None:
        try:
            if self.tty:
                data = await self.reader.read(32 * 1024)
                return (1, data) if data else None
            while True:
                header = await self.reader.readexactly(HEADER)
                kind, size = header[0], struct.unpack(">I", header[4:])[0]
                data = await self.reader.readexactly(size) if size else b""
                if data:
                    return (2 if kind == 2 else 1, data)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None

    async def write(self, data: bytes) -> None:
        if self._stdin_closed or not data:
            return
        self.writer.write(data)
        await self.writer.drain()

    async def close_stdin(self) -> None:
        if self._stdin_closed:
            return
        self._stdin_closed = True
        try:
            if self.writer.can_write_eof():
                self.writer.write_eof()
        except (OSError, RuntimeError):
            pass

    async def resize(self, width: int, height: int, *, attempts: int = 20) -> None:
        """Resize the tty. Docker refuses to resize an exec whose process is not running yet (the
        first resize kubectl sends can arrive right after the start), so a refusal is retried for
        about a second; one racing the process's exit is harmless and dropped."""
        api = self.client.api
        for _ in range(attempts):
            try:
                if self.exec_id is not None:
                    await asyncio.to_thread(api.exec_resize, self.exec_id, height=height, width=width)
                elif self.container_id is not None:
                    await asyncio.to_thread(api.resize, self.container_id, height=height, width=width)
                return
            except Exception:  # noqa: BLE001 - Docker's refusal: not running (yet or any more)
                await asyncio.sleep(0.05)

    async def exit_code(self, timeout_s: float = 10.0) -> int:
        if self.exec_id is None:
            return 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            info = await asyncio.to_thread(self.client.api.exec_inspect, self.exec_id)
            if not info.get("Running") or loop.time() > deadline:
                code = info.get("ExitCode")
                return -1 if code is None else int(code)
            await asyncio.sleep(0.05)  # Docker marks the exec done just after the stream ends

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, RuntimeError):
            await self.writer.wait_closed()


def _api_prefix(client: Any) -> str:
    version = getattr(client.api, "_version", None) or "1.41"
    return f"/v{version}"


async def open_exec(client: Any, cid: str, command: list[str], *, stdin: bool, stdout: bool, stderr: bool,
                    tty: bool) -> DockerStream:
    import docker.errors  # lazy: the docker SDK costs ~0.4 s to import; no module of the kubelet imports it at the top

    try:
        ex = await asyncio.to_thread(client.api.exec_create, cid, command, stdin=stdin, stdout=stdout,
                                     stderr=stderr and not tty, tty=tty)
    except docker.errors.APIError as exc:
        raise DockerStreamError(str(exc.explanation or exc)) from None
    exec_id = str(ex["Id"])
    reader, writer = await hijack(f"{_api_prefix(client)}/exec/{exec_id}/start", {"Detach": False, "Tty": tty})
    return DockerStream(reader, writer, tty=tty, client=client, exec_id=exec_id)


async def open_attach(client: Any, cid: str, *, stdin: bool, stdout: bool, stderr: bool,
                      tty: bool) -> DockerStream:
    query = urlencode({"stream": 1, "stdin": int(stdin), "stdout": int(stdout), "stderr": int(stderr)})
    reader, writer = await hijack(f"{_api_prefix(client)}/containers/{cid}/attach?{query}", None)
    return DockerStream(reader, writer, tty=tty, client=client, container_id=cid)
