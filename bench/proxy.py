"""Benchmark: the iptables proxy at 1,000 / 5,000 / 10,000 Services (3 endpoints each).

What it prints, per size:
- sync cost in-process: `render` (pure Python), the full `iptables-restore` of every chain, and
  a partial sync after one endpoint change (render + diff + restore of the changed chains);
- the time from an EndpointSlice change written to the API server until the new rule is in the
  kernel, through a real `python -m proxy` process (watch -> sync loop -> iptables-restore),
  polled with `iptables -t nat -S <the new endpoint's chain>` (median of several changes),
  beside Kubernetes' published iptables-mode figures for the same sizes (about 1.3 s / 6.5 s /
  9.5 s to program a change) and the ratio ours / Kubernetes.

- NetworkPolicy programming at 100 / 1,000 policies (100 local pods, 1,000 Services beside
  them), in the same run: the in-process render + full restore of the policy chains, and the
  time from a NetworkPolicy written to the API server until its chain is in the kernel through
  the same kind of `python -m proxy` process; beside it, measured in that same process, the
  Services-only figure (an EndpointSlice change to its rule, before any policy exists) and the
  ratio policy / Services-only.

    .venv/bin/python bench/proxy.py            # 1k, 5k, 10k (about 2-4 minutes)
    .venv/bin/python bench/proxy.py --quick    # 200 and 1,000 only
    .venv/bin/python bench/proxy.py --policies-only

Safety: every chain gets a random prefix and NO jump from the built-in chains is installed
(`--skip-hooks`), so the made-up Services cannot affect any traffic; no packet is sent. All
chains are removed at the end, also after a failure or Ctrl-C. Needs root (iptables).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from machinery.client import ApiClient  # noqa: E402
from machinery.models import (  # noqa: E402
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
    EndpointSlice,
    Namespace,
    NetworkPolicy,
    Pod,
    Service,
)
from proxy.iptables import Iptables, PolicyIptables, cleanup_all  # noqa: E402
from proxy.netpol_render import render_policies  # noqa: E402
from proxy.render import ProxyConfig, render, restore_text  # noqa: E402
from tests.support import EtcdProcess, apiserver_process, stop_process_group, write_test_kubeconfig  # noqa: E402

K8S_S = {1000: 1.3, 5000: 6.5, 10000: 9.5}  # Kubernetes iptables mode, seconds to program a change
NS = "bench-proxy"
CONCURRENCY = 64


def service(i: int) -> Service:
    return Service.from_dict({"metadata": {"name": f"svc-{i}", "namespace": NS}, "spec": {
        "clusterIP": f"10.96.{100 + i // 250}.{2 + i % 250}",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}})


def endpoints(i: int, gen: int = 0) -> EndpointSlice:
    """Service i's one EndpointSlice (what the proxy reads), 3 ready endpoints."""
    base = (i * 3) % 60000
    ips = [f"10.244.{(base + k) // 250 % 250}.{2 + (base + k) % 250}" for k in range(3)]
    if gen:
        ips[0] = f"10.245.{gen // 250 % 250}.{2 + gen % 250}"  # a new address nobody else uses
    return EndpointSlice.from_dict({
        "metadata": {"name": f"svc-{i}-bench", "namespace": NS,
                     "labels": {SERVICE_NAME_LABEL: f"svc-{i}", MANAGED_BY_LABEL: "bench"}},
        "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips]})


def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def in_process(n: int) -> dict[str, float]:
    cfg = ProxyConfig(prefix=f"KLB{uuid.uuid4().hex[:5].upper()}")
    ipt = Iptables(cfg.prefix)
    svcs = [service(i) for i in range(n)]
    eps = [endpoints(i) for i in range(n)]
    try:
        rules, render_s = timed(render, svcs, eps, cfg)
        text = restore_text(rules, None)
        assert text is not None
        _, full_s = timed(ipt.restore, text)
        eps[n // 2] = endpoints(n // 2, gen=1)
        t = time.perf_counter()
        new = render(svcs, eps, cfg)
        partial = restore_text(new, rules)
        assert partial is not None
        ipt.restore(partial)
        partial_s = time.perf_counter() - t
        _, save_s = timed(ipt.save, "nat")
        return {"rules": rules.rule_count(), "render": render_s, "full_restore": full_s,
                "partial": partial_s, "partial_lines": partial.count("\n"), "save": save_s}
    finally:
        ipt.cleanup()


@contextlib.contextmanager
def running_proxy(kubeconfig: Path, node: str, prefix: str, workdir: Path) -> Iterator[None]:
    """`python -m proxy` for NS only (no hooks: nothing is routed to its rules); on exit it is
    stopped with its process group and every chain of `prefix` is removed."""
    with open(workdir / "proxy.log", "wb") as log:
        proxy = subprocess.Popen(
            [sys.executable, "-m", "proxy", "--kubeconfig", str(kubeconfig), "--node-name", node,
             "--chain-prefix", prefix, "--namespace", NS, "--skip-hooks"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield
    finally:
        stop_process_group(proxy, 60.0)
        cleanup_all(prefix)


@contextlib.asynccontextmanager
async def api_session(workdir: Path) -> AsyncIterator[ApiClient]:
    """etcd + an API server of their own, a client of it (its kubeconfig at workdir/kubeconfig)
    and the namespace NS."""
    with EtcdProcess(name="kubelite-bench-proxy") as etcd:
        async with apiserver_process(etcd.url, workdir / "apiserver.log") as (url, _), ApiClient.from_kubeconfig(
                str(write_test_kubeconfig(workdir / "kubeconfig", url)), timeout_s=60) as client:
            await client.request("POST", "/api/v1/namespaces", json={"metadata": {"name": NS}})
            yield client


async def create_many(client: ApiClient, objs: list[Any]) -> None:
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(obj: Any) -> None:
        async with sem:
            await client.create(obj, namespace=NS)

    await asyncio.gather(*(one(o) for o in objs))


def chain_exists(chain: str, table: str = "nat") -> bool:
    return subprocess.run(["iptables", "-w", "5", "-t", table, "-S", chain], capture_output=True).returncode == 0


async def wait_chain(chain: str, timeout_s: float, table: str = "nat") -> float:
    t = time.perf_counter()
    while not await asyncio.to_thread(chain_exists, chain, table):
        if time.perf_counter() - t > timeout_s:
            raise TimeoutError(f"{chain} did not appear within {timeout_s}s")
        await asyncio.sleep(0.005)
    return time.perf_counter() - t


async def endpoint_changes(client: ApiClient, cfg: ProxyConfig, n: int, changes: int, first_gen: int) -> list[float]:
    """`changes` times: a new address in the EndpointSlice of one of the first `n` Services ->
    seconds until its SEP chain is in the kernel; each change alone (past min-sync-period)."""
    lat: list[float] = []
    for k in range(changes):
        i = (k * 7919) % n
        ep = endpoints(i, first_gen + k)
        current = await client.get(EndpointSlice, ep.name, namespace=NS)
        ep.metadata.resourceVersion = current.resource_version
        new_ip = (ep.endpoints or [])[0].addresses[0]
        chain = cfg.hashed("SEP", f"{NS}/svc-{i}:http" + "tcp" + f"{new_ip}:8080")
        t = time.perf_counter()
        await client.replace(ep)
        await wait_chain(chain, timeout_s=120)
        lat.append(time.perf_counter() - t)
        await asyncio.sleep(1.1)  # past min-sync-period: each change is measured alone
    return lat


async def through_api(sizes: list[int], changes: int, workdir: Path) -> dict[int, list[float]]:
    results: dict[int, list[float]] = {}
    prefix = f"KLA{uuid.uuid4().hex[:5].upper()}"
    cfg = ProxyConfig(prefix=prefix)
    async with api_session(workdir) as client:
        with running_proxy(workdir / "kubeconfig", "bench", prefix, workdir):
            have = 0
            for n in sizes:
                print(f"  creating services {have}..{n - 1} through the API ...", flush=True)
                await create_many(client, [service(i) for i in range(have, n)])
                await create_many(client, [endpoints(i) for i in range(have, n)])
                have = n
                last = cfg.hashed("SVC", f"{NS}/svc-{n - 1}:http" + "tcp")
                await wait_chain(last, timeout_s=300)
                await asyncio.sleep(2.0)  # let the proxy settle after the bulk load
                results[n] = await endpoint_changes(client, cfg, n, changes, first_gen=1 + changes * len(results))
    return results


POLICY_PODS = 100
POLICY_SERVICES = 1000
NODE = "bench"


def bench_pod(j: int) -> Pod:
    """A pod of this node with an address no real pod uses (only rules are written, no traffic)."""
    return Pod.from_dict({
        "metadata": {"name": f"pod-{j}", "namespace": NS, "labels": {"app": f"app-{j % 20}", "role": f"client-{j % 10}"}},
        "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "none", "ports": [
            {"name": "http", "containerPort": 8080}]}]},
        "status": {"phase": "Running", "podIP": f"10.246.{j // 250}.{2 + j % 250}"}})


def bench_policy(i: int, name: str | None = None) -> NetworkPolicy:
    """Ingress from one client role on a port (every second one also an egress rule to an ipBlock
    with an except, UDP 53): each selects the 5 pods of one app."""
    spec: dict[str, Any] = {
        "podSelector": {"matchLabels": {"app": f"app-{i % 20}"}},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": f"client-{i % 10}"}}}],
                     "ports": [{"protocol": "TCP", "port": 8000 + i % 1000}, {"protocol": "TCP", "port": "http"}]}]}
    if i % 2:
        spec["policyTypes"] = ["Ingress", "Egress"]
        spec["egress"] = [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                           "ports": [{"protocol": "UDP", "port": 53}]}]
    return NetworkPolicy.from_dict({"metadata": {"name": name or f"np-{i}", "namespace": NS}, "spec": spec})


def policies_in_process(n: int) -> dict[str, float]:
    cfg = ProxyConfig(prefix=f"KLP{uuid.uuid4().hex[:5].upper()}", node_name=NODE)
    ipt = PolicyIptables(cfg.prefix)
    pods = [bench_pod(j) for j in range(POLICY_PODS)]
    nss = [Namespace.from_dict({"metadata": {"name": NS}})]
    try:
        rules, render_s = timed(render_policies, [bench_policy(i) for i in range(n)], pods, nss, cfg)
        text = restore_text(rules, None)
        assert text is not None
        _, full_s = timed(ipt.restore, text)
        return {"rules": rules.rule_count(), "render": render_s, "full_restore": full_s}
    finally:
        ipt.cleanup()


async def policies_through_api(sizes: list[int], changes: int, workdir: Path) -> dict[str, list[float]]:
    """Services-only latency first (no policy yet), then policy latency at each size; one proxy."""
    results: dict[str, list[float]] = {}
    prefix = f"KLQ{uuid.uuid4().hex[:5].upper()}"
    cfg = ProxyConfig(prefix=prefix)
    async with api_session(workdir) as client:
        print(f"  creating {POLICY_SERVICES} services and {POLICY_PODS} pods through the API ...", flush=True)
        await create_many(client, [service(i) for i in range(POLICY_SERVICES)])
        await create_many(client, [endpoints(i) for i in range(POLICY_SERVICES)])
        await create_many(client, [bench_pod(j) for j in range(POLICY_PODS)])
        sem = asyncio.Semaphore(CONCURRENCY)

        async def set_status(j: int) -> None:
            async with sem:
                await client.patch(Pod, f"pod-{j}", {"status": bench_pod(j).to_dict()["status"]},
                                   namespace=NS, subresource="status")

        await asyncio.gather(*(set_status(j) for j in range(POLICY_PODS)))
        with running_proxy(workdir / "kubeconfig", NODE, prefix, workdir):
            await wait_chain(cfg.hashed("SVC", f"{NS}/svc-{POLICY_SERVICES - 1}:http" + "tcp"), timeout_s=300)
            await asyncio.sleep(2.0)
            results["services"] = await endpoint_changes(client, cfg, POLICY_SERVICES, changes, first_gen=1)
            have = 0
            for n in sizes:
                print(f"  creating policies {have}..{n - 1} through the API ...", flush=True)
                await create_many(client, [bench_policy(i) for i in range(have, n)])
                have = n
                await wait_chain(cfg.hashed("NPP", f"{NS}/np-{n - 1}/Ingress"), timeout_s=300, table="filter")
                await asyncio.sleep(2.0)
                lat: list[float] = []
                for k in range(changes):
                    name = f"probe-{n}-{k}"
                    chain = cfg.hashed("NPP", f"{NS}/{name}/Ingress")
                    t = time.perf_counter()
                    await client.create(bench_policy(k, name), namespace=NS)
                    await wait_chain(chain, timeout_s=120, table="filter")
                    lat.append(time.perf_counter() - t)
                    await asyncio.sleep(1.1)
                results[str(n)] = lat
    return results


def report_policies(sizes: list[int], changes: int, skip_api: bool) -> None:
    print(f"\nNetworkPolicy, in-process (render + full restore; {POLICY_PODS} local pods):")
    print(f"{'policies':>9} {'rules':>7} {'render s':>9} {'full restore s':>15}")
    for n in sizes:
        r = policies_in_process(n)
        print(f"{n:>9} {int(r['rules']):>7} {r['render']:>9.3f} {r['full_restore']:>15.3f}", flush=True)
    if skip_api:
        return
    print(f"\nNetworkPolicy written to the API server -> its chain in the kernel (python -m proxy, "
          f"{POLICY_SERVICES} Services, {POLICY_PODS} pods), beside the Services-only figure of the same process:")
    with tempfile.TemporaryDirectory(prefix="kubelite-bench-netpol-") as tmp:
        lat = asyncio.run(policies_through_api(sizes, changes, Path(tmp)))
    base = statistics.median(lat["services"])
    print(f"{'policies':>9} {'policy p50 s':>13} {'policy max s':>13} {'services-only p50 s':>20} {'ratio':>7}")
    for n in sizes:
        med, worst = statistics.median(lat[str(n)]), max(lat[str(n)])
        print(f"{n:>9} {med:>13.3f} {worst:>13.3f} {base:>20.3f} {med / base:>7.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="200 and 1,000 Services only")
    ap.add_argument("--changes", type=int, default=5, help="endpoint changes timed per size")
    ap.add_argument("--skip-api", action="store_true", help="only the in-process sync figures")
    ap.add_argument("--policies-only", action="store_true", help="only the NetworkPolicy figures")
    ap.add_argument("--skip-policies", action="store_true", help="no NetworkPolicy figures")
    args = ap.parse_args()
    policy_sizes = [100, 1000]
    if args.policies_only:
        report_policies(policy_sizes, args.changes, args.skip_api)
        return
    sizes = [200, 1000] if args.quick else [1000, 5000, 10000]
    print("in-process sync (render + iptables-restore), 3 endpoints per Service:")
    print(f"{'services':>9} {'rules':>7} {'render s':>9} {'full restore s':>15} {'1-change sync s':>16} "
          f"{'lines':>6} {'save s':>7}")
    for n in sizes:
        r = in_process(n)
        print(f"{n:>9} {int(r['rules']):>7} {r['render']:>9.3f} {r['full_restore']:>15.3f} {r['partial']:>16.3f} "
              f"{int(r['partial_lines']):>6} {r['save']:>7.3f}", flush=True)
    if args.skip_api:
        if not args.skip_policies:
            report_policies(policy_sizes, args.changes, skip_api=True)
        return
    print("\nendpoint change written to the API server -> rule in the kernel (python -m proxy):")
    with tempfile.TemporaryDirectory(prefix="kubelite-bench-proxy-") as tmp:
        lat = asyncio.run(through_api(sizes, args.changes, Path(tmp)))
    print(f"{'services':>9} {'ours p50 s':>11} {'ours max s':>11} {'k8s s':>7} {'ours/k8s':>9}")
    for n in sizes:
        med, worst = statistics.median(lat[n]), max(lat[n])
        k8s = K8S_S.get(n)
        ratio = f"{med / k8s:>9.3f}" if k8s else f"{'-':>9}"
        print(f"{n:>9} {med:>11.3f} {worst:>11.3f} {k8s if k8s else '-':>7} {ratio}")
    if not args.skip_policies:
        report_policies(policy_sizes, args.changes, args.skip_api)


if __name__ == "__main__":
    main()
