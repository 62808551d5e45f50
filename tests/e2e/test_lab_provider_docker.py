"""The lab cloud provider against the real Docker engine: running, stopped and missing
containers found by their lab labels (the full path, Node deletion included, is in test_lab.py)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import docker
import pytest

from controllers.labprovider import LAB_LABEL, LAB_NODE_LABEL, DockerLabProvider

pytestmark = pytest.mark.e2e


@pytest.fixture
def lab_name() -> Iterator[str]:
    name = f"kltest-{random.randrange(16**6):06x}"
    client = docker.from_env()
    try:
        yield name
    finally:
        for c in client.containers.list(all=True, filters={"label": f"{LAB_LABEL}={name}"}):
            c.remove(force=True)
        client.close()


def test_instance_state_follows_the_container(lab_name: str) -> None:
    client = docker.from_env()
    provider = DockerLabProvider(lab_name)
    assert provider.instance_state("node1") == "missing"
    c = client.containers.run("kubelite/busybox:latest", ["sleep", "600"], detach=True, network_mode="none",
                              labels={LAB_LABEL: lab_name, LAB_NODE_LABEL: "node1"})
    assert provider.instance_state("node1") == "running"
    assert provider.instance_state("node2") == "missing"
    assert DockerLabProvider("another-lab").instance_state("node1") == "missing"
    c.stop(timeout=1)
    assert provider.instance_state("node1") == "stopped"
    c.remove(force=True)
    assert provider.instance_state("node1") == "missing"
