"""`image load`: planning which nodes get the image, against a fake Docker engine."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from cli import image as image_mod
from cli.main import app
from cli.session import Globals


class FakeEngine:
    def __init__(self, images: set[str], lab: dict[str, str] | None = None) -> None:
        self.images = images
        self.lab = lab or {}
        self.loads: list[tuple[str, str]] = []

    def has_image(self, image: str) -> bool:
        return image in self.images

    def lab_nodes(self, labs: set[str] | None = None) -> dict[str, str]:
        return dict(self.lab)

    def load_into(self, image: str, container: str) -> None:
        self.loads.append((image, container))


def node(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}}


def test_plan_skips_hollow_nodes_and_sends_lab_nodes_through_their_container() -> None:
    nodes = [node("host1"), node("hollow-0", **{"kubelite.io/hollow": "true"}), node("lab-a")]
    steps = image_mod.plan(nodes, {"lab-a": "kl-lab-a", "lab-b": "kl-lab-b"}, "me")
    assert steps == [image_mod.Step("lab-a", "kl-lab-a"), image_mod.Step("lab-b", "kl-lab-b"),
                     image_mod.Step("host1", None)]
    assert image_mod.plan(None, {}, "me") == [image_mod.Step("me", None)]
    assert image_mod.plan([node("hollow-0", **{"kubelite.io/hollow": "true"})], {}, "me") == [
        image_mod.Step("me", None)]


@pytest.fixture
def no_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    async def none(g: Globals) -> None:
        return None
    monkeypatch.setattr(image_mod, "registered_nodes", none)
    monkeypatch.setattr("cli.image.socket.gethostname", lambda: "thishost")


def test_load_reports_local_node_and_loads_lab_nodes(no_cluster: None, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = FakeEngine({"a:1", "b:1"}, {"lab-a": "kl-lab-a"})
    monkeypatch.setattr(image_mod, "DockerEngine", lambda: engine)
    r = CliRunner().invoke(app, ["image", "load", "a:1", "b:1"])
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == ['image "a:1" loaded into node "lab-a"', 'image "b:1" loaded into node "lab-a"']
    assert engine.loads == [("a:1", "kl-lab-a"), ("b:1", "kl-lab-a")]
    engine.lab = {}
    r = CliRunner().invoke(app, ["image", "load", "a:1"])
    assert (r.exit_code, r.stdout) == (0, 'image "a:1" is available on node "thishost"\n')


def test_missing_image_fails_before_anything_is_loaded(no_cluster: None, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = FakeEngine({"a:1"}, {"lab-a": "kl-lab-a"})
    monkeypatch.setattr(image_mod, "DockerEngine", lambda: engine)
    r = CliRunner().invoke(app, ["image", "load", "a:1", "nope:1"])
    assert r.exit_code == 1 and engine.loads == []
    assert ('error: image "nope:1" not found in the local Docker engine; build it first '
            "(docker build / docker import)") in r.stderr


def test_lab_names_come_from_provider_ids() -> None:
    nodes = [{"metadata": {"name": "node1"}, "spec": {"providerID": "lab://a/node1"}},
             {"metadata": {"name": "node2"}, "spec": {"providerID": "lab://b/node2"}},
             {"metadata": {"name": "host"}, "spec": {}}]
    assert image_mod.lab_names(nodes) == {"a", "b"}
    assert image_mod.lab_names([{"metadata": {"name": "host"}}]) == set()
    assert image_mod.lab_names(None) is None
