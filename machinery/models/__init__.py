"""The typed API objects: every kind and every nested type, re-exported from one place.

`from machinery.models import Pod, Deployment, Container, ...`. Attribute names are the
Kubernetes wire names; `Model.from_dict(d)` parses (strictly: no "80" -> 80 coercion),
`obj.to_dict()` dumps without unset fields. Defaults: `machinery.defaults`; lookup by
kind/plural/short name: `machinery.registry`.
"""

from machinery.meta import (
    Condition,
    LabelSelector,
    LabelSelectorRequirement,
    ListMeta,
    ObjectMeta,
    OwnerReference,
    Resource,
)
from machinery.models._base import (
    IntOrString,
    LocalObjectReference,
    ObjectReference,
    Quantity,
    ResourceList,
    StrictModel,
)
from machinery.models.apps import *  # noqa: F403
from machinery.models.apps import __all__ as _apps
from machinery.models.authorization import *  # noqa: F403
from machinery.models.authorization import __all__ as _authorization
from machinery.models.autoscaling import *  # noqa: F403
from machinery.models.autoscaling import __all__ as _autoscaling
from machinery.models.batch import *  # noqa: F403
from machinery.models.batch import __all__ as _batch
from machinery.models.certificates import *  # noqa: F403
from machinery.models.certificates import __all__ as _certificates
from machinery.models.container import *  # noqa: F403
from machinery.models.container import __all__ as _container
from machinery.models.coordination import *  # noqa: F403
from machinery.models.coordination import __all__ as _coordination
from machinery.models.core_misc import *  # noqa: F403
from machinery.models.core_misc import __all__ as _core_misc
from machinery.models.discovery import *  # noqa: F403
from machinery.models.discovery import __all__ as _discovery
from machinery.models.metrics import *  # noqa: F403
from machinery.models.metrics import __all__ as _metrics
from machinery.models.networking import *  # noqa: F403
from machinery.models.networking import __all__ as _networking
from machinery.models.node import *  # noqa: F403
from machinery.models.node import __all__ as _node
from machinery.models.pod import *  # noqa: F403
from machinery.models.pod import __all__ as _pod
from machinery.models.policy import *  # noqa: F403
from machinery.models.policy import __all__ as _policy
from machinery.models.quota import *  # noqa: F403
from machinery.models.quota import __all__ as _quota
from machinery.models.rbac import *  # noqa: F403
from machinery.models.rbac import __all__ as _rbac
from machinery.models.replicationcontroller import *  # noqa: F403
from machinery.models.replicationcontroller import __all__ as _replicationcontroller
from machinery.models.scheduling import *  # noqa: F403
from machinery.models.scheduling import __all__ as _scheduling
from machinery.models.service import *  # noqa: F403
from machinery.models.service import __all__ as _service
from machinery.models.serviceaccount import *  # noqa: F403
from machinery.models.serviceaccount import __all__ as _serviceaccount
from machinery.models.settings import *  # noqa: F403
from machinery.models.settings import __all__ as _settings
from machinery.models.storage import *  # noqa: F403
from machinery.models.storage import __all__ as _storage
from machinery.models.subresources import *  # noqa: F403
from machinery.models.subresources import __all__ as _subresources

__all__ = [
    "Condition", "IntOrString", "LabelSelector", "LabelSelectorRequirement", "ListMeta",
    "LocalObjectReference", "ObjectMeta", "ObjectReference", "OwnerReference", "Quantity",
    "Resource", "ResourceList", "StrictModel",
    *_apps, *_batch, *_container, *_coordination, *_core_misc, *_node, *_pod, *_service,
    *_storage, *_subresources, *_replicationcontroller, *_quota, *_policy, *_scheduling, *_discovery, *_rbac,
    *_authorization, *_autoscaling, *_metrics, *_settings, *_serviceaccount, *_networking, *_certificates,
]
