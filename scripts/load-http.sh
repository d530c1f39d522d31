#!/usr/bin/env bash
# HTTP surface under load: the demo kernel runs at full rate (`--rate 0`)
# while wrk drives, all at once and for SECONDS (default 30):
#   /metrics                              (Prometheus scrape)
#   /api/monitoring/events?limit=100      (the events API)
#   /api/monitoring/stream                (SSE: connections held open the whole
#                                          time; wrk reports the bytes streamed)
# Fails unless every wrk run has 0 socket errors and 0 non-2xx responses,
# and the kernel exits 0 on SIGTERM afterwards. Loopback only; every step is
# bounded in time.
#
#   scripts/load-http.sh            # 30 s, release build of the demo kernel
#   scripts/load-http.sh 5          # the smoke version (tests/http_load.rs)
#   KERNEL=path/to/kernel scripts/load-http.sh 5   # use an already built kernel
#
# Tunables (environment): CONNECTIONS_METRICS (4), CONNECTIONS_EVENTS (4),
# CONNECTIONS_SSE (8), WORKFLOWS (16).
#
# Prints a table, then one line `LOAD {json}` with every figure.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_LOAD="${1:-30}"
CONNECTIONS_METRICS="${CONNECTIONS_METRICS:-4}"
CONNECTIONS_EVENTS="${CONNECTIONS_EVENTS:-4}"
CONNECTIONS_SSE="${CONNECTIONS_SSE:-8}"
WORKFLOWS="${WORKFLOWS:-16}"

log() { printf '[load-http] %s\n' "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

command -v wrk >/dev/null || die "wrk is not installed (scripts/install-peers.sh installs it)"
command -v curl >/dev/null || die "curl is not installed"

if [[ -z "${KERNEL:-}" ]]; then
  log "building the demo kernel (release)"
  cargo build --quiet --release --example kernel
  KERNEL="${CARGO_TARGET_DIR:-target}/release/examples/kernel"
fi
[[ -x "$KERNEL" ]] || die "no kernel binary at $KERNEL"
KERNEL="$(cd "$(dirname "$KERNEL")" && pwd)/$(basename "$KERNEL")"

WORK="$(mktemp -d)"
KERNEL_PID=""
WRK_PIDS=()
cleanup() {
  local pid
  for pid in "${WRK_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  if [[ -n "$KERNEL_PID" ]] && kill -0 "$KERNEL_PID" 2>/dev/null; then
    kill -KILL "$KERNEL_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# The kernel, at full rate, until SIGTERM; default telemetry config (file
# sink with rotation, store, dashboard and API on), ephemeral port.
(
  cd "$WORK"
  exec env -u RUST_LOG -u AUREUS_CONFIG "$KERNEL" --listen 127.0.0.1:0 --rate 0 --duration 0 \
    --workflows "$WORKFLOWS" >"$WORK/kernel.out" 2>"$WORK/kernel.err"
) &
KERNEL_PID=$!

ADDR=""
for _ in $(seq 1 300); do
  ADDR="$(sed -n 's/^LISTENING //p' "$WORK/kernel.out" 2>/dev/null | head -n1)"
  [[ -n "$ADDR" ]] && break
  kill -0 "$KERNEL_PID" 2>/dev/null || die "the kernel exited: $(cat "$WORK/kernel.err")"
  sleep 0.1
done
[[ -n "$ADDR" ]] && log "kernel $KERNEL_PID listening on $ADDR" || die "the kernel never printed LISTENING"
BASE="http://$ADDR"

# Records the file sink has delivered so far (the kernel's event rate).
delivered() {
  curl -sf --max-time 10 "$BASE/metrics" |
    awk '/^aureus_telemetry_records_total\{.*sink="file"/ { print $NF; found=1 } END { if (!found) print 0 }' |
    head -n1
}

sleep 2 # reach full rate
BEFORE="$(delivered)"
STARTED="$(date +%s.%N)"

wrk -t1 -c"$CONNECTIONS_METRICS" -d"${SECONDS_LOAD}s" --timeout 10s --latency "$BASE/metrics" \
  >"$WORK/wrk-metrics.txt" 2>&1 &
WRK_PIDS+=($!)
wrk -t1 -c"$CONNECTIONS_EVENTS" -d"${SECONDS_LOAD}s" --timeout 10s --latency \
  "$BASE/api/monitoring/events?limit=100" >"$WORK/wrk-events.txt" 2>&1 &
WRK_PIDS+=($!)
# An SSE response never ends: hold the connections for the whole run
# (timeout past its end) and count what they streamed.
wrk -t1 -c"$CONNECTIONS_SSE" -d"${SECONDS_LOAD}s" --timeout "$((SECONDS_LOAD + 30))s" \
  -H 'Accept: text/event-stream' "$BASE/api/monitoring/stream" >"$WORK/wrk-sse.txt" 2>&1 &
WRK_PIDS+=($!)

for pid in "${WRK_PIDS[@]}"; do
  wait "$pid" || die "wrk exited with an error: $(cat "$WORK"/wrk-*.txt)"
done
WRK_PIDS=()
ENDED="$(date +%s.%N)"
AFTER="$(delivered)"
kill -0 "$KERNEL_PID" 2>/dev/null || die "the kernel died under load: $(tail -n 20 "$WORK/kernel.err")"

# Stop the kernel the way an operator would; it must exit 0 within its deadline.
kill -TERM "$KERNEL_PID"
EXIT=""
for _ in $(seq 1 300); do
  if ! kill -0 "$KERNEL_PID" 2>/dev/null; then
    wait "$KERNEL_PID" && EXIT=0 || EXIT=$?
    break
  fi
  sleep 0.1
done
KERNEL_PID_DONE="$KERNEL_PID"
KERNEL_PID=""
[[ -n "$EXIT" ]] || { kill -KILL "$KERNEL_PID_DONE" 2>/dev/null; die "the kernel did not exit within 30 s of SIGTERM"; }
[[ "$EXIT" == 0 ]] || die "the kernel exited with $EXIT: $(tail -n 20 "$WORK/kernel.err")"

# --- figures -----------------------------------------------------------------

# wrk's latency figures come as 1.23ms / 456.00us / 1.20s: in milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else { printf "null" }
  }'
}
# Bytes from wrk's 1.23MB / 45.6KB / 789B.
to_bytes() {
  awk -v v="$1" 'BEGIN {
    m = 1
    if (v ~ /GB$/) { m = 1024 ^ 3 } else if (v ~ /MB$/) { m = 1024 ^ 2 } else if (v ~ /KB$/) { m = 1024 }
    gsub(/[A-Za-z]/, "", v); printf "%.0f", v * m
  }'
}
field() { # field FILE PATTERN N: the Nth word of the first line matching PATTERN
  awk -v p="$2" -v n="$3" '$0 ~ p { print $n; exit }' "$1"
}
errors_of() { # socket errors (connect+read+write+timeout) and non-2xx/3xx responses
  local file="$1" socket non2xx
  socket="$(awk '/Socket errors/ { gsub(/,/, ""); print $4 + $6 + $8 + $10; exit }' "$file")"
  non2xx="$(awk '/Non-2xx or 3xx responses/ { print $NF; exit }' "$file")"
  echo "${socket:-0} ${non2xx:-0}"
}

FAILED=0
JSON_PARTS=()
for name in metrics events sse; do
  file="$WORK/wrk-$name.txt"
  requests="$(field "$file" 'requests in' 1)"
  rps="$(field "$file" '^Requests/sec' 2)"
  p99="$(field "$file" '^ +99%' 2)"
  transfer="$(field "$file" '^Transfer/sec' 2)"
  read -r socket non2xx <<<"$(errors_of "$file")"
  if [[ "$name" != sse && "${requests:-0}" -eq 0 ]]; then
    log "$name: no request completed"
    FAILED=1
  fi
  if [[ "$socket" -ne 0 || "$non2xx" -ne 0 ]]; then
    log "$name: $socket socket errors, $non2xx non-2xx responses"
    FAILED=1
  fi
  p99_ms="null"
  [[ -n "$p99" ]] && p99_ms="$(to_ms "$p99")"
  JSON_PARTS+=("\"$name\":{\"requests\":${requests:-0},\"requests_per_sec\":${rps:-0},\"p99_ms\":$p99_ms,\"bytes_per_sec\":$(to_bytes "${transfer:-0B}"),\"socket_errors\":$socket,\"non_2xx\":$non2xx}")
done

EVENT_RATE="$(awk -v a="$BEFORE" -v b="$AFTER" -v s="$STARTED" -v e="$ENDED" 'BEGIN { printf "%.0f", (b - a) / (e - s) }')"

printf '\n%-8s %10s %12s %10s %14s %8s %8s\n' endpoint requests 'req/s' 'p99 ms' 'bytes/s' errors non2xx
for name in metrics events sse; do
  file="$WORK/wrk-$name.txt"
  read -r socket non2xx <<<"$(errors_of "$file")"
  p99="$(field "$file" '^ +99%' 2)"
  printf '%-8s %10s %12s %10s %14s %8s %8s\n' "$name" "$(field "$file" 'requests in' 1)" \
    "$(field "$file" '^Requests/sec' 2)" "$( [[ -n "$p99" ]] && to_ms "$p99" || echo -)" \
    "$(to_bytes "$(field "$file" '^Transfer/sec' 2)")" "$socket" "$non2xx"
done
printf 'kernel event rate during the load: %s events/s (file sink deliveries over %s s)\n' "$EVENT_RATE" "$SECONDS_LOAD"
printf 'kernel exit after SIGTERM: %s\n\n' "$EXIT"
echo "LOAD {\"seconds\":$SECONDS_LOAD,$(IFS=,; echo "${JSON_PARTS[*]}"),\"kernel_events_per_sec\":$EVENT_RATE,\"kernel_exit\":$EXIT}"

if [[ "$FAILED" -ne 0 ]]; then
  cat "$WORK"/wrk-*.txt >&2
  die "errors under load"
fi
