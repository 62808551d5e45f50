#!/usr/bin/env bash
# Entrypoint of the lab control-plane host: etcd, the API server (all addresses, port 6443),
# the scheduler, the controller-manager with the lab cloud provider, the cluster DNS
# (listening on this host's lab address, published as kube-dns 10.96.0.10) and the route agent
# (so DNS answers find their way back to pods on the nodes).
set -u
. /src/deploy/lab/common.sh
mkdir -p /var/lib/etcd
supervise etcd etcd --name control-plane --data-dir /var/lib/etcd/data \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster control-plane=http://127.0.0.1:2380 --log-level warn
# shellcheck disable=SC2086
supervise apiserver python3 -m apiserver --etcd-servers http://127.0.0.1:2379 --bind-address 0.0.0.0 --port 6443 \
  --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" --client-ca-file "$PKI/ca.crt" \
  --service-account-signing-key-file "$PKI/sa.key" --authorization-mode Node,RBAC \
  --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority "$PKI/ca.crt" \
  ${APISERVER_FLAGS:-}
for _ in $(seq 1 300); do
  python3 -c "import httpx,sys; sys.exit(httpx.get('https://127.0.0.1:6443/readyz', timeout=1, verify='$PKI/ca.crt').status_code != 200)" \
    2>/dev/null && break
  sleep 0.2
done
# Each daemon with its own identity (as kubeadm's scheduler.conf, controller-manager.conf...).
for stem in scheduler controller-manager kube-dns routeagent; do write_kubeconfig "https://$NODE_IP:6443" "$stem"; done
supervise scheduler python3 -m scheduler --kubeconfig /etc/kubelite/scheduler.kubeconfig
# shellcheck disable=SC2086
# --pod-gc-quarantine: Kubernetes waits 40 s before collecting the pods of a Node that is gone (a
# Node being created may not be in the cache yet); in a lab of a few nodes 10 s is plenty, and the
# pods of a `docker rm`ed node come back that much sooner.
supervise controllers python3 -m controllers --kubeconfig /etc/kubelite/controller-manager.kubeconfig --cloud-provider lab --lab-name "$LAB_NAME" \
  --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
  --pod-gc-quarantine 10s ${CONTROLLER_FLAGS:-}
supervise dns python3 -m addons.dns --kubeconfig /etc/kubelite/kube-dns.kubeconfig --listen "$NODE_IP:53" --publish-ip "$NODE_IP"
supervise routeagent python3 -m routeagent --kubeconfig /etc/kubelite/routeagent.kubeconfig --node-ip "$NODE_IP"
wait_forever
