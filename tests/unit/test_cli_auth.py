"""`kubelite auth can-i`: the SelfSubjectAccessReview attributes kubectl would send."""

from __future__ import annotations

import pytest

from cli.auth import resource_attributes


def test_resource_resolution_as_kubectl() -> None:
    assert resource_attributes("list", "po", "", "ns", "") == {
        "namespace": "ns", "verb": "list", "group": "", "resource": "pods"}
    assert resource_attributes("create", "deploy", "", "", "") == {
        "namespace": "", "verb": "create", "group": "apps", "resource": "deployments"}
    assert resource_attributes("get", "pods/log", "p", "ns", "") == {
        "namespace": "ns", "verb": "get", "group": "", "resource": "pods", "subresource": "log", "name": "p"}
    assert resource_attributes("get", "*", "", "", "")["resource"] == "*"


def test_unknown_resource_warns_and_keeps_group(capsys: pytest.CaptureFixture[str]) -> None:
    assert resource_attributes("get", "widgets.example.com", "", "ns", "") == {
        "namespace": "ns", "verb": "get", "group": "example.com", "resource": "widgets"}
    assert "the server doesn't have a resource type 'widgets.example.com'" in capsys.readouterr().err
