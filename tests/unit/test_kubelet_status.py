"""Pure status computation: container states, phase, conditions, transition times."""

from kubelet.runtime import ContainerInfo
from kubelet.status import ContainerView, PodView, compute_pod_status, status_changed

NOW = "2026-01-01T00:00:10Z"


def info(cid: str, state: str, exit_code: int | None = None, restarts: int = 0) -> ContainerInfo:
    return ContainerInfo(id=cid, name=cid, labels={"io.kubernetes.container.restartCount": str(restarts)},
                         state=state, exit_code=exit_code, started_at="2026-01-01T00:00:01.123456789Z",
                         finished_at="2026-01-01T00:00:05.5Z" if state == "exited" else None, image_id="sha256:x")


def pod(apps: list[ContainerView], init: list[ContainerView] | None = None, **kw: object) -> PodView:
    return PodView(host_ip="127.0.0.1", pod_ip="10.244.0.2", start_time="2026-01-01T00:00:00Z",
                   init=init or [], apps=apps, **kw)  # type: ignore[arg-type]


def test_running_and_ready() -> None:
    st = compute_pod_status(pod([ContainerView("app", "img", current=info("a", "running"), ready=True)]),
                            old_status=None, now=NOW)
    assert st["phase"] == "Running"
    assert st["podIP"] == "10.244.0.2"
    cs = st["containerStatuses"][0]
    assert cs["state"] == {"running": {"startedAt": "2026-01-01T00:00:01Z"}}
    assert cs["containerID"] == "docker://a" and cs["ready"] is True
    conds = {c["type"]: c["status"] for c in st["conditions"]}
    assert conds == {"PodScheduled": "True", "Initialized": "True", "ContainersReady": "True", "Ready": "True"}


def test_crashloop_shows_waiting_and_last_state() -> None:
    v = ContainerView("app", "img", current=info("b", "exited", 1, restarts=2), restart_count=2,
                      waiting_reason="CrashLoopBackOff", waiting_message="back-off 20s")
    st = compute_pod_status(pod([v]), old_status=None, now=NOW)
    cs = st["containerStatuses"][0]
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    assert cs["lastState"]["terminated"]["reason"] == "Error"
    assert cs["restartCount"] == 2
    assert st["phase"] == "Running"
    assert {c["type"]: c["status"] for c in st["conditions"]}["Ready"] == "False"


def test_phases_succeeded_failed_pending() -> None:
    done = ContainerView("a", "i", current=info("x", "exited", 0), terminal=True)
    failed = ContainerView("b", "i", current=info("y", "exited", 2), terminal=True)
    assert compute_pod_status(pod([done]), old_status=None, now=NOW)["phase"] == "Succeeded"
    assert compute_pod_status(pod([done, failed]), old_status=None, now=NOW)["phase"] == "Failed"
    waiting = ContainerView("c", "i", waiting_reason="ErrImageNeverPull", waiting_message="not present")
    st = compute_pod_status(pod([waiting]), old_status=None, now=NOW)
    assert st["phase"] == "Pending"
    assert st["containerStatuses"][0]["state"]["waiting"]["reason"] == "ErrImageNeverPull"


def test_init_containers_gate_apps() -> None:
    init = ContainerView("init", "i", current=info("i1", "running"))
    app = ContainerView("app", "i")
    st = compute_pod_status(pod([app], init=[init]), old_status=None, now=NOW)
    assert st["phase"] == "Pending"
    assert st["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"
    assert {c["type"]: c["status"] for c in st["conditions"]}["Initialized"] == "False"
    failed = ContainerView("init", "i", current=info("i1", "exited", 1), terminal=True)
    st = compute_pod_status(pod([app], init=[failed], init_failed=True), old_status=None, now=NOW)
    assert st["phase"] == "Failed"
    assert st["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 1


def test_transition_time_kept_while_status_holds() -> None:
    v = ContainerView("app", "img", current=info("a", "running"), ready=True)
    first = compute_pod_status(pod([v]), old_status=None, now="2026-01-01T00:00:10Z")
    again = compute_pod_status(pod([v]), old_status=first, now="2026-01-01T00:05:00Z")
    assert again["conditions"] == first["conditions"]
    assert not status_changed(first, again)
    v.ready = False
    flipped = compute_pod_status(pod([v]), old_status=first, now="2026-01-01T00:06:00Z")
    ready = next(c for c in flipped["conditions"] if c["type"] == "Ready")
    assert ready["lastTransitionTime"] == "2026-01-01T00:06:00Z"
    assert status_changed(first, flipped)


def test_status_changed_ignores_fields_we_do_not_own() -> None:
    v = ContainerView("app", "img", current=info("a", "running"), ready=True)
    st = compute_pod_status(pod([v]), old_status=None, now=NOW)
    assert not status_changed({**st, "nominatedNodeName": "n1"}, st)


def test_qos_class() -> None:
    from kubelet.status import qos_class

    assert qos_class({"containers": [{"name": "a"}]}) == "BestEffort"
    assert qos_class({"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}) == "Guaranteed"
    assert qos_class({"containers": [{"resources": {"requests": {"cpu": "100m"}}}]}) == "Burstable"
    assert qos_class({"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"},
                                                    "requests": {"cpu": "500m"}}}]}) == "Burstable"
