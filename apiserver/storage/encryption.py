"""Encryption at rest of stored values (Kubernetes' EncryptionConfiguration, aesgcm provider).

Contract:
- `EncryptionConfig.load(path)` reads an `apiserver.config.k8s.io/v1` `EncryptionConfiguration`
  (YAML or JSON): `resources: [{resources: [secrets, configmaps, deployments.apps, *.*],
  providers: [{aesgcm: {keys: [{name, secret: base64 of 16, 24 or 32 bytes}]}}, {identity: {}}]}]`.
  A bad file (unknown provider, bad key size, duplicate key names, no providers) raises
  ValueError at start. Only `aesgcm` and `identity` are supported (Kubernetes also has
  aescbc, secretbox and KMS).
- `config.transformer_for(key)` -> the `Transformer` of the first entry naming the key's
  resource (`/registry/secrets/...` is `secrets`; an entry may say `secrets` or
  `secrets.` for the core group, `deployments.apps`, `*.apps` or `*.*`), or None: plaintext.
- `Transformer.write(key, data)`: with the FIRST provider (identity: the data as is; aesgcm:
  `k8s:enc:aesgcm:v1:KEYNAME:` + 12-byte random nonce + AES-GCM(data) with the etcd key as
  associated data, Kubernetes' format). `read(key, value) -> (data, stale)`: a value with the
  aesgcm prefix is decrypted with the key it names, whichever position it has; anything else
  is plaintext when an identity provider is listed. `stale` says the value was not written
  by the first provider (or key): a storage rewrite re-encrypts it, which is how rotation
  ends (add key2 first, restart, rewrite everything, drop key1). A value no provider reads
  raises errors.InternalError naming the key (never plaintext garbage).
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from machinery import errors, registry

PREFIX = b"k8s:enc:aesgcm:v1:"
NONCE_BYTES = 12


@dataclass
class Transformer:
    keys: list[tuple[str, AESGCM]] = field(default_factory=list)
    """The aesgcm keys by name, in file order (empty: no aesgcm provider)."""
    write_with: str = "identity"
    """The first provider: "identity" or "aesgcm"."""
    identity: bool = False
    """An identity provider is listed: plaintext values are readable."""

    def write(self, key: str, data: bytes) -> bytes:
        if self.write_with == "identity":
            return data
        name, aead = self.keys[0]
        nonce = os.urandom(NONCE_BYTES)
        return PREFIX + name.encode() + b":" + nonce + aead.encrypt(nonce, data, key.encode())

    def read(self, key: str, value: bytes) -> tuple[bytes, bool]:
        if value.startswith(PREFIX):
            rest = value[len(PREFIX):]
            name, sep, blob = rest.partition(b":")
            for i, (key_name, aead) in enumerate(self.keys):
                if sep and key_name.encode() == name:
                    try:
                        data = aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], key.encode())
                    except InvalidTag:
                        break
                    return data, not (self.write_with == "aesgcm" and i == 0)
            raise errors.InternalError(f"cannot decrypt the stored value of {key}: no matching aesgcm key "
                                       f"({name.decode(errors='replace')!r})")
        if self.identity:
            return value, self.write_with != "identity"
        raise errors.InternalError(f"the stored value of {key} is not encrypted and no identity provider is configured")


def _aead(raw: Any, where: str) -> tuple[str, AESGCM]:
    if not isinstance(raw, dict) or not raw.get("name") or not raw.get("secret"):
        raise ValueError(f"{where}: a key needs a name and a secret")
    try:
        secret = base64.b64decode(str(raw["secret"]), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{where}.secret: not valid base64") from None
    if len(secret) not in (16, 24, 32):
        raise ValueError(f"{where}.secret: an AES key is 16, 24 or 32 bytes, got {len(secret)}")
    return str(raw["name"]), AESGCM(secret)


def _transformer(providers: Any, where: str) -> Transformer:
    if not isinstance(providers, list) or not providers:
        raise ValueError(f"{where}.providers: at least one provider is required")
    t = Transformer()
    for i, p in enumerate(providers):
        kinds = list(p) if isinstance(p, dict) else []
        if len(kinds) != 1 or kinds[0] not in ("aesgcm", "identity"):
            raise ValueError(f"{where}.providers[{i}]: exactly one of aesgcm, identity (kubelite supports these "
                             f"two), got {kinds}")
        if i == 0:
            t.write_with = kinds[0]
        if kinds[0] == "identity":
            t.identity = True
            continue
        keys = (p["aesgcm"] or {}).get("keys") or []
        if not keys:
            raise ValueError(f"{where}.providers[{i}].aesgcm.keys: at least one key is required")
        for j, raw in enumerate(keys):
            name, aead = _aead(raw, f"{where}.providers[{i}].aesgcm.keys[{j}]")
            if any(n == name for n, _ in t.keys):
                raise ValueError(f"{where}.providers[{i}].aesgcm.keys[{j}].name: duplicate key name {name!r}")
            t.keys.append((name, aead))
    return t


@dataclass
class EncryptionConfig:
    entries: list[tuple[list[str], Transformer]] = field(default_factory=list)

    @classmethod
    def parse(cls, data: Any) -> EncryptionConfig:
        if not isinstance(data, dict) or data.get("kind") != "EncryptionConfiguration":
            raise ValueError("an encryption provider config must be a YAML object of kind EncryptionConfiguration")
        out = cls()
        for i, entry in enumerate(data.get("resources") or []):
            names = entry.get("resources") if isinstance(entry, dict) else None
            if not isinstance(names, list) or not names:
                raise ValueError(f"resources[{i}].resources: at least one resource is required")
            out.entries.append(([str(n) for n in names], _transformer(entry.get("providers"), f"resources[{i}]")))
        return out

    @classmethod
    def load(cls, path: str) -> EncryptionConfig:
        try:
            data = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as e:
            raise ValueError(f"cannot read the encryption provider config {path}: {e}") from None
        return cls.parse(data)

    def transformer_for(self, key: str) -> Transformer | None:
        parts = key.split("/")
        plural = parts[2] if len(parts) > 2 and parts[1] == "registry" else ""
        if not plural:
            return None
        group = _GROUPS.get(plural, "")
        for names, transformer in self.entries:
            for name in names:
                want_resource, _, want_group = name.partition(".")
                if (want_resource in ("*", plural)) and (want_group in ("*", group)):
                    return transformer
        return None


# kubelite's keys carry the plural only (unique across groups); the group comes from the registry.
_GROUPS = {cls.PLURAL: cls.GROUP for cls in registry.ALL_KINDS}
