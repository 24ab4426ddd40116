#!/usr/bin/env bash
# The raw claim-and-complete loop (claim.sql) at 1, 3 and 8 clients, each run on a fresh
# backlog (setup.sql: 200,000 events over 1,000 conversations) and sized to end before the
# backlog does: every transaction claims a full batch of 64, so events/s = tps × 64 holds.
# A run by time (`-T`) is not: once the backlog is gone the transactions claim nothing, cost
# almost nothing, and inflate tps (a 5 s run at 8 clients on a quiet machine read 141k "events"/s
# where the backlog lasted 1.4 s).
#
# Usage: load/pg/loop.sh [DATABASE_URL] [CLIENTS...]   (default postgres://postgres@127.0.0.1:5432/test, 1 3 8)
set -euo pipefail
cd "$(dirname "$0")"
url="${1:-postgres://postgres@127.0.0.1:5432/test}"
shift || true
clients=("$@")
[ ${#clients[@]} -gt 0 ] || clients=(1 3 8)
batch=64
events=200000
# Leave the last 5 batches' worth: near the end fewer than 64 heads may be ready at once.
transactions=$((events / batch - 5))
for c in "${clients[@]}"; do
  psql "$url" -q -v ON_ERROR_STOP=1 -f setup.sql >/dev/null
  per_client=$((transactions / c))
  tps=$(pgbench "$url" -n -f claim.sql -c "$c" -j 2 -t "$per_client" 2>/dev/null |
    awk '/^tps/ {print $3; exit}')
  left=$(psql "$url" -tAc "SELECT count(*) FROM pgb_inbox")
  awk -v c="$c" -v tps="$tps" -v b="$batch" -v left="$left" -v n="$events" \
    'BEGIN { printf "clients %d: %.0f events/s (%.1f tx/s x %d; %d of %d events left)\n", c, tps * b, tps, b, left, n }'
done
