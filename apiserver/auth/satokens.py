"""ServiceAccount tokens: ES256 JSON Web Tokens as Kubernetes' bound service account tokens.

Contract:
- `TokenSigner(private_key_pem, issuer)`: `sign(claims) -> str` (compact JWS, header
  `{"alg": "ES256", "kid": KEY_ID}`, KEY_ID the SHA-256 of the public key's DER, as Kubernetes').
- `TokenVerifier([key_pem, ...], issuers)` (one public or private key per PEM): `verify(token, now) -> dict` the claims when the
  signature is valid with one of the keys, the issuer is one of `issuers`, and `nbf`/`exp` hold
  at `now` (a `LEEWAY_S` of 60 s for `nbf`, none for `exp`); raises `InvalidToken` otherwise.
  A token that is not a JWT at all raises `NotAJwt` (the authenticator then tries others).
- `bound_claims(...)`: the claims of a token for ServiceAccount NS/NAME (uid), bound to a pod
  (name, uid) or a secret/node when given: `iss`, `sub` = `system:serviceaccount:NS:NAME`,
  `aud`, `iat`, `nbf`, `exp`, `jti` and the private `kubernetes.io` claim
  `{namespace, serviceaccount: {name, uid}, pod?: {name, uid}, node?: {name, uid}}`.
Keys: ECDSA P-256 (machinery/pki.py writes sa.key/sa.pub).
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

LEEWAY_S = 60.0
DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local"


class InvalidToken(Exception):
    """A JWT that does not authenticate anyone (bad signature, issuer, audience, expired...)."""


class NotAJwt(InvalidToken):
    """Not a JWT: some other authenticator may know the token."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return _b64(hashlib.sha256(der).digest())


class TokenSigner:
    def __init__(self, private_key_pem: bytes, issuer: str = DEFAULT_ISSUER) -> None:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError("the service account signing key must be an ECDSA P-256 key")
        self._key = key
        self.issuer = issuer
        self.kid = key_id(key.public_key())

    def sign(self, claims: dict[str, Any]) -> str:
        header = _b64(json.dumps({"alg": "ES256", "kid": self.kid}, separators=(",", ":")).encode())
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        der = self._key.sign(f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{header}.{payload}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def _public_key(pem: bytes) -> ec.EllipticCurvePublicKey:
    """The public key of a PEM file holding one public key, or a private key (its public half)."""
    try:
        if b"PRIVATE KEY" in pem:
            priv = serialization.load_pem_private_key(pem, password=None)
            if isinstance(priv, ec.EllipticCurvePrivateKey):
                return priv.public_key()
        else:
            pub = serialization.load_pem_public_key(pem)
            if isinstance(pub, ec.EllipticCurvePublicKey):
                return pub
    except ValueError as exc:
        raise ValueError(f"not a PEM key: {exc}") from None
    raise ValueError("the service account key must be an ECDSA key")


class TokenVerifier:
    def __init__(self, public_pems: Sequence[bytes], issuers: Sequence[str]) -> None:
        self._keys = {key_id(k): k for k in (_public_key(pem) for pem in public_pems)}
        if not self._keys:
            raise ValueError("no public key for service account token verification")
        self.issuers = tuple(issuers)

    def verify(self, token: str, now: float) -> dict[str, Any]:
        parts = token.split(".")
        if len(parts) != 3:
            raise NotAJwt("not a JWT")
        try:
            header = json.loads(_unb64(parts[0]))
            claims = json.loads(_unb64(parts[1]))
            sig = _unb64(parts[2])
        except ValueError:
            raise NotAJwt("not a JWT") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise NotAJwt("not a JWT")
        if claims.get("iss") not in self.issuers:
            raise NotAJwt("issued by someone else")  # e.g. an OIDC token: not ours to judge
        if header.get("alg") != "ES256" or len(sig) != 64:
            raise InvalidToken("unsupported signature algorithm")
        candidates = [self._keys[header["kid"]]] if header.get("kid") in self._keys else list(self._keys.values())
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        signed = f"{parts[0]}.{parts[1]}".encode()
        for key in candidates:
            try:
                key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
                break
            except InvalidSignature:
                continue
        else:
            raise InvalidToken("invalid signature")
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, int | float) or now >= exp:
            raise InvalidToken("token has expired")
        if isinstance(nbf, int | float) and now + LEEWAY_S < nbf:
            raise InvalidToken("token is not valid yet")
        return claims


def bound_claims(*, issuer: str, audiences: Sequence[str], namespace: str, sa_name: str, sa_uid: str,
                 now: float, expiration_s: int, pod: tuple[str, str] | None = None,
                 node: tuple[str, str] | None = None, secret: tuple[str, str] | None = None) -> dict[str, Any]:
    private: dict[str, Any] = {"namespace": namespace, "serviceaccount": {"name": sa_name, "uid": sa_uid}}
    for key, ref in (("pod", pod), ("node", node), ("secret", secret)):
        if ref is not None:
            private[key] = {"name": ref[0], "uid": ref[1]}
    iat = int(now)
    return {"aud": list(audiences), "exp": iat + int(expiration_s), "iat": iat, "iss": issuer,
            "jti": str(uuid.uuid4()), "kubernetes.io": private, "nbf": iat,
            "sub": f"system:serviceaccount:{namespace}:{sa_name}"}
