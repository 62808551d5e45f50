#!/usr/bin/env bash
# Idempotent bootstrap of a fresh Debian 12 machine for kubelite.
#  1. Debian packages (etcd, Docker, iptables, busybox-static, ...)
#  2. dockerd started when nothing answers on /var/run/docker.sock
#  3. .venv with the project and its dev extras
#  4. the local images (no registry can be reached: everything is built here)
# Every step checks first, so a second run takes a second or two.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
log() { printf '[bootstrap] %s\n' "$*"; }

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# 1. Debian packages -------------------------------------------------------------
PKGS=(etcd-server etcd-client docker.io docker-compose iptables busybox-static debootstrap iproute2 procps curl ca-certificates)
# the dashboard's browser test drives a real headless Chromium through its WebDriver
PKGS+=(chromium chromium-driver)
# make monitoring runs Debian's Prometheus
PKGS+=(prometheus)
# kubelite up --ha puts Debian's HAProxy in front of the API servers
PKGS+=(haproxy)
# the proxy clears stale UDP conntrack entries of Services with it (conntrack -D)
PKGS+=(conntrack)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. dockerd ----------------------------------------------------------------------
docker_up() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
if ! docker_up; then
  log "starting dockerd (log: /var/log/kubelite-dockerd.log)"
  # docker.io's own client is /usr/bin/docker; the machine may also carry a newer
  # client in /usr/local/bin, which is fine: both speak the same API.
  $SUDO bash -c 'nohup /usr/sbin/dockerd >/var/log/kubelite-dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do docker_up && break; sleep 0.5; done
  docker_up || { log "dockerd did not answer within 30 s; see /var/log/kubelite-dockerd.log"; exit 1; }
fi

# 3. venv -------------------------------------------------------------------------
PY=${PYTHON:-python3}
stamp=.venv/.kubelite-installed
want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "creating .venv and installing kubelite[dev]"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e ".[dev]"
  echo "$want" > "$stamp"
fi

# 4. images -----------------------------------------------------------------------
if [ -x deploy/images/build.sh ]; then
  bash deploy/images/build.sh
fi
log "ready"
