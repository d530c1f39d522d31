#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need
# (idempotently), checks formatting and lints, then runs every test —
# including those marked #[ignore] because they need an external program.
#
#   scripts/test.sh            # everything
#   SKIP_LINT=1 scripts/test.sh  # tests only
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== toolchain"
cargo --version
rustc --version

# External peers (rotel, prometheus, chromium) are installed here by
# scripts/install-peers.sh once tests need them; a missing peer is then a
# failure of the full run, not a skip.
if [[ -x scripts/install-peers.sh ]]; then
  echo "== peers"
  scripts/install-peers.sh
fi

if [[ -z "${SKIP_LINT:-}" ]]; then
  echo "== fmt"
  cargo fmt --all -- --check
  echo "== clippy"
  cargo clippy --all-targets -- -D warnings
  echo "== rustdoc"
  RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
fi

echo "== tests (unit, integration, examples built, doc tests; ignored ones included)"
cargo test --all-features -- --include-ignored

# A short run of the throughput harness: both stacks, 1 thread, a few
# thousand events through file + OTLP to rotel (the full comparison table is
# `scripts/throughput.sh`, see README "Throughput").
echo "== throughput smoke (SMOKE=1 scripts/throughput.sh)"
SMOKE=1 scripts/throughput.sh

# A short run of every fuzz target (fuzz/README.md; the 10-minute runs are
# `scripts/fuzz.sh 600`). cargo-fuzz comes from scripts/install-peers.sh; if
# it cannot build or run here, this fails.
echo "== fuzz smoke (scripts/fuzz.sh ${FUZZ_SMOKE_SECONDS:-15})"
scripts/fuzz.sh "${FUZZ_SMOKE_SECONDS:-15}"
