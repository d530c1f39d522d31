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
  # What `cargo publish` would upload: only what Cargo.toml's `include` names
  # (no target/, fuzz artifacts, scripts, peers or stray files).
  echo "== package contents"
  package_list=$(cargo package --list --allow-dirty --quiet)
  stray=$(grep -Ev '^(src/.+\.rs|assets/.+|examples/[a-z_]+\.(rs|toml)|docs/GUIDE\.md|deploy/prometheus/[a-z.-]+\.yml|README\.md|CHANGELOG\.md|LICENSE-(MIT|APACHE)|Cargo\.(toml|toml\.orig|lock)|\.cargo_vcs_info\.json)$' <<<"$package_list" || true)
  if [[ -n "$stray" ]]; then
    echo "stray files in the package (fix Cargo.toml's include):"
    echo "$stray"
    exit 1
  fi
  for needed in docs/GUIDE.md examples/production.toml; do
    grep -qx "$needed" <<<"$package_list" || { echo "$needed missing from the package"; exit 1; }
  done
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
