"""authorization.k8s.io/v1: SubjectAccessReview, SelfSubjectAccessReview,
LocalSubjectAccessReview (create-only: never stored, answered by the authorizers).

Contract: `spec` asks about either `resourceAttributes` (namespace, verb, group, version,
resource, subresource, name) or `nonResourceAttributes` (path, verb) for `user`/`groups`
(SubjectAccessReview) or for the requester (SelfSubjectAccessReview); the answer is
`status.allowed` (and `denied`, `reason`, `evaluationError`). `VERBS = ("create",)`: discovery
lists them as create-only, as Kubernetes does. They are in `registry.REVIEW_KINDS`, not in
ALL_KINDS.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict

from machinery.meta import Resource
from machinery.models._base import StrictModel


class ResourceAttributes(StrictModel):
    namespace: str | None = None
    verb: str | None = None
    group: str | None = None
    version: str | None = None
    resource: str | None = None
    subresource: str | None = None
    name: str | None = None


class NonResourceAttributes(StrictModel):
    path: str | None = None
    verb: str | None = None


class SubjectAccessReviewSpec(StrictModel):
    resourceAttributes: ResourceAttributes | None = None
    nonResourceAttributes: NonResourceAttributes | None = None
    user: str | None = None
    groups: list[str] | None = None
    extra: dict[str, list[str]] | None = None
    uid: str | None = None


class SelfSubjectAccessReviewSpec(StrictModel):
    resourceAttributes: ResourceAttributes | None = None
    nonResourceAttributes: NonResourceAttributes | None = None


class SubjectAccessReviewStatus(StrictModel):
    allowed: bool = False
    denied: bool | None = None
    reason: str | None = None
    evaluationError: str | None = None


class _Review(Resource):
    model_config = ConfigDict(strict=True)

    GROUP: ClassVar[str] = "authorization.k8s.io"
    NAMESPACED: ClassVar[bool] = False
    VERBS: ClassVar[tuple[str, ...]] = ("create",)

    status: SubjectAccessReviewStatus | None = None


class SubjectAccessReview(_Review):
    KIND: ClassVar[str] = "SubjectAccessReview"
    PLURAL: ClassVar[str] = "subjectaccessreviews"
    SINGULAR: ClassVar[str] = "subjectaccessreview"

    spec: SubjectAccessReviewSpec | None = None


class SelfSubjectAccessReview(_Review):
    KIND: ClassVar[str] = "SelfSubjectAccessReview"
    PLURAL: ClassVar[str] = "selfsubjectaccessreviews"
    SINGULAR: ClassVar[str] = "selfsubjectaccessreview"

    spec: SelfSubjectAccessReviewSpec | None = None


class LocalSubjectAccessReview(_Review):
    KIND: ClassVar[str] = "LocalSubjectAccessReview"
    PLURAL: ClassVar[str] = "localsubjectaccessreviews"
    SINGULAR: ClassVar[str] = "localsubjectaccessreview"
    NAMESPACED: ClassVar[bool] = True

    spec: SubjectAccessReviewSpec | None = None


__all__ = ["LocalSubjectAccessReview", "NonResourceAttributes", "ResourceAttributes", "SelfSubjectAccessReview",
           "SelfSubjectAccessReviewSpec", "SubjectAccessReview", "SubjectAccessReviewSpec",
           "SubjectAccessReviewStatus"]
