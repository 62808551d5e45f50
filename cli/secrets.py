"""`kubelite secrets reencrypt [-n NS | -A]`: the storage migration that ends a key rotation.

Contract: every Secret (of the namespace, default the context's, or of all namespaces with
-A) is written back unchanged with PUT (its resourceVersion; a 409 re-reads and retries, a
404 means it was deleted meanwhile and is skipped). The API server stores what it writes with
the first provider of its EncryptionConfiguration, and writes a value read with another key
or in plaintext even when the object did not change (apiserver/storage/encryption.py: the
stale flag, as Kubernetes' GuaranteedUpdate), so afterwards every Secret is under the first
key and the old key can be removed. Prints `secret/NAME reencrypted` per Secret (with -A
`NS/secret/NAME`) and exits 0; the first other error stops with kubectl's message.
"""

from __future__ import annotations

from typing import Any

import typer

from cli.errors import run
from cli.session import Globals, open_client
from machinery import errors

secrets_app = typer.Typer(help="Secrets maintenance (encryption at rest).", no_args_is_help=True)


async def reencrypt(g: Globals, *, all_namespaces: bool) -> int:
    client, default_ns = open_client(g)
    ns = None if all_namespaces else (g.namespace or default_ns)
    base = f"/api/v1/namespaces/{ns}/secrets" if ns else "/api/v1/secrets"
    async with client:
        listed = dict(await client.request("GET", base))
        for item in listed.get("items") or []:
            meta = item.get("metadata") or {}
            name, item_ns = meta.get("name", ""), meta.get("namespace", "")
            path = f"/api/v1/namespaces/{item_ns}/secrets/{name}"
            obj: dict[str, Any] = {**item, "apiVersion": "v1", "kind": "Secret"}
            for _ in range(5):
                try:
                    await client.request("PUT", path, json=obj)
                    break
                except errors.Conflict:
                    obj = dict(await client.request("GET", path))
                except errors.NotFound:
                    break
            print(f"{item_ns + '/' if all_namespaces else ''}secret/{name} reencrypted")
    return 0


@secrets_app.command("reencrypt")
def reencrypt_cmd(ctx: typer.Context,
                  namespace: str | None = typer.Option(None, "--namespace", "-n"),
                  all_namespaces: bool = typer.Option(False, "--all-namespaces", "-A")) -> None:
    """Rewrite every Secret so it is stored with the first encryption key."""
    obj: Any = ctx.find_root().obj
    g = obj if isinstance(obj, Globals) else Globals()
    if namespace:
        g = Globals(g.kubeconfig, g.context, g.server, namespace)
    run(reencrypt(g, all_namespaces=all_namespaces))


def register(app: typer.Typer) -> None:
    app.add_typer(secrets_app, name="secrets")
