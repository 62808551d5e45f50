"""API server storage: the `Storage` protocol, its etcd implementation and the watch cache.

`from apiserver.storage import EtcdStorage, Storage, ListResult, StoredEvent, keys`.
"""

from apiserver.storage import keys
from apiserver.storage.etcd import EtcdStorage
from apiserver.storage.interface import ListResult, Obj, Storage, StoredEvent
from apiserver.storage.watchcache import WatchCache

__all__ = ["EtcdStorage", "ListResult", "Obj", "Storage", "StoredEvent", "WatchCache", "keys"]
