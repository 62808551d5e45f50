# Shared by deploy/images/build.sh and deploy/lab/build.sh (sourced, not run).
#
# debian_image NAME "pkg1,pkg2,..." [CMD]
#   A Debian bookworm minbase rootfs made with debootstrap from the mirror apt already uses
#   (no other network endpoint is contacted), imported with `docker import`. The image carries
#   the label io.kubelite.inputs=<sha256 of suite, package list and this file>; an image whose
#   label matches is kept, anything else is rebuilt. KUBELITE_REBUILD_IMAGES=1 forces a build.
# image_inputs_label NAME -> the io.kubelite.inputs label of NAME, or "" when it is absent.

DEBIAN_SUITE=${DEBIAN_SUITE:-bookworm}
_DEBIAN_SH=${BASH_SOURCE[0]}

apt_mirror() {
  local mirror
  mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | grep -E '^(deb |URIs:)' | grep -oE 'https?://[^ ]+' | grep -v -- '-security' | grep -E '/debian/?$' | head -1 || true)
  echo "${mirror:-http://deb.debian.org/debian}"
}

image_inputs_label() {
  docker image inspect --format '{{ index .Config.Labels "io.kubelite.inputs" }}' "$1" 2>/dev/null || true
}

debian_image() {
  local name=$1 include=$2 cmd=${3:-bash}
  local want
  want=$( { echo "$DEBIAN_SUITE $include $cmd"; cat "$_DEBIAN_SH"; } | sha256sum | cut -c1-16)
  if [ "${KUBELITE_REBUILD_IMAGES:-0}" != 1 ] && [ "$(image_inputs_label "$name")" = "$want" ]; then
    return 0
  fi
  command -v debootstrap >/dev/null || { echo "[images] debootstrap missing (apt-get install debootstrap)" >&2; return 1; }
  local mirror work
  mirror=$(apt_mirror)
  work=$(mktemp -d)
  echo "[images] building $name (debootstrap minbase $DEBIAN_SUITE from $mirror${include:+, with $include})" >&2
  if ! debootstrap --variant=minbase ${include:+--include="$include"} "$DEBIAN_SUITE" "$work/root" "$mirror" \
      >"$work/debootstrap.log" 2>&1; then
    echo "[images] debootstrap failed:" >&2
    tail -20 "$work/debootstrap.log" >&2
    rm -rf "$work"
    return 1
  fi
  rm -rf "$work"/root/var/cache/apt/archives/*.deb "$work"/root/var/lib/apt/lists/*
  tar -C "$work/root" -c . | docker import -c "LABEL io.kubelite.inputs=$want" -c "CMD [\"$cmd\"]" - "$name" >/dev/null
  rm -rf "$work"
}
