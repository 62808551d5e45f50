"""The proxy's Prometheus metrics, as kube-proxy names them.

- `kubeproxy_sync_proxy_rules_duration_seconds`: one render + iptables-restore of the rules
  (kube-proxy's buckets, 1 ms doubling).
- `kubeproxy_sync_proxy_rules_last_timestamp_seconds`: when the last sync finished.
- `kubeproxy_sync_proxy_rules_failures_total`.
Served by `python -m proxy --metrics-bind-address HOST:PORT` (machinery.prom.serve).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SYNC_DURATION = Histogram("kubeproxy_sync_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds",
                          buckets=tuple(0.001 * 2**i for i in range(15)))
LAST_SYNC = Gauge("kubeproxy_sync_proxy_rules_last_timestamp_seconds", "The last time proxy rules were synced")
FAILURES = Counter("kubeproxy_sync_proxy_rules_failures", "Cumulative proxy rules sync failures")
