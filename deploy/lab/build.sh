#!/usr/bin/env bash
# Builds the lab images (no registry: everything is made on this machine).
#   kubelite/lab-control-plane-base, kubelite/lab-node-base
#       debootstrap minbase + Debian packages (deploy/images/debian.sh, shared with make images);
#       the two run in parallel
#   kubelite/lab-control-plane, kubelite/lab-node
#       the base + a venv with the project's runtime dependencies (wheels built on the host from
#       the pip configuration bootstrap uses; the image build itself contacts nothing)
# plus the pod images every node needs (kubelite/busybox, kubelite/pause, deploy/images/build.sh)
# saved to $LAB_STATE/images.tar for the nodes to load at start.
# Each image carries io.kubelite.inputs=<hash of its inputs>; it is rebuilt only when they change.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../images/debian.sh
. "$ROOT/deploy/images/debian.sh"
PY=${PY:-$ROOT/.venv/bin/python}
LAB_STATE=${LAB_CACHE:?LAB_CACHE must name the lab image cache directory}
log() { printf '[lab] %s\n' "$*"; }
mkdir -p "$LAB_STATE"

COMMON=python3,python3-venv,iproute2,iptables,procps,ca-certificates,kmod
bash "$ROOT/deploy/images/build.sh" >/dev/null

pids=()
debian_image kubelite/lab-control-plane-base:bookworm "$COMMON,etcd-server" bash & pids+=($!)
debian_image kubelite/lab-node-base:bookworm "$COMMON,docker.io" bash & pids+=($!)
for p in "${pids[@]}"; do wait "$p"; done

# Runtime dependencies of the project (not the dev extras), from pyproject.toml.
REQS=$("$PY" - "$ROOT/pyproject.toml" <<'PYEOF'
import sys, tomllib
print("\n".join(sorted(tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"])))
PYEOF
)
WHEELS=$LAB_STATE/wheels
build_image() {  # NAME BASE
  local name=$1 base=$2 inputs
  inputs=$( { image_inputs_label "$base"; echo "$REQS"; cat "$HERE/Dockerfile"; } | sha256sum | cut -c1-16)
  if [ "${KUBELITE_REBUILD_IMAGES:-0}" != 1 ] && [ "$(image_inputs_label "$name")" = "$inputs" ]; then
    return 0
  fi
  local ctx
  ctx=$(mktemp -d)
  if [ ! -f "$WHEELS/.reqs" ] || [ "$(cat "$WHEELS/.reqs")" != "$REQS" ]; then
    log "building wheels of the runtime dependencies"
    rm -rf "$WHEELS" && mkdir -p "$WHEELS"
    echo "$REQS" >"$ctx/requirements.txt"
    "$PY" -m pip wheel -q -w "$WHEELS" -r "$ctx/requirements.txt" 2>&1 | grep -v "^WARNING: Location" || true
    echo "$REQS" >"$WHEELS/.reqs"
  fi
  echo "$REQS" >"$ctx/requirements.txt"
  cp -r "$WHEELS" "$ctx/wheels"
  cp "$HERE/Dockerfile" "$ctx/Dockerfile"
  log "building $name"
  docker build -q --build-arg BASE="$base" --build-arg INPUTS="$inputs" -t "$name" "$ctx" >"$ctx.log" 2>&1 \
    || { cat "$ctx.log" >&2; rm -rf "$ctx" "$ctx.log"; exit 1; }
  rm -f "$ctx.log"
  rm -rf "$ctx"
}
build_image kubelite/lab-control-plane:latest kubelite/lab-control-plane-base:bookworm
build_image kubelite/lab-node:latest kubelite/lab-node-base:bookworm

# Pod images for the node engines (only rewritten when an image id changed).
IMAGES="kubelite/busybox:latest kubelite/pause:latest"
ids=$(docker image inspect --format '{{.Id}}' $IMAGES | tr '\n' ' ')
if [ ! -f "$LAB_STATE/images.tar" ] || [ "$(cat "$LAB_STATE/images.ids" 2>/dev/null)" != "$ids" ]; then
  docker save $IMAGES -o "$LAB_STATE/images.tar.tmp" && mv "$LAB_STATE/images.tar.tmp" "$LAB_STATE/images.tar"
  echo "$ids" >"$LAB_STATE/images.ids"
fi
log "images ready: kubelite/lab-control-plane, kubelite/lab-node (+ busybox, pause for the nodes)"
