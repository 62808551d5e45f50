"""CidrSet: the /N subnets of one cluster CIDR, each handed out at most once (node IPAM).

Contract (Kubernetes' pkg/controller/nodeipam/ipam/cidrset, IPv4 and IPv6):
- `CidrSet(cluster_cidr, mask_size)` splits `cluster_cidr` into subnets of prefix length
  `mask_size` (10.244.0.0/16 with 24: 256 /24s). `mask_size` must not be shorter than the
  cluster prefix and at most 2^16 subnets are allowed (as Kubernetes): `ValueError` otherwise.
- `allocate_next()` returns a free subnet (string, e.g. "10.244.3.0/24"), searching round-robin
  from the one after the last allocation, so a just-released subnet is not reused at once;
  `CidrsExhausted` when none is free.
- `occupy(cidr)` marks every subnet overlapping `cidr` as used (a node that already has a
  CIDR, e.g. after a controller restart or a kubelet started with --pod-cidr); `ValueError`
  when `cidr` is not inside the cluster CIDR. `release(cidr)` frees them again. Both are
  idempotent. `used` is the number of subnets in use; `free` the number left.
Pure, no I/O: unit-tested directly.
"""

from __future__ import annotations

import ipaddress

MAX_SUBNETS_BITS = 16

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class CidrsExhausted(RuntimeError):
    """Every subnet of the cluster CIDR is in use."""


class CidrSet:
    def __init__(self, cluster_cidr: str, mask_size: int) -> None:
        net = ipaddress.ip_network(cluster_cidr, strict=False)
        if mask_size < net.prefixlen or mask_size > net.max_prefixlen:
            raise ValueError(f"node CIDR mask size {mask_size} must be between the cluster CIDR's prefix "
                             f"{net.prefixlen} and {net.max_prefixlen}")
        if mask_size - net.prefixlen > MAX_SUBNETS_BITS:
            raise ValueError(f"node CIDR mask size {mask_size} gives more than 2^{MAX_SUBNETS_BITS} subnets "
                             f"of {net}")
        self.cluster: IPNetwork = net
        self.mask_size = mask_size
        self.size = 1 << (mask_size - net.prefixlen)
        self._step = 1 << (net.max_prefixlen - mask_size)
        self._used: set[int] = set()
        self._next = 0

    def _subnet(self, index: int) -> str:
        base = int(self.cluster.network_address) + index * self._step
        return str(ipaddress.ip_network((base, self.mask_size)))

    def _indexes(self, cidr: str) -> range:
        net = ipaddress.ip_network(cidr, strict=False)
        if net.version != self.cluster.version or not (
                net.subnet_of(self.cluster) or self.cluster.subnet_of(net)):  # type: ignore[arg-type]
            raise ValueError(f"CIDR {cidr} is not inside the cluster CIDR {self.cluster}")
        if self.cluster.subnet_of(net):  # type: ignore[arg-type]
            return range(self.size)
        offset = int(net.network_address) - int(self.cluster.network_address)
        first = offset // self._step
        count = max(1, net.num_addresses // self._step)
        return range(first, min(self.size, first + count))

    def allocate_next(self) -> str:
        for k in range(self.size):
            i = (self._next + k) % self.size
            if i not in self._used:
                self._used.add(i)
                self._next = (i + 1) % self.size
                return self._subnet(i)
        raise CidrsExhausted(f"no free /{self.mask_size} left in {self.cluster} ({self.size} in use)")

    def occupy(self, cidr: str) -> None:
        self._used.update(self._indexes(cidr))

    def release(self, cidr: str) -> None:
        self._used.difference_update(self._indexes(cidr))

    def is_used(self, cidr: str) -> bool:
        return all(i in self._used for i in self._indexes(cidr))

    @property
    def used(self) -> int:
        return len(self._used)

    @property
    def free(self) -> int:
        return self.size - len(self._used)
