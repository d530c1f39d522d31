#!/usr/bin/env bash
# The long version of tests/file_retention.rs: the issue's load — two threads
# writing 100,000 events each as fast as they can through a file sink with
# 64 KiB rotation, count/byte/time retention and gzip — repeated many rounds
# per scenario. After every round the kept files must hold a contiguous suffix
# of what each thread wrote, and exactly the older files must be counted as
# deleted.
#
#   scripts/stress-file-retention.sh                 # 20 rounds × 2 × 100,000 events per scenario
#   scripts/stress-file-retention.sh ROUNDS EVENTS   # e.g. 100 100000
set -euo pipefail
cd "$(dirname "$0")/.."
export AUREUS_RETENTION_ROUNDS="${1:-20}"
export AUREUS_RETENTION_EVENTS="${2:-100000}"
echo "== file retention stress: ${AUREUS_RETENTION_ROUNDS} rounds × 2 × ${AUREUS_RETENTION_EVENTS} events per scenario"
time cargo test --release --test file_retention -- --nocapture
