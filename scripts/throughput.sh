#!/usr/bin/env bash
# Whole-stack throughput, the naive composition of the standard crates (A)
# against ours (B), in one run on the same workload (examples/throughput.rs):
# events/s emitted and delivered (file lines counted; log records and spans
# counted behind a real collector, rotel, which forwards to a counting
# receiver), drops, CPU per delivered event (all threads, getrusage), peak
# RSS and the emitting threads' own CPU per event. Prints a markdown table
# and the ratios B/A. One process per measurement; loopback only; every
# wait bounded. Needs rotel-agent (scripts/install-peers.sh).
#
#   scripts/throughput.sh                         # full run: 1,000,000 events per measurement
#   EVENTS=200000 scripts/throughput.sh           # shorter
#   SMOKE=1 scripts/throughput.sh                 # a few thousand events, 1 thread, both stacks (the test command runs this)
#   WORKLOADS="step_end" THREADS="2" scripts/throughput.sh
#   OUT=results.jsonl scripts/throughput.sh       # also keep the raw RESULT lines
#   BIN=/path/to/throughput scripts/throughput.sh # measure a harness binary built elsewhere
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -n "${SMOKE:-}" ]]; then
  EVENTS="${EVENTS:-5000}"
  THREADS="${THREADS:-1}"
  WORKLOADS="${WORKLOADS:-mix}"
  STACKS="${STACKS:-naive-lossless ours}"
  export SMOKE STACKS
  DOWN="${DOWN:-0}"
  PROFILE="${PROFILE:-debug}"
else
  EVENTS="${EVENTS:-1000000}"
  THREADS="${THREADS:-1 2}"
  WORKLOADS="${WORKLOADS:-mix step_end}"
  STACKS="${STACKS:-naive-lossless naive-lossy ours}"
  DOWN="${DOWN:-1}"
  PROFILE="${PROFILE:-release}"
fi

target="${CARGO_TARGET_DIR:-target}"
if [[ -n "${BIN:-}" ]]; then
  bin="$BIN" # a harness binary built elsewhere (e.g. an earlier commit's, for before/after)
elif [[ "$PROFILE" == release ]]; then
  cargo build --release --quiet --example throughput
  bin="$target/release/examples/throughput"
else
  cargo build --quiet --example throughput
  bin="$target/debug/examples/throughput"
fi

rotel="${ROTEL_AGENT:-}"
if [[ -z "$rotel" ]]; then
  for candidate in "$target/peers/bin/rotel-agent" target/peers/bin/rotel-agent; do
    if [[ -x "$candidate" ]]; then rotel="$candidate"; break; fi
  done
fi
if [[ -z "$rotel" || ! -x "$rotel" ]]; then
  echo "rotel-agent not found (run scripts/install-peers.sh or set ROTEL_AGENT)" >&2
  exit 1
fi

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # file pattern seconds
  for _ in $(seq 1 $(( $3 * 10 ))); do
    if grep -q "$2" "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for '$2' in $1:" >&2; cat "$1" >&2; return 1
}

"$bin" receive --counts "$work/counts.json" >"$work/receiver.out" 2>&1 &
pids+=($!)
wait_for "$work/receiver.out" LISTENING 20
receiver="$(awk '/LISTENING/ {print $2}' "$work/receiver.out")"
grpc_port="$(free_port)"
http_port="$(free_port)"
"$rotel" start --otlp-grpc-endpoint "127.0.0.1:$grpc_port" --otlp-http-endpoint "127.0.0.1:$http_port" \
  --exporter otlp --otlp-exporter-endpoint "$receiver" --otlp-exporter-protocol grpc \
  --otlp-exporter-compression none --otlp-exporter-request-timeout 120s >"$work/rotel.out" 2>&1 &
pids+=($!)
for _ in $(seq 1 200); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$http_port") 2>/dev/null; then break; fi
  sleep 0.1
done
collector="http://127.0.0.1:$http_port"

results="${OUT:-$work/results.jsonl}"
: >"$results"
measure() { # stack workload threads collector
  local stack="$1" args=()
  case "$stack" in
    ours) args=(--stack ours) ;;
    naive-lossless) args=(--stack naive --naive-file lossless) ;;
    naive-lossy) args=(--stack naive --naive-file lossy) ;;
  esac
  echo "== $stack, $2, $3 thread(s), collector $4, $EVENTS events" >&2
  local dir="$work/files-$stack-$2-$3-$4"
  mkdir -p "$dir"
  timeout 900 "$bin" "${args[@]}" --workload "$2" --threads "$3" --events "$EVENTS" \
    --collector "$4" --counts "$work/counts.json" --dir "$dir" | grep '^RESULT ' | sed 's/^RESULT //' >>"$results"
  rm -rf "$dir"
}

for workload in $WORKLOADS; do
  for threads in $THREADS; do
    for stack in $STACKS; do
      measure "$stack" "$workload" "$threads" "$collector"
    done
  done
done
if [[ "$DOWN" == 1 ]]; then
  for stack in naive-lossless ours; do
    measure "$stack" mix 2 down
  done
fi

python3 - "$results" <<'EOF'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def derived(r):
    n, spans = r["events"], r["spans"]
    up = r["collector"] == "up"
    delivered = min(r["file_lines"], r["collector_logs"]) if up else r["file_lines"]
    drops = max(0, n - r["file_lines"])
    if up:
        drops += max(0, n - r["collector_logs"]) + max(0, spans - r["collector_spans"])
    per_thread = n / r["threads"]
    emitter = sum(r["emitter_cpu_s"]) / len(r["emitter_cpu_s"]) / per_thread * 1e6
    return dict(
        emitted=n / r["emit_s"], delivered=delivered / r["drain_s"] if delivered else 0.0,
        drops=drops, cpu=r["cpu_s"] / delivered * 1e6 if delivered else float("nan"),
        rss=r["peak_rss_kib"] / 1024, emitter=emitter)
print()
print("| stack | workload | threads | collector | emitted ev/s | delivered ev/s (file + OTLP, until drained) | file lines | OTLP log records | spans | drops | CPU µs / delivered event | peak RSS MiB | emitting thread µs / event |")
print("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in rows:
    d = derived(r)
    name = "**B: ours**" if r["stack"] == "ours" else "A: " + r["stack"]
    logs = r["collector_logs"] if r["collector"] == "up" else "—"
    spans = f'{r["collector_spans"]:,} / {r["spans"]:,}' if r["collector"] == "up" else "—"
    print(f'| {name} | {r["workload"]} | {r["threads"]} | {r["collector"]} | {d["emitted"]:,.0f} | {d["delivered"]:,.0f} '
          f'| {r["file_lines"]:,} | {logs if isinstance(logs, str) else format(logs, ",")} | {spans} | {d["drops"]:,} '
          f'| {d["cpu"]:.2f} | {d["rss"]:.0f} | {d["emitter"]:.2f} |')
print()
print("Ratios B/A (ours ÷ naive; A = the naive lossless composition, lossy in brackets):")
print()
print("| workload | threads | delivered ev/s | CPU / delivered event | emitting thread / event | peak RSS |")
print("| --- | --- | ---: | ---: | ---: | ---: |")
key = lambda r: (r["workload"], r["threads"], r["collector"])
index = {(key(r), r["stack"]): r for r in rows}
def ratio(b, a, field):
    x, y = derived(b)[field], derived(a)[field]
    return f"{x / y:.2f}×" if y else "—"
for r in rows:
    if r["stack"] != "ours":
        continue
    k = key(r)
    cells = []
    for field in ("delivered", "cpu", "emitter", "rss"):
        parts = []
        for naive in ("naive-lossless", "naive-lossy"):
            a = index.get((k, naive))
            if a:
                parts.append(ratio(r, a, field))
        cells.append(parts[0] + (f" [{parts[1]}]" if len(parts) > 1 else "") if parts else "—")
    label = f'{r["workload"]}' + (" (collector down)" if r["collector"] == "down" else "")
    print(f'| {label} | {r["threads"]} | ' + " | ".join(cells) + " |")
if os.environ.get("SMOKE"):
    # The smoke run fails unless every stack measured and ours lost nothing.
    wanted = os.environ.get("STACKS", "").split()
    missing = [s for s in wanted if not any(r["stack"] == s for r in rows)]
    lossy = [r for r in rows if r["stack"] == "ours" and r["collector"] == "up" and derived(r)["drops"] > 0]
    if missing or lossy:
        sys.exit(f"smoke run failed: missing {missing}, ours lost events in {len(lossy)} run(s)")
EOF
