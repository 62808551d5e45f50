"""`python -m kubelet`: wires the node agent, the pod network + guard, the pod workers, the
pod informer and the HTTP server together.

Start-up order matters: (1) register the Node; without --pod-cidr wait until the
controller-manager's node IPAM wrote its spec.podCIDR (the node's own CIDR wins over the flag);
(2) create the pod bridge network and install the traffic guard, BEFORE any pod starts;
(3) list this node's pods (informer, fieldSelector spec.nodeName=N), remove containers of
pods that no longer exist, let workers adopt the rest; (4) serve HTTP, heartbeat, watch
Docker events. SIGTERM/SIGINT stop the kubelet but leave pods running (a restarted kubelet
adopts them), as Kubernetes does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import ssl
import sys
from typing import Any, ClassVar

import uvicorn
from pydantic import ConfigDict

from kubelet import logs, network
from kubelet import metrics as kubelet_metrics
from kubelet.api import ClientApi
from kubelet.auth import AlwaysAllow, AuthFilter, Authorizer, TokenWebhook, WebhookAuthorizer
from kubelet.bootstrap import ensure_kubeconfig
from kubelet.node import NodeAgent
from kubelet.pods import PodManager
from kubelet.runtime import DockerRuntime
from kubelet.server import create_app
from kubelet.serving import client_ca, serving_cert
from kubelet.stats import StatsSampler
from kubelet.workerconfig import WorkerConfig
from machinery import errors
from machinery.client import ApiClient
from machinery.events import ClientSink, EventRecorder
from machinery.hostnet import default_route_ip
from machinery.informer import Informer
from machinery.logsetup import setup_logging
from machinery.meta import Resource
from machinery.models import Node
from machinery.tlspeer import http_protocol_class, websocket_class

log = logging.getLogger("kubelet")
DEFAULT_POD_CIDR = "10.244.0.0/24"


class WirePod(Resource):
    """A Pod kept as the server sent it (every field, known to our models or not): the worker
    hands fields such as probes and volumes to Docker verbatim."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    KIND: ClassVar[str] = "Pod"
    PLURAL: ClassVar[str] = "pods"
    SINGULAR: ClassVar[str] = "pod"
    SUBRESOURCES: ClassVar[tuple[str, ...]] = ("status", "binding", "log", "exec", "eviction")


def _size(value: str) -> int:
    try:
        return logs.parse_size(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"invalid CIDR {value!r}: {exc}") from None


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in ("true", "false", "1", "0"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")
    return lowered in ("true", "1")


def _positive(value: str) -> float:
    try:
        f = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if f <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return f


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m kubelet", description="kubelite node agent on Docker")
    p.add_argument("--kubeconfig", default=None)
    p.add_argument("--bootstrap-kubeconfig", default=None,
                   help="TLS bootstrap: when --kubeconfig does not exist, get a node client certificate "
                        "with this (bootstrap token) kubeconfig through a CertificateSigningRequest")
    p.add_argument("--cert-dir", default=None, help="where bootstrap certificates go (default ROOT_DIR/pki)")
    p.add_argument("--node-name", default=os.uname().nodename)
    p.add_argument("--node-ip", default=None, help="InternalIP (default: source IP of the default route, else 127.0.0.1)")
    p.add_argument("--address", default=None, help="HTTPS bind address (default: the node IP)")
    p.add_argument("--port", type=int, default=10250)
    p.add_argument("--tls-cert-file", default=None,
                   help="the kubelet API's serving certificate (default: requested from the cluster with "
                        "--rotate-server-certificates, else self-signed in --cert-dir)")
    p.add_argument("--tls-private-key-file", default=None)
    p.add_argument("--rotate-server-certificates", action="store_true",
                   help="get the serving certificate through a kubernetes.io/kubelet-serving "
                        "CertificateSigningRequest (implied by --bootstrap-kubeconfig)")
    p.add_argument("--client-ca-file", default=None,
                   help="CA verifying callers' client certificates (default: the kubeconfig's cluster CA)")
    p.add_argument("--authentication-token-webhook", type=_bool, default=True, metavar="true|false",
                   help="accept bearer tokens, checked by a TokenReview to the API server (cached 2 min)")
    p.add_argument("--authorization-mode", default="Webhook", choices=["Webhook", "AlwaysAllow"],
                   help="Webhook: a SubjectAccessReview to the API server per caller and path (cached)")
    p.add_argument("--pod-cidr", default=None, type=_cidr)
    p.add_argument("--pod-cidr-wait-s", type=float, default=0.0,
                   help="without --pod-cidr: how long to wait for node IPAM to set spec.podCIDR before "
                   f"falling back to {DEFAULT_POD_CIDR} (0 = wait as long as it takes)")
    p.add_argument("--provider-id", default=None,
                   help="Node.spec.providerID, e.g. lab://LAB/NODE (the lab cloud provider acts on it)")
    p.add_argument("--root-dir", default="/var/lib/kubelite/kubelet")
    p.add_argument("--log-dir", default="/var/log/pods")
    p.add_argument("--container-log-max-size", default=logs.DEFAULT_MAX_SIZE, type=_size, help="e.g. 10Mi")
    p.add_argument("--container-log-max-files", type=int, default=5, choices=range(1, 1000), metavar="N")
    p.add_argument("--cluster-name", default="kubelite")
    p.add_argument("--pause-image", default="kubelite/pause:latest")
    p.add_argument("--cluster-dns", default="", help="comma-separated DNS server IPs for ClusterFirst pods "
                   "(e.g. 10.96.0.10); empty keeps Docker's DNS")
    p.add_argument("--cluster-domain", default="cluster.local")
    p.add_argument("--heartbeat-s", type=_positive, default=10.0)
    p.add_argument("--resync-s", type=_positive, default=10.0)
    p.add_argument("--max-parallel-pod-starts", type=int, default=0, metavar="N",
                   help="pods creating/starting containers at once, admitted first come first served; "
                        "0 (the default, as Kubernetes' kubelet) = no limit: a limit of 4 made a rolling "
                        "update 2x slower and p99 of a burst worse (README, Performance)")
    p.add_argument("--stats-interval-s", type=_positive, default=10.0,
                   help="how often the one resource sampler reads the containers' cgroups (/stats/summary)")
    p.add_argument("--log-level", default="INFO")
    return p.parse_args(argv)


def default_node_ip() -> str:
    """Source address of the default route (a route lookup: nothing is sent)."""
    return default_route_ip()


async def wait_for_pod_cidr(client: Any, node: str, *, wait_s: float = 0.0, log_every_s: float = 30.0) -> str | None:
    """spec.podCIDR of `node` once node IPAM has written it, by watching that one Node.

    `wait_s` > 0 bounds the wait (None when it passes); 0 waits as long as it takes, as
    Kubernetes' kubelet does not start pod networking before its node has a pod CIDR.
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    next_log = start + min(log_every_s, 5.0)
    while True:
        remaining = None if wait_s <= 0 else start + wait_s - loop.time()
        if remaining is not None and remaining <= 0:
            return None
        try:
            listed = await client.list(Node, field_selector=f"metadata.name={node}")
            for obj in listed.items:
                if obj.spec is not None and obj.spec.podCIDR:
                    return str(obj.spec.podCIDR)
            if loop.time() >= next_log:
                log.info("node %s has no pod CIDR yet: waiting for the controller-manager's node IPAM", node)
                next_log = loop.time() + log_every_s
            timeout_s = min(remaining if remaining is not None else log_every_s, log_every_s)
            async for ev in client.watch(Node, field_selector=f"metadata.name={node}",
                                         resource_version=listed.resource_version, timeout_s=max(1.0, timeout_s)):
                spec = getattr(ev.object, "spec", None)
                if ev.type in ("ADDED", "MODIFIED") and spec is not None and spec.podCIDR:
                    return str(spec.podCIDR)
        except (errors.ApiError, OSError) as exc:
            log.warning("waiting for the pod CIDR of %s: %s", node, exc)
            await asyncio.sleep(1.0)


async def resolve_pod_cidr(agent: NodeAgent, from_register: str | None, client: Any, wait_s: float) -> str:
    """The node's pod CIDR: --pod-cidr, else the Node's spec.podCIDR (waiting for node IPAM);
    with a bounded `wait_s` that passed, the one-node default 10.244.0.0/24."""
    cidr = from_register or agent.pod_cidr
    if cidr is None:
        cidr = await wait_for_pod_cidr(client, agent.node, wait_s=wait_s)
    if cidr is None:
        log.warning("no pod CIDR from node IPAM within %.0fs: using %s", wait_s, DEFAULT_POD_CIDR)
    return cidr or DEFAULT_POD_CIDR


async def https_config(args: argparse.Namespace, app: Any, client: Any, node_ip: str) -> Any:
    """uvicorn's settings for the kubelet API: HTTPS with the node's serving certificate, client
    certificates verified against the client CA, and the authentication/authorization filter."""
    cert, key = await serving_cert(cert_file=args.tls_cert_file, key_file=args.tls_private_key_file,
                                   rotate=args.rotate_server_certificates or bool(args.bootstrap_kubeconfig),
                                   client=client, node=args.node_name, node_ip=node_ip,
                                   cert_dir=args.cert_dir or os.path.join(args.root_dir, "pki"))
    authorizer: Authorizer = AlwaysAllow() if args.authorization_mode == "AlwaysAllow" else WebhookAuthorizer(client)
    tokens = TokenWebhook(client) if args.authentication_token_webhook else None
    return uvicorn.Config(AuthFilter(app, authorizer, args.node_name, tokens=tokens), host=args.address or node_ip, port=args.port,
                          log_level="warning", lifespan="off", http=http_protocol_class(), ws=websocket_class(),
                          ssl_certfile=cert, ssl_keyfile=key, ssl_ca_certs=client_ca(args.client_ca_file, args.kubeconfig),
                          ssl_cert_reqs=ssl.CERT_OPTIONAL)


async def amain(args: argparse.Namespace) -> None:
    if args.bootstrap_kubeconfig:
        if not args.kubeconfig:
            raise ValueError("--bootstrap-kubeconfig needs --kubeconfig (where the node's kubeconfig goes)")
        await ensure_kubeconfig(args.kubeconfig, args.bootstrap_kubeconfig,
                                args.cert_dir or os.path.join(args.root_dir, "pki"), args.node_name)
    client = ApiClient.from_kubeconfig(args.kubeconfig)
    api = ClientApi(client)
    runtime = DockerRuntime(observe=lambda op, s: kubelet_metrics.RUNTIME_OPERATIONS.labels(op).observe(s))
    node_ip = args.node_ip or default_node_ip()
    version = (await runtime.version()).get("Version", "unknown")
    agent = NodeAgent(api, node=args.node_name, node_ip=node_ip, port=args.port, root_dir=args.root_dir,
                      docker_version=version, pod_cidr=args.pod_cidr, heartbeat_s=args.heartbeat_s,
                      provider_id=args.provider_id)
    os.makedirs(args.root_dir, exist_ok=True)
    os.makedirs(args.log_dir, exist_ok=True)
    pod_cidr = await resolve_pod_cidr(agent, await agent.register(), client, args.pod_cidr_wait_s)
    net_name = network.network_name_for(args.cluster_name)
    bridge = network.bridge_name_for(args.cluster_name)
    await asyncio.to_thread(network.ensure_pod_network, runtime.client, name=net_name, subnet=pod_cidr,
                            bridge=bridge, cluster=args.cluster_name)
    await asyncio.to_thread(network.ensure_guard)  # guard first: before any pod (never optional)
    await asyncio.to_thread(network.enable_hairpin, bridge)  # pods adopted from a previous run
    log.info("node %s registered (pod CIDR %s, bridge %s)", args.node_name, pod_cidr, bridge)

    cfg = WorkerConfig(cluster=args.cluster_name, node=args.node_name, node_ip=node_ip, network=net_name,
                       root_dir=args.root_dir, log_dir=args.log_dir, pause_image=args.pause_image,
                       log_max_bytes=args.container_log_max_size,
                       log_max_files=args.container_log_max_files, resync_s=args.resync_s,
                       cluster_dns=[s for s in args.cluster_dns.split(",") if s], cluster_domain=args.cluster_domain,
                       hairpin_bridge=bridge, max_parallel_starts=args.max_parallel_pod_starts)
    # Events as the kubelet writes them (Pulled, Created, Started, Killing, Unhealthy, BackOff,
    # Failed): raw JSON, queued and sent in the background, never in a pod worker's way.
    recorder = EventRecorder(ClientSink(client, raw=True), component="kubelet", instance=args.node_name,
                             host=args.node_name)
    manager = PodManager(cfg, runtime, api, recorder=recorder)
    informer: Informer[WirePod] = Informer(client, WirePod, field_selector=f"spec.nodeName={args.node_name}")
    sampler = StatsSampler(runtime, cluster=args.cluster_name, node=args.node_name, log_dir=args.log_dir,
                           interval_s=args.stats_interval_s)
    server = uvicorn.Server(await https_config(args, create_app(manager, sampler), client, node_ip))
    tasks = [asyncio.create_task(informer.run(), name="pod-informer")]
    await manager.follow(informer)
    tasks += [asyncio.create_task(agent.run(), name="heartbeat"),
              asyncio.create_task(manager.watch_docker_events(), name="docker-events"),
              asyncio.create_task(sampler.run(), name="stats"),
              asyncio.create_task(server.serve(), name="http")]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("kubelet %s ready on https://%s:%d", args.node_name, args.address or node_ip, args.port)
    await stop.wait()
    log.info("kubelet stopping (pods keep running)")
    server.should_exit = True
    for t in tasks:
        if t.get_name() != "http":
            t.cancel()
    with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=5)
    await manager.close()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(recorder.flush(), timeout=2)
    await recorder.close()
    runtime.close()
    await client.aclose()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    setup_logging(args.log_level)
    try:
        asyncio.run(amain(args))
    except KeyboardInterrupt:
        pass
    except (errors.ApiError, network.NetworkError, OSError, ValueError) as exc:
        # Start-up failures a user can fix (no API server, bad kubeconfig, Docker down, a
        # network with another subnet): one clear line, no traceback.
        log.error("kubelet cannot start: %s: %s", type(exc).__name__, exc)
        sys.exit(1)
    except Exception as exc:
        if type(exc).__module__.startswith("docker"):
            log.error("kubelet cannot start: Docker: %s", exc)
            sys.exit(1)
        raise
