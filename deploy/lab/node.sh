#!/usr/bin/env bash
# Entrypoint of a lab node host: its own dockerd (overlay2 on the named volume at
# /var/lib/docker), the pod images loaded from /lab/images.tar, then the kubelet, the proxy and
# the route agent, all talking to the control plane at $API_IP.
set -u
. /src/deploy/lab/common.sh
dind_mounts
# Docker gives containers on an internal network a default route to the gateway all the same
# (the host then drops what leaves). Without it nothing can even try to leave: an address no
# route covers is "network unreachable" right here, and the traffic guard has no egress
# device to reject on, so routed pod traffic to the other nodes over eth0 is allowed.
ip route del default 2>/dev/null || true
# No default bridge: pods go on the kubelet's own network (the node's pod CIDR).
dockerd --storage-driver overlay2 --bridge none >"$LOGS/dockerd.log" 2>&1 &
DOCKERD=$!
EXTRA_STOP='kill -TERM $DOCKERD 2>/dev/null; wait $DOCKERD 2>/dev/null'
for _ in $(seq 1 300); do docker version >/dev/null 2>&1 && break; sleep 0.2; done
docker version >/dev/null 2>&1 || { log "dockerd did not start:"; tail -20 "$LOGS/dockerd.log"; exit 1; }
if [ -f /lab/images.tar ]; then
  docker load -q -i /lab/images.tar >/dev/null && log "loaded pod images"
fi
for stem in "node-$NODE_NAME" kube-proxy routeagent; do write_kubeconfig "https://$API_IP:6443" "$stem"; done
# HTTPS with the serving certificate the host issued from the lab CA (cli/lab.py ensure_lab_pki);
# callers' client certificates are verified against the same CA.
KUBELET_FLAGS=(--kubeconfig "/etc/kubelite/node-$NODE_NAME.kubeconfig" --node-name "$NODE_NAME" --node-ip "$NODE_IP" --address "$NODE_IP"
  --tls-cert-file "$PKI/kubelet-$NODE_NAME.crt" --tls-private-key-file "$PKI/kubelet-$NODE_NAME.key" --client-ca-file "$PKI/ca.crt"
  --cluster-name lab --cluster-dns 10.96.0.10 --heartbeat-s "${HEARTBEAT_S:-5}"
  --provider-id "lab://$LAB_NAME/$NODE_NAME")
[ -n "${POD_CIDR:-}" ] && KUBELET_FLAGS+=(--pod-cidr "$POD_CIDR")
supervise kubelet python3 -m kubelet "${KUBELET_FLAGS[@]}"
supervise proxy python3 -m proxy --kubeconfig /etc/kubelite/kube-proxy.kubeconfig --node-name "$NODE_NAME"
supervise routeagent python3 -m routeagent --kubeconfig /etc/kubelite/routeagent.kubeconfig --node-name "$NODE_NAME" --node-ip "$NODE_IP"
wait_forever
