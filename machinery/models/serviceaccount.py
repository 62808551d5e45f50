"""core/v1 ServiceAccount, and the authentication.k8s.io/v1 bodies that go with it: TokenRequest
(the serviceaccounts/token subresource) and SelfSubjectReview (`kubectl auth whoami`).

ServiceAccount has no status (as in Kubernetes). TokenRequest and SelfSubjectReview are never
stored: the API server answers them (apiserver/authn_reviews.py and the token subresource).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ConfigDict

from machinery.meta import Resource
from machinery.models._base import LocalObjectReference, ObjectReference, StrictModel

__all__ = ["BoundObjectReference", "SelfSubjectReview", "ServiceAccount", "TokenRequest", "TokenRequestSpec",
           "TokenRequestStatus", "TokenReview", "TokenReviewSpec"]


class ServiceAccount(Resource):
    model_config = ConfigDict(strict=True)

    KIND: ClassVar[str] = "ServiceAccount"
    PLURAL: ClassVar[str] = "serviceaccounts"
    SINGULAR: ClassVar[str] = "serviceaccount"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("sa",)
    SUBRESOURCES: ClassVar[tuple[str, ...]] = ("token",)

    secrets: list[ObjectReference] | None = None
    imagePullSecrets: list[LocalObjectReference] | None = None
    automountServiceAccountToken: bool | None = None


class BoundObjectReference(StrictModel):
    kind: str | None = None
    apiVersion: str | None = None
    name: str | None = None
    uid: str | None = None


class TokenRequestSpec(StrictModel):
    audiences: list[str] | None = None
    expirationSeconds: int | None = None
    boundObjectRef: BoundObjectReference | None = None


class TokenRequestStatus(StrictModel):
    token: str | None = None
    expirationTimestamp: str | None = None


class TokenRequest(Resource):
    GROUP: ClassVar[str] = "authentication.k8s.io"
    KIND: ClassVar[str] = "TokenRequest"
    PLURAL: ClassVar[str] = "token"
    SINGULAR: ClassVar[str] = "tokenrequest"

    spec: TokenRequestSpec | None = None
    status: TokenRequestStatus | None = None


class SelfSubjectReview(Resource):
    GROUP: ClassVar[str] = "authentication.k8s.io"
    KIND: ClassVar[str] = "SelfSubjectReview"
    PLURAL: ClassVar[str] = "selfsubjectreviews"
    SINGULAR: ClassVar[str] = "selfsubjectreview"
    NAMESPACED: ClassVar[bool] = False

    status: dict[str, Any] | None = None


class TokenReviewSpec(StrictModel):
    token: str | None = None
    audiences: list[str] | None = None


class TokenReview(Resource):
    """authentication.k8s.io/v1 TokenReview: "whose token is this?" (create-only, never stored;
    what webhook token authenticators and the kubelet's delegated authentication ask)."""

    GROUP: ClassVar[str] = "authentication.k8s.io"
    KIND: ClassVar[str] = "TokenReview"
    PLURAL: ClassVar[str] = "tokenreviews"
    SINGULAR: ClassVar[str] = "tokenreview"
    NAMESPACED: ClassVar[bool] = False
    VERBS: ClassVar[tuple[str, ...]] = ("create",)

    spec: TokenReviewSpec | None = None
    status: dict[str, Any] | None = None
