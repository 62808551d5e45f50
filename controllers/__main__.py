"""`python -m controllers --kubeconfig F [--controllers a,b] [--leader-elect]`: the controller-manager.

Contract: runs `manager.run_controllers` with the selected controllers (default: all
registered). With `--leader-elect` only the holder of the `kube-controller-manager` Lease in
kube-system runs them; losing the lease exits the process (status 1) so that a supervisor
restarts it clean and two managers never act at once. `--cloud-provider lab --lab-name LAB`
adds the lab cloud node controller (controllers/labprovider.py). SIGTERM/SIGINT stop cleanly (the Lease
is released so a standby takes over at once). Bad flags exit 2 with a message, never a trace.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence

from controllers.base import ControllerContext
from controllers.cidrset import CidrSet
from controllers.labprovider import LabCloudNodeController
from controllers.manager import CONTROLLERS, register, resolve_names, run_controllers, serve_health
from controllers.options import ControllerOptions, parse_duration_s
from machinery import prom
from machinery.client import ApiClient
from machinery.leaderelection import LeaderElector
from machinery.logsetup import setup_logging

log = logging.getLogger("controllers")


def _bool(value: str) -> bool:
    v = value.strip().lower()
    if v in ("true", "1", "yes"):
        return True
    if v in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {value!r}")


def enable_lab_provider(lab: str, silence_s: float) -> None:
    """Register the lab cloud node controller (only when the flag asks for it: it is not a
    default controller, as Kubernetes' cloud controllers run only with a cloud provider)."""

    def ctor(ctx: ControllerContext) -> LabCloudNodeController:
        return LabCloudNodeController(ctx, lab=lab, silence_s=silence_s)

    register(LabCloudNodeController.NAME, ctor)


def _duration(value: str) -> float:
    try:
        d = parse_duration_s(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if d <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return d


def _rate(value: str) -> float:
    try:
        r = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if r < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return r


def _signing_ca(args: argparse.Namespace) -> object:
    """The CSR signing CA from --cluster-signing-cert-file/--cluster-signing-key-file, or None."""
    if not args.cluster_signing_cert_file and not args.cluster_signing_key_file:
        return None
    if not (args.cluster_signing_cert_file and args.cluster_signing_key_file):
        raise ValueError("--cluster-signing-cert-file and --cluster-signing-key-file go together")
    from machinery.pki import CertificateAuthority

    try:
        return CertificateAuthority.load(args.cluster_signing_cert_file, args.cluster_signing_key_file)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cluster signing CA: {exc}") from None


def _root_ca(args: argparse.Namespace) -> str:
    """--root-ca-file, else the CA file of the kubeconfig ("" when there is none)."""
    from machinery.kubeconfig import KubeconfigError, load_kubeconfig

    path = args.root_ca_file
    if not path:
        try:
            path = load_kubeconfig(args.kubeconfig).ca_file
        except KubeconfigError:
            path = None
    if not path:
        return ""
    try:
        with open(path) as f:
            return f.read()
    except OSError as exc:
        raise ValueError(f"--root-ca-file {path}: {exc}") from None


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m controllers", description="kubelite controller-manager")
    p.add_argument("--kubeconfig", default=None, help="kubeconfig file (default $KUBECONFIG, then $KUBELITE_HOME)")
    p.add_argument("--controllers", default="*", help=f"comma-separated, '*' = all ({','.join(CONTROLLERS)})")
    p.add_argument("--workers", type=int, default=2, help="workers per controller")
    p.add_argument("--leader-elect", action="store_true", help="run only while holding the Lease")
    p.add_argument("--leader-elect-lease-name", default="kube-controller-manager")
    p.add_argument("--leader-elect-lease-duration", type=float, default=15.0, help="seconds")
    p.add_argument("--leader-elect-renew-deadline", type=float, default=10.0, help="seconds")
    p.add_argument("--leader-elect-retry-period", type=float, default=2.0, help="seconds")
    p.add_argument("--identity", default=None, help="leader-election identity (default host_pid)")
    p.add_argument("--health-port", type=int, default=0, help="serve /healthz on 127.0.0.1:PORT (0 = off)")
    p.add_argument("--cloud-provider", default="", choices=["", "lab"],
                   help="lab: run the lab cloud node controller (deletes Nodes whose lab container is gone)")
    p.add_argument("--lab-name", default="", help="with --cloud-provider lab: the lab (compose project) name")
    p.add_argument("--node-silence-s", type=float, default=12.0,
                   help="with --cloud-provider lab: a Lease older than this means the node stopped heartbeating")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--metrics-bind-address", default="",
                   help="HOST:PORT to serve Prometheus /metrics on (empty or port 0: off)")
    d = ControllerOptions()
    p.add_argument("--allocate-node-cidrs", default=d.allocate_node_cidrs, type=_bool,
                   help="node IPAM: give every node a pod CIDR from --cluster-cidr (true/false)")
    p.add_argument("--cluster-cidr", default=d.cluster_cidr, help="the cluster's pod network")
    p.add_argument("--node-cidr-mask-size", default=d.node_cidr_mask_size, type=int,
                   help="prefix length of each node's pod CIDR")
    p.add_argument("--local-path-dir", default=d.local_path_dir,
                   help="node directory of the local-path provisioner's volumes")
    p.add_argument("--local-path-helper-image", default=d.local_path_helper_image,
                   help="image of the helper pod that deletes a volume's directory")
    p.add_argument("--default-storage-class", default=d.default_storage_class,
                   help="default StorageClass created at startup when none exists ('' = none)")
    p.add_argument("--node-monitor-period", default=d.node_monitor_period_s, type=_duration,
                   help="how often node health is checked (seconds or 5s/500ms/1m)")
    p.add_argument("--node-monitor-grace-period", default=d.node_monitor_grace_period_s, type=_duration,
                   help="a node not heard of for this long is marked Unknown")
    p.add_argument("--node-startup-grace-period", default=d.node_startup_grace_period_s, type=_duration,
                   help="the same for a node that never posted Ready")
    p.add_argument("--node-eviction-rate", default=d.node_eviction_rate, type=_rate,
                   help="nodes per second whose pods may be evicted (NoExecute-tainted) in a healthy zone")
    p.add_argument("--secondary-node-eviction-rate", default=d.secondary_node_eviction_rate, type=_rate,
                   help="the same in a large zone with too many unhealthy nodes")
    p.add_argument("--unhealthy-zone-threshold", default=d.unhealthy_zone_threshold, type=_rate,
                   help="fraction of not-Ready nodes making a zone partially disrupted")
    p.add_argument("--large-cluster-size-threshold", default=d.large_cluster_size_threshold, type=int,
                   help="zones with more nodes use the secondary rate when disrupted (others stop evicting)")
    p.add_argument("--lb-pool", default=d.lb_pool,
                   help="CIDR LoadBalancer Services get an address from ('' = the nodes' addresses)")
    p.add_argument("--cluster-signing-cert-file", default=None, help="CA certificate that signs approved CSRs")
    p.add_argument("--cluster-signing-key-file", default=None, help="its private key")
    p.add_argument("--cluster-signing-duration", default=365 * 86400.0, type=_duration,
                   help="longest certificate the CSR signer issues (e.g. 8760h)")
    p.add_argument("--root-ca-file", default=None,
                   help="CA published as kube-root-ca.crt in every namespace (default: the kubeconfig's CA)")
    p.add_argument("--pod-gc-quarantine", default=d.pod_gc_quarantine_s, type=_duration,
                   help="wait before force-deleting pods bound to a vanished node")
    hpa = "--horizontal-pod-autoscaler-"
    p.add_argument(f"{hpa}sync-period", dest="hpa_sync_period", default=d.hpa_sync_period_s, type=_duration,
                   help="how often every HorizontalPodAutoscaler is recomputed")
    p.add_argument(f"{hpa}tolerance", dest="hpa_tolerance", default=d.hpa_tolerance, type=_rate,
                   help="no scaling while the usage ratio is within this of 1.0")
    p.add_argument(f"{hpa}downscale-stabilization", dest="hpa_downscale_stabilization",
                   default=d.hpa_downscale_stabilization_s, type=_duration,
                   help="scale down only to the highest recommendation within this window")
    p.add_argument(f"{hpa}cpu-initialization-period", dest="hpa_cpu_initialization_period",
                   default=d.hpa_cpu_initialization_period_s, type=_duration,
                   help="period after a pod start when CPU samples may be skipped")
    p.add_argument(f"{hpa}initial-readiness-delay", dest="hpa_initial_readiness_delay",
                   default=d.hpa_initial_readiness_delay_s, type=_duration,
                   help="period after a pod start when readiness changes are taken as initial readiness")
    args = p.parse_args(argv)
    if not args.local_path_dir.startswith("/"):
        p.error("--local-path-dir must be an absolute path")
    try:
        ipaddress.ip_network(args.cluster_cidr, strict=False)
    except ValueError as exc:
        p.error(f"--cluster-cidr: {exc}")
    if args.lb_pool:
        try:
            ipaddress.ip_network(args.lb_pool, strict=False)
        except ValueError as exc:
            p.error(f"--lb-pool: {exc}")
    try:
        args.names = resolve_names(args.controllers)
    except ValueError as exc:
        p.error(str(exc))
    if args.cloud_provider == "lab":
        if not args.lab_name:
            p.error("--cloud-provider lab needs --lab-name")
        if args.node_silence_s <= 0:
            p.error("--node-silence-s must be > 0")
        enable_lab_provider(args.lab_name, args.node_silence_s)
        args.names.append(LabCloudNodeController.NAME)
    if args.workers < 1:
        p.error("--workers must be >= 1")
    try:
        args.options = ControllerOptions(
            local_path_dir=args.local_path_dir, local_path_helper_image=args.local_path_helper_image,
            default_storage_class=args.default_storage_class, lb_pool=args.lb_pool,
            allocate_node_cidrs=args.allocate_node_cidrs, cluster_cidr=args.cluster_cidr,
            node_cidr_mask_size=args.node_cidr_mask_size, node_monitor_period_s=args.node_monitor_period,
            node_monitor_grace_period_s=args.node_monitor_grace_period,
            node_startup_grace_period_s=args.node_startup_grace_period, node_eviction_rate=args.node_eviction_rate,
            secondary_node_eviction_rate=args.secondary_node_eviction_rate,
            unhealthy_zone_threshold=args.unhealthy_zone_threshold,
            large_cluster_size_threshold=args.large_cluster_size_threshold,
            pod_gc_quarantine_s=args.pod_gc_quarantine, hpa_sync_period_s=args.hpa_sync_period,
            hpa_tolerance=args.hpa_tolerance, hpa_downscale_stabilization_s=args.hpa_downscale_stabilization,
            hpa_cpu_initialization_period_s=args.hpa_cpu_initialization_period,
            hpa_initial_readiness_delay_s=args.hpa_initial_readiness_delay, root_ca_pem=_root_ca(args),
            signing_ca=_signing_ca(args), cluster_signing_duration_s=args.cluster_signing_duration)
        CidrSet(args.cluster_cidr, args.node_cidr_mask_size)
    except ValueError as exc:
        p.error(str(exc))
    if not args.allocate_node_cidrs and "nodeipam" in args.names:
        args.names.remove("nodeipam")  # as Kubernetes: no IPAM without --allocate-node-cidrs
    if not (args.leader_elect_lease_duration > args.leader_elect_renew_deadline > args.leader_elect_retry_period > 0):
        p.error("need lease duration > renew deadline > retry period > 0")
    return args


async def amain(args: argparse.Namespace) -> int:
    identity = args.identity or f"{socket.gethostname()}_{os.getpid()}"
    client = ApiClient.from_kubeconfig(args.kubeconfig, user_agent="kubelite-controller-manager")
    health = await serve_health(args.health_port) if args.health_port else None
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    assert main_task is not None
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, main_task.cancel)
    lost = False
    try:
        if not args.leader_elect:
            await run_controllers(client, args.names, workers=args.workers, identity=identity,
                                  options=args.options)
            return 0
        elector = LeaderElector(client, args.leader_elect_lease_name, namespace="kube-system", identity=identity,
                                lease_duration_s=args.leader_elect_lease_duration,
                                renew_deadline_s=args.leader_elect_renew_deadline,
                                retry_period_s=args.leader_elect_retry_period)

        async def lead() -> None:
            await run_controllers(client, args.names, workers=args.workers, identity=identity,
                                  options=args.options)

        def stopped() -> None:
            nonlocal lost
            lost = True

        await elector.run(lead, stopped)
        return 1 if lost else 0
    except asyncio.CancelledError:
        log.info("controller-manager stopping")
        return 0
    finally:
        if health is not None:
            health.close()
        await client.aclose()


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    setup_logging(args.log_level)
    prom.serve(args.metrics_bind_address)
    sys.exit(asyncio.run(amain(args)))


if __name__ == "__main__":
    main()
