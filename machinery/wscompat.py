"""WebSocket subprotocol names as Kubernetes uses them, for uvicorn servers and our relay client.

Contract: kubectl 1.31+ offers `SPDY/3.1+portforward.k8s.io`, which is not an RFC 6455 token
(`/` is a separator), so the `websockets` library refuses the handshake with 400 before the
application sees it. `SERVER_WS` (pass as `uvicorn.Config(ws=SERVER_WS)`) is uvicorn's
websockets protocol with the request's subprotocols left unparsed: uvicorn already splits the
header on commas into the ASGI scope and writes back the one the application accepts.
`connect(url, subprotocols=[...], **kw)` is `websockets.asyncio.client.connect` offering those
names verbatim and accepting the server's choice when it is one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as _connect
from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.exceptions import NegotiationError
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

SERVER_WS = "machinery.wscompat:K8sWebSocketProtocol"


class _LenientServer(ServerProtocol):
    def process_subprotocol(self, headers: Headers) -> Subprotocol | None:
        return None  # uvicorn sends the subprotocol the application accepted


class K8sWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn.__class__ = _LenientServer  # same state, only the subprotocol check differs


class _LenientClient(ClientProtocol):
    offered: Sequence[str] = ()

    def process_subprotocol(self, headers: Headers) -> Subprotocol | None:
        chosen = [v.strip() for v in headers.get_all("Sec-WebSocket-Protocol")]
        if not chosen:
            return None
        if len(chosen) != 1 or chosen[0] not in self.offered:
            raise NegotiationError(f"unsupported subprotocol: {', '.join(chosen)}")
        return Subprotocol(chosen[0])


def connect(url: str, *, subprotocols: Sequence[str] | None, **kwargs: Any) -> Any:
    offered = list(subprotocols or [])

    class _Connection(ClientConnection):
        def __init__(self, protocol: ClientProtocol, **kw: Any) -> None:
            protocol.__class__ = _LenientClient
            protocol.offered = offered  # type: ignore[attr-defined]
            super().__init__(protocol, **kw)

    headers = dict(kwargs.pop("additional_headers", None) or {})
    if offered:
        headers["Sec-WebSocket-Protocol"] = ", ".join(offered)
    return _connect(url, additional_headers=headers, create_connection=_Connection, **kwargs)
