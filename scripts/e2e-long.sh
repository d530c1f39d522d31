#!/usr/bin/env bash
# The long versions of the end-to-end delivery tests (the test command runs
# short ones): exactly-N through file + custom sink + OTLP to rotel with
# 2,000,000 events, and the collector killed for 60 s under load (the
# circuit breaker's longer backoffs included). Needs the peers of
# scripts/install-peers.sh (rotel); loopback only, every wait bounded.
#
#   scripts/e2e-long.sh                 # both
#   E2E_EVENTS=400000 FAULT_OUTAGE_SECS=20 scripts/e2e-long.sh
#   PROFILE=release scripts/e2e-long.sh # events/s of an optimised build
set -euo pipefail
cd "$(dirname "$0")/.."

export E2E_EVENTS="${E2E_EVENTS:-2000000}"
export FAULT_OUTAGE_SECS="${FAULT_OUTAGE_SECS:-60}"
release=()
if [[ "${PROFILE:-}" == release ]]; then
  release=(--release)
fi

if [[ -x scripts/install-peers.sh ]]; then
  scripts/install-peers.sh
fi

echo "== exactly-N end to end: $E2E_EVENTS events"
cargo test "${release[@]}" --all-features --test e2e_exactly_n -- --include-ignored --nocapture
echo "== collector faults; rotel down for $FAULT_OUTAGE_SECS s"
cargo test "${release[@]}" --all-features --test otlp_faults -- --include-ignored --nocapture
