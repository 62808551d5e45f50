# Sourced by the lab entrypoints (control-plane.sh, node.sh): logging, the Docker-in-Docker
# mounts, and a minimal supervisor (each component restarted 1 s after it exits; SIGTERM stops
# them all, so `docker stop` of a host stops its components the way a machine shutdown would).
LOGS=/var/log/kubelite
mkdir -p "$LOGS" /etc/kubelite
log() { printf '%s [%s] %s\n' "$(date -u +%H:%M:%S)" "${NODE_NAME:-control-plane}" "$*"; }

dind_mounts() {
  # --privileged is not available here; these remounts give dockerd what it needs.
  mount -o remount,rw /sys 2>/dev/null || true
  mount -o remount,bind,rw /proc/sys 2>/dev/null || true
  for d in /sys/fs/cgroup /sys/fs/cgroup/*; do
    mountpoint -q "$d" && mount -o remount,bind,rw "$d" 2>/dev/null || true
  done
}

PKI=/etc/kubelite/pki  # mounted read-only from the host (cli/lab.py ensure_lab_pki)
write_kubeconfig() {  # SERVER_URL STEM [PATH]: the kubeconfig of the identity PKI/STEM.crt
  python3 -c "import sys; from machinery.kubeconfig import write_kubeconfig as w; p, s, n, c = sys.argv[1:5]
w(p, s, cluster_name=n, user=c, ca_file='$PKI/ca.crt', cert_file=f'$PKI/{c}.crt', key_file=f'$PKI/{c}.key')" \
    "${3:-/etc/kubelite/$2.kubeconfig}" "$1" "${LAB_NAME:-lab}" "$2"
}

CHILDREN=()
supervise() {  # NAME CMD...
  local name=$1; shift
  (
    trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 0' TERM
    while true; do
      "$@" >>"$LOGS/$name.log" 2>&1 &
      child=$!
      wait "$child"
      echo "$(date -u +%FT%TZ) $name exited ($?); restarting in 1 s" >>"$LOGS/$name.log"
      sleep 1
    done
  ) &
  CHILDREN+=($!)
  log "started $name (log $LOGS/$name.log)"
}

stop_all() {
  log "stopping"
  for pid in "${CHILDREN[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${CHILDREN[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -n "${EXTRA_STOP:-}" ] && eval "$EXTRA_STOP"
  exit 0
}

wait_forever() {
  trap stop_all TERM INT
  log "ready"
  while true; do sleep 3600 & wait $!; done
}
