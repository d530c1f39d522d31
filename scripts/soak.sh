#!/usr/bin/env bash
# Soak: the demo kernel at half its measured maximum rate for MINUTES
# (default 10) with every sink on — console (warn), rotating gzip'd file,
# event store, dashboard/API — and OTLP traces, logs and metrics exported to a
# real collector (rotel, loopback, blackhole exporter). Every SAMPLE_SECS it
# samples the kernel's RSS and, from /metrics, each sink's queue depth and
# delivered/dropped/failed counters. At the end it says whether RSS and the
# queue depths stayed flat, stops the kernel with SIGTERM (must exit 0) and
# prints the kernel's shutdown report.
#
#   scripts/soak.sh                 # 10 minutes, rate = half the measured maximum
#   MINUTES=2 scripts/soak.sh       # shorter
#   RATE=20000 scripts/soak.sh      # skip the measurement, use this rate
#   KERNEL=path/to/kernel ROTEL_AGENT=path/to/rotel-agent scripts/soak.sh
#
# Environment: MINUTES (10), RATE (measured), MEASURE_SECS (15),
# SAMPLE_SECS (10), WORKFLOWS (16), RSS_GROWTH_LIMIT (percent, 20),
# OUT (directory for samples.csv and logs; default a temp dir, kept).
# Flat means: RSS in the last fifth of the run within RSS_GROWTH_LIMIT % of
# the first fifth after warm-up, and every queue's depth in the last half at
# most its depth bound (a quarter of its capacity) — not trending to full.
set -euo pipefail
cd "$(dirname "$0")/.."

MINUTES="${MINUTES:-10}"
MEASURE_SECS="${MEASURE_SECS:-15}"
SAMPLE_SECS="${SAMPLE_SECS:-10}"
WORKFLOWS="${WORKFLOWS:-16}"
RSS_GROWTH_LIMIT="${RSS_GROWTH_LIMIT:-20}"
OUT="${OUT:-$(mktemp -d -t aureus-soak-XXXXXX)}"
mkdir -p "$OUT"

log() { printf '[soak] %s\n' "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

command -v curl >/dev/null || die "curl is not installed"
command -v python3 >/dev/null || die "python3 is not installed"

if [[ -z "${KERNEL:-}" ]]; then
  log "building the demo kernel (release)"
  cargo build --quiet --release --example kernel
  KERNEL="${CARGO_TARGET_DIR:-target}/release/examples/kernel"
fi
[[ -x "$KERNEL" ]] || die "no kernel binary at $KERNEL"
KERNEL="$(cd "$(dirname "$KERNEL")" && pwd)/$(basename "$KERNEL")"

if [[ -z "${ROTEL_AGENT:-}" ]]; then
  for candidate in target/peers/bin/rotel-agent "${CARGO_TARGET_DIR:-target}/peers/bin/rotel-agent"; do
    if [[ -x "$candidate" ]]; then
      ROTEL_AGENT="$candidate"
      break
    fi
  done
fi
[[ -x "${ROTEL_AGENT:-}" ]] || die "no rotel-agent (scripts/install-peers.sh installs it; or set ROTEL_AGENT)"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

KERNEL_PID=""
ROTEL_PID=""
cleanup() {
  for pid in "$KERNEL_PID" "$ROTEL_PID"; do
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}
trap cleanup EXIT

# --- the collector -------------------------------------------------------------
GRPC_PORT="$(free_port)"
HTTP_PORT="$(free_port)"
mkdir -p "$OUT/rotel"
(
  cd "$OUT/rotel"
  exec env -u RUST_LOG NO_COLOR=1 "$(cd "$(dirname "$ROTEL_AGENT")" && pwd)/$(basename "$ROTEL_AGENT")" start \
    --otlp-grpc-endpoint "127.0.0.1:$GRPC_PORT" --otlp-http-endpoint "127.0.0.1:$HTTP_PORT" \
    --exporter blackhole --pid-file "$OUT/rotel/rotel.pid" --log-file "$OUT/rotel/rotel.log" \
    >"$OUT/rotel/stdout.log" 2>&1
) &
ROTEL_PID=$!
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$HTTP_PORT") 2>/dev/null && break
  kill -0 "$ROTEL_PID" 2>/dev/null || die "rotel exited: $(cat "$OUT/rotel/stdout.log")"
  sleep 0.1
done
log "rotel $ROTEL_PID on 127.0.0.1:$HTTP_PORT (HTTP)"

# --- the kernel's configuration: every sink and OTLP --------------------------
cat >"$OUT/kernel.toml" <<EOF
service_name = "aureus-soak"
log_level = "info"

[[sinks]]
type = "console"
level = "warn"

[[sinks]]
type = "file"
path = "./aureus-telemetry/aureus.jsonl"
max_bytes = "10MB"
max_files = 5
compress = true

[otlp]
enabled = true
endpoint = "http://127.0.0.1:$HTTP_PORT"
protocol = "http/protobuf"
EOF

# start_kernel RATE SECONDS DIR: runs the kernel in DIR; sets KERNEL_PID and BASE.
start_kernel() {
  local rate="$1" seconds="$2" dir="$3"
  mkdir -p "$dir"
  (
    cd "$dir"
    exec env -u RUST_LOG -u AUREUS_CONFIG "$KERNEL" --config "$OUT/kernel.toml" --listen 127.0.0.1:0 \
      --rate "$rate" --duration "$seconds" --workflows "$WORKFLOWS" >"$dir/kernel.out" 2>"$dir/kernel.err"
  ) &
  KERNEL_PID=$!
  local addr=""
  for _ in $(seq 1 300); do
    addr="$(sed -n 's/^LISTENING //p' "$dir/kernel.out" 2>/dev/null | head -n1)"
    [[ -n "$addr" ]] && break
    kill -0 "$KERNEL_PID" 2>/dev/null || die "the kernel exited: $(cat "$dir/kernel.err")"
    sleep 0.1
  done
  [[ -n "$addr" ]] || die "the kernel never printed LISTENING"
  BASE="http://$addr"
}

# wait_kernel SECS: waits for the kernel to exit; sets CODE to its exit code (or dies).
wait_kernel() {
  for _ in $(seq 1 $(($1 * 10))); do
    if ! kill -0 "$KERNEL_PID" 2>/dev/null; then
      wait "$KERNEL_PID" && CODE=0 || CODE=$?
      KERNEL_PID=""
      return 0
    fi
    sleep 0.1
  done
  die "the kernel did not exit within $1 s"
}

# --- the maximum rate ----------------------------------------------------------
if [[ -z "${RATE:-}" ]]; then
  log "measuring the maximum rate: ${MEASURE_SECS} s at --rate 0 with every sink and OTLP on"
  start_kernel 0 "$MEASURE_SECS" "$OUT/measure"
  wait_kernel $((MEASURE_SECS + 60))
  [[ "$CODE" == 0 ]] || die "the measuring run exited with $CODE"
  MAX_RATE="$(awk '/^events\/s/ { printf "%.0f", $2 }' "$OUT/measure/kernel.out")"
  [[ -n "$MAX_RATE" && "$MAX_RATE" -gt 0 ]] || die "no events/s line in the measuring run"
  RATE=$((MAX_RATE / 2))
  log "maximum $MAX_RATE events/s; soaking at $RATE events/s"
  rm -rf "$OUT/measure/aureus-telemetry"
else
  MAX_RATE="null"
fi

# --- the soak ------------------------------------------------------------------
DURATION=$((MINUTES * 60))
start_kernel "$RATE" 0 "$OUT/soak"
log "kernel $KERNEL_PID at $RATE events/s for $MINUTES min; samples every $SAMPLE_SECS s in $OUT/samples.csv"

# metric NAME SINK FILE: a per-sink value from a /metrics scrape (0 if absent).
metric() {
  awk -v n="$1" -v s="sink=\"$2\"" '$1 ~ "^"n"\\{" && index($1, s) { v += $NF } END { printf "%.0f", v }' "$3"
}

SINKS="console file store otlp"
{
  printf 'elapsed_s,rss_kib'
  for s in $SINKS; do printf ',%s_depth,%s_delivered,%s_dropped,%s_failed' "$s" "$s" "$s" "$s"; done
  printf '\n'
} >"$OUT/samples.csv"

START="$(date +%s)"
while :; do
  sleep "$SAMPLE_SECS"
  now="$(date +%s)"
  elapsed=$((now - START))
  kill -0 "$KERNEL_PID" 2>/dev/null || die "the kernel died during the soak: $(tail -n 20 "$OUT/soak/kernel.err")"
  rss="$(awk '/^VmRSS:/ { print $2 }' "/proc/$KERNEL_PID/status")"
  curl -sf --max-time 10 "$BASE/metrics" >"$OUT/scrape.txt" || die "scraping /metrics failed"
  line="$elapsed,$rss"
  for s in $SINKS; do
    line+=",$(metric aureus_telemetry_queue_depth "$s" "$OUT/scrape.txt")"
    line+=",$(metric aureus_telemetry_records_total "$s" "$OUT/scrape.txt")"
    line+=",$(metric aureus_telemetry_dropped_total "$s" "$OUT/scrape.txt")"
    line+=",$(metric aureus_telemetry_errors_total "$s" "$OUT/scrape.txt")"
  done
  echo "$line" >>"$OUT/samples.csv"
  [[ "$elapsed" -ge "$DURATION" ]] && break
done

kill -TERM "$KERNEL_PID"
wait_kernel 60
[[ "$CODE" == 0 ]] || die "the kernel exited with $CODE after SIGTERM"
REPORT="$(sed -n 's/^REPORT //p' "$OUT/soak/kernel.out")"
kill -TERM "$ROTEL_PID" 2>/dev/null || true

# --- verdict -------------------------------------------------------------------
python3 - "$OUT/samples.csv" "$RSS_GROWTH_LIMIT" "$RATE" "$MAX_RATE" "$REPORT" <<'PY'
import csv, json, statistics, sys

path, limit, rate, max_rate, report = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(open(path))]
if len(rows) < 5:
    sys.exit(f"[soak] FAIL: only {len(rows)} samples")
# Warm-up: the first 10% of samples (queues fill to steady state, caches grow).
body = rows[max(1, len(rows) // 10):]
fifth = max(1, len(body) // 5)
first = statistics.median(r["rss_kib"] for r in body[:fifth])
last = statistics.median(r["rss_kib"] for r in body[-fifth:])
growth = 100.0 * (last - first) / first
sinks = sorted({k[: -len("_depth")] for k in rows[0] if k.endswith("_depth")})
capacity = {"console": 8192, "file": 8192, "store": 8192, "otlp": 8192}
half = body[len(body) // 2:]
report = json.loads(report) if report else {}
print()
print(f"rate {rate} events/s (measured maximum {max_rate}), {len(rows)} samples over {int(rows[-1]['elapsed_s'])} s")
print(f"RSS: min {min(r['rss_kib'] for r in rows) / 1024:.1f} MiB, max {max(r['rss_kib'] for r in rows) / 1024:.1f} MiB, "
      f"first-fifth median {first / 1024:.1f} MiB, last-fifth median {last / 1024:.1f} MiB, growth {growth:+.1f}% (limit {limit:.0f}%)")
flat = growth <= limit
for s in sinks:
    depths = [r[f"{s}_depth"] for r in rows]
    late = max(r[f"{s}_depth"] for r in half)
    delivered = rows[-1][f"{s}_delivered"]
    dropped = rows[-1][f"{s}_dropped"]
    failed = rows[-1][f"{s}_failed"]
    bound = capacity.get(s, 8192) / 4
    ok = late <= bound
    flat = flat and ok
    print(f"queue {s:8}: depth mean {statistics.mean(depths):.1f}, max {max(depths):.0f}, max in 2nd half {late:.0f} "
          f"(bound {bound:.0f}) {'flat' if ok else 'NOT FLAT'}; delivered {delivered:.0f}, dropped {dropped:.0f}, failed {failed:.0f}")
print(f"verdict: RSS and queue depths {'stayed flat' if flat else 'did NOT stay flat'}")
for sink in report.get("sinks", []):
    accounted = sink["delivered"] + sink["dropped"] + sink["failed"] + sink["undelivered"]
    print(f"shutdown {sink['name']:8}: created {sink['created']} = delivered {sink['delivered']} + dropped {sink['dropped']} "
          f"+ failed {sink['failed']} + undelivered {sink['undelivered']}{'' if accounted == sink['created'] else '  MISMATCH'}")
for o in report.get("otlp", []):
    print(f"shutdown otlp {o['signal']}: exported {o['exported']}, dropped {o['dropped']}, failed {o['failed']}, undelivered {o['undelivered']}")
print("SOAK " + json.dumps({"rate": int(rate), "max_rate": None if max_rate == "null" else int(max_rate),
                            "samples": len(rows), "rss_first_kib": first, "rss_last_kib": last,
                            "rss_growth_pct": round(growth, 2), "flat": flat}))
sys.exit(0 if flat else 1)
PY
