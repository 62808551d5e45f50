"""The audit log: one JSON line per request stage, shaped as audit.k8s.io/v1 Event.

Contract:
- `AuditPolicy.load(path)` reads an audit.k8s.io/v1 `Policy` (YAML or JSON): `rules` are tried
  in order, the first that matches decides the level (`None`, `Metadata`, `Request`,
  `RequestResponse`); a rule matches on `users`, `userGroups`, `verbs`, `namespaces`,
  `resources` ([{group, resources (`pods`, `pods/log`, `*`, `pods/*`), resourceNames}]) and
  `nonResourceURLs` (`/healthz*` prefix), each absent field matching everything (Kubernetes'
  policy checker). No rule matched: level None. `omitStages` (policy-wide and per rule)
  drops stages. A bad file raises ValueError at start.
- `AuditLog(path, policy, max_bytes, backups)` writes to `path` (`-` = stdout), rotating by
  size: past `max_bytes` the file becomes `path.1` (older ones shift up to `path.N`, N =
  backups; the oldest is dropped).
- `log.begin(scope)` -> `AuditRecord | None` (None when the level is None). The record emits
  `RequestReceived` at once, `ResponseStarted` for long-running requests (watches, exec...)
  when their response starts, and `ResponseComplete` when the request ends (`finish()`), or
  `Panic` when the handler raised. Each line holds level, auditID, stage, requestURI, verb,
  user {username, uid, groups}, sourceIPs, userAgent, objectRef {resource, namespace, name,
  apiGroup, apiVersion, subresource}, responseStatus {metadata, code[, status, reason,
  message]}, requestReceivedTimestamp, stageTimestamp (microseconds), annotations
  {authorization.k8s.io/decision, authorization.k8s.io/reason, kubelite.io/latency-seconds};
  level Request adds requestObject (JSON bodies up to 64 KiB), RequestResponse also
  responseObject (JSON answers up to 64 KiB; never for watches or streams).
- The RequestAttributes are derived here with the same function authorization uses.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
import time
import uuid
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import yaml
from starlette.types import Message, Receive, Send

from apiserver.auth.authz import request_attributes
from apiserver.auth.user import ANONYMOUS_USER, RequestAttributes, user_of
from apiserver.limits import is_long_running

LEVELS = ("None", "Metadata", "Request", "RequestResponse")
STAGES = ("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")
BODY_LIMIT = 64 * 1024


def _matches_resource(rule_res: list[dict[str, Any]], attrs: RequestAttributes) -> bool:
    for gr in rule_res:
        if attrs.api_group != str(gr.get("group") or ""):
            continue
        names = gr.get("resources") or []
        combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
        ok = (not names or combined in names or "*" in names or f"{attrs.resource}/*" in names
              or (attrs.subresource and f"*/{attrs.subresource}" in names))
        if ok and (not gr.get("resourceNames") or attrs.name in gr["resourceNames"]):
            return True
    return False


@dataclass(frozen=True)
class PolicyRule:
    level: str
    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    verbs: frozenset[str] = frozenset()
    namespaces: frozenset[str] = frozenset()
    resources: tuple[dict[str, Any], ...] = ()
    urls: tuple[str, ...] = ()
    omit: frozenset[str] = frozenset()

    def matches(self, attrs: RequestAttributes) -> bool:
        if self.users and attrs.user.name not in self.users:
            return False
        if self.groups and not self.groups.intersection(attrs.user.groups):
            return False
        if self.verbs and attrs.verb not in self.verbs:
            return False
        if not attrs.resource_request:
            if self.namespaces or self.resources:
                return False
            return not self.urls or any(
                attrs.path == u or (u.endswith("*") and attrs.path.startswith(u[:-1])) for u in self.urls)
        if self.urls:
            return False
        if self.namespaces and attrs.namespace not in self.namespaces:
            return False
        return not self.resources or _matches_resource(list(self.resources), attrs)


@dataclass
class AuditPolicy:
    rules: list[PolicyRule] = field(default_factory=list)
    omit: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, data: Any) -> AuditPolicy:
        if not isinstance(data, dict) or data.get("kind") != "Policy":
            raise ValueError("an audit policy must be a YAML object of kind Policy (audit.k8s.io/v1)")
        omit = frozenset(data.get("omitStages") or ())
        rules = []
        for i, raw in enumerate(data.get("rules") or []):
            level = raw.get("level") if isinstance(raw, dict) else None
            if level not in LEVELS:
                raise ValueError(f"rules[{i}].level: {level!r} is not one of {', '.join(LEVELS)}")
            bad = set(raw.get("omitStages") or ()) - set(STAGES)
            if bad or not omit <= set(STAGES):
                raise ValueError(f"rules[{i}].omitStages: unknown stage(s) {sorted(bad or omit - set(STAGES))}")
            rules.append(PolicyRule(level, frozenset(raw.get("users") or ()), frozenset(raw.get("userGroups") or ()),
                                    frozenset(raw.get("verbs") or ()), frozenset(raw.get("namespaces") or ()),
                                    tuple(raw.get("resources") or ()), tuple(raw.get("nonResourceURLs") or ()),
                                    frozenset(raw.get("omitStages") or ())))
        return cls(rules, omit)

    @classmethod
    def load(cls, path: str) -> AuditPolicy:
        try:
            data = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as e:
            raise ValueError(f"cannot read the audit policy {path}: {e}") from None
        return cls.parse(data)

    def level_of(self, attrs: RequestAttributes) -> tuple[str, frozenset[str]]:
        for rule in self.rules:
            if rule.matches(attrs):
                return rule.level, self.omit | rule.omit
        return "None", self.omit


def _ts(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AuditLog:
    def __init__(self, path: str, policy: AuditPolicy, *, max_bytes: int = 100 * 1024 * 1024,
                 backups: int = 10) -> None:
        self.policy = policy
        self.logger = logging.getLogger(f"kubelite.audit.{uuid.uuid4().hex}")
        self.logger.propagate = False
        self.logger.setLevel(logging.INFO)
        handler: logging.Handler
        if path == "-":
            handler = logging.StreamHandler(sys.stdout)
        else:
            handler = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups,
                                                           encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(message)s"))
        self.logger.addHandler(handler)

    def write(self, event: dict[str, Any]) -> None:
        self.logger.info(json.dumps(event, separators=(",", ":"), ensure_ascii=False))

    def close(self) -> None:
        for h in list(self.logger.handlers):
            h.close()
            self.logger.removeHandler(h)

    def begin(self, scope: MutableMapping[str, Any]) -> AuditRecord | None:
        user = user_of(cast(dict[str, Any], scope)) or ANONYMOUS_USER
        method = scope.get("method") or ("POST" if scope.get("type") == "websocket" else "GET")
        attrs = request_attributes(user, method, str(scope.get("path", "/")), scope.get("query_string", b""))
        level, omit = self.policy.level_of(attrs)
        if level == "None":
            return None
        record = AuditRecord(self, scope, attrs, level, omit)
        record.emit("RequestReceived")
        return record


class AuditRecord:
    def __init__(self, log: AuditLog, scope: MutableMapping[str, Any], attrs: RequestAttributes, level: str,
                 omit: frozenset[str]) -> None:
        self.log, self.attrs, self.level, self.omit = log, attrs, level, omit
        self.long_running = is_long_running(scope)
        self.started_s = time.time()
        self.code = 0
        self.decision: tuple[str, str] | None = None
        self.request_body = bytearray()
        self.keep_response = False
        self.response_body = bytearray()
        query = scope.get("query_string", b"")
        query_s = query.decode("latin-1") if isinstance(query, bytes) else str(query)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        self.base: dict[str, Any] = {
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level, "auditID": str(uuid.uuid4()),
            "requestURI": str(scope.get("path", "")) + (f"?{query_s}" if query_s else ""), "verb": attrs.verb,
            "user": {"username": attrs.user.name, **({"uid": attrs.user.uid} if attrs.user.uid else {}),
                     "groups": list(attrs.user.groups)},
            "sourceIPs": [str((scope.get("client") or ("",))[0])], "userAgent": headers.get("user-agent", ""),
        }
        if attrs.resource_request:
            ref = {"resource": attrs.resource, "namespace": attrs.namespace, "name": attrs.name,
                   "apiGroup": attrs.api_group, "apiVersion": attrs.api_version, "subresource": attrs.subresource}
            self.base["objectRef"] = {k: v for k, v in ref.items() if v}

    def authorized(self, allowed: bool, reason: str = "") -> None:
        self.decision = ("allow" if allowed else "forbid", reason)

    def wrap(self, receive: Receive, send: Send) -> tuple[Receive, Send]:
        keep_request = self.level in ("Request", "RequestResponse")
        self.keep_response = self.level == "RequestResponse" and not self.long_running

        async def audit_receive() -> Message:
            message = await receive()
            if keep_request and message.get("type") == "http.request" and len(self.request_body) <= BODY_LIMIT:
                self.request_body += message.get("body", b"")
            return message

        async def audit_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.code = int(message.get("status", 0))
                if self.long_running:
                    self.emit("ResponseStarted")
            elif (message["type"] == "http.response.body" and (self.keep_response or self.code >= 400)
                  and not self.long_running and len(self.response_body) <= BODY_LIMIT):
                self.response_body += message.get("body", b"")
            elif message["type"] == "websocket.accept":
                self.code = 101
                self.emit("ResponseStarted")
            elif message["type"] == "websocket.close" and not self.code:
                self.code = 403
            await send(message)

        return audit_receive, audit_send

    def emit(self, stage: str) -> None:
        if stage in self.omit:
            return
        now_s = time.time()
        event = {**self.base, "stage": stage, "requestReceivedTimestamp": _ts(self.started_s),
                 "stageTimestamp": _ts(now_s)}
        if stage in ("ResponseStarted", "ResponseComplete", "Panic"):
            event["responseStatus"] = self._status()
        annotations = {}
        if self.decision is not None:
            annotations["authorization.k8s.io/decision"] = self.decision[0]
            annotations["authorization.k8s.io/reason"] = self.decision[1]
        if stage in ("ResponseComplete", "Panic"):
            annotations["kubelite.io/latency-seconds"] = f"{now_s - self.started_s:.6f}"
            if self.request_body:
                event["requestObject"] = _json_or_none(bytes(self.request_body))
            if self.response_body and self.keep_response:
                event["responseObject"] = _json_or_none(bytes(self.response_body))
        if annotations:
            event["annotations"] = annotations
        self.log.write({k: v for k, v in event.items() if v is not None})

    def _status(self) -> dict[str, Any]:
        status: dict[str, Any] = {"metadata": {}, "code": self.code or 500}
        body = _json_or_none(bytes(self.response_body)) if self.response_body else None
        if isinstance(body, dict) and body.get("kind") == "Status":
            for key in ("status", "reason", "message"):
                if body.get(key):
                    status[key] = body[key]
        return status

    def finish(self, *, panicked: bool = False) -> None:
        if panicked:
            self.code = self.code or 500
        self.emit("Panic" if panicked else "ResponseComplete")


def _json_or_none(data: bytes) -> Any:
    if len(data) > BODY_LIMIT:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None
