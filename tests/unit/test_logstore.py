"""The log store: SQLite FTS5 store (dedup by source offset, grep, selectors, time bounds,
retention) and its HTTP API's answers to good and bad requests."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from addons.logstore.server import make_app
from addons.logstore.store import Query, SqliteStore
from machinery.logwire import Entry, Stream, ns_to_ts, ts_to_ns
from machinery.selectors import parse_label_selector

T0 = 1_714_557_600 * 10**9  # 2024-05-01T10:00:00Z


def _stream(pod: str, lines: list[str], *, uid: str = "", labels: dict[str, str] | None = None, start: int = 0,
            ns: str = "default", source: str = "", t0: int = T0) -> Stream:
    entries = [Entry(ns_to_ts(t0 + (start + i) * 10**9), "stdout", text, (start + i) * 100)
               for i, text in enumerate(lines)]
    return Stream(ns, pod, uid or f"uid-{pod}", "c", "node1", source or f"node1/{pod}/0", labels or {}, entries)


def test_timestamps_keep_nanoseconds() -> None:
    ts = "2024-05-01T10:00:00.123456789Z"
    assert ns_to_ts(ts_to_ns(ts)) == ts
    assert ts_to_ns("2024-05-01T12:00:00+02:00") == T0
    with pytest.raises(ValueError, match="invalid timestamp"):
        ts_to_ns("yesterday")


def test_append_is_idempotent_per_source_offset(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "l.db")
    first = _stream("web-1", ["a", "b", "c"])
    assert s.append([first]).accepted == 3
    again = s.append([_stream("web-1", ["b", "c", "d"], start=1)])
    assert (again.accepted, again.duplicates) == (1, 2)
    assert [r.line for r in s.search(Query())[0]] == ["a", "b", "c", "d"]


def test_search_filters(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "l.db")
    s.append([_stream("web-1", ["GET /index 200", "GET /x 404"], labels={"app": "web", "tier": "fe"}),
              _stream("db-0", ["ready to accept", "get lower"], labels={"app": "db"}, ns="data")])
    assert [r.line for r in s.search(Query(grep="GET"))[0]] == ["GET /index 200", "GET /x 404"]  # case-sensitive
    assert [r.line for r in s.search(Query(grep="404"))[0]] == ["GET /x 404"]
    assert [r.line for r in s.search(Query(grep="/x"))[0]] == ["GET /x 404"]  # under 3 chars: scan
    assert [r.pod for r in s.search(Query(selector=parse_label_selector("app=db")))[0]] == ["db-0", "db-0"]
    assert s.search(Query(selector=parse_label_selector("app in (web),tier!=fe")))[0] == []
    assert [r.line for r in s.search(Query(namespace="data", grep="ready"))[0]] == ["ready to accept"]
    recs, truncated = s.search(Query(limit=1))
    assert truncated and [r.line for r in recs] == ["get lower"]  # the newest, as tail does
    assert [r.line for r in s.search(Query(since_ns=T0 + 10**9, namespace="default"))[0]] == ["GET /x 404"]
    (rec,) = s.search(Query(grep="accept"))[0]
    assert (rec.namespace, rec.pod, rec.container, rec.node, rec.labels) == ("data", "db-0", "c", "node1",
                                                                            {"app": "db"})


def test_retention_by_age_and_size(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "l.db", max_age_s=3600, max_bytes=1000)
    old = _stream("old", ["x" * 10] * 5, t0=T0 - 7200 * 10**9)
    new = _stream("new", ["y" * 100] * 20)
    s.append([old, new])
    removed = s.prune(T0 + 20 * 10**9)
    assert removed >= 5 + 10
    left = s.search(Query())[0]
    assert {r.pod for r in left} == {"new"} and s.stored_bytes() <= 1000
    assert s.stored_bytes() == sum(len(r.line) for r in left)
    assert s.search(Query(grep="yyy"))[0] == left  # the FTS index follows deletions


async def test_http_api(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "l.db")
    app = make_app(store)
    now = time.time_ns()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://store") as http:
        body = {"streams": [_stream("web-1", ["hello web"], labels={"app": "web"}, t0=now).to_wire()]}
        r = await http.post("/v1/push", json=body)
        assert r.json() == {"accepted": 1, "duplicates": 0}
        r = await http.get("/v1/search", params={"grep": "hello", "labelSelector": "app=web", "sinceSeconds": "60"})
        assert r.status_code == 200 and [i["line"] for i in r.json()["items"]] == ["hello web"]
        assert r.json()["items"][0]["labels"] == {"app": "web"}
        for params in ({"labelSelector": "app=(("}, {"sinceSeconds": "x"}, {"limit": "0"}, {"sinceTime": "noon"}):
            r = await http.get("/v1/search", params=params)
            assert r.status_code == 400 and r.json()["kind"] == "Status", params
        for bad in (b"nope", b'{"streams": 3}', b'{"streams": [{"namespace": "a"}]}'):
            r = await http.post("/v1/push", content=bad)
            assert r.status_code == 400 and r.json()["reason"] == "BadRequest"
        bad_entry = _stream("web-1", ["x"]).to_wire()
        bad_entry["entries"] = [["not-a-time", "stdout", "x", 0]]
        r = await http.post("/v1/push", json={"streams": [bad_entry]})
        assert r.status_code == 400 and "timestamp" in r.json()["message"]
    assert store.count() == 1


def test_cli_search_params_and_output() -> None:
    from cli.logsearch import format_record, search_params
    from machinery.logwire import Record

    p = search_params(grep="boom", namespace=None, pod="web-1", container=None, selector="app=web", since="1h",
                      limit=50)
    assert p == {"grep": "boom", "limit": "50", "pod": "web-1", "labelSelector": "app=web", "sinceSeconds": "3600"}
    rec = Record("2024-05-01T10:00:00.000000000Z", "default", "web-1", "u", "app", "n1", "stdout", "boom")
    assert format_record(rec, timestamps=False) == "[default/web-1/app] boom"
    assert format_record(rec, timestamps=True).startswith("2024-05-01T10:00:00.000000000Z [default/")


def test_supervisor_runs_the_logging_addons(tmp_path: Path) -> None:
    from cli import clusterplan as sup

    cmds = sup.commands(sup.Settings(tmp_path, node_name="n1", components=["logstore", "logagent"]),
                        ["logstore", "logagent"])
    assert cmds["logstore"][2] == "addons.logstore" and "--publish-ip" in cmds["logstore"]
    agent = cmds["logagent"]
    assert agent[agent.index("--node-name") + 1] == "n1" and agent[agent.index("--log-dir") + 1] == "/var/log/pods"
    assert {"logstore", "logagent", "dashboard"} <= set(sup.available_components())
    dash = sup.commands(sup.Settings(tmp_path, components=["dashboard"]), ["dashboard"])["dashboard"]
    assert dash[dash.index("--listen") + 1].startswith("127.0.0.1:")


async def test_store_waits_for_its_listen_address_instead_of_exiting(tmp_path: Path) -> None:
    """Under `kubelite up` the store starts before the kubelet made the bridge address; uvicorn
    alone exits the process when it cannot bind."""
    import asyncio
    import socket

    import uvicorn

    from addons.logstore import main as logstore_main
    from tests.support import wait_until

    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    store = SqliteStore(str(tmp_path / "l.db"))
    server = logstore_main._Server(uvicorn.Config(make_app(store), host="127.0.0.1", port=port, log_level="critical"))
    stop = asyncio.Event()
    task = asyncio.create_task(logstore_main._serve(server, "127.0.0.1", port, stop))
    try:
        await asyncio.sleep(0.3)
        assert not server.started and not task.done()
        blocker.close()  # the address becomes available
        await wait_until(lambda: server.started, timeout_s=20, message="the store never bound its port")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/v1/search")).status_code == 200
    finally:
        blocker.close()
        server.should_exit = True
        stop.set()
        await asyncio.wait_for(task, 10)
        store.close()
