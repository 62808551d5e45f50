"""`kubelite --help` grouped as `kubectl --help` is (its command groups, in its order).

Contract: `PANELS` maps a top-level command name to kubectl's group title; `apply_panels(app)`
sets typer's `rich_help_panel` on every registered command and sub-group named there, and
sorts the commands so each panel lists them in kubectl's order. Commands kubectl does not have
(`up`, `down`, `why`, `lab`...) go to the kubelite groups at the end. A command missing from
the map lands in "Other Commands", so a new verb is never hidden. Verbs other modules own
(top, autoscale, auth) are listed here already; registering them is enough.
"""

from __future__ import annotations

import typer

BEGINNER = "Basic Commands (Beginner)"
INTERMEDIATE = "Basic Commands (Intermediate)"
DEPLOY = "Deploy Commands"
CLUSTER = "Cluster Management Commands"
TROUBLESHOOT = "Troubleshooting and Debugging Commands"
ADVANCED = "Advanced Commands"
SETTINGS = "Settings Commands"
OTHER = "Other Commands"
LOCAL = "Local Cluster Commands (kubelite)"

PANELS: dict[str, str] = {
    "create": BEGINNER, "expose": BEGINNER, "run": BEGINNER, "set": BEGINNER,
    "explain": INTERMEDIATE, "get": INTERMEDIATE, "edit": INTERMEDIATE, "delete": INTERMEDIATE,
    "rollout": DEPLOY, "scale": DEPLOY, "autoscale": DEPLOY,
    "certificate": CLUSTER, "cluster-info": CLUSTER, "top": CLUSTER, "cordon": CLUSTER, "uncordon": CLUSTER,
    "drain": CLUSTER, "taint": CLUSTER,
    "describe": TROUBLESHOOT, "logs": TROUBLESHOOT, "attach": TROUBLESHOOT, "exec": TROUBLESHOOT,
    "port-forward": TROUBLESHOOT, "proxy": TROUBLESHOOT, "cp": TROUBLESHOOT, "auth": TROUBLESHOOT,
    "debug": TROUBLESHOOT, "events": TROUBLESHOOT, "why": TROUBLESHOOT,
    "diff": ADVANCED, "apply": ADVANCED, "patch": ADVANCED, "replace": ADVANCED, "wait": ADVANCED,
    "kustomize": ADVANCED,
    "label": SETTINGS, "annotate": SETTINGS, "completion": SETTINGS,
    "api-resources": OTHER, "api-versions": OTHER, "config": OTHER, "plugin": OTHER, "version": OTHER,
    "up": LOCAL, "down": LOCAL, "status": LOCAL, "join": LOCAL, "token": LOCAL, "image": LOCAL, "lab": LOCAL,
    "backup": LOCAL, "restore": LOCAL, "secrets": LOCAL,
}
ORDER = list(PANELS)


def rank(name: str | None) -> int:
    return ORDER.index(name) if name in PANELS else len(ORDER)


def apply_panels(app: typer.Typer) -> None:
    for command in app.registered_commands:
        name = command.name or (command.callback.__name__.replace("_", "-") if command.callback else None)
        command.name = name
        command.rich_help_panel = PANELS.get(name or "", OTHER)
    for group in app.registered_groups:
        group.rich_help_panel = PANELS.get(group.name or "", OTHER)
    app.registered_commands.sort(key=lambda c: rank(c.name))
    app.registered_groups.sort(key=lambda g: rank(g.name))
