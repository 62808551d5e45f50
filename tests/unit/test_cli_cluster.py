"""The local-cluster plumbing without etcd: restart with backoff (real short-lived processes),
process-group stop, command lines, component selection, --since parsing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli import clusterplan as plan
from cli import probes
from cli import supervisor as sup
from cli.errors import CliError
from cli.logs import parse_since, pod_name


async def test_a_dying_component_is_restarted_with_doubling_backoff(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sup, "BACKOFF_START_S", 0.05)
    monkeypatch.setattr(sup, "BACKOFF_MAX_S", 0.2)
    s = plan.Settings(tmp_path)
    (tmp_path / "run").mkdir()
    (tmp_path / "logs").mkdir()
    supervisor = sup.Supervisor(s)
    argv = [sys.executable, "-c", "import sys; print('bye'); sys.exit(3)"]
    first = await supervisor.spawn("crasher", argv)
    task = asyncio.create_task(supervisor.keep_running("crasher", argv, first))
    deadline = time.monotonic() + 20
    while supervisor.state["components"]["crasher"]["restarts"] < 3:
        assert time.monotonic() < deadline, "not restarted 3 times"
        await asyncio.sleep(0.05)
    supervisor.stopping.set()
    await asyncio.wait_for(task, 10)
    log = (tmp_path / "logs" / "supervisor.log").read_text()
    assert "crasher (pid" in log and "exited with code 3; restarting in" in log
    assert "bye" in (tmp_path / "logs" / "crasher.log").read_text()
    assert supervisor.state["components"]["crasher"]["restarts"] >= 3


def test_stop_process_group_escalates_to_sigkill() -> None:
    # A child that ignores SIGTERM, in its own process group: only SIGKILL ends it.
    proc = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                             "print('ready', flush=True); time.sleep(60)"], stdout=subprocess.PIPE,
                            start_new_session=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        started = time.monotonic()
        asyncio.run(sup.stop_process_group(proc.pid, 0.3))
        assert proc.wait(timeout=5) == -9
        assert time.monotonic() - started < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_commands_and_components(tmp_path: Path) -> None:
    s = plan.Settings(tmp_path, api_port=7443, etcd_port=7379, cluster_name="c1", node_name="n1")
    cmds = plan.commands(s, ["kubelet", "scheduler"])
    etcd = cmds["etcd"]
    assert etcd[etcd.index("--listen-client-urls") + 1] == "http://127.0.0.1:7379"
    assert etcd[etcd.index("--listen-peer-urls") + 1] == "http://127.0.0.1:7380"
    assert etcd[etcd.index("--data-dir") + 1] == str(tmp_path / "etcd")
    api = cmds["apiserver"]
    assert api[1:3] == ["-m", "apiserver"] and api[api.index("--port") + 1] == "7443"
    # No controller-manager, so no node IPAM: the lone kubelet is given the one-node pod CIDR.
    kubelet = cmds["kubelet"]
    assert kubelet[-2:] == ["--pod-cidr", "10.244.0.0/24"]
    assert kubelet[kubelet.index("--node-name"):][:4] == ["--node-name", "n1", "--cluster-name", "c1"]
    # HTTPS with the certificate write_credentials issues; callers verified against the cluster CA
    assert kubelet[kubelet.index("--tls-cert-file") + 1] == str(tmp_path / "pki" / "kubelet-n1.crt")
    assert kubelet[kubelet.index("--tls-private-key-file") + 1] == str(tmp_path / "pki" / "kubelet-n1.key")
    assert kubelet[kubelet.index("--client-ca-file") + 1] == str(tmp_path / "pki" / "ca.crt")
    # ...and the API server calls kubelets with its kubelet-client certificate, checking theirs
    assert api[api.index("--kubelet-client-certificate") + 1] == str(tmp_path / "pki" / "apiserver-kubelet-client.crt")
    assert api[api.index("--kubelet-certificate-authority") + 1] == str(tmp_path / "pki" / "ca.crt")
    with_dns = plan.commands(plan.Settings(tmp_path, components=["kubelet", "dns", "controllers"]),
                            ["kubelet", "dns", "controllers"])
    assert with_dns["kubelet"][-2:] == ["--cluster-dns", "10.96.0.10"]  # node IPAM gives the pod CIDR
    # Each daemon has its own kubeconfig (its own identity); the API server serves HTTPS.
    assert cmds["scheduler"][-2:] == ["--kubeconfig", str(tmp_path / "kubeconfigs" / "scheduler.kubeconfig")]
    assert api[api.index("--tls-cert-file") + 1] == str(tmp_path / "pki" / "apiserver.crt")
    assert api[api.index("--client-ca-file") + 1] == str(tmp_path / "pki" / "ca.crt")
    assert s.api_url == "https://127.0.0.1:7443"
    assert plan.parse_components("auto") is None
    assert plan.parse_components("none") == [] and plan.parse_components("") == []
    assert plan.parse_components("scheduler, kubelet") == ["scheduler", "kubelet"]
    with pytest.raises(ValueError, match="unknown component"):
        plan.parse_components("nope")
    dns = plan.commands(plan.Settings(tmp_path, components=["dns"]), ["dns"])["dns"]
    assert dns[1:3] == ["-m", "addons.dns"] and dns[-4:] == ["--listen", "10.244.0.1:53", "--publish-ip", "10.244.0.1"]
    assert set(plan.available_components()) <= set(plan.OPTIONAL)
    assert plan.Settings(tmp_path, components=[]).planned() == []


def test_pid_alive() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not probes.pid_alive(proc.pid) and not probes.pid_alive(None)
    assert probes.pid_alive(os.getpid())


def test_since_and_pod_names() -> None:
    assert parse_since("5s") == 5 and parse_since("2m") == 120 and parse_since("1h30m") == 5400
    assert parse_since(None) is None
    with pytest.raises(CliError, match="invalid duration"):
        parse_since("soon")
    assert pod_name("pod/x") == "x" and pod_name("x") == "x"
    with pytest.raises(CliError):
        pod_name("deploy/x")


def test_daemons_get_few_malloc_arenas_unless_the_user_chose(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    env = sup.daemon_env(tmp_path)
    assert env["MALLOC_ARENA_MAX"] == "2" and env["KUBELITE_HOME"] == str(tmp_path) and env["PYTHONUNBUFFERED"] == "1"
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    assert sup.daemon_env(tmp_path)["MALLOC_ARENA_MAX"] == "8"


def test_the_supervisor_writes_credentials_in_a_child_process(tmp_path: Path) -> None:
    s = plan.Settings(tmp_path, api_port=7443, cluster_name="c1", node_name="n1")
    r = subprocess.run(plan.credentials_argv(s, ["scheduler"]), capture_output=True, text=True, timeout=120,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "pki" / "ca.crt").exists()
    assert "https://127.0.0.1:7443" in (tmp_path / "kubeconfig").read_text()
    assert (tmp_path / "kubeconfigs" / "scheduler.kubeconfig").exists()
    bad = subprocess.run([sys.executable, "-m", "cli.clusterplan", "nonsense"], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode != 0 and "usage" in bad.stderr
