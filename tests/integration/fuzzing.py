"""The seeded fuzzer of tests/integration/test_api_fuzz.py: weird values, mutations of valid
bodies, encodings (JSON/YAML), the request loop that checks every answer (never a 5xx, a
Status whose code is the HTTP code, etcd unchanged after a rejection) and its counts.
"""

from __future__ import annotations

import copy
import json
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import yaml

from machinery import registry
from machinery.meta import Resource
from tests.integration.test_status_always import MANIFESTS

SEED = int(os.environ.get("KUBELITE_FUZZ_SEED", "19"))
BUDGET_S = float(os.environ.get("KUBELITE_FUZZ_BUDGET_S", "25"))

# Valid bodies of the kinds test_status_always does not cover (others: {} plus metadata).
EXTRA_MANIFESTS: dict[str, dict[str, Any]] = {
    "ConfigMap": {"data": {"k": "v"}},
    "Secret": {"stringData": {"k": "v"}},
    "Endpoints": {"subsets": [{"addresses": [{"ip": "10.244.0.5"}], "ports": [{"port": 80}]}]},
    "Event": {"involvedObject": {"kind": "Pod", "name": "p", "namespace": "fuzz"}, "reason": "R",
              "message": "m", "type": "Normal"},
    "Lease": {"spec": {"holderIdentity": "h", "leaseDurationSeconds": 40}},
    "StorageClass": {"provisioner": "example.com/p"},
    "ControllerRevision": {"revision": 1, "data": {}},
    "Role": {"rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]},
    "ClusterRole": {"rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]},
    "RoleBinding": {"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
                    "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "u"}]},
    "ClusterRoleBinding": {"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                       "name": "view"},
                           "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "g"}]},
}
NS = "fuzz"
SEL_NS = "fuzz-selectors"

WEIRD_STRINGS = ["x😀", "\ud800", "\udfff", 'q"uo\\te', "new\nline", "\x00", "\u2028", "é", "", " ",
                 "-1", "1e999999999", "${x}", "../..", "a" * 300, "%00", "*", "\t", "true", "null"]


def deep(levels: int, rng: random.Random) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = {"a": value} if rng.random() < 0.5 else [value]
    return value


def weird_value(rng: random.Random) -> Any:
    pick = rng.randrange(14)
    if pick == 0:
        return rng.choice(WEIRD_STRINGS)
    if pick == 1:
        return rng.choice([2**70, -(2**70), 2**63, 2**64 - 1, -(2**63) - 1])
    if pick == 2:
        return rng.choice([1.5e308, -0.0, 1e-320, 0.1])
    if pick == 3:
        return rng.choice([True, False, None])
    if pick == 4:
        return deep(rng.choice([30, 99, 101, 150, 300]), rng)
    if pick == 5:
        return [rng.choice(WEIRD_STRINGS) for _ in range(rng.randrange(4))]
    if pick == 6:
        return {rng.choice(WEIRD_STRINGS): rng.choice(WEIRD_STRINGS)}
    if pick == 7:
        return rng.choice(["1e999999999", "1e99999999999999", "-1", "1Ei", "0.000000001m", "9" * 40])
    if pick == 8:
        return "x" * rng.choice([64, 254, 70_000])
    if pick == 9:
        return rng.randrange(-5, 70_000)
    if pick == 10:
        return {}
    if pick == 11:
        return []
    if pick == 12:
        return rng.choice(["Always", "IfNotPresent", "TCP", "ClusterIP", "RollingUpdate", "In", "Exists"])
    return {"$patch": rng.choice(["delete", "replace", "merge", "bogus"])}


def paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.extend(paths(v, (*prefix, k)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.extend(paths(v, (*prefix, i)))
    return out


def mutate(obj: dict[str, Any], rng: random.Random, times: int = 1) -> dict[str, Any]:
    """A copy of `obj` with `times` random changes: replace, add an unknown key, delete, wrap."""
    out = copy.deepcopy(obj)
    for _ in range(times):
        path = rng.choice(paths(out)[1:] or [("spec",)])
        parent: Any = out
        for p in path[:-1]:
            parent = parent[p]
        last = path[-1]
        action = rng.randrange(4)
        try:
            if action == 0:
                parent[last] = weird_value(rng)
            elif action == 1 and isinstance(parent[last], dict):
                parent[last][rng.choice(WEIRD_STRINGS) or "k"] = weird_value(rng)
            elif action == 2 and isinstance(parent, dict):
                del parent[last]
            else:
                parent[last] = [parent[last]]
        except (KeyError, IndexError, TypeError):
            continue
    return out


def encode(body: Any, rng: random.Random) -> tuple[bytes, str]:
    """JSON (ASCII, so lone surrogates travel as escapes) or YAML."""
    if rng.random() < 0.75:
        return json.dumps(body).encode(), "application/json"
    try:
        return yaml.safe_dump(body, allow_unicode=False).encode(), "application/yaml"
    except (yaml.YAMLError, RecursionError, UnicodeEncodeError):
        return json.dumps(body).encode(), "application/json"


@dataclass
class Stats:
    requests: int = 0
    by_code: dict[int, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    deletecollections: int = 0
    messages: Counter[str] = field(default_factory=Counter)

    @property
    def server_errors(self) -> int:
        return sum(n for code, n in self.by_code.items() if code >= 500)


class Fuzzer:
    def __init__(self, http: httpx.Client, rng: random.Random) -> None:
        self.http = http
        self.rng = rng
        self.stats = Stats()
        self.rev = self.revision()

    def revision(self) -> int:
        r = self.http.get("/api/v1/namespaces", params={"limit": "1"})
        assert r.status_code == 200, r.text
        return int(r.json()["metadata"]["resourceVersion"])

    def violation(self, what: str, method: str, url: str, r: httpx.Response | None, sent: bytes | None) -> None:
        answer = "" if r is None else f"{r.status_code} {r.text[:300]!r}"
        self.stats.violations.append(f"{what}: {method} {url[:200]} sent={(sent or b'')[:200]!r} -> {answer}")

    def send(self, method: str, url: str, *, content: bytes | None = None, ctype: str | None = None,
             params: dict[str, str] | None = None, stream: bool = False) -> httpx.Response | None:
        headers = {"Content-Type": ctype} if ctype else {}
        if params:  # percent-encoded by hand: a lone surrogate travels as its (invalid) UTF-8 bytes
            url += "?" + "&".join(f"{quote(k)}={quote(v.encode('utf-8', 'surrogatepass'), safe='')}"
                                  for k, v in params.items())
            params = None
        self.stats.requests += 1
        try:
            if stream:  # watches: headers only, then close
                with self.http.stream(method, url, params=params, headers=headers, content=content) as r:
                    if r.status_code >= 400:
                        r.read()
            else:
                r = self.http.request(method, url, params=params, headers=headers, content=content)
        except httpx.HTTPError as e:
            self.violation(f"transport error {type(e).__name__}: {e}", method, url, None, content)
            self.rev = self.revision()
            return None
        self.stats.by_code[r.status_code] = self.stats.by_code.get(r.status_code, 0) + 1
        if r.status_code >= 500:
            self.violation("5xx", method, url, r, content)
        if r.status_code >= 400:
            try:
                body = r.json()
                ok = body.get("kind") == "Status" and body.get("code") == r.status_code
                self.stats.messages[f"{r.status_code} {str(body.get('message'))[:50]}"] += 1
            except ValueError:
                ok = False
            if not ok or not r.headers.get("content-type", "").startswith("application/json"):
                self.violation("error is not a Status JSON", method, url, r, content)
            after = self.revision()
            if after != self.rev:
                self.violation(f"etcd revision moved {self.rev} -> {after} on an error", method, url, r, content)
            self.rev = after
        else:
            self.rev = self.revision()
        return r


def base_bodies() -> dict[type[Resource], dict[str, Any]]:
    out = {}
    for cls in registry.ALL_KINDS:
        body = copy.deepcopy(MANIFESTS.get(cls.KIND, EXTRA_MANIFESTS.get(cls.KIND, {})))
        body["apiVersion"], body["kind"] = cls.api_version(), cls.KIND
        out[cls] = body
    return out


def collection(cls: type[Resource]) -> str:
    return registry.collection_path(cls, NS if cls.NAMESPACED else None)
