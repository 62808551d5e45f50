"""Who is on the other end of a TLS connection, for uvicorn servers that verify client certificates.

Contract:
- `peer_identity(transport) -> (CN, (O, ...)) | None`: the subject of the client certificate
  the TLS handshake verified (None without one, or on a plain connection).
- `remember_peer(protocol, transport)`: puts it in the protocol's copy of the app state, so
  every request scope of that connection (HTTP and WebSocket) carries it in
  `scope["state"][PEER_KEY]` (read once per connection, not per request).
- `http_protocol_class()` / `websocket_class()`: uvicorn's httptools (h11 without it) HTTP
  protocol and machinery.wscompat's WebSocket protocol doing `remember_peer`, for
  `uvicorn.Config(http=..., ws=...)` (the kubelet's HTTPS API).
The API server's own protocol classes (apiserver/httpproto.py) use the same two functions.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

from machinery.wscompat import K8sWebSocketProtocol

PEER_KEY = "kubelite.peer"


def peer_identity(transport: Any) -> tuple[str, tuple[str, ...]] | None:
    """(CN, O values) of the client certificate the TLS handshake verified, if any."""
    try:
        cert = transport.get_extra_info("peercert")
    except (AttributeError, ValueError):
        return None
    if not cert:
        return None
    cn, orgs = "", []
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                cn = str(value)
            elif key == "organizationName":
                orgs.append(str(value))
    return cn, tuple(orgs)


def remember_peer(protocol: Any, transport: Any) -> None:
    peer = peer_identity(transport)
    if peer is not None:
        # This connection's own copy of the app state: every scope of it carries the peer.
        protocol.app_state = {**protocol.app_state, PEER_KEY: peer}


class PeerWebSocketProtocol(K8sWebSocketProtocol):
    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        remember_peer(self, transport)


def websocket_class() -> type[asyncio.Protocol]:
    return PeerWebSocketProtocol


def http_protocol_class() -> type[asyncio.Protocol]:
    if importlib.util.find_spec("httptools") is not None:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        class PeerHttpToolsProtocol(HttpToolsProtocol):
            def connection_made(self, transport: Any) -> None:
                super().connection_made(transport)
                remember_peer(self, transport)

        return PeerHttpToolsProtocol

    from uvicorn.protocols.http.h11_impl import H11Protocol

    class PeerH11Protocol(H11Protocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            remember_peer(self, transport)

    return PeerH11Protocol
