"""Bounded, seeded fuzzing of the API server as an attacker or a buggy client would (issue 19).

A private etcd and API server; a `random.Random(SEED)` drives everything, so a failure
reproduces with the same seed (`KUBELITE_FUZZ_SEED`); `KUBELITE_FUZZ_BUDGET_S` bounds the
random phase (default 60 s). Every request is checked:
- never a 5xx; every error is a `Status` JSON whose code is the HTTP code;
- etcd's revision (read with a consistent list) is unchanged after every rejected request;
- deletecollection removes exactly what an independent oracle says its selector selects.
Cases: every item of the issue (selectors on list/watch/deletecollection, unknown fields with
any name, nesting on every write verb in JSON and YAML, integers beyond 64 bits, lone
surrogates, wrong types, quantity overflow, YAML aliases, finalize bodies), then random
mutations of a valid object of every kind in `registry.ALL_KINDS` (new kinds are fuzzed
without touching this file) sent as create, replace, the three patches and apply. Issue 15
item 7 adds, on every kind: malformed protobuf envelopes, 4 MiB bodies (one write verb per
kind, in turn), bad JSON/merge/strategic patches, odd names and unicode in paths, and bad
SubjectAccessReview bodies (their time comes out of the random phase's budget).
The counts are printed (pytest -s) and the test fails listing every violation.
"""

from __future__ import annotations

import copy
import json
import os
import random
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from machinery import registry
from machinery.meta import Resource
from tests.integration.conftest import ApiServerProcess
from tests.integration.fuzzing import (
    BUDGET_S,
    NS,
    SEED,
    SEL_NS,
    Fuzzer,
    base_bodies,
    collection,
    encode,
    mutate,
    paths,
    weird_value,
)
from tests.support import EtcdProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[ApiServerProcess]:
    with EtcdProcess(name="kubelite-fuzz") as etcd:
        server = ApiServerProcess(etcd.url)
        try:
            server.start()
            yield server
        finally:
            server.cleanup()


# --- the cases of the issue ------------------------------------------------------------------------

LABEL_KEYS = ["a", "b", "c"]
LABEL_VALUES = ["x", "y", ""]


def label_oracle(selector: list[tuple[str, str, list[str]]], labels: dict[str, str]) -> bool:
    for key, op, values in selector:
        have = labels.get(key)
        if op == "=" and have != values[0]:
            return False
        if op == "!=" and have == values[0]:
            return False
        if op == "in" and have not in values:
            return False
        if op == "notin" and have in values:
            return False
        if op == "exists" and have is None:
            return False
        if op == "!" and have is not None:
            return False
    return True


def random_label_selector(rng: random.Random) -> tuple[str, list[tuple[str, str, list[str]]]]:
    terms: list[str] = []
    parsed: list[tuple[str, str, list[str]]] = []
    for _ in range(rng.randrange(1, 3)):
        key = rng.choice(LABEL_KEYS)
        op = rng.choice(["=", "!=", "in", "notin", "exists", "!"])
        values = sorted({rng.choice(LABEL_VALUES) for _ in range(rng.randrange(1, 3))})
        if op in ("=", "!="):
            values = values[:1]
            terms.append(f"{key}{rng.choice(['==', '='] if op == '=' else ['!='])}{values[0]}")
        elif op in ("in", "notin"):
            terms.append(f"{key} {op} ({','.join(values)})")
        elif op == "exists":
            values = []
            terms.append(key)
        else:
            values = []
            terms.append(f"!{key}")
        parsed.append((key, op, values))
    return ",".join(terms), parsed


BAD_SELECTORS = [
    {"fieldSelector": "spec.nodeName=="}, {"fieldSelector": "foo.bar=baz"}, {"fieldSelector": "a"},
    {"fieldSelector": "metadata.name=a=b"}, {"fieldSelector": "metadata.name=\\x"},
    {"fieldSelector": "status.phase=Running"}, {"fieldSelector": "metadata.labels=x"},
    {"labelSelector": "a in ("}, {"labelSelector": "a=b=c"}, {"labelSelector": "!"},
    {"labelSelector": "a b"}, {"labelSelector": "-a=1"}, {"labelSelector": "a=" + "x" * 64},
    {"labelSelector": "a in (x,y"}, {"labelSelector": "a notin"}, {"labelSelector": ",a"},
    {"labelSelector": "a😀=1"}, {"labelSelector": "a>x"}, {"labelSelector": "\ud800"},
]


def fuzz_selectors(f: Fuzzer, rng: random.Random, rounds: int) -> None:
    """deletecollection against an oracle; bad selectors refused on every verb."""
    base = f"/api/v1/namespaces/{SEL_NS}/configmaps"  # holds only the pool: the oracle sees it all
    pool: dict[str, dict[str, str]] = {}
    for i in range(12):
        labels = {k: rng.choice(LABEL_VALUES) for k in LABEL_KEYS if rng.random() < 0.6}
        pool[f"sel{i}"] = labels
    for _ in range(rounds):
        for name, labels in pool.items():  # refill what the last round deleted
            if f.http.get(f"{base}/{name}").status_code == 404:
                f.send("POST", base, content=json.dumps({"metadata": {"name": name, "labels": labels}}).encode(),
                       ctype="application/json")
        if rng.random() < 0.4:
            params = rng.choice(BAD_SELECTORS)
            for method, extra in (("GET", {}), ("GET", {"watch": "1"}), ("DELETE", {})):
                r = f.send(method, base, params={**params, **extra}, stream=bool(extra))
                if r is not None and r.status_code != 400:
                    f.violation("bad selector not refused with 400", method, base + str(params), r, None)
            continue
        text, parsed = random_label_selector(rng)
        params = {"labelSelector": text}
        name_filter: tuple[str, str] | None = None
        if rng.random() < 0.3:
            name_filter = (rng.choice(["=", "!="]), rng.choice(list(pool)))
            params["fieldSelector"] = f"metadata.name{name_filter[0]}{name_filter[1]}"
        present = {o["metadata"]["name"]: o["metadata"].get("labels") or {}
                   for o in f.http.get(base).json()["items"]}
        expected = {n for n, labels in present.items() if label_oracle(parsed, labels) and (
            name_filter is None or (n == name_filter[1]) == (name_filter[0] == "="))}
        listed = f.send("GET", base, params=params)
        if listed is not None and listed.status_code == 200:
            got = {o["metadata"]["name"] for o in listed.json()["items"]}
            if got != expected:
                f.violation(f"list selected {sorted(got)} not {sorted(expected)}", "GET", base + str(params), listed, None)
        r = f.send("DELETE", base, params=params)
        f.stats.deletecollections += 1
        left = {o["metadata"]["name"] for o in f.http.get(base).json()["items"]}
        if r is None or r.status_code != 200 or left != set(present) - expected:
            f.violation(f"deletecollection left {sorted(left)}, expected {sorted(set(present) - expected)}",
                        "DELETE", base + str(params), r, None)


def fixed_cases(f: Fuzzer) -> None:
    """Every numbered case of the issue, on every verb it names."""
    cm = f"/api/v1/namespaces/{NS}/configmaps"
    f.send("POST", cm, content=b'{"metadata":{"name":"fixed"}}', ctype="application/json")
    item = f"{cm}/fixed"
    deep_json = ('{"a":' * 10_000 + "1" + "}" * 10_000).encode()
    deep_yaml = b"a: " + b"[" * 10_000 + b"]" * 10_000
    writes = [("POST", cm, None), ("PUT", item, None), ("PATCH", item, "application/merge-patch+json"),
              ("PATCH", item, "application/strategic-merge-patch+json"),
              ("PATCH", item, "application/json-patch+json"), ("PATCH", item, "application/apply-patch+yaml")]
    for method, url, ctype in writes:
        for body, default_ct in ((deep_json, "application/json"), (deep_yaml, "application/yaml")):
            params = {"fieldManager": "fuzz"} if ctype and "apply" in ctype else None
            f.send(method, url, content=body, ctype=ctype or default_ct, params=params)
    for params in ({"limit": str(2**70)}, {"limit": "-" + "9" * 30}, {"resourceVersion": str(2**70)},
                   {"resourceVersion": str(2**70), "resourceVersionMatch": "Exact"},
                   {"resourceVersion": "-1", "resourceVersionMatch": "Exact"},
                   {"continue": "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTE4MDU5MTYyMDcxNzQxMTMwMzQyNCwic3RhcnQiOiJ4In0"},
                   {"continue": "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MSwic3RhcnQiOiJcdWQ4MDAifQ"},
                   {"timeoutSeconds": str(2**70), "watch": "1"}, {"watch": "1", "resourceVersion": str(2**64)},
                   {"fieldSelector": "spec.nodeName=="}, {"labelSelector": "a in ("}):
        f.send("GET", cm, params=params, stream="watch" in params)
    for body in (b'{"preconditions":"x"}', b'{"preconditions":{"uid":5}}', b'{"gracePeriodSeconds":"x"}',
                 b'{"gracePeriodSeconds":1e400}', b'{"propagationPolicy":[1]}', b'{"dryRun":"All"}', b"[1]",
                 b'"x"', b'{"orphanDependents":"maybe"}'):
        f.send("DELETE", item, content=body, ctype="application/json")
        f.send("DELETE", cm, content=body, ctype="application/json")
    ns_url = f"/api/v1/namespaces/{NS}"
    for body in (b'{"spec":[1]}', b'{"metadata":"x"}', b'{"metadata":{"finalizers":[{}]}}', b'{"status":5}',
                 b'{"metadata":{"labels":[1]}}', b'{"metadata":{"name":"\\ud800"}}'):
        f.send("PATCH", ns_url, content=body, ctype="application/merge-patch+json")
        f.send("PATCH", item, content=body, ctype="application/strategic-merge-patch+json")
        f.send("PATCH", item, content=body, ctype="application/apply-patch+yaml", params={"fieldManager": "fuzz"})
    for body in (b'{"bogus":[1]}', b'{"spec":{"finalizers":"x"}}', b'{"spec":{"finalizers":[1]}}',
                 b'{"metadata":{"name":"fuzz"},"spec":{"finalizers":[]}}', b"[]"):
        f.send("PUT", f"{ns_url}/finalize", content=body, ctype="application/json")
    f.send("POST", f"/api/v1/namespaces/{NS}/pods", ctype="application/json", content=json.dumps(
        {"metadata": {"name": "q"}, "spec": {"containers": [{"name": "c", "image": "i", "resources": {
            "requests": {"cpu": "1e999999999"}, "limits": {"memory": "1e99999999999"}}}]}}).encode())
    bomb = b"metadata: {name: bomb}\ndata:\n  a: &a [x,x,x,x,x,x,x,x,x,x]\n" + b"".join(
        f"  {c}: &{c} [{','.join([f'*{p}'] * 10)}]\n".encode() for p, c in zip("abcdefg", "bcdefgh", strict=True))
    f.send("POST", cm, content=bomb, ctype="application/yaml")
    for name in ("x😀", "\ud800", 'a"b', "c\nd"):
        body = json.dumps({"metadata": {"name": f"warn{abs(hash(name)) % 1000}"}, name: 1}).encode()
        r = f.send("POST", cm, content=body, ctype="application/json")
        if r is not None and r.status_code == 201:
            f.send("POST", cm, content=body, ctype="application/json")  # the retry: 409, no second write


_PB = "application/vnd.kubernetes.protobuf"
_PATCH_TYPES = ("application/merge-patch+json", "application/json-patch+json",
                "application/strategic-merge-patch+json")
ODD_NAMES = ["x\u00e9", "%E2%9C%93", "..", ".", "a%2Fb", "a:b", "-x", "x" * 300, "%00", "%ff%fe", "UPPER",
             "\u0130stanbul", "%F0%9F%98%80", "a b", "a+b", "system:node:x"]


def security_cases(f: Fuzzer, rng: random.Random) -> None:
    """Issue 15 item 7 on every kind: malformed protobuf, 4 MiB bodies, bad patches of the
    three types, odd names and unicode in paths; and the authorization reviews with bad bodies."""
    big = json.dumps({"metadata": {"name": "big"}, "data": {"k": "x" * (4 * 1024 * 1024)}}).encode()
    for i, cls in enumerate(registry.ALL_KINDS):
        coll = collection(cls)
        item = f"{coll}/fz-sec"
        junk = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))
        for body in (b"", b"k8s\x00", b"k8s\x00" + junk, junk, b"k8s\x00\x0a\xff\xff\xff\xff\x0f",
                     b"k8s\x00\x12\x05hello", b"k8s\x00" + b"\x12\x80" * 20):
            f.send("POST", coll, content=body, ctype=_PB)
            f.send("PUT", item, content=body, ctype=_PB)
        # 4 MiB: one write verb per kind, in turn (every verb is covered, the run stays short).
        verb, ctype = [("POST", "application/json"), ("PUT", "application/json"),
                       *(("PATCH", t) for t in _PATCH_TYPES)][i % 5]
        f.send(verb, coll if verb == "POST" else item, content=big, ctype=ctype)
        for body, ctype in ((b'[{"op":"replace","path":"/metadata/name"}]', _PATCH_TYPES[1]),
                            (b'[{"op":"move","from":"/nope","path":"/x"}]', _PATCH_TYPES[1]),
                            (b'[{"op":"test","path":"/metadata","value":1}]', _PATCH_TYPES[1]),
                            (b'[{"op":"add","path":"/a/~9","value":1}]', _PATCH_TYPES[1]),
                            (b'{"op":"add"}', _PATCH_TYPES[1]), (b'[1,2]', _PATCH_TYPES[0]), (b'"x"', _PATCH_TYPES[0]),
                            (b'{"$patch":"replace","metadata":5}', _PATCH_TYPES[2]),
                            (b'{"$retainKeys":5,"spec":{"$patch":"delete"}}', _PATCH_TYPES[2]),
                            (b'{"$setElementOrder/x":"y","metadata":{"$deleteFromPrimitiveList/finalizers":3}}',
                             _PATCH_TYPES[2])):
            f.send("PATCH", item, content=body, ctype=ctype)
        for j, name in enumerate(ODD_NAMES):
            path = f"{coll}/{quote(name, safe='%:') if '%' not in name else name}"
            f.send(("GET", "DELETE")[j % 2], path)
            if (i + j) % 3 == 0:
                f.send("PUT", path, content=json.dumps({"metadata": {"name": name}}).encode(),
                       ctype="application/json")
                f.send("PATCH", path, content=b"{}", ctype=_PATCH_TYPES[j % 3])
                f.send("POST", coll, content=json.dumps({"metadata": {"name": name}}).encode(),
                       ctype="application/json")
    reviews = "/apis/authorization.k8s.io/v1"
    for path in ("subjectaccessreviews", "selfsubjectaccessreviews", f"namespaces/{NS}/localsubjectaccessreviews"):
        for body in (b"", b"[]", b'{"spec":5}', b'{"spec":{"user":[1]}}', b'{"spec":{"resourceAttributes":"x"}}',
                     b'{"spec":{"user":"u","resourceAttributes":{},"nonResourceAttributes":{}}}',
                     b'{"spec":{"groups":["g"],"resourceAttributes":{"namespace":"other","verb":"get"}}}'):
            f.send("POST", f"{reviews}/{path}", content=body, ctype="application/json")
        f.send("POST", f"{reviews}/{path}", content=b"k8s\x00" + bytes(range(40)), ctype=_PB)


def fuzz_kind(f: Fuzzer, rng: random.Random, cls: type[Resource], base: dict[str, Any], n: int) -> None:  # noqa: C901 - one flat sequence of cases, read best in one place
    coll = collection(cls)
    name = f"fz-{cls.KIND.lower()}-{n}"
    valid = {**copy.deepcopy(base), "metadata": {"name": name, "labels": {"fuzz": "1"}}}
    created = f.send("POST", coll, content=json.dumps(valid).encode(), ctype="application/json")
    item = f"{coll}/{name}"
    verb = rng.randrange(8)
    body = mutate(valid, rng, times=rng.randrange(1, 4))
    subresources = [sub for sub in cls.SUBRESOURCES if sub in ("status", "scale", "binding", "eviction", "finalize")]
    if verb == 7 and subresources and created is not None and created.status_code == 201:
        sub = rng.choice(subresources)
        if sub == "scale":
            target: dict[str, Any] = {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": name},
                                      "spec": {"replicas": 2}}
        elif sub == "binding":
            target = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                      "target": {"kind": "Node", "name": "n1"}}
        elif sub == "eviction":
            target = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name},
                      "deleteOptions": {"gracePeriodSeconds": 0}}
        else:
            target = created.json()
        content, ctype = encode(mutate(target, rng, times=rng.randrange(1, 3)), rng)
        method = "POST" if sub in ("binding", "eviction") else rng.choice(["PUT", "PATCH"])
        if method == "PATCH":
            ctype = rng.choice(["application/merge-patch+json", "application/strategic-merge-patch+json"])
            content = json.dumps(mutate(target, rng)).encode()
        f.send(method, f"{item}/{sub}", content=content, ctype=ctype)
        verb = 6  # and a list as well
    if verb == 0:
        body["metadata"] = {"name": f"{name}-new"} if not isinstance(body.get("metadata"), dict) else {
            **body["metadata"], "name": f"{name}-new"}
        content, ctype = encode(body, rng)
        f.send("POST", coll, content=content, ctype=ctype, params=rng.choice([{}, {"fieldValidation": "Strict"},
                                                                           {"dryRun": "All"}]))
    elif verb == 1 and created is not None and created.status_code == 201:
        current = created.json()
        body = mutate(current, rng, times=rng.randrange(1, 4))
        content, ctype = encode(body, rng)
        f.send("PUT", item, content=content, ctype=ctype)
    elif verb == 2:
        f.send("PATCH", item, content=json.dumps(mutate({"metadata": {}, **{k: v for k, v in valid.items()
                                                                           if k not in ("apiVersion", "kind")}},
                                                        rng)).encode(),
               ctype=rng.choice(["application/merge-patch+json", "application/strategic-merge-patch+json"]))
    elif verb == 3:
        targets = ["/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path)
                   for path in paths(valid)[1:]]
        ops = []
        for _ in range(rng.randrange(1, 5)):
            op = rng.choice(["add", "replace", "remove", "copy", "move", "test", "bogus"])
            entry: dict[str, Any] = {"op": op, "path": rng.choice([*targets, "/", "", "/x/y/z", "/metadata/-"])}
            if op in ("copy", "move"):
                entry["from"] = rng.choice([*targets, "/nope"])
            if op in ("add", "replace", "test"):
                entry["value"] = weird_value(rng)
            ops.append(entry)
        f.send("PATCH", item, content=json.dumps(ops).encode(), ctype="application/json-patch+json")
    elif verb == 4:
        content, _ = encode(body, rng)
        f.send("PATCH", item, content=content, ctype="application/apply-patch+yaml",
               params={"fieldManager": rng.choice(["fuzz", "x😀", ""])} if rng.random() < 0.9 else {})
    elif verb == 5:
        content = json.dumps(weird_value(rng) if rng.random() < 0.5 else mutate(
            {"gracePeriodSeconds": 0, "propagationPolicy": "Background", "preconditions": {"uid": "u"}}, rng)).encode()
        f.send("DELETE", item, content=content, ctype="application/json")
    else:
        params = {rng.choice(["limit", "resourceVersion", "continue", "timeoutSeconds", "fieldSelector",
                              "labelSelector", "resourceVersionMatch", "watch", "allowWatchBookmarks"]):
                  str(weird_value(rng))[:200] for _ in range(rng.randrange(1, 4))}
        watch = params.get("watch") in ("1", "true", "True")
        if watch:
            params["timeoutSeconds"] = "1"
        f.send("GET", coll, params=params, stream=watch)
    f.send("DELETE", item, params={"gracePeriodSeconds": "0"})


def test_fuzz_api_server(fuzz_server: ApiServerProcess) -> None:
    rng = random.Random(SEED)
    with fuzz_server.http_sync(timeout=30.0) as http:
        for ns in (NS, SEL_NS):
            assert http.post("/api/v1/namespaces", json={"metadata": {"name": ns}}).status_code == 201
        f = Fuzzer(http, rng)
        fixed_cases(f)
        security_started = time.monotonic()
        security_cases(f, rng)
        security_s = time.monotonic() - security_started  # taken from the random phase's budget
        fuzz_selectors(f, rng, rounds=40)
        bodies = base_bodies()
        kinds = list(bodies)
        deadline = time.monotonic() + max(BUDGET_S - security_s, 10.0)
        n = 0
        while time.monotonic() < deadline:
            cls = kinds[n % len(kinds)]
            fuzz_kind(f, rng, cls, bodies[cls], n)
            n += 1
        assert fuzz_server.proc is not None and fuzz_server.proc.poll() is None, "the API server died"
        assert http.get("/readyz").status_code == 200
    log = fuzz_server.log_text()
    tracebacks = log.count("Traceback") + log.count("unexpected error")
    print(f"\nfuzz seed {SEED}: {f.stats.requests} requests ({n} kind cases over {len(kinds)} kinds, "
          f"{f.stats.deletecollections} checked deletecollections), 5xx: {f.stats.server_errors}, "
          f"codes {dict(sorted(f.stats.by_code.items()))}, log {len(log)} bytes, tracebacks {tracebacks}")
    assert not f.stats.violations, f"{len(f.stats.violations)} violations:\n" + "\n".join(f.stats.violations[:60])
    assert f.stats.server_errors == 0 and tracebacks == 0


# --- schemathesis over the served OpenAPI ---------------------------------------------------------

ST_BUDGET_S = float(os.environ.get("KUBELITE_SCHEMATHESIS_BUDGET_S", "30"))
ST_EXAMPLES = int(os.environ.get("KUBELITE_SCHEMATHESIS_EXAMPLES", "5"))
ST_NS = "fuzz-st"


def run_operation(f: Fuzzer, op: Any, base_url: str) -> None:
    """ST_EXAMPLES derandomized cases of one schemathesis operation through `f.send`."""
    from hypothesis import HealthCheck, Phase, given, settings

    counter = [0]

    @settings(max_examples=ST_EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    @given(op.as_strategy())
    def run(case: Any) -> None:
        counter[0] += 1
        if counter[0] % 4 and "namespace" in (case.path_parameters or {}):
            case.path_parameters["namespace"] = ST_NS
        if counter[0] % 2 and "name" in (case.path_parameters or {}):
            case.path_parameters["name"] = "st-obj"
        if counter[0] % 4 and case.query:
            # Random strings in enum-like parameters stop at the first check as well.
            case.query = {k: v for k, v in case.query.items() if k in ("limit", "gracePeriodSeconds", "force")}
        if counter[0] % 4 and isinstance(case.body, dict):
            # A random kind/apiVersion stops at the first check: let most bodies go further.
            case.body.pop("kind", None)
            case.body.pop("apiVersion", None)
            if isinstance(case.body.get("metadata"), dict) and case.method.upper() != "POST":
                case.body["metadata"].pop("name", None)
        kwargs = case.as_transport_kwargs(base_url=base_url)
        content = kwargs.get("data") if isinstance(kwargs.get("data"), bytes) else None
        if content is None and kwargs.get("json") is not None:
            content = json.dumps(kwargs["json"]).encode()
        params = {k: str(v) for k, v in (kwargs.get("params") or {}).items()}
        ctype = (kwargs.get("headers") or {}).get("Content-Type")
        watch = params.get("watch") in ("1", "true", "True")
        if watch:
            params["timeoutSeconds"] = "1"
        f.send(kwargs["method"], kwargs["url"].removeprefix(base_url), content=content, ctype=ctype,
               params=params, stream=watch)

    run()


def test_schemathesis_over_the_served_openapi(fuzz_server: ApiServerProcess) -> None:
    """Every operation of every served OpenAPI v3 document, with bodies and parameters that
    schemathesis (hypothesis, derandomized: the same examples every run) generates from it;
    the same checks as the targeted fuzzer. Most cases are sent to an existing namespace and
    object so that the bodies reach validation and storage rather than a 404."""
    import schemathesis

    with fuzz_server.http_sync(timeout=30.0) as http:
        if http.get(f"/api/v1/namespaces/{ST_NS}").status_code == 404:
            assert http.post("/api/v1/namespaces", json={"metadata": {"name": ST_NS}}).status_code == 201
        for cls, body in base_bodies().items():  # the object most cases address
            obj = {**body, "metadata": {"name": "st-obj"}}
            http.post(registry.collection_path(cls, ST_NS if cls.NAMESPACED else None), json=obj)
        f = Fuzzer(http, random.Random(SEED))
        operations: list[Any] = []
        for path in sorted(http.get("/openapi/v3").json()["paths"]):
            schema = schemathesis.openapi.from_dict(http.get(f"/openapi/v3/{path}").json())
            operations.extend(result.ok() for result in schema.get_all_operations())  # type: ignore[union-attr]  # an invalid schema fails here, loudly
        # Interleave kinds and verbs, so that a budget cut still covers a bit of everything.
        rng = random.Random(SEED)
        rng.shuffle(operations)
        deadline = time.monotonic() + ST_BUDGET_S
        done = 0
        for op in operations:
            if time.monotonic() > deadline:
                break
            run_operation(f, op, fuzz_server.url)
            done += 1
    print(f"\nschemathesis: {done} of {len(operations)} operations, {f.stats.requests} requests, 5xx: "
          f"{f.stats.server_errors}, codes {dict(sorted(f.stats.by_code.items()))}, most frequent errors "
          f"{f.stats.messages.most_common(6)}")
    assert done > 0
    assert not f.stats.violations, f"{len(f.stats.violations)} violations:\n" + "\n".join(f.stats.violations[:60])
