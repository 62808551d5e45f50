"""tests.cleanup.remove_network on the real Docker engine: endpoints still attached are forced
off the network and the removal succeeds (what the e2e fixture and bench/controllers.py use)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import docker
import docker.errors
import pytest

from tests.cleanup import remove_network

IMAGE = "kubelite/busybox:latest"


@pytest.fixture
def dclient() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    try:
        yield client
    finally:
        client.close()


def test_remove_network_with_attached_endpoints(dclient: docker.DockerClient) -> None:
    name = f"kubelite-cleanup-{random.randrange(10**6):06d}"
    net = dclient.networks.create(name, driver="bridge", labels={"io.kubelite.test": name})
    ctrs = []
    try:
        for i in range(2):
            ctrs.append(dclient.containers.run(IMAGE, ["sleep", "300"], detach=True, network=name,
                                               name=f"{name}-{i}", labels={"io.kubelite.test": name}))
        with pytest.raises(docker.errors.APIError, match="active endpoints"):
            net.remove()  # what the fixture used to do
        remove_network(dclient, name, timeout_s=20)
        assert not [n for n in dclient.networks.list(names=[name]) if n.name == name]
        remove_network(dclient, name)  # absent: nothing to do
    finally:
        for c in ctrs:
            c.remove(force=True)
        for n in dclient.networks.list(names=[name]):
            if n.name == name:
                n.remove()
