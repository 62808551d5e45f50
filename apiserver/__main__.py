"""`python -m apiserver --etcd-servers URL --bind-address 127.0.0.1 --port 6443`.

HTTPS only: `--tls-cert-file` and `--tls-private-key-file` are required, `--client-ca-file`
verifies client certificates (optional per connection; tokens are the other way in).
Logs to stderr with timestamps; SIGTERM/SIGINT shut down cleanly (uvicorn closes the
listening socket, gives open requests and watches a few seconds, then runs the app's shutdown).
Uses uvloop when it is installed, and the httptools parser (apiserver/httpproto.py: a
malformed HTTP request gets a 400 Status JSON).
"""

from __future__ import annotations

import importlib.util
import ssl
import sys

import uvicorn

from apiserver.app import create_app
from apiserver.config import parse_args
from apiserver.httpproto import protocol_class, websocket_class
from apiserver.kubelet_proxy import router as kubelet_proxy_router
from apiserver.service_proxy import router as service_proxy_router
from machinery.logsetup import setup_logging


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    setup_logging(config.log_level)
    if not (config.tls_cert_file and config.tls_private_key_file):
        sys.exit("error: the API server serves HTTPS only: --tls-cert-file and --tls-private-key-file "
                 "are required (`kubelite up` and the test fixtures generate them, machinery/pki.py)")
    # pods/log and pods/exec are relayed to the pod's kubelet (clients only talk to us);
    # services/NAME/proxy to the Service's endpoints.
    app = create_app(config, extra_routers=[kubelet_proxy_router, service_proxy_router])
    uvicorn.run(
        app,
        host=config.bind_address,
        port=config.port,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        http=protocol_class(),  # httptools (h11 without it); malformed requests get a Status
        log_config=None,  # keep our logging configuration
        access_log=False,
        timeout_graceful_shutdown=5,
        # accepts kubectl's `SPDY/3.1+portforward.k8s.io` subprotocol, knows the client cert
        ws=websocket_class(),
        # Keep idle connections well past the clients' keep-alive expiry (httpx: 5 s): when
        # both sides time out at the same moment a client can reuse a connection the server
        # is closing, see a ReadError, and retry a POST that had already succeeded.
        timeout_keep_alive=75,
        ssl_certfile=config.tls_cert_file,
        ssl_keyfile=config.tls_private_key_file,
        # A client certificate is optional (tokens are the other way in) but, when offered,
        # must chain to the client CA: the handshake verifies it, authn reads its subject.
        ssl_ca_certs=config.client_ca_file,
        ssl_cert_reqs=ssl.CERT_OPTIONAL if config.client_ca_file else ssl.CERT_NONE,
    )


if __name__ == "__main__":
    main()
