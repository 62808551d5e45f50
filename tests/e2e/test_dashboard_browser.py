"""The web dashboard in a real headless browser (Debian's chromium + chromedriver, selenium) on a
real cluster with the logging add-ons (and the metrics add-on when it is installed): open the
dashboard, click through a Deployment to its pod, see the pod's log line tailed live and a CPU
chart, scale the Deployment and see the new pod arrive through the watch, search the log store,
delete a pod. Screenshots of every step are saved under artifacts/dashboard/<time>/
($KUBELITE_ARTIFACTS/dashboard when set); the directory is printed."""

from __future__ import annotations

import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Cluster, Proc, run_cluster
from tests.e2e.test_logging_e2e import start_logging
from tests.support import admin_request, free_port

pytestmark = pytest.mark.e2e
ARTIFACTS = Path(os.environ.get("KUBELITE_ARTIFACTS") or Path(__file__).resolve().parents[2] / "artifacts") / "dashboard"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
def dcluster() -> Iterator[Cluster]:
    """A cluster with the control plane and a kubelet sampling stats every second."""
    with run_cluster(control_plane=True, kubelet_args=("--stats-interval-s", "1")) as c:
        yield c


@pytest.fixture(scope="module")
def dashboard(dcluster: Cluster) -> Iterator[str]:
    c = dcluster
    _, steps = start_logging(c)
    port = free_port()
    dash = Proc([sys.executable, "-m", "addons.dashboard", "--kubeconfig", str(c.kubeconfig_for("dashboard")), "--listen",
                 f"127.0.0.1:{port}", "--sample-every-s", "2"], c.tmp / "dashboard.log")
    steps.add("stopping the dashboard", dash.stop)
    metrics = Proc([sys.executable, "-m", "addons.metrics", "--kubeconfig", str(c.kubeconfig_for("metrics-server")),
                    "--scrape-interval-s", "2", "--log-level", "warning"], c.tmp / "metrics.log")
    steps.add("stopping the metrics add-on", metrics.stop)
    metrics.start()
    dash.start()
    failing = False
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and dash.running(), dash.tail()
            time.sleep(0.2)
        yield url
    except BaseException:
        failing = True
        raise
    finally:
        steps.run(failing=failing)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert CHROMIUM and CHROMEDRIVER, "deploy/bootstrap.sh installs chromium and chromium-driver"
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--no-proxy-server",
                "--window-size=1400,1000", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(what: str, fn: Callable[[], Any], timeout_s: float = 60.0, on_fail: Callable[[], str] = str) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = fn()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - stale elements while the page re-renders: retry
            last = exc
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what} ({last}):\n{on_fail()}")


def test_dashboard_deployment_to_pod_logs_chart_scale_delete(dcluster: Cluster, dashboard: str,
                                                           browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    c = dcluster
    # Outside pytest's tmp dirs (only the last three runs are kept there): artifacts/ is ignored by git.
    shots = ARTIFACTS / time.strftime("%Y%m%d-%H%M%S")
    shots.mkdir(parents=True, exist_ok=True)
    print(f"dashboard screenshots: {shots}")

    def shot(name: str) -> None:
        browser.save_screenshot(str(shots / f"{name}.png"))

    def page() -> str:
        shot("failure")
        return f"{browser.find_element(By.TAG_NAME, 'body').text[:3000]}\n{c.logs()}"

    token = f"dashboard-{uuid.uuid4().hex[:10]}"
    script = (f"while true; do i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; echo {token} $i; sleep 0.5; done")
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": {
               "metadata": {"labels": {"app": "web"}},
               "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                   {"name": "app", "image": "kubelite/busybox:latest", "command": ["sh", "-c", script],
                    "resources": {"requests": {"cpu": "100m"}}}]}}}}
    r = admin_request("POST", f"{c.server}/apis/apps/v1/namespaces/default/deployments", json=dep, timeout=10)
    assert r.status_code == 201, r.text

    def click(what: str, find: Callable[[], Any]) -> None:
        """Find and click in one retried step: the page re-renders as watch events arrive."""
        wait_for(what, lambda: find().click() is None, on_fail=page)

    def open_running_pod() -> str | None:
        for row in browser.find_elements(By.CSS_SELECTOR, "#pods tbody tr"):
            if "Running" in row.text:
                a = row.find_element(By.CSS_SELECTOR, "td a")
                name = str(a.text)
                a.click()
                return name
        return None

    browser.get(dashboard + "/#/workloads")
    wait_for("the Deployment in the list", lambda: browser.find_element(By.LINK_TEXT, "web"), on_fail=page)
    shot("1-workloads")
    click("the Deployment's link", lambda: browser.find_element(By.LINK_TEXT, "web"))
    wait_for("the Deployment page", lambda: "Deployment default/web" in browser.find_element(By.TAG_NAME, "h1").text,
             on_fail=page)
    shot("2-deployment")
    pod_name = wait_for("a Running pod of the Deployment to click", open_running_pod, timeout_s=120, on_fail=page)
    wait_for("the pod's log line, tailed live",
             lambda: token in browser.find_element(By.ID, "log").text, timeout_s=60, on_fail=page)
    cpu = browser.find_element(By.CSS_SELECTOR, ".chart.cpu svg")
    assert cpu.is_displayed()
    wait_for("a CPU chart with samples", lambda: int(browser.find_element(
        By.CSS_SELECTOR, ".chart.cpu svg").get_attribute("data-points") or 0) >= 2, timeout_s=90, on_fail=page)
    assert browser.find_elements(By.CSS_SELECTOR, ".chart.cpu polyline")
    charted = httpx.get(f"{dashboard}/history", params={"kind": "pod", "namespace": "default", "name": pod_name},
                        timeout=10, trust_env=False).json()
    assert any(p["cpuNanoCores"] > 0 for p in charted["points"]), charted  # the busy pod's real CPU
    shot("3-pod")

    browser.get(dashboard + "/#/deployment/default/web")
    box = wait_for("the scale box", lambda: browser.find_element(By.CSS_SELECTOR, "#dep input[data-replicas]"),
                   on_fail=page)
    box.clear()
    box.send_keys("2")  # the focused box is not re-rendered under the cursor
    click("the Scale button", lambda: browser.find_element(By.CSS_SELECTOR, "#dep button[data-scale]"))
    wait_for("two pods listed through the watch",
             lambda: len(browser.find_elements(By.CSS_SELECTOR, "#pods tbody tr")) == 2, timeout_s=60, on_fail=page)
    assert admin_request("GET", f"{c.server}/apis/apps/v1/namespaces/default/deployments/web",
                     timeout=10).json()["spec"]["replicas"] == 2
    shot("4-scaled")

    browser.get(dashboard + "/#/logs")
    wait_for("the search form", lambda: browser.find_element(By.NAME, "grep"), on_fail=page).send_keys(token)
    browser.find_element(By.NAME, "labelSelector").send_keys("app=web")
    click("Search", lambda: browser.find_element(By.CSS_SELECTOR, "#search button"))
    wait_for("search results from the log store", lambda: token in browser.find_element(By.ID, "results").text
             and f"default/{pod_name}/app" in browser.find_element(By.ID, "results").text, on_fail=page)
    shot("5-search")

    browser.get(dashboard + f"/#/pod/default/{pod_name}")
    click("the delete button", lambda: browser.find_element(By.CSS_SELECTOR, "#pod button[data-delete-pod]"))
    browser.switch_to.alert.accept()
    wait_for("the pod deleted", lambda: admin_request("GET", f"{c.server}/api/v1/namespaces/default/pods/{pod_name}", timeout=10)
             .json().get("metadata", {}).get("deletionTimestamp") or admin_request("GET", f"{c.server}/api/v1/namespaces/default/pods/{pod_name}", timeout=10).status_code == 404, on_fail=page)
    shot("6-deleted")
    admin_request("DELETE", f"{c.server}/apis/apps/v1/namespaces/default/deployments/web", timeout=10)
