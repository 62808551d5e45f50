"""uvicorn's HTTP protocol, answering malformed requests with a Kubernetes Status.

Contract: `protocol_class()` is the class to give `uvicorn.run(http=...)`: uvicorn's httptools
protocol (h11 when httptools is missing) whose answer to a request the HTTP parser rejects
(bad request line, bad header, bad chunk encoding, non-ASCII path) is a 400 `Status` JSON
with `Connection: close`, instead of uvicorn's plain-text "Invalid HTTP request received.".

What uvicorn does not let us change (docs/APISERVER.md): a request line or header block over
the parser's own limits, a TLS handshake error, and a peer that closes mid-request get no
answer at all (the connection is closed); an unsupported `Upgrade` is ignored by uvicorn and
the request served as plain HTTP.

Over TLS, each connection's verified client certificate subject is read once, when the
connection is made, and put in the scope's `state` of every request (HTTP and WebSocket) of
that connection under `machinery.tlspeer.PEER_KEY` as (CN, (O, ...)) (`machinery.tlspeer.peer_identity`).
`websocket_class()` is the WebSocket protocol (machinery.wscompat's) doing the same.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

from apiserver import jsonfast
from machinery import errors
from machinery.tlspeer import PeerWebSocketProtocol, remember_peer


def status_400(message: str) -> bytes:
    """A whole HTTP/1.1 400 response carrying a BadRequest Status."""
    body = jsonfast.dumps(errors.BadRequest(message).to_status())
    return (b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)


def websocket_class() -> type[asyncio.Protocol]:
    return PeerWebSocketProtocol


def protocol_class() -> type[asyncio.Protocol]:
    if importlib.util.find_spec("httptools") is not None:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        class StatusHttpToolsProtocol(HttpToolsProtocol):
            def connection_made(self, transport: Any) -> None:
                super().connection_made(transport)
                remember_peer(self, transport)

            def send_400_response(self, msg: str) -> None:
                self.transport.write(status_400(f"malformed HTTP request: {msg}"))
                self.transport.close()

        return StatusHttpToolsProtocol

    from uvicorn.protocols.http.h11_impl import H11Protocol

    class StatusH11Protocol(H11Protocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            remember_peer(self, transport)

        def send_400_response(self, msg: str) -> None:
            self.transport.write(status_400(f"malformed HTTP request: {msg}"))
            self.transport.close()

    return StatusH11Protocol
