"""label/annotate and patch on the one fake client: the exact patches sent and lines printed,
and every clash found before anything is written."""

from __future__ import annotations

from typing import Any

import pytest

from cli import label_annotate as la
from cli import patch_replace as pr
from cli.errors import CliError
from cli.session import Globals
from tests.unit.fake_client import FakeClient

Obj = dict[str, Any]


def cm(name: str, labels: dict[str, str] | None = None) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default", "labels": labels or {}}, "data": {"k": "v"}}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeClient:
    client = FakeClient()
    for module in (la, pr):
        monkeypatch.setattr(module, "open_client", lambda g: (client, "default"))
    return client


def test_split_args_reads_sets_and_removals() -> None:
    assert la.split_args(["pods", "a", "b", "x=1", "y-"]) == (["pods", "a", "b"], {"x": "1"}, ["y"])
    with pytest.raises(CliError, match="can not both modify and remove"):
        la.split_args(["pods", "a", "x=1", "x-"])


def test_new_values_refuses_overwrite_and_reports_missing() -> None:
    with pytest.raises(CliError, match=r"^'a' already has a value \(1\), and --overwrite is false$"):
        la.new_values({"a": "1"}, {"a": "2"}, [], field="labels", overwrite=False)
    with pytest.raises(CliError, match="--overwrite is false but found the following declared annotation"):
        la.new_values({"a": "1"}, {"a": "2"}, [], field="annotations", overwrite=False)
    patch, missing = la.new_values({"a": "1", "b": "2"}, {"a": "2", "c": "3"}, ["b", "z"], field="labels",
                                   overwrite=True)
    assert (patch, missing) == ({"a": "2", "c": "3", "b": None}, ["z"])


async def test_label_all_with_selector_patches_each_match(fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    fake.store(cm("a", {"x": "1"}))
    fake.store(cm("b", {"x": "1"}))
    fake.store(cm("c"))
    await la.change_metadata(Globals(), ["configmaps", "y=2"], la.MetaOptions(field="labels", selector="x=1"))
    patches = [c for c in fake.calls if c.verb == "request" and c.kind == "PATCH"]
    assert [(c.name, c.body) for c in patches] == [
        ("/api/v1/namespaces/default/configmaps/a", {"metadata": {"labels": {"y": "2"}}}),
        ("/api/v1/namespaces/default/configmaps/b", {"metadata": {"labels": {"y": "2"}}})]
    assert capsys.readouterr().out == "configmap/a labeled\nconfigmap/b labeled\n"


async def test_a_clash_on_one_object_writes_nothing(fake: FakeClient) -> None:
    fake.store(cm("a"))
    fake.store(cm("b", {"y": "old"}))
    with pytest.raises(CliError):
        await la.change_metadata(Globals(), ["configmaps", "a", "b", "y=new"], la.MetaOptions(field="labels"))
    assert not [c for c in fake.calls if c.kind == "PATCH"]


async def test_unlabel_and_not_labeled(fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    fake.store(cm("a", {"x": "1"}))
    await la.change_metadata(Globals(), ["cm/a", "x-"], la.MetaOptions(field="labels"))
    await la.change_metadata(Globals(), ["cm/a", "x-"], la.MetaOptions(field="labels"))
    assert capsys.readouterr().out == 'configmap/a unlabeled\nlabel "x" not found.\nconfigmap/a not labeled\n'
    assert fake.objects[("ConfigMap", "default", "a")]["metadata"].get("labels", {}) == {}


async def test_patch_sends_the_content_type_of_its_type(fake: FakeClient, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    fake.store(cm("a"))
    sent: list[dict[str, str] | None] = []
    original = fake.request

    async def spy(method: str, path: str, **kw: Any) -> Any:
        sent.append(kw.get("headers"))
        return await original(method, path, **kw)

    monkeypatch.setattr(fake, "request", spy)
    await pr.patch(Globals(), ["configmap", "a"], patch_text="data:\n  k: w", patch_file="", patch_type="merge")
    await pr.patch(Globals(), ["configmap", "a"], patch_text='{"data":{"k":"w"}}', patch_file="",
                   patch_type="merge")
    # the fake writes a new resourceVersion even for a no-op; "(no change)" is checked live
    assert capsys.readouterr().out == "configmap/a patched\nconfigmap/a patched\n"
    assert sent[1] == {"Content-Type": "application/merge-patch+json"}
    with pytest.raises(CliError, match="unable to parse"):
        await pr.patch(Globals(), ["configmap", "a"], patch_text="{bad", patch_file="", patch_type="merge")
    with pytest.raises(CliError, match="--type must be one of"):
        await pr.patch(Globals(), ["configmap", "a"], patch_text="{}", patch_file="", patch_type="xml")
