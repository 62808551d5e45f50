#!/usr/bin/env bash
# Local image builds for kubelite. There is no registry: every image comes from this machine.
#   kubelite/busybox:latest  static busybox (sh, httpd, nc, wget, sleep, ...), ~2 MB, <1 s
#   kubelite/pause:latest    tiny static C pause (gcc -static), busybox-sleep fallback
#   kubelite/python:3        Debian bookworm minbase + python3 via debootstrap (~30 s+); only
#                            when KUBELITE_BUILD_PYTHON_IMAGE=1 or `build.sh --python`
#                            (debian.sh: the same recipe builds the lab's base image)
# Idempotent: an image that exists is not rebuilt unless KUBELITE_REBUILD_IMAGES=1
# (kubelite/python:3 is rebuilt when its inputs label differs).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=debian.sh
. "$HERE/debian.sh"
log() { printf '[images] %s\n' "$*"; }
have() { [ "${KUBELITE_REBUILD_IMAGES:-0}" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

BUSYBOX=${BUSYBOX:-/bin/busybox}

build_busybox() {
  have kubelite/busybox:latest && return 0
  [ -x "$BUSYBOX" ] || { log "no static busybox at $BUSYBOX (install busybox-static)"; exit 1; }
  log "building kubelite/busybox:latest"
  local root=$WORK/busybox
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,var/www,root,proc,sys,dev}
  cp "$BUSYBOX" "$root/bin/busybox"
  # Symlink every applet; --install needs /proc/self/exe of the copy, so do it by listing.
  for applet in $("$root/bin/busybox" --list-full); do
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"
  chmod 1777 "$root/tmp"
  tar -C "$root" -c . | docker import \
    -c 'ENV PATH=/bin:/sbin:/usr/bin:/usr/sbin' -c 'CMD ["sh"]' - kubelite/busybox:latest >/dev/null
}

build_pause() {
  have kubelite/pause:latest && return 0
  log "building kubelite/pause:latest"
  local root=$WORK/pause
  mkdir -p "$root"
  if command -v gcc >/dev/null && gcc -static -Os -o "$root/pause" "$HERE/pause.c" 2>"$WORK/gcc.log"; then
    strip "$root/pause" 2>/dev/null || true
    tar -C "$root" -c . | docker import -c 'ENTRYPOINT ["/pause"]' - kubelite/pause:latest >/dev/null
  else
    # Fallback: busybox as PID 1; `sleep` alone would not reap zombies, but `sh -c` with a
    # trap exits on SIGTERM, which is what the sandbox needs.
    log "gcc -static unavailable ($(head -c 200 "$WORK/gcc.log" 2>/dev/null)); busybox pause"
    mkdir -p "$root/bin"
    cp "$BUSYBOX" "$root/bin/busybox"
    ln -s busybox "$root/bin/sh"
    tar -C "$root" -c . | docker import \
      -c 'ENTRYPOINT ["/bin/sh", "-c", "trap \"exit 0\" TERM INT; while :; do /bin/busybox sleep 3600 & wait $!; done"]' \
      - kubelite/pause:latest >/dev/null
  fi
}

build_python() {
  # The same debootstrap minbase recipe as the lab images (deploy/images/debian.sh).
  debian_image kubelite/python:3 python3 python3
}

build_busybox
build_pause
if [ "${KUBELITE_BUILD_PYTHON_IMAGE:-0}" = 1 ] || [ "${1:-}" = "--python" ]; then
  build_python
fi
log "images ready: $(docker images --format '{{.Repository}}:{{.Tag}}' 'kubelite/*' | tr '\n' ' ')"
