"""Connecting to a port inside a pod's network namespace (what port-forward needs).

Contract: `await connect_in_pod(pid=, ip=, port=, timeout_s=)` returns an asyncio
(reader, writer) connected to `localhost:port` as seen from inside the pod, like the kubelet's
CRI port-forward: the socket is created in a fresh thread that has joined the network
namespace of the pod's sandbox process (`/proc/PID/ns/net`, setns(2)), so a server bound to
127.0.0.1 in the pod is reachable. When that is not possible (no pid, no privilege) it falls
back to the pod IP on the node's bridge. Connection failures raise OSError with a message
naming what was tried.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import socket
import threading

CLONE_NEWNET = 0x40000000


def _setns(path: str) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


def _socket_in_netns(pid: int) -> socket.socket:
    """A TCP socket created inside the network namespace of `pid` (in a throw-away thread:
    setns changes the namespace of the calling thread only, and that thread then ends)."""
    result: list[socket.socket | BaseException] = []

    def run() -> None:
        try:
            _setns(f"/proc/{pid}/ns/net")
            result.append(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            result.append(exc)

    t = threading.Thread(target=run, name=f"netns-{pid}", daemon=True)
    t.start()
    t.join(10)
    if not result:
        raise OSError(f"joining the network namespace of pid {pid} did not finish")
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


async def connect_in_pod(*, pid: int | None, ip: str | None, port: int,
                         timeout_s: float = 5.0) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    tried: list[str] = []
    if pid:
        try:
            sock = await asyncio.to_thread(_socket_in_netns, pid)
        except OSError as exc:
            tried.append(f"pod network namespace: {exc}")
        else:
            sock.setblocking(False)
            try:
                loop = asyncio.get_running_loop()
                await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), timeout_s)
                return await asyncio.open_connection(sock=sock, limit=1 << 20)
            except (OSError, TimeoutError) as exc:
                sock.close()
                raise OSError(f"failed to connect to localhost:{port} inside the pod's network "
                              f"namespace: {exc or 'timed out'}") from None
    if ip:
        try:
            return await asyncio.wait_for(asyncio.open_connection(ip, port, limit=1 << 20), timeout_s)
        except (OSError, TimeoutError) as exc:
            tried.append(f"{ip}:{port}: {exc or 'timed out'}")
    raise OSError(f"failed to connect to port {port} in the pod ({'; '.join(tried) or 'no pod IP'})")
