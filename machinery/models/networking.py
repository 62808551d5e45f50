"""networking.k8s.io/v1 NetworkPolicy.

Contract: Kubernetes field names and nesting (`staging/src/k8s.io/api/networking/v1/types.go`).
The proxy's policy agent (proxy/netpol.py) enforces them; defaulting (machinery/defaults.py)
sets each port's protocol to TCP and `policyTypes` to `[Ingress]` plus `Egress` when egress
rules are given, as Kubernetes' SetDefaults_NetworkPolicy. `from`/`except` are Python
keywords: the attributes are `from_`/`except_`, the wire names stay `from`/`except`. A
NetworkPolicy has no status in networking/v1 (the field was removed in 1.28).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict, Field

from machinery.meta import LabelSelector, Resource
from machinery.models._base import IntOrString, StrictModel

POLICY_TYPES = ("Ingress", "Egress")
POLICY_PROTOCOLS = ("TCP", "UDP", "SCTP")


class IPBlock(StrictModel):
    cidr: str = ""
    except_: list[str] | None = Field(default=None, alias="except")


class NetworkPolicyPeer(StrictModel):
    podSelector: LabelSelector | None = None
    namespaceSelector: LabelSelector | None = None
    ipBlock: IPBlock | None = None


class NetworkPolicyPort(StrictModel):
    protocol: str | None = None
    port: IntOrString | None = None
    endPort: int | None = None


class NetworkPolicyIngressRule(StrictModel):
    ports: list[NetworkPolicyPort] | None = None
    from_: list[NetworkPolicyPeer] | None = Field(default=None, alias="from")


class NetworkPolicyEgressRule(StrictModel):
    ports: list[NetworkPolicyPort] | None = None
    to: list[NetworkPolicyPeer] | None = None


class NetworkPolicySpec(StrictModel):
    podSelector: LabelSelector | None = None
    ingress: list[NetworkPolicyIngressRule] | None = None
    egress: list[NetworkPolicyEgressRule] | None = None
    policyTypes: list[str] | None = None


class NetworkPolicy(Resource):
    model_config = ConfigDict(strict=True)

    GROUP: ClassVar[str] = "networking.k8s.io"
    KIND: ClassVar[str] = "NetworkPolicy"
    PLURAL: ClassVar[str] = "networkpolicies"
    SINGULAR: ClassVar[str] = "networkpolicy"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("netpol",)

    spec: NetworkPolicySpec | None = None

    def policy_types(self) -> list[str]:
        """The effective policyTypes (the defaulting rule, for objects that skipped it)."""
        spec = self.spec or NetworkPolicySpec()
        if spec.policyTypes:
            return list(spec.policyTypes)
        return ["Ingress", "Egress"] if spec.egress else ["Ingress"]


__all__ = ["POLICY_PROTOCOLS", "POLICY_TYPES", "IPBlock", "NetworkPolicy", "NetworkPolicyEgressRule",
           "NetworkPolicyIngressRule", "NetworkPolicyPeer", "NetworkPolicyPort", "NetworkPolicySpec"]
