"""Kubernetes' WebSocket channel protocols (`*.channel.k8s.io`), shared by the API server's
relay and the kubelet, which speaks them.

Contract (as k8s.io/apimachinery `util/httpstream/wsstream` and the kubelet's streaming server):
- exec/attach subprotocols, most preferred first: `v5.channel.k8s.io`, `v4.channel.k8s.io`,
  `v4.base64.channel.k8s.io`, `v3.channel.k8s.io`, `v2.channel.k8s.io`, `channel.k8s.io`,
  `base64.channel.k8s.io`. Binary protocols frame every message as one channel byte + data;
  base64 ones send text messages: the channel as an ASCII digit + base64(data).
- channels: 0 stdin, 1 stdout, 2 stderr, 3 error (v4+: a JSON meta/v1 Status, Success or
  Failure with reason NonZeroExitCode and the code in `details.causes[{reason: ExitCode}]`;
  before v4 plain error text, only on failure), 4 resize (v3+ with a tty:
  `{"Width": w, "Height": h}`), 255 close (v5 only: `[255, channel]` half-closes the client's
  writing side of that channel, e.g. stdin EOF).
- port-forward subprotocols: `v4.channel.k8s.io` (also what an empty protocol means),
  `v4.base64.channel.k8s.io`; port i uses data channel 2i and error channel 2i+1, and the first
  message the server sends on each is the port number as 2 bytes little-endian.
  `SPDY/3.1+portforward.k8s.io` (kubectl 1.31+: SPDY/3.1 frames tunnelled in binary messages)
  is handled by kubelet/spdy.py.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
V4_BASE64 = "v4.base64.channel.k8s.io"
V3 = "v3.channel.k8s.io"
V2 = "v2.channel.k8s.io"
V1 = "channel.k8s.io"
V1_BASE64 = "base64.channel.k8s.io"
SPDY_PORTFORWARD = "SPDY/3.1+portforward.k8s.io"

EXEC_PROTOCOLS = (V5, V4, V4_BASE64, V3, V2, V1, V1_BASE64)
PORTFORWARD_PROTOCOLS = (SPDY_PORTFORWARD, V4, V4_BASE64)

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


def choose(offered: list[str], ours: tuple[str, ...] = EXEC_PROTOCOLS) -> str | None:
    """Our most preferred protocol among the offered ones (None: none in common)."""
    for proto in ours:
        if proto in offered:
            return proto
    return None


def is_base64(protocol: str | None) -> bool:
    return bool(protocol) and "base64" in str(protocol)


def status_is_json(protocol: str | None) -> bool:
    """v4 and v5 send a JSON Status on the error channel; older versions plain text."""
    return protocol in (V5, V4, V4_BASE64)


@dataclass(frozen=True)
class Frame:
    channel: int
    data: bytes


def encode(protocol: str | None, channel: int, data: bytes) -> bytes | str:
    """One message: bytes for binary protocols, str for base64 ones."""
    if is_base64(protocol):
        return chr(ord("0") + channel) + base64.b64encode(data).decode("ascii")
    return bytes([channel]) + data


def decode(protocol: str | None, message: bytes | str) -> Frame | None:
    """A received message -> Frame; None for an empty or malformed one (ignored, as wsstream)."""
    if isinstance(message, str):
        if not message:
            return None
        if not is_base64(protocol):  # a text message on a binary protocol (the Python client's str)
            return Frame(ord(message[0]), message[1:].encode())
        try:
            return Frame(ord(message[0]) - ord("0"), base64.b64decode(message[1:]))
        except ValueError:
            return None
    if not message:
        return None
    return Frame(message[0], bytes(message[1:]))


def exit_status(exit_code: int, command: list[str]) -> dict[str, Any]:
    if exit_code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command "
                       f"{command}, exit code {exit_code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]}}


def failure_status(message: str, reason: str = "InternalError", code: int = 500) -> dict[str, Any]:
    return {"metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code}


def error_payload(protocol: str | None, status: dict[str, Any]) -> bytes | None:
    """What goes on the error channel for `status` (None: nothing, for a pre-v4 success)."""
    if status_is_json(protocol):
        return json.dumps(status).encode()
    if status.get("status") == "Success":
        return None
    return str(status.get("message") or "error").encode()


def port_header(port: int) -> bytes:
    return bytes([port & 0xFF, (port >> 8) & 0xFF])


def parse_ports(raw: list[str]) -> list[int]:
    """`ports=80,8080&ports=9000` -> [80, 8080, 9000]; ValueError with a clear message."""
    ports: list[int] = []
    for item in raw:
        for part in item.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                port = int(part)
            except ValueError:
                raise ValueError(f"invalid port {part!r}") from None
            if not 0 < port < 65536:
                raise ValueError(f"port {port} must be between 1 and 65535")
            ports.append(port)
    return ports
