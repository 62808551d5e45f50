#!/usr/bin/env bash
# Entrypoint of a lab host that joins the way a real second machine does: its own dockerd and
# pod images as in node.sh, then `kubelite join --server URL --token T` (preflight checks, then
# kubelet + proxy + route agent under the supervisor, in the foreground). Used by the e2e test of
# `kubelite join`; env: NODE_NAME, NODE_IP, API_IP, TOKEN[, CA_HASH].
set -u
. /src/deploy/lab/common.sh
dind_mounts
ip route del default 2>/dev/null || true  # as node.sh: nothing can even try to leave
dockerd --storage-driver overlay2 --bridge none >"$LOGS/dockerd.log" 2>&1 &
for _ in $(seq 1 300); do docker version >/dev/null 2>&1 && break; sleep 0.2; done
[ -f /lab/images.tar ] && docker load -q -i /lab/images.tar >/dev/null
log "joining https://$API_IP:6443"
# CA_HASH (optional): the --discovery-token-ca-cert-hash `token create --print-join-command` prints.
exec python3 -m cli.main --server "https://$API_IP:6443" join --token "$TOKEN" --node-name "$NODE_NAME" \
  --node-ip "$NODE_IP" --home /var/lib/kubelite-agent --foreground \
  ${CA_HASH:+--discovery-token-ca-cert-hash "$CA_HASH"}
