"""The API server on a 3-member etcd cluster (`--etcd-servers a,b,c`): each member in turn is
SIGKILLed while clients write and an informer watches; every acknowledged write is there
afterwards and the watch saw it, because the storage balances over the live members and the
watch cache resumes its etcd watch on another member from its revision + 1."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from apiserver.storage.etcdchannel import channel_target
from machinery.client import ApiClient
from machinery.informer import Informer
from machinery.models import ConfigMap, Namespace
from tests.integration.conftest import ApiServerProcess
from tests.support import EtcdCluster, wait_until

pytestmark = pytest.mark.integration


def test_channel_target_balances_only_several_endpoints() -> None:
    assert channel_target(["http://127.0.0.1:2379"]) == ("127.0.0.1:2379", False)
    assert channel_target(["http://127.0.0.1:1", "127.0.0.1:2", "http://localhost:3"]) == (
        "ipv4:127.0.0.1:1,127.0.0.1:2,127.0.0.1:3", True)
    with pytest.raises(ValueError, match="no etcd endpoint"):
        channel_target([])


async def test_writes_and_watches_survive_each_member_being_killed(
        apiserver_factory: Callable[..., ApiServerProcess]) -> None:
    with EtcdCluster(3) as etcd:
        server = apiserver_factory(etcd.urls)
        ns = "failover"
        acked: dict[str, str] = {}
        async with ApiClient.from_kubeconfig(server.kubeconfig) as c:
            await c.create(Namespace.model_validate({"metadata": {"name": ns}}))
            inf: Informer[ConfigMap] = Informer(c, ConfigMap, namespace=ns)
            task = asyncio.create_task(inf.run())
            try:
                await inf.wait_synced(timeout_s=30)

                async def write(n: int) -> None:
                    name = f"cm-{n}"
                    obj = await c.create(ConfigMap.model_validate({"metadata": {"name": name}, "data": {"n": str(n)}}),
                                         namespace=ns)
                    acked[name] = obj.resource_version or ""

                n = 0
                for victim in etcd.members:
                    victim.kill()
                    for _ in range(10):  # the client retries the 503s of requests caught on the dead member
                        await write(n)
                        n += 1
                    await asyncio.to_thread(victim.start)  # rejoins with its data before the next one dies
                got = {cm.name: cm.resource_version for cm in (await c.list(ConfigMap, namespace=ns)).items}
                assert got == acked
                await wait_until(lambda: {o.name for o in inf.list()} == set(acked), timeout_s=30)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
