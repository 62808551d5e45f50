"""scale, rollout (status/history/undo/pause/resume/restart), set image/resources against the
fake clientset (tests/unit/fake_client.py): the exact requests sent and the exact lines printed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import rollout as rollout_mod
from cli import rollout_status, set_cmd
from cli import scale as scale_mod
from cli.main import app
from machinery import errors
from machinery.models import Deployment, ReplicaSet
from tests.unit.fake_client import FakeClient

Obj = dict[str, Any]
DEPLOY = "/apis/apps/v1/namespaces/ns1/deployments"


def deployment(name: str = "web", *, image: str = "img:2", replicas: int = 3, paused: bool = False,
               generation: int = 2, observed: int = 2, status: Obj | None = None,
               annotations: Obj | None = None) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "ns1", "uid": "u-web", "resourceVersion": "10",
                         "generation": generation, "annotations": annotations or {}},
            "spec": {"replicas": replicas, "paused": paused, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "main", "image": image},
                                                          {"name": "side", "image": "side:1"}]}}},
            "status": {"observedGeneration": observed, **(status or {})}}


def replicaset(rev: int, image: str, *, owner: str = "u-web", cause: str | None = None) -> Obj:
    ann = {"deployment.kubernetes.io/revision": str(rev), "extra": f"x{rev}"}
    if cause:
        ann["kubernetes.io/change-cause"] = cause
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"web-{rev}", "namespace": "ns1", "annotations": ann,
                         "ownerReferences": [{"apiVersion": "apps/v1", "uid": owner, "controller": True,
                                              "kind": "Deployment", "name": "web"}]},
            "spec": {"template": {"metadata": {"labels": {"app": "web", "pod-template-hash": f"h{rev}"}},
                                  "spec": {"containers": [{"name": "main", "image": image},
                                                          {"name": "side", "image": "side:1"}]}}}}


Write = tuple[str, str, Any, dict[str, str] | None]


def writes(fake: FakeClient) -> list[Write]:
    """The raw writes the CLI sent: (method, path, body, headers)."""
    return [(c.kind, c.name, c.body, c.headers) for c in fake.calls_of("request") if c.kind != "GET"]


def gets(fake: FakeClient) -> list[str]:
    return [c.name for c in fake.calls_of("request", "GET")]


def store(fake: FakeClient, *objs: Obj, kind: str = "Deployment") -> None:
    """Objects as they are on the server (keeping their resourceVersion)."""
    for obj in objs:
        fake.store(obj, kind=kind, keep_rv=True)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeClient:
    client = FakeClient("ns1")
    for mod in (scale_mod, rollout_status, rollout_mod, set_cmd):
        monkeypatch.setattr(mod, "open_client", lambda g: (client, g.namespace or "default"))
    monkeypatch.setattr(rollout_status, "RESUME_DELAY_S", 0.0)
    return client


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, ["-n", "ns1", *args])


# --- scale ----------------------------------------------------------------------------------

def test_scale_sends_a_merge_patch_to_the_scale_subresource(fake: FakeClient) -> None:
    store(fake, deployment())
    store(fake, {**replicaset(1, "img:1"), "metadata": {"name": "front", "namespace": "ns1"}}, kind="ReplicaSet")
    r = cli("scale", "deploy/web", "rs/front", "--replicas", "5")
    assert (r.exit_code, r.stdout) == (0, "deployment.apps/web scaled\nreplicaset.apps/front scaled\n"), r.output
    assert writes(fake) == [
        ("PATCH", f"{DEPLOY}/web/scale", {"spec": {"replicas": 5}}, {"Content-Type": "application/merge-patch+json"}),
        ("PATCH", "/apis/apps/v1/namespaces/ns1/replicasets/front/scale", {"spec": {"replicas": 5}},
         {"Content-Type": "application/merge-patch+json"})]


def test_scale_with_current_replicas_puts_the_scale_it_read_or_refuses(fake: FakeClient) -> None:
    store(fake, {"kind": "StatefulSet", "apiVersion": "apps/v1",
                 "metadata": {"name": "db", "namespace": "ns1", "resourceVersion": "7"},
                 "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "db"}}, "serviceName": "db",
                          "template": {"metadata": {"labels": {"app": "db"}},
                                       "spec": {"containers": [{"name": "c", "image": "img"}]}}}},
          kind="StatefulSet")
    r = cli("scale", "statefulset", "db", "--replicas", "4", "--current-replicas", "3")
    assert r.exit_code == 1 and "error: Expected replicas to be 3, was 2" in r.stderr
    assert writes(fake) == []
    r = cli("scale", "sts", "db", "--replicas", "4", "--current-replicas", "2")
    assert (r.exit_code, r.stdout) == (0, "statefulset.apps/db scaled\n"), r.output
    (method, path, body, _), = writes(fake)
    assert (method, path) == ("PUT", "/apis/apps/v1/namespaces/ns1/statefulsets/db/scale")
    assert body["metadata"]["resourceVersion"] == "7" and body["spec"]["replicas"] == 4
    assert fake.objects[("StatefulSet", "ns1", "db")]["spec"]["replicas"] == 4


def test_scale_rejects_unscalable_kinds_and_missing_replicas(fake: FakeClient) -> None:
    r = cli("scale", "pod/x", "--replicas", "2")
    assert r.exit_code == 1 and "scale is not supported for pod" in r.stderr
    r = cli("scale", "deploy/web")
    assert r.exit_code == 1 and "--replicas=COUNT" in r.stderr
    assert fake.calls_of("request") == []


# --- rollout status -------------------------------------------------------------------------

def test_deployment_status_lines_follow_kubectl() -> None:
    d = deployment(status={"updatedReplicas": 1, "replicas": 3})
    assert rollout_status.deployment_status(d) == (
        'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...', False)
    d = deployment(status={"updatedReplicas": 3, "replicas": 4})
    assert rollout_status.deployment_status(d)[0].endswith(": 1 old replicas are pending termination...")
    d = deployment(status={"updatedReplicas": 3, "replicas": 3, "availableReplicas": 2})
    assert rollout_status.deployment_status(d)[0].endswith(": 2 of 3 updated replicas are available...")
    d = deployment(status={"updatedReplicas": 3, "replicas": 3, "availableReplicas": 3})
    assert rollout_status.deployment_status(d) == ('deployment "web" successfully rolled out', True)
    # A newer spec not yet seen by the controller is not judged, even if the counts look done.
    d = deployment(generation=3, observed=2, status={"updatedReplicas": 3, "replicas": 3, "availableReplicas": 3})
    assert rollout_status.deployment_status(d) == ("Waiting for deployment spec update to be observed...", False)


def test_progress_deadline_and_revision_pin_are_errors() -> None:
    stuck = deployment(status={"conditions": [{"type": "Progressing", "status": "False",
                                               "reason": "ProgressDeadlineExceeded"}]})
    with pytest.raises(Exception, match='deployment "web" exceeded its progress deadline'):
        rollout_status.deployment_status(stuck)
    d = deployment(annotations={"deployment.kubernetes.io/revision": "4"})
    with pytest.raises(Exception, match=r"desired revision \(2\) is different from the running revision \(4\)"):
        rollout_status.deployment_status(d, 2)


def test_statefulset_and_daemonset_status() -> None:
    sts: Obj = {"metadata": {"name": "db", "generation": 1}, "spec": {"replicas": 3},
           "status": {"observedGeneration": 1, "readyReplicas": 1, "updateRevision": "r2", "currentRevision": "r1"}}
    assert rollout_status.statefulset_status(sts) == ("Waiting for 2 pods to be ready...", False)
    sts["status"].update(readyReplicas=3, updatedReplicas=3)
    assert rollout_status.statefulset_status(sts)[1] is False
    sts["status"].update(currentRevision="r2", currentReplicas=3)
    assert rollout_status.statefulset_status(sts) == ("statefulset rolling update complete 3 pods at revision r2...",
                                                      True)
    ds = {"metadata": {"name": "agent", "generation": 1},
          "status": {"observedGeneration": 1, "desiredNumberScheduled": 2, "updatedNumberScheduled": 2,
                     "numberAvailable": 1}}
    assert rollout_status.daemonset_status(ds) == (
        'Waiting for daemon set "agent" rollout to finish: 1 of 2 updated pods are available...', False)


def test_rollout_status_prints_each_new_line_of_a_scripted_watch(fake: FakeClient) -> None:
    store(fake, deployment(generation=3, observed=2))
    step = [deployment(status={"updatedReplicas": 1, "replicas": 3}),
            deployment(status={"updatedReplicas": 1, "replicas": 3}),   # same line: not repeated
            deployment(status={"updatedReplicas": 3, "replicas": 4}),
            deployment(status={"updatedReplicas": 3, "replicas": 3, "availableReplicas": 2}),
            deployment(status={"updatedReplicas": 3, "replicas": 3, "availableReplicas": 3})]
    for i, d in enumerate(step):
        d["metadata"]["resourceVersion"] = str(20 + i)
    # The first watch ends (server timeout) after a bookmark: the second resumes from it.
    fake.script_watch(("MODIFIED", step[0]), ("MODIFIED", step[1]), ("BOOKMARK", {"metadata": {"resourceVersion": "30"}}))
    fake.script_watch(("MODIFIED", step[2]), ("MODIFIED", step[3]), ("MODIFIED", step[4]),
                      ("MODIFIED", deployment(image="never-read")))
    r = cli("rollout", "status", "deployment/web")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        "Waiting for deployment spec update to be observed...",
        'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...',
        'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...',
        'Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are available...',
        'deployment "web" successfully rolled out']
    assert [p["resource_version"] for p in fake.watch_calls] == ["10", "30"]
    assert fake.watch_calls[0]["field_selector"] == "metadata.name=web"


def test_rollout_status_relists_after_410_and_fails_on_deadline(fake: FakeClient) -> None:
    store(fake, deployment(status={"updatedReplicas": 1, "replicas": 3}))
    later = deployment(status={"updatedReplicas": 3, "replicas": 3, "availableReplicas": 1})
    stuck = deployment(status={"conditions": [{"type": "Progressing", "status": "False",
                                               "reason": "ProgressDeadlineExceeded"}]})
    # A change the watch misses, a 410, then a dropped connection, then the deadline: each
    # failure relists (and sees the change) before watching again.
    fake.script_watch(lambda: fake.store(later, kind="Deployment"), errors.Expired("too old"))
    fake.script_watch(errors.ConnectionFailed("reset"))
    fake.script_watch(("MODIFIED", stuck))
    r = cli("rollout", "status", "deploy/web")
    assert r.exit_code == 1
    assert r.stdout.splitlines()[-1].endswith("1 of 3 updated replicas are available...")
    assert 'error: deployment "web" exceeded its progress deadline' in r.stderr
    relisted = str(fake.rv)  # the list's resourceVersion: the fake's latest write (`later`)
    assert [p["resource_version"] for p in fake.watch_calls] == ["10", relisted, relisted]
    assert gets(fake) == [f"{DEPLOY}/web", DEPLOY, DEPLOY]


def test_rollout_status_no_watch_deleted_and_timeout(fake: FakeClient, monkeypatch: pytest.MonkeyPatch) -> None:
    store(fake, deployment(status={"updatedReplicas": 1, "replicas": 3}))
    r = cli("rollout", "status", "deploy/web", "--watch=false")
    assert (r.exit_code, len(r.stdout.splitlines())) == (0, 1) and fake.watch_calls == []
    fake.script_watch(("DELETED", deployment()))
    r = cli("rollout", "status", "deploy/web")
    assert r.exit_code == 1 and "error: object has been deleted" in r.stderr

    async def hang(cls: Any, **kw: Any) -> AsyncIterator[Any]:
        import asyncio
        await asyncio.sleep(30)
        yield None

    monkeypatch.setattr(fake, "watch", hang)
    r = cli("rollout", "status", "deploy/web", "--timeout", "1s")
    assert r.exit_code == 1 and "error: timed out waiting for the condition" in r.stderr
    r = cli("rollout", "status", "pod/x")
    assert r.exit_code == 1 and "rollout status is not supported for pod" in r.stderr


# --- history / undo -------------------------------------------------------------------------

def history_setup(fake: FakeClient, **kw: Any) -> None:
    store(fake, deployment(**kw))
    store(fake, replicaset(1, "img:1", cause="first"), replicaset(3, "img:3"), replicaset(2, "img:2"),
          replicaset(9, "other", owner="someone-else"), kind="ReplicaSet")


def test_history_table_and_one_revision(fake: FakeClient) -> None:
    history_setup(fake)
    r = cli("rollout", "history", "deployment/web")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == ["deployment.apps/web", "REVISION  CHANGE-CAUSE", "1         first",
                                     "2         <none>", "3         <none>"]
    r = cli("rollout", "history", "deployment/web", "--revision", "1")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert out.startswith("deployment.apps/web with revision #1\nPod Template:\n")
    assert "pod-template-hash=h1" in out and "kubernetes.io/change-cause: first" in out and "img:1" in out
    r = cli("rollout", "history", "deployment/web", "--revision", "9")
    assert r.exit_code == 1 and "unable to find the specified revision" in r.stderr


def test_undo_patches_the_previous_template_without_hash_and_merges_annotations(fake: FakeClient) -> None:
    history_setup(fake, image="img:3", annotations={"deployment.kubernetes.io/revision": "3", "mine": "keep?"})
    r = cli("rollout", "undo", "deployment/web")
    assert (r.exit_code, r.stdout) == (0, "deployment.apps/web rolled back\n"), r.output
    (method, path, body, headers), = writes(fake)
    assert (method, path, headers) == ("PATCH", f"{DEPLOY}/web", {"Content-Type": "application/json-patch+json"})
    assert body[0] == {"op": "replace", "path": "/spec/template",
                       "value": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"containers": [{"name": "main", "image": "img:2"},
                                                         {"name": "side", "image": "side:1"}]}}}
    # kubectl keeps the Deployment's own revision bookkeeping, takes the RS's other annotations,
    # and drops the Deployment's other annotations.
    assert body[1] == {"op": "add", "path": "/metadata/annotations",
                       "value": {"deployment.kubernetes.io/revision": "3", "extra": "x2"}}
    fake.calls.clear()
    r = cli("rollout", "undo", "deployment/web", "--to-revision", "1")
    assert r.exit_code == 0 and writes(fake)[0][2][0]["value"]["spec"]["containers"][0]["image"] == "img:1"


def test_undo_skips_matching_template_and_refuses_paused_or_unknown(fake: FakeClient) -> None:
    history_setup(fake, image="img:2")
    r = cli("rollout", "undo", "deployment/web")
    assert (r.exit_code, r.stdout) == (
        0, "deployment.apps/web skipped rollback (current template already matches revision 2)\n")
    r = cli("rollout", "undo", "deployment/web", "--to-revision", "7")
    assert r.exit_code == 1 and "unable to find specified revision 7 in history" in r.stderr
    history_setup(fake, image="img:3", paused=True)
    r = cli("rollout", "undo", "deployment/web")
    assert r.exit_code == 1 and ("error: you cannot rollback a paused deployment; resume it first with "
                                 "'kubectl rollout resume deployment/web' and try again") in r.stderr
    for rev in (2, 3, 9):
        fake.remove(ReplicaSet, "ns1", f"web-{rev}")
    store(fake, deployment())
    r = cli("rollout", "undo", "deployment/web")
    assert r.exit_code == 1 and 'no rollout history found for deployment "web"' in r.stderr
    assert writes(fake) == []


# --- pause / resume / restart ---------------------------------------------------------------

def test_pause_resume_and_restart(fake: FakeClient) -> None:
    store(fake, deployment())
    r = cli("rollout", "pause", "deployment/web")
    assert (r.exit_code, r.stdout) == (0, "deployment.apps/web paused\n")
    assert writes(fake)[-1][2] == {"spec": {"paused": True}}
    n = len(writes(fake))
    assert cli("rollout", "restart", "deployment/web").exit_code == 1  # paused: resume first
    r = cli("rollout", "resume", "deployment/web")
    assert (r.exit_code, r.stdout) == (0, "deployment.apps/web resumed\n")
    assert [w[2] for w in writes(fake)[n:]] == [{"spec": {"paused": False}}]
    r = cli("rollout", "resume", "deployment/web")
    assert r.exit_code == 1 and 'error: deployments.apps "web" is not paused' in r.stderr
    r = cli("rollout", "restart", "deployment/web")
    assert (r.exit_code, r.stdout) == (0, "deployment.apps/web restarted\n")
    _, _, body, headers = writes(fake)[-1]
    stamp = body["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
    assert headers == {"Content-Type": "application/strategic-merge-patch+json"}
    assert len(stamp) == 20 and stamp.endswith("Z") and stamp[10] == "T"
    stored = fake.stored(Deployment, "web", "ns1")
    assert stored.spec.template.metadata.annotations == {"kubectl.kubernetes.io/restartedAt": stamp}


# --- set image / resources ------------------------------------------------------------------

def test_set_image_patches_containers_by_name(fake: FakeClient) -> None:
    store(fake, deployment())
    r = cli("set", "image", "deployment/web", "main=img:9")
    assert (r.exit_code, r.stdout) == (0, "deployment.apps/web image updated\n"), r.output
    assert writes(fake) == [("PATCH", f"{DEPLOY}/web",
                              {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "img:9"}]}}}},
                              {"Content-Type": "application/strategic-merge-patch+json"})]
    fake.calls.clear()
    r = cli("set", "image", "deployment/web", "*=img:10")
    assert writes(fake)[0][2]["spec"]["template"]["spec"]["containers"] == [
        {"name": "main", "image": "img:10"}, {"name": "side", "image": "img:10"}]
    pod = {"kind": "Pod", "metadata": {"name": "p"},
           "spec": {"initContainers": [{"name": "init", "image": "a"}], "containers": [{"name": "c", "image": "b"}]}}
    store(fake, pod, kind="Pod")
    fake.calls.clear()
    r = cli("set", "image", "pod/p", "init=a:2", "c=b:2")
    assert (r.exit_code, r.stdout) == (0, "pod/p image updated\n"), r.output
    assert writes(fake)[0][2] == {"spec": {"initContainers": [{"name": "init", "image": "a:2"}],
                                            "containers": [{"name": "c", "image": "b:2"}]}}


def test_set_image_unknown_container_changes_nothing(fake: FakeClient) -> None:
    store(fake, deployment(), deployment("api"))
    r = cli("set", "image", "deployment/api", "deployment/web", "main=img:9", "x=y")
    assert r.exit_code == 1 and 'error: unable to find container named "x"' in r.stderr
    assert writes(fake) == []
    r = cli("set", "image", "deployment/web")
    assert r.exit_code == 1 and "at least one image update is required" in r.stderr


def test_set_resources(fake: FakeClient) -> None:
    store(fake, deployment())
    r = cli("set", "resources", "deployment/web", "-c", "side", "--limits", "cpu=200m,memory=512Mi",
            "--requests", "cpu=100m")
    assert (r.exit_code, r.stdout) == (0, "deployment.apps/web resource requirements updated\n"), r.output
    assert writes(fake)[0][2] == {"spec": {"template": {"spec": {"containers": [
        {"name": "side", "resources": {"limits": {"cpu": "200m", "memory": "512Mi"}, "requests": {"cpu": "100m"}}}]}}}}
    fake.calls.clear()
    assert cli("set", "resources", "deployment/web", "--limits", "cpu=lots").exit_code == 1
    r = cli("set", "resources", "deployment/web")
    assert r.exit_code == 1 and "you must specify an update to requests or limits" in r.stderr
    r = cli("set", "resources", "deployment/web", "-c", "nope", "--limits", "cpu=1")
    assert r.exit_code == 1 and 'unable to find container named "nope"' in r.stderr
    assert writes(fake) == []
