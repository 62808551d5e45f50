"""Defaulting: what Kubernetes' API server fills in when an object is created or updated.

Contract: `apply_defaults(obj) -> obj` mutates `obj` in place and returns it. It only fills
fields that are unset (`None`), so it is idempotent: defaulting twice changes nothing, and a
value the user gave is never replaced. Kinds without defaults pass through unchanged.
Deliberately NOT here: Service ClusterIP/nodePort allocation (the API server allocates
them) and selector defaulting (apps/v1 requires selectors).

Every kind with a `status` field gets its zero status when it has none (`{}`, ReplicaSet
`{"replicas": 0}`, Service `{"loadBalancer": {}}`), as Kubernetes always returns one.

Per kind (as Kubernetes v1 defaulting):
- Pod (and every pod template): restartPolicy Always (not for Job templates: Kubernetes users
  must choose OnFailure/Never, validation says so), dnsPolicy ClusterFirst, schedulerName
  default-scheduler, terminationGracePeriodSeconds 30, enableServiceLinks true,
  securityContext {}; containers: imagePullPolicy (Always for ":latest"/untagged, else
  IfNotPresent), terminationMessagePath/Policy, port protocol TCP (hostPort = containerPort on
  the host network), probe timing and httpGet scheme/path, requests from limits, fieldRef
  apiVersion v1; configMap/secret volumes defaultMode 0644. A Pod (not a template) also gets
  status.phase Pending and its qosClass when they are missing.
- Service: type ClusterIP, sessionAffinity None, port protocol TCP, targetPort = port,
  internalTrafficPolicy Cluster, externalTrafficPolicy Cluster for NodePort/LoadBalancer.
- ReplicationController: selector and object labels from the template's labels when empty.
- ReplicaSet/Deployment/StatefulSet/ReplicationController: replicas 1; Deployment: RollingUpdate 25%/25%,
  revisionHistoryLimit 10, progressDeadlineSeconds 600; StatefulSet: OrderedReady,
  RollingUpdate partition 0, revisionHistoryLimit 10, PVC retention Retain/Retain; DaemonSet:
  RollingUpdate maxUnavailable 1 maxSurge 0, revisionHistoryLimit 10.
- Job: parallelism 1, completions 1 only when parallelism was also unset (a work-queue job
  keeps completions unset, as Kubernetes), backoffLimit 6, completionMode NonIndexed,
  suspend false, podReplacementPolicy TerminatingOrFailed (Failed with a podFailurePolicy).
- CronJob: concurrencyPolicy Allow, suspend false, successfulJobsHistoryLimit 3,
  failedJobsHistoryLimit 1; its job template's pod template like a Job's (the Job spec
  defaults are applied when the controller creates the Job, as Kubernetes).
- Namespace: status.phase Active. Secret: type Opaque, stringData merged into data (base64)
  and dropped, as the Kubernetes API server does. Node: allocatable = capacity.
- NetworkPolicy: each port's protocol TCP; policyTypes [Ingress] (+ Egress when egress rules
  exist) when none is given (SetDefaults_NetworkPolicy).
"""

from __future__ import annotations

import base64
import functools
import typing
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from machinery.meta import Resource
from machinery.models import (
    HPA_SCALE_DOWN,
    HPA_SCALE_UP,
    ClientIPConfig,
    Container,
    CronJob,
    DaemonSet,
    DaemonSetUpdateStrategy,
    Deployment,
    DeploymentStrategy,
    EndpointSlice,
    HorizontalPodAutoscaler,
    HPAScalingRules,
    Job,
    LimitRange,
    LoadBalancerStatus,
    MetricSpec,
    Namespace,
    NamespaceStatus,
    NetworkPolicy,
    Node,
    PersistentVolume,
    PersistentVolumeClaim,
    PersistentVolumeClaimSpec,
    PersistentVolumeClaimStatus,
    PersistentVolumeSpec,
    PersistentVolumeStatus,
    Pod,
    PodSpec,
    PodStatus,
    PodTemplateSpec,
    PriorityClass,
    Probe,
    ReplicaSet,
    ReplicationController,
    RollingUpdateDaemonSet,
    RollingUpdateDeployment,
    RollingUpdateStatefulSetStrategy,
    Secret,
    Service,
    SessionAffinityConfig,
    StatefulSet,
    StatefulSetUpdateStrategy,
    StorageClass,
)
from machinery.qos import pod_qos_class

R = TypeVar("R", bound=Resource)

DEFAULT_VOLUME_MODE = 0o644  # 420, Kubernetes' default file mode of projected keys


def image_pull_policy_for(image: str | None) -> str:
    """Always for ":latest" or untagged images, IfNotPresent for pinned tags and digests."""
    if not image:
        return "Always"
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "Always"
    return "Always" if last.rsplit(":", 1)[1] == "latest" else "IfNotPresent"


def _default_probe(probe: Probe | None) -> None:
    if probe is None:
        return
    if probe.timeoutSeconds is None:
        probe.timeoutSeconds = 1
    if probe.periodSeconds is None:
        probe.periodSeconds = 10
    if probe.successThreshold is None:
        probe.successThreshold = 1
    if probe.failureThreshold is None:
        probe.failureThreshold = 3
    if probe.httpGet is not None:
        if probe.httpGet.scheme is None:
            probe.httpGet.scheme = "HTTP"
        if probe.httpGet.path is None:
            probe.httpGet.path = "/"


def _default_container(c: Container, *, host_network: bool) -> None:
    if c.imagePullPolicy is None:
        c.imagePullPolicy = image_pull_policy_for(c.image)
    if c.terminationMessagePath is None:
        c.terminationMessagePath = "/dev/termination-log"
    if c.terminationMessagePolicy is None:
        c.terminationMessagePolicy = "File"
    for port in c.ports or []:
        if port.protocol is None:
            port.protocol = "TCP"
        if host_network and port.hostPort is None:
            port.hostPort = port.containerPort
    for probe in (c.livenessProbe, c.readinessProbe, c.startupProbe):
        _default_probe(probe)
    if c.resources is not None and c.resources.limits:
        # A limit without a request means "request exactly the limit" (Kubernetes).
        requests = dict(c.resources.requests or {})
        for name, value in c.resources.limits.items():
            requests.setdefault(name, value)
        c.resources.requests = requests
    for env in c.env or []:
        if (env.valueFrom is not None and env.valueFrom.fieldRef is not None
                and env.valueFrom.fieldRef.apiVersion is None):
            env.valueFrom.fieldRef.apiVersion = "v1"


def default_pod_spec(spec: PodSpec, *, restart_policy: bool = True) -> None:
    """Fill a PodSpec's defaults (for pods and pod templates)."""
    if restart_policy and spec.restartPolicy is None:
        spec.restartPolicy = "Always"
    if spec.dnsPolicy is None:
        spec.dnsPolicy = "ClusterFirst"
    if spec.schedulerName is None:
        spec.schedulerName = "default-scheduler"
    if spec.terminationGracePeriodSeconds is None:
        spec.terminationGracePeriodSeconds = 30
    if spec.enableServiceLinks is None:
        spec.enableServiceLinks = True
    if spec.securityContext is None:
        spec.securityContext = {}
    host_network = bool(spec.hostNetwork)
    for c in [*(spec.initContainers or []), *spec.containers]:
        _default_container(c, host_network=host_network)
    for vol in spec.volumes or []:
        if vol.configMap is not None and vol.configMap.defaultMode is None:
            vol.configMap.defaultMode = DEFAULT_VOLUME_MODE
        if vol.secret is not None and vol.secret.defaultMode is None:
            vol.secret.defaultMode = DEFAULT_VOLUME_MODE
        if vol.hostPath is not None and vol.hostPath.type is None:
            vol.hostPath.type = ""


def _default_template(template: PodTemplateSpec | None, *, restart_policy: bool = True) -> None:
    if template is not None and template.spec is not None:
        default_pod_spec(template.spec, restart_policy=restart_policy)


def _default_pod(pod: Pod) -> None:
    if pod.spec is None:
        return
    default_pod_spec(pod.spec)
    if pod.status is None:
        pod.status = PodStatus()
    if pod.status.phase is None:
        pod.status.phase = "Pending"
    if pod.status.qosClass is None:
        pod.status.qosClass = pod_qos_class(pod.spec)


def _default_service(svc: Service) -> None:
    if svc.status is not None and svc.status.loadBalancer is None:
        svc.status.loadBalancer = LoadBalancerStatus()
    spec = svc.spec
    if spec is None:
        return
    if spec.type is None:
        spec.type = "ClusterIP"
    if spec.sessionAffinity is None:
        spec.sessionAffinity = "None"
    if spec.sessionAffinity == "ClientIP":
        cfg = spec.sessionAffinityConfig = spec.sessionAffinityConfig or SessionAffinityConfig()
        cfg.clientIP = cfg.clientIP or ClientIPConfig()
        if cfg.clientIP.timeoutSeconds is None:
            cfg.clientIP.timeoutSeconds = 10800
    for port in spec.ports or []:
        if port.protocol is None:
            port.protocol = "TCP"
        if port.targetPort is None or port.targetPort in (0, ""):  # zero is unset, as Kubernetes
            port.targetPort = port.port
    if spec.type != "ExternalName" and spec.internalTrafficPolicy is None:
        spec.internalTrafficPolicy = "Cluster"
    if spec.type in ("NodePort", "LoadBalancer") and spec.externalTrafficPolicy is None:
        spec.externalTrafficPolicy = "Cluster"
    if spec.type == "LoadBalancer" and spec.allocateLoadBalancerNodePorts is None:
        spec.allocateLoadBalancerNodePorts = True
    elif spec.type != "LoadBalancer":
        spec.allocateLoadBalancerNodePorts = None  # a type-dependent field, dropped as Kubernetes does


def _default_endpointslice(es: EndpointSlice) -> None:
    """SetDefaults_EndpointPort: name "" and protocol TCP when unset."""
    for port in es.ports or []:
        if port.name is None:
            port.name = ""
        if port.protocol is None:
            port.protocol = "TCP"


def _default_replicaset(rs: ReplicaSet) -> None:
    if rs.spec is None:
        return
    if rs.spec.replicas is None:
        rs.spec.replicas = 1
    _default_template(rs.spec.template)


def _default_replicationcontroller(rc: ReplicationController) -> None:
    """Kubernetes' SetDefaults_ReplicationController: an empty selector and empty object labels
    come from the template's labels; replicas 1."""
    if rc.spec is None:
        return
    labels = rc.spec.template.metadata.labels if rc.spec.template and rc.spec.template.metadata else None
    if labels:
        if not rc.spec.selector:
            rc.spec.selector = dict(labels)
        if not rc.metadata.labels:
            rc.metadata.labels = dict(labels)
    if rc.spec.replicas is None:
        rc.spec.replicas = 1
    _default_template(rc.spec.template)


def _default_deployment(d: Deployment) -> None:
    spec = d.spec
    if spec is None:
        return
    if spec.replicas is None:
        spec.replicas = 1
    strategy = spec.strategy = spec.strategy or DeploymentStrategy()
    if strategy.type is None:
        strategy.type = "RollingUpdate"
    if strategy.type == "RollingUpdate":
        ru = strategy.rollingUpdate = strategy.rollingUpdate or RollingUpdateDeployment()
        if ru.maxUnavailable is None:
            ru.maxUnavailable = "25%"
        if ru.maxSurge is None:
            ru.maxSurge = "25%"
    if spec.revisionHistoryLimit is None:
        spec.revisionHistoryLimit = 10
    if spec.progressDeadlineSeconds is None:
        spec.progressDeadlineSeconds = 600
    _default_template(spec.template)


def _default_statefulset(s: StatefulSet) -> None:
    spec = s.spec
    if spec is None:
        return
    if spec.replicas is None:
        spec.replicas = 1
    if spec.podManagementPolicy is None:
        spec.podManagementPolicy = "OrderedReady"
    strategy = spec.updateStrategy = spec.updateStrategy or StatefulSetUpdateStrategy()
    if strategy.type is None:
        strategy.type = "RollingUpdate"
    if strategy.type == "RollingUpdate":
        ru = strategy.rollingUpdate = strategy.rollingUpdate or RollingUpdateStatefulSetStrategy()
        if ru.partition is None:
            ru.partition = 0
    if spec.revisionHistoryLimit is None:
        spec.revisionHistoryLimit = 10
    if spec.persistentVolumeClaimRetentionPolicy is None:
        spec.persistentVolumeClaimRetentionPolicy = {"whenDeleted": "Retain", "whenScaled": "Retain"}
    _default_template(spec.template)


def _default_daemonset(ds: DaemonSet) -> None:
    spec = ds.spec
    if spec is None:
        return
    strategy = spec.updateStrategy = spec.updateStrategy or DaemonSetUpdateStrategy()
    if strategy.type is None:
        strategy.type = "RollingUpdate"
    if strategy.type == "RollingUpdate":
        ru = strategy.rollingUpdate = strategy.rollingUpdate or RollingUpdateDaemonSet()
        if ru.maxUnavailable is None:
            ru.maxUnavailable = 1
        if ru.maxSurge is None:
            ru.maxSurge = 0
    if spec.revisionHistoryLimit is None:
        spec.revisionHistoryLimit = 10
    _default_template(spec.template)


def _default_job(job: Job) -> None:
    spec = job.spec
    if spec is None:
        return
    if spec.completions is None and spec.parallelism is None:
        spec.completions = 1
    if spec.parallelism is None:
        spec.parallelism = 1
    if spec.backoffLimit is None:
        spec.backoffLimit = 6
    if spec.completionMode is None:
        spec.completionMode = "NonIndexed"
    if spec.suspend is None:
        spec.suspend = False
    if spec.podReplacementPolicy is None:
        spec.podReplacementPolicy = "Failed" if spec.podFailurePolicy is not None else "TerminatingOrFailed"
    _default_template(spec.template, restart_policy=False)


def _default_cronjob(cj: CronJob) -> None:
    spec = cj.spec
    if spec is None:
        return
    if spec.concurrencyPolicy is None:
        spec.concurrencyPolicy = "Allow"
    if spec.suspend is None:
        spec.suspend = False
    if spec.successfulJobsHistoryLimit is None:
        spec.successfulJobsHistoryLimit = 3
    if spec.failedJobsHistoryLimit is None:
        spec.failedJobsHistoryLimit = 1
    if spec.jobTemplate is not None and spec.jobTemplate.spec is not None:
        _default_template(spec.jobTemplate.spec.template, restart_policy=False)


def _default_namespace(ns: Namespace) -> None:
    ns.status = ns.status or NamespaceStatus()
    if ns.status.phase is None:
        ns.status.phase = "Active"


def _default_secret(secret: Secret) -> None:
    if secret.type is None:
        secret.type = "Opaque"
    if secret.stringData:
        # stringData is write-only: merged into data (winning over it), never stored.
        data = dict(secret.data or {})
        for key, value in secret.stringData.items():
            data[key] = base64.b64encode(value.encode()).decode()
        secret.data = data
        secret.stringData = None


def _default_node(node: Node) -> None:
    status = node.status
    if status is not None and status.capacity is not None and status.allocatable is None:
        status.allocatable = dict(status.capacity)


def _default_storage(obj: Resource) -> None:
    """PV: Retain, Filesystem, phase Pending; PVC: Filesystem, phase Pending; StorageClass:
    reclaimPolicy Delete, volumeBindingMode Immediate (pkg/apis/core/v1/defaults.go)."""
    if isinstance(obj, PersistentVolume):
        spec = obj.spec = obj.spec or PersistentVolumeSpec()
        spec.persistentVolumeReclaimPolicy = spec.persistentVolumeReclaimPolicy or "Retain"
        spec.volumeMode = spec.volumeMode or "Filesystem"
        obj.status = obj.status or PersistentVolumeStatus()
        obj.status.phase = obj.status.phase or "Pending"
    elif isinstance(obj, PersistentVolumeClaim):
        pspec = obj.spec = obj.spec or PersistentVolumeClaimSpec()
        pspec.volumeMode = pspec.volumeMode or "Filesystem"
        obj.status = obj.status or PersistentVolumeClaimStatus()
        obj.status.phase = obj.status.phase or "Pending"
    elif isinstance(obj, StorageClass):
        obj.reclaimPolicy = obj.reclaimPolicy or "Delete"
        obj.volumeBindingMode = obj.volumeBindingMode or "Immediate"


def _default_limit_range(lr: LimitRange) -> None:
    """Container items: an unset default limit is the max, an unset default request the
    default limit, else the min (SetDefaults_LimitRangeItem)."""
    for item in lr.spec.limits if lr.spec else []:
        if item.type != "Container":
            continue
        default = item.default = dict(item.default or {})
        request = item.defaultRequest = dict(item.defaultRequest or {})
        for name, value in (item.max or {}).items():
            default.setdefault(name, value)
        for name, value in [*default.items(), *(item.min or {}).items()]:
            request.setdefault(name, value)


@functools.cache
def _status_type(cls: type[Resource]) -> type[BaseModel] | None:
    """The model of `cls.status` (None: the kind has no status)."""
    field = cls.model_fields.get("status")
    if field is None:
        return None
    candidates = [field.annotation, *typing.get_args(field.annotation)]
    return next((t for t in candidates if isinstance(t, type) and issubclass(t, BaseModel)), None)


def _default_status(obj: Resource) -> None:
    """A kind with a status always has one, at least `{}` (its zero value, as Kubernetes'
    non-pointer Status struct): clients read `d.status.available_replicas` right after a
    create. Zero-valued fields the model declares non-optional (ReplicaSet `replicas: 0`,
    Service `loadBalancer: {}`) come with it."""
    status_type = _status_type(type(obj))
    if status_type is not None and getattr(obj, "status", None) is None:
        obj.status = status_type()  # type: ignore[attr-defined]


def _default_network_policy(np: NetworkPolicy) -> None:
    spec = np.spec
    if spec is None:
        return
    rule_ports = [r.ports for r in spec.ingress or []] + [r.ports for r in spec.egress or []]
    for ports in rule_ports:
        for port in ports or []:
            if port.protocol is None:
                port.protocol = "TCP"
    if not spec.policyTypes:
        spec.policyTypes = np.policy_types()


def _default_priority_class(pc: PriorityClass) -> None:
    if pc.preemptionPolicy is None:
        pc.preemptionPolicy = "PreemptLowerPriority"  # SetDefaults_PriorityClass


def _default_hpa(hpa: HorizontalPodAutoscaler) -> None:
    """autoscaling/v2 SetDefaults_HorizontalPodAutoscaler: minReplicas 1, cpu at 80% when no
    metric is given, and a given behavior completed with the default scale-up/down rules."""
    if hpa.spec is None:
        return
    if hpa.spec.minReplicas is None:
        hpa.spec.minReplicas = 1
    if not hpa.spec.metrics:
        hpa.spec.metrics = [MetricSpec.model_validate({"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}})]
    b = hpa.spec.behavior
    if b is not None:
        up = b.scaleUp.to_dict() if b.scaleUp is not None else {}
        down = b.scaleDown.to_dict() if b.scaleDown is not None else {}
        for rules, dflt in ((up, HPA_SCALE_UP), (down, HPA_SCALE_DOWN)):
            for k, v in dflt.items():
                if rules.get(k) is None:
                    rules[k] = v
        b.scaleUp, b.scaleDown = HPAScalingRules.model_validate(up), HPAScalingRules.model_validate(down)


_DEFAULTERS: list[tuple[type[Any], Callable[[Any], None]]] = [
    (Pod, _default_pod), (LimitRange, _default_limit_range), (Service, _default_service),
    (EndpointSlice, _default_endpointslice), (ReplicaSet, _default_replicaset),
    (ReplicationController, _default_replicationcontroller), (Deployment, _default_deployment),
    (StatefulSet, _default_statefulset), (DaemonSet, _default_daemonset), (Job, _default_job),
    (CronJob, _default_cronjob), (Namespace, _default_namespace), (Secret, _default_secret),
    (Node, _default_node), (PersistentVolume, _default_storage), (PersistentVolumeClaim, _default_storage),
    (StorageClass, _default_storage), (PriorityClass, _default_priority_class),
    (HorizontalPodAutoscaler, _default_hpa), (NetworkPolicy, _default_network_policy),
]


def apply_defaults(obj: R) -> R:
    """Fill the unset fields of `obj` with Kubernetes' defaults; mutates and returns `obj`."""
    _default_status(obj)
    for cls, defaulter in _DEFAULTERS:
        if isinstance(obj, cls):
            defaulter(obj)
            break
    return obj


__all__ = ["apply_defaults", "default_pod_spec", "image_pull_policy_for", "pod_qos_class"]
