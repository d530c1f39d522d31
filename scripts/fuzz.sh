#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ one after another, each for SECONDS
# (default 15: the smoke run scripts/test.sh does), one fuzzing process on
# one core. Fails loudly — never skips — when cargo-fuzz is
# missing or cannot build, and when any target finds a crash (the input is
# left in fuzz/artifacts/<target>/; see fuzz/README.md for turning it into a
# regression test).
#
#   scripts/fuzz.sh                     # smoke: 15 s per target
#   scripts/fuzz.sh 600                 # the 10-minute runs of fuzz/README.md
#   scripts/fuzz.sh 60 encoders config  # chosen targets
#
# cargo-fuzz needs nightly-only rustc flags; on the stable toolchain it runs
# with RUSTC_BOOTSTRAP=1. The targets build into $FUZZ_TARGET_DIR (default
# target/fuzz) — never the shared CARGO_TARGET_DIR, whose artifacts the
# sanitizer flags would invalidate. FUZZ_BUILD=dev (default for runs of at
# most 60 s: quicker to build) or release (-O),
# FUZZ_SANITIZER=none (default for smoke runs) or address.
# FUZZ_CORPUS: where new inputs go (default fuzz/corpus; not committed).
# Each target's libFuzzer output is kept in fuzz/results/<target>.log.
# Prints one line per target: `FUZZ <target> runs=<N> seconds=<S> crashes=0`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

SECONDS_EACH="${1:-15}"
shift || true
TARGETS=("$@")
if [[ ${#TARGETS[@]} -eq 0 ]]; then
  TARGETS=(correlation_id propagation config api_params encoders)
fi
if [[ "$SECONDS_EACH" -le 60 ]]; then
  FUZZ_BUILD="${FUZZ_BUILD:-dev}"
  FUZZ_SANITIZER="${FUZZ_SANITIZER:-none}"
else
  FUZZ_BUILD="${FUZZ_BUILD:-release}"
  FUZZ_SANITIZER="${FUZZ_SANITIZER:-address}"
fi
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$ROOT/target/fuzz}"
export RUSTC_BOOTSTRAP=1

log() { printf '[fuzz] %s\n' "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

command -v cargo-fuzz >/dev/null || die "cargo-fuzz is not installed (scripts/install-peers.sh installs it)"

BUILD_FLAGS=(--sanitizer "$FUZZ_SANITIZER")
if [[ "$FUZZ_BUILD" == dev ]]; then
  BUILD_FLAGS+=(--dev)
else
  BUILD_FLAGS+=(-O)
fi

cd "$ROOT/fuzz"
log "building ${TARGETS[*]} ($FUZZ_BUILD, sanitizer $FUZZ_SANITIZER) into $CARGO_TARGET_DIR"
started=$(date +%s)
for target in "${TARGETS[@]}"; do
  cargo fuzz build "${BUILD_FLAGS[@]}" "$target" || die "cargo fuzz build $target failed"
done
log "built in $(($(date +%s) - started)) s"

RESULTS="$ROOT/fuzz/results"
CORPUS="${FUZZ_CORPUS:-corpus}"
mkdir -p "$RESULTS"
for target in "${TARGETS[@]}"; do
  mkdir -p "$CORPUS/$target" "artifacts/$target"
  log "$target: ${SECONDS_EACH} s"
  crashes_before="$(find "artifacts/$target" -type f | wc -l)"
  status=0
  # One fuzzing process on one core (in-process: -workers/-jobs unset means
  # one worker); the seeds directory is read, new inputs go to $CORPUS/<target>.
  cargo fuzz run "${BUILD_FLAGS[@]}" "$target" "$CORPUS/$target" "seeds/$target" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=4096 -timeout=30 -print_final_stats=1 \
    -artifact_prefix="artifacts/$target/" >"$RESULTS/$target.log" 2>&1 || status=$?
  runs="$(awk '/^stat::number_of_executed_units:/ { print $2 }' "$RESULTS/$target.log" | tail -n1)"
  crashes=$(($(find "artifacts/$target" -type f | wc -l) - crashes_before))
  echo "FUZZ $target runs=${runs:-0} seconds=$SECONDS_EACH crashes=$crashes status=$status"
  if [[ "$status" -ne 0 || "$crashes" -ne 0 || -z "$runs" ]]; then
    grep -a -A 30 -E 'panicked|ERROR' "$RESULTS/$target.log" | head -n 60 >&2 || tail -n 40 "$RESULTS/$target.log" >&2
    die "$target: crash or error (inputs in fuzz/artifacts/$target/)"
  fi
done
echo "fuzz: ${#TARGETS[@]} passed, 0 failed"
