"""`create <generator>`, `run`, `expose` build what kubectl builds: `--dry-run=client -o yaml|json`
compared byte for byte with the real kubectl (which builds these without a server), plus the
error cases' messages and exit codes, and the --help grouping."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import generators as gen
from cli.errors import CliError
from cli.main import app

KUBECTL = str(Path(sys.executable).parent / "kubectl")
needs_kubectl = pytest.mark.skipif(not Path(KUBECTL).exists() and not shutil.which("kubectl"),
                                   reason="the real kubectl is installed by deploy/bootstrap.sh")

GENERATORS = [
    "create deployment web --image=nginx --replicas=2 --port=80",
    "create deployment multi --image=a --image=reg.io/b:1",
    "create deploy web --image=nginx",
    "create deployment web --image=nginx -- sleep 3",
    "create job j --image=busybox -- sleep 3",
    "create cronjob c --image=busybox --schedule=*/5_*_*_*_* --restart=Never -- sh -c date",
    "create configmap cm --from-literal=a=1 --from-literal=b=yes --from-file={file} --from-file=k={file}",
    "create configmap dir --from-file={dir}",
    "create secret generic s --from-literal=a=1 --type=Opaque --from-file={file}",
    "create secret docker-registry d --docker-server=r.io --docker-username=u --docker-password=p "
    "--docker-email=e@x",
    "create service clusterip web --tcp=80:8080 --tcp=443",
    "create service clusterip h --clusterip=None",
    "create service nodeport np --tcp=80:8080 --node-port=30080",
    "create quota q --hard=pods=3,cpu=1,requests.memory=1Gi --scopes=BestEffort",
    "create priorityclass pc --value=100 --description=d --preemption-policy=Never",
    "create priorityclass pc2 --value=1000 --global-default",
    "create pdb b --selector=app=web --min-available=1",
    "create poddisruptionbudget b2 --selector=app=web,tier=fe --max-unavailable=50%",
    "create namespace x",
    "-n other create configmap cm --from-literal=a=b",
]


def _argv(template: str, tmp_path: Path) -> list[str]:
    (tmp_path / "d").mkdir(exist_ok=True)
    (tmp_path / "f.txt").write_text("hi\nthere\n")
    (tmp_path / "d" / "one").write_text("1")
    (tmp_path / "d" / "two.conf").write_text("x=2\n")
    text = template.format(file=tmp_path / "f.txt", dir=tmp_path / "d")
    return [w.replace("_", " ") if w.startswith("--schedule") else w for w in text.split()]


def _split(argv: list[str], extra: list[str]) -> list[str]:
    if "--" in argv:
        i = argv.index("--")
        return argv[:i] + extra + argv[i:]
    return argv + extra


def kubectl(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUBECTL, *argv], capture_output=True, text=True, timeout=30,
                          env={"KUBECONFIG": "/dev/null", "PATH": "/usr/bin:/bin", "HOME": "/tmp"})


@needs_kubectl
@pytest.mark.parametrize(("template", "output"), [(t, "yaml") for t in GENERATORS]
                         + [(t, "json") for t in GENERATORS[4:9]])
def test_generated_objects_equal_kubectls(template: str, output: str, tmp_path: Path) -> None:
    argv = _split(_argv(template, tmp_path), ["--dry-run=client", "-o", output])
    want = kubectl(argv)
    assert want.returncode == 0, want.stderr
    got = CliRunner().invoke(app, argv)
    assert got.exit_code == 0, got.output
    assert got.stdout.rstrip("\n") == want.stdout.rstrip("\n")


@needs_kubectl
@pytest.mark.parametrize("argv", [
    "create deployment web", "create cronjob c --image=x", "create secret docker-registry d",
    "create pdb b --selector=app=x", "create service clusterip web",
])
def test_missing_flags_fail_like_kubectl(argv: str) -> None:
    want = kubectl(argv.split())
    got = CliRunner().invoke(app, argv.split())
    assert want.returncode == 1
    assert got.exit_code == 1
    assert got.stderr.startswith("error: ")


@needs_kubectl
def test_dry_run_message_equals_kubectls() -> None:
    for argv in (["create", "deployment", "web", "--image=nginx", "--dry-run=client"],
                 ["create", "deployment", "web", "--image=nginx", "--dry-run=client", "-o", "name"]):
        assert CliRunner().invoke(app, argv).stdout == kubectl(argv).stdout


def test_run_pod_shape() -> None:
    pod = gen.pod("p", "busybox", env=["A=1"], port=80, labels="", restart="Never", command=False,
                  args=["sleep", "3"])
    assert pod["metadata"] == {"name": "p", "labels": {"run": "p"}}
    assert pod["spec"] == {"containers": [{"name": "p", "image": "busybox", "args": ["sleep", "3"],
                                           "ports": [{"containerPort": 80}], "env": [{"name": "A", "value": "1"}],
                                           "resources": {}}],
                           "restartPolicy": "Never", "dnsPolicy": "ClusterFirst"}
    with_command = gen.pod("p", "i", env=[], port=-1, labels="a=b,c=d", restart="", command=True, args=["sh"])
    assert with_command["spec"]["containers"][0]["command"] == ["sh"]
    assert with_command["spec"]["restartPolicy"] == "Always"
    assert with_command["metadata"]["labels"] == {"a": "b", "c": "d"}
    with pytest.raises(CliError):
        gen.pod("p", "i", env=[], port=-1, labels="", restart="Sometimes", command=False, args=[])


def test_expose_uses_selector_and_template_ports() -> None:
    deploy = gen.deployment("web", ["nginx"], port=80)
    svc = gen.expose_service(deploy, name="", port="", target_port="", protocol="", service_type="",
                             selector="", labels="")
    assert svc["metadata"] == {"name": "web", "labels": {"app": "web"}}
    assert svc["spec"] == {"ports": [{"protocol": "TCP", "port": 80, "targetPort": 80}], "selector": {"app": "web"}}
    two = gen.expose_service(deploy, name="w2", port="80,81", target_port="http", protocol="", service_type="NodePort",
                             selector="", labels="")
    assert [p["name"] for p in two["spec"]["ports"]] == ["port-1", "port-2"]
    assert two["spec"]["ports"][0]["targetPort"] == "http"
    assert two["spec"]["type"] == "NodePort"
    pod = {"kind": "Pod", "metadata": {"name": "p", "labels": {"run": "p"}}, "spec": {"containers": [{}]}}
    with pytest.raises(CliError, match="couldn't find port"):
        gen.expose_service(pod, name="", port="", target_port="", protocol="", service_type="", selector="",
                           labels="")


def test_run_dry_run_client_needs_no_server() -> None:
    r = CliRunner().invoke(app, ["run", "p", "--image=busybox", "--restart=Never", "--dry-run=client", "-o", "json",
                                 "--", "sleep", "3"])
    assert r.exit_code == 0, r.output
    assert '"args": [\n' in r.stdout


def test_help_is_grouped_as_kubectl() -> None:
    text = CliRunner().invoke(app, ["--help"]).stdout
    panels = ["Basic Commands (Beginner)", "Basic Commands (Intermediate)", "Deploy Commands",
              "Troubleshooting and Debugging Commands", "Advanced Commands", "Other Commands"]
    positions = [text.index(p) for p in panels]
    assert positions == sorted(positions)
    beginner = text[positions[0]:positions[1]]
    assert [w for w in ("create", "expose", "run", "set") if f"│ {w} " in beginner] == ["create", "expose", "run", "set"]
