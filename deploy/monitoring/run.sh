#!/usr/bin/env bash
# make monitoring: Debian's Prometheus scraping the local cluster ($KUBELITE_HOME, default
# ~/.kubelite) with deploy/monitoring's config; targets kept up to date by `python -m cli.monitoring`.
# PROM_ADDRESS (default 127.0.0.1:9090) is where Prometheus listens.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
HOME_DIR="${KUBELITE_HOME:-$HOME/.kubelite}"
MON="$HOME_DIR/monitoring"
PY="${PY:-$ROOT/.venv/bin/python}"
mkdir -p "$MON/targets" "$MON/data"
cp "$ROOT/deploy/monitoring/prometheus.yml" "$ROOT/deploy/monitoring/rules.yml" "$MON/"
"$PY" -m cli.monitoring --home "$HOME_DIR" --out "$MON/targets" --once
"$PY" -m cli.monitoring --home "$HOME_DIR" --out "$MON/targets" > "$MON/targets.log" 2>&1 &
GEN=$!
trap 'kill $GEN 2>/dev/null || true' EXIT
echo "Prometheus on http://${PROM_ADDRESS:-127.0.0.1:9090} (data in $MON/data)"
prometheus --config.file="$MON/prometheus.yml" --storage.tsdb.path="$MON/data" \
  --web.listen-address="${PROM_ADDRESS:-127.0.0.1:9090}"
