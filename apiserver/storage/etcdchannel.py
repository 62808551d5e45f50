"""The gRPC channel of EtcdStorage: one channel over the etcd endpoints.

Contract: `channel_target(endpoints)` is the gRPC target of the endpoints (`http://host:port` or
`host:port`) and whether it balances over several addresses: one endpoint -> `host:port`;
several (the members of one etcd cluster, `--etcd-servers a,b,c`) -> `ipv4:a:p,b:q` with names
resolved here, once. `open_channel(endpoints)` opens the channel (round-robin over several
members, as etcd's clientv3 balancer does) without needing etcd up yet: calls fail with
ServiceUnavailable until it is, and the channel reconnects by itself within a second
(`CHANNEL_OPTIONS`: short reconnect backoff, keepalives, 64 MiB messages).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlparse

import grpc
from aetcd import rpc

from apiserver.storage.etcdcodec import etcd_errors

CHANNEL_OPTIONS: dict[str, int | str] = {
    # gRPC's default reconnect backoff grows to 120 s: far too slow after an etcd restart.
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.min_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 1000,
    # Notice a silently dead connection (etcd's default min keepalive time is 5 s).
    "grpc.keepalive_time_ms": 10_000,
    "grpc.keepalive_timeout_ms": 5_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
}


def channel_target(endpoints: list[str]) -> tuple[str, bool]:
    """The gRPC target for etcd endpoints, and whether it balances over several addresses.
    One endpoint: `host:port`. Several: `ipv4:a:p,b:q` (names resolved here, once)."""
    if not endpoints:
        raise ValueError("no etcd endpoint given")
    addrs: list[str] = []
    for ep in endpoints:
        url = urlparse(ep if "//" in ep else f"http://{ep}")
        host, port = url.hostname or "127.0.0.1", url.port or 2379
        if len(endpoints) == 1:
            return f"{host}:{port}", False
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            host = str(socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)[0][4][0])
        addrs.append(f"{host}:{port}")
    return "ipv4:" + ",".join(addrs), True


def open_channel(endpoints: list[str]) -> grpc.aio.Channel:
    """The channel to the endpoints (see the module doc)."""
    target, balanced = channel_target(endpoints)
    opts = dict(CHANNEL_OPTIONS)
    if balanced:
        opts["grpc.lb_policy_name"] = "round_robin"
    with etcd_errors("connect"):
        channel: grpc.aio.Channel = rpc.insecure_channel(target, options=list(opts.items()))
    return channel


__all__ = ["CHANNEL_OPTIONS", "channel_target", "open_channel"]
