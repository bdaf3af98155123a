#!/usr/bin/env bash
# Runs every benchmark in bench/ in turn (each runs its reference and teelm side by side and
# prints the ratio). Results to record go to bench/RESULTS.md by hand, with machine and date.
set -uo pipefail
cd "$(dirname "$0")" || exit 1
status=0
for b in engine.sh tokenizer.sh weights.sh seal.sh server.sh; do
  [ -f "$b" ] || { echo "bench: $b not present, skipped"; continue; }
  echo "================ $b ================"
  bash "$b" || { echo "bench: $b FAILED"; status=1; }
done
exit $status
