"""cli/etcdops.py's object counts on a real etcd: a revision that etcd compacted meanwhile falls back
to the latest one (told by the gRPC status code, not by the error's text)."""

from __future__ import annotations

import aetcd
import pytest

from cli.etcdops import current_revision, object_counts
from tests.support import EtcdProcess

pytestmark = pytest.mark.integration


async def test_counts_at_a_compacted_revision_fall_back_to_the_latest() -> None:
    with EtcdProcess(name="kubelite-etcdops") as etcd:
        async with aetcd.Client(host="127.0.0.1", port=int(etcd.url.rsplit(":", 1)[1])) as client:
            await client.put(b"/registry/pods/default/a", b"{}")
            old = await current_revision(etcd.url)
            assert await object_counts(etcd.url, old) == {"pods": 1}
            await client.put(b"/registry/pods/default/b", b"{}")
            await client.put(b"/registry/configmaps/default/c", b"{}")
            await client.compact(await current_revision(etcd.url))
            assert await object_counts(etcd.url, old) == {"configmaps": 1, "pods": 2}
