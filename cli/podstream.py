"""exec and attach over the API server's WebSocket (`v5.channel.k8s.io`, else `v4`), for the
CLI verbs that stream (cp, exec -it, attach).

Contract: `stream(client, ns, pod, command, ...) -> int` opens `pods/NAME/exec` (or
`pods/NAME/attach` when `command` is None) with kubectl's query, sends every chunk of `stdin`
on channel 0 then, on v5, the close signal for stdin (`[255, 0]`: the process sees EOF; on v4
the stream stays open until the process ends), sends each `(width, height)` of `resize` on
channel 4 (tty only), calls `on_stdout` / `on_stderr` with every chunk received on 1 / 2, and
returns the exit code from the Status on channel 3 (Success 0, NonZeroExitCode its code).
Any other Failure raises the Status's ApiError (e.g. `container not found`), as kubectl
reports it. The WebSocket ends when the server closes it (the process ended). A connection
lost before any Status arrived (closed without a normal close frame) raises `StreamInterrupted`:
the output may be cut short (`cp --retries` resumes from there).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from websockets.exceptions import ConnectionClosed, ConnectionClosedError

from machinery import channels, errors

Sink = Callable[[bytes], None]


class StreamInterrupted(errors.ServiceUnavailable):
    """The exec/attach connection was lost before the command's exit status arrived."""


def exec_params(command: list[str] | None, *, container: str | None, stdin: bool, tty: bool) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = [("command", c) for c in command or []]
    if container:
        params.append(("container", container))
    if stdin:
        params.append(("stdin", "true"))
    params.append(("stdout", "true"))
    if not tty:
        params.append(("stderr", "true"))
    if tty:
        params.append(("tty", "true"))
    return params


def exit_code(status: dict[str, Any] | None) -> int:
    """The command's exit code from the error channel's Status (raises other failures)."""
    if not status or status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                return int(cause.get("message") or 1)
        return 1
    raise errors.error_from_status(status, int(status.get("code") or 500))


async def _send_stdin(ws: Any, protocol: str | None, stdin: AsyncIterator[bytes]) -> None:
    async for chunk in stdin:
        if chunk:
            await ws.send(channels.encode(protocol, channels.STDIN, chunk))
    if protocol == channels.V5:
        await ws.send(bytes([channels.CLOSE, channels.STDIN]))


async def _send_resize(ws: Any, protocol: str | None, resize: AsyncIterator[tuple[int, int]]) -> None:
    async for width, height in resize:
        body = json.dumps({"Width": width, "Height": height}).encode()
        await ws.send(channels.encode(protocol, channels.RESIZE, body))


async def stream(client: Any, ns: str, pod: str, command: list[str] | None, *, container: str | None = None,
                 stdin: AsyncIterator[bytes] | None = None, on_stdout: Sink, on_stderr: Sink | None = None,
                 tty: bool = False, resize: AsyncIterator[tuple[int, int]] | None = None) -> int:
    verb = "exec" if command is not None else "attach"
    params = exec_params(command, container=container, stdin=stdin is not None, tty=tty)
    ws = await client.websocket(f"/api/v1/namespaces/{ns}/pods/{pod}/{verb}", params=params,
                                subprotocols=[channels.V5, channels.V4])
    status: dict[str, Any] | None = None
    async with ws:
        protocol = ws.subprotocol
        senders = []
        if stdin is not None:
            senders.append(asyncio.create_task(_send_stdin(ws, protocol, stdin)))
        if resize is not None and tty:
            senders.append(asyncio.create_task(_send_resize(ws, protocol, resize)))
        try:
            try:
                async for message in ws:
                    frame = channels.decode(protocol, message)
                    if frame is None:
                        continue
                    if frame.channel == channels.STDOUT:
                        on_stdout(frame.data)
                    elif frame.channel == channels.STDERR:
                        (on_stderr or on_stdout)(frame.data)
                    elif frame.channel == channels.ERROR:
                        status = _status(protocol, frame.data)
            except ConnectionClosedError as e:  # no (normal) close frame: the connection was lost
                if status is None:
                    raise StreamInterrupted(f"the exec stream of pod {pod} was interrupted: {e}") from None
            except ConnectionClosed:  # the server closing the stream ends it
                pass
        finally:
            for task in senders:
                task.cancel()
            await asyncio.gather(*senders, return_exceptions=True)
    return exit_code(status)


def _status(protocol: str | None, data: bytes) -> dict[str, Any]:
    if channels.status_is_json(protocol):
        loaded: dict[str, Any] = json.loads(data.decode() or "{}")
        return loaded
    return {"status": "Failure", "message": data.decode(errors="replace"), "reason": "InternalError", "code": 500}
