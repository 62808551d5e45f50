"""Encryption at rest without etcd: the EncryptionConfiguration file, Kubernetes' aesgcm value
format, reads with any listed key, writes with the first, the stale flag, and bad configs."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from apiserver.storage.encryption import PREFIX, EncryptionConfig
from machinery import errors

K1 = base64.b64encode(b"1" * 32).decode()
K2 = base64.b64encode(b"2" * 32).decode()
KEY = "/registry/secrets/default/s"


def config(*providers: dict[str, Any], resources: tuple[str, ...] = ("secrets",)) -> EncryptionConfig:
    return EncryptionConfig.parse({"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
                                   "resources": [{"resources": list(resources), "providers": list(providers)}]})


def aesgcm(*keys: tuple[str, str]) -> dict[str, Any]:
    return {"aesgcm": {"keys": [{"name": n, "secret": s} for n, s in keys]}}


def test_roundtrip_and_format() -> None:
    t = config(aesgcm(("key1", K1)), {"identity": {}}).transformer_for(KEY)
    assert t is not None
    stored = t.write(KEY, b'{"data": "x"}')
    assert stored.startswith(PREFIX + b"key1:") and b"data" not in stored
    assert t.read(KEY, stored) == (b'{"data": "x"}', False)
    assert t.read(KEY, b'{"plain": 1}') == (b'{"plain": 1}', True)  # identity reads old plaintext: stale
    with pytest.raises(errors.InternalError):
        t.read("/registry/secrets/default/other", stored)  # the etcd key is authenticated data


def test_rotation_reads_any_key_writes_the_first() -> None:
    old = config(aesgcm(("key1", K1))).transformer_for(KEY)
    new = config(aesgcm(("key2", K2), ("key1", K1))).transformer_for(KEY)
    assert old is not None and new is not None
    by_old = old.write(KEY, b"v")
    assert new.read(KEY, by_old) == (b"v", True)
    assert new.write(KEY, b"v").startswith(PREFIX + b"key2:")
    assert new.read(KEY, new.write(KEY, b"v")) == (b"v", False)
    with pytest.raises(errors.InternalError, match="no matching aesgcm key"):
        old.read(KEY, new.write(KEY, b"v"))
    with pytest.raises(errors.InternalError, match="no identity provider"):
        old.read(KEY, b"{}")


def test_resource_matching() -> None:
    cfg = config(aesgcm(("k", K1)), resources=("secrets", "deployments.apps"))
    assert cfg.transformer_for("/registry/secrets/ns/x") is not None
    assert cfg.transformer_for("/registry/deployments/ns/x") is not None
    assert cfg.transformer_for("/registry/configmaps/ns/x") is None
    assert config(aesgcm(("k", K1)), resources=("*.apps",)).transformer_for("/registry/replicasets/ns/x") is not None
    assert config(aesgcm(("k", K1)), resources=("*.apps",)).transformer_for("/registry/pods/ns/x") is None
    assert config(aesgcm(("k", K1)), resources=("*.*",)).transformer_for("/registry/pods/ns/x") is not None


@pytest.mark.parametrize(("data", "message"), [
    ({"kind": "Nope"}, "EncryptionConfiguration"),
    ({"kind": "EncryptionConfiguration", "resources": [{"resources": ["secrets"], "providers": []}]}, "provider"),
    ({"kind": "EncryptionConfiguration", "resources": [{"resources": ["secrets"],
                                                        "providers": [{"aescbc": {}}]}]}, "aesgcm, identity"),
    ({"kind": "EncryptionConfiguration", "resources": [{"resources": ["secrets"], "providers": [
        {"aesgcm": {"keys": [{"name": "k", "secret": base64.b64encode(b"short").decode()}]}}]}]}, "16, 24 or 32"),
    ({"kind": "EncryptionConfiguration", "resources": [{"resources": ["secrets"], "providers": [
        {"aesgcm": {"keys": [{"name": "k", "secret": K1}, {"name": "k", "secret": K2}]}}]}]}, "duplicate"),
])
def test_bad_configs(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EncryptionConfig.parse(data)
