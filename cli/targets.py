"""Which objects a workload verb (`scale`, `rollout ...`, `set ...`) is aimed at.

Contract: `parse_targets(args, allowed=...)` accepts kubectl's two spellings, `KIND/NAME...`
and `KIND NAME...`, and returns `Target(cls, name)` in argument order. A kind outside
`allowed` (model KIND names, e.g. {"Deployment"}) raises CliError naming `verb`;
no names at all raises CliError naming what was expected. `label(target)` is how kubectl
names an object in its messages (`deployment.apps/web`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from cli.errors import CliError
from cli.session import kind_label, resolve_kind


@dataclass(frozen=True)
class Target:
    cls: type[Any]
    name: str

    @property
    def label(self) -> str:
        return f"{kind_label(self.cls)}/{self.name}"

    @property
    def plural(self) -> str:
        """`deployments.apps`: how kubectl names the resource in some errors."""
        return f"{self.cls.PLURAL}.{self.cls.GROUP}" if self.cls.GROUP else str(self.cls.PLURAL)


def _check(cls: type[Any], allowed: Collection[str] | None, verb: str) -> type[Any]:
    if allowed is not None and cls.KIND not in allowed:
        raise CliError(f'{verb} is not supported for {kind_label(cls)} (it works on '
                       f'{", ".join(sorted(a.lower() for a in allowed))})')
    return cls


def parse_targets(args: list[str], *, allowed: Collection[str] | None = None,
                  verb: str = "this command") -> list[Target]:
    if not args:
        raise CliError("required resource not specified: use KIND/NAME or KIND NAME")
    if "/" in args[0]:
        out = []
        for arg in args:
            kind, sep, name = arg.partition("/")
            if not sep or not kind or not name:
                raise CliError(f"there is no need to specify a resource type as a separate argument when "
                               f"passing arguments in resource/name form: {arg}")
            out.append(Target(_check(resolve_kind(kind), allowed, verb), name))
        return out
    if len(args) < 2:
        raise CliError(f'resource(s) were provided, but no name was specified: "{args[0]}"')
    cls = _check(resolve_kind(args[0]), allowed, verb)
    return [Target(cls, name) for name in args[1:]]
