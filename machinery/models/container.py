"""core/v1 Container and what hangs off it: ports, env, resources, probes, container status.

Field names, nesting and optionality follow the Kubernetes API reference. Defaults are NOT
applied here (they are `None` until `machinery.defaults.apply_defaults` runs), so a dump
shows exactly what the user sent. Structures we do not interpret (`lifecycle`,
`securityContext`, `grpc` probes) are kept verbatim as dicts.
"""

from __future__ import annotations

from typing import Any

from machinery.models._base import IntOrString, LocalObjectReference, ResourceList, StrictModel


class ContainerPort(StrictModel):
    containerPort: int
    name: str | None = None
    hostPort: int | None = None
    hostIP: str | None = None
    protocol: str | None = None


class ObjectFieldSelector(StrictModel):
    fieldPath: str
    apiVersion: str | None = None


class ConfigMapKeySelector(StrictModel):
    key: str
    name: str | None = None
    optional: bool | None = None


class SecretKeySelector(StrictModel):
    key: str
    name: str | None = None
    optional: bool | None = None


class ResourceFieldSelector(StrictModel):
    resource: str
    containerName: str | None = None
    divisor: IntOrString | None = None


class EnvVarSource(StrictModel):
    fieldRef: ObjectFieldSelector | None = None
    configMapKeyRef: ConfigMapKeySelector | None = None
    secretKeyRef: SecretKeySelector | None = None
    resourceFieldRef: ResourceFieldSelector | None = None


class EnvVar(StrictModel):
    name: str
    value: str | None = None
    valueFrom: EnvVarSource | None = None


class ConfigMapEnvSource(StrictModel):
    name: str | None = None
    optional: bool | None = None


class SecretEnvSource(StrictModel):
    name: str | None = None
    optional: bool | None = None


class EnvFromSource(StrictModel):
    prefix: str | None = None
    configMapRef: ConfigMapEnvSource | None = None
    secretRef: SecretEnvSource | None = None


class ResourceRequirements(StrictModel):
    limits: ResourceList | None = None
    requests: ResourceList | None = None
    claims: list[dict[str, Any]] | None = None


class VolumeMount(StrictModel):
    name: str
    mountPath: str
    readOnly: bool | None = None
    subPath: str | None = None
    subPathExpr: str | None = None
    mountPropagation: str | None = None
    recursiveReadOnly: str | None = None


class ExecAction(StrictModel):
    command: list[str] | None = None


class HTTPHeader(StrictModel):
    name: str
    value: str


class HTTPGetAction(StrictModel):
    port: IntOrString
    path: str | None = None
    host: str | None = None
    scheme: str | None = None
    httpHeaders: list[HTTPHeader] | None = None


class TCPSocketAction(StrictModel):
    port: IntOrString
    host: str | None = None


class Probe(StrictModel):
    exec: ExecAction | None = None
    httpGet: HTTPGetAction | None = None
    tcpSocket: TCPSocketAction | None = None
    grpc: dict[str, Any] | None = None
    initialDelaySeconds: int | None = None
    timeoutSeconds: int | None = None
    periodSeconds: int | None = None
    successThreshold: int | None = None
    failureThreshold: int | None = None
    terminationGracePeriodSeconds: int | None = None

    def handlers(self) -> list[str]:
        """Names of the handlers that are set (a valid probe has exactly one)."""
        return [n for n in ("exec", "httpGet", "tcpSocket", "grpc") if getattr(self, n) is not None]


class Container(StrictModel):
    name: str
    image: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    workingDir: str | None = None
    ports: list[ContainerPort] | None = None
    envFrom: list[EnvFromSource] | None = None
    env: list[EnvVar] | None = None
    resources: ResourceRequirements | None = None
    resizePolicy: list[dict[str, Any]] | None = None
    restartPolicy: str | None = None
    volumeMounts: list[VolumeMount] | None = None
    volumeDevices: list[dict[str, Any]] | None = None
    livenessProbe: Probe | None = None
    readinessProbe: Probe | None = None
    startupProbe: Probe | None = None
    lifecycle: dict[str, Any] | None = None
    terminationMessagePath: str | None = None
    terminationMessagePolicy: str | None = None
    imagePullPolicy: str | None = None
    securityContext: dict[str, Any] | None = None
    stdin: bool | None = None
    stdinOnce: bool | None = None
    tty: bool | None = None


class ContainerStateWaiting(StrictModel):
    reason: str | None = None
    message: str | None = None


class ContainerStateRunning(StrictModel):
    startedAt: str | None = None


class ContainerStateTerminated(StrictModel):
    exitCode: int
    signal: int | None = None
    reason: str | None = None
    message: str | None = None
    startedAt: str | None = None
    finishedAt: str | None = None
    containerID: str | None = None


class ContainerState(StrictModel):
    waiting: ContainerStateWaiting | None = None
    running: ContainerStateRunning | None = None
    terminated: ContainerStateTerminated | None = None


class ContainerStatus(StrictModel):
    name: str
    state: ContainerState | None = None
    lastState: ContainerState | None = None
    ready: bool = False
    started: bool | None = None
    restartCount: int = 0
    image: str = ""
    imageID: str = ""
    containerID: str | None = None
    resources: ResourceRequirements | None = None
    allocatedResources: ResourceList | None = None


__all__ = [
    "ConfigMapEnvSource", "ConfigMapKeySelector", "Container", "ContainerPort", "ContainerState",
    "ContainerStateRunning", "ContainerStateTerminated", "ContainerStateWaiting", "ContainerStatus",
    "EnvFromSource", "EnvVar", "EnvVarSource", "ExecAction", "HTTPGetAction", "HTTPHeader",
    "LocalObjectReference", "ObjectFieldSelector", "Probe", "ResourceFieldSelector",
    "ResourceRequirements", "SecretEnvSource", "SecretKeySelector", "TCPSocketAction", "VolumeMount",
]
