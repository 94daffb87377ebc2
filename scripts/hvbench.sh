#!/usr/bin/env bash
# Search-quality benchmark (issue 5, item 10): every sampler at 25, 50 and
# 100 trials with 5 seeds on each testdata/hvbench case; prints the
# hypervolume fractions of the exhaustive front as Markdown tables.
#   bash scripts/hvbench.sh [cases]          # cases: mlp,mlp4,cnn4,mlp4x,mlp3h,cnn3h,mlp4h,mlp4j,mlp4k (default all)
# Remake the exhaustive tables (slow: minutes to an hour per case) with
#   go test ./search -run 'TestExhaustiveTables/<case>$' -update-exhaustive -timeout 0
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
MPQ_HVBENCH=1 MPQ_HVBENCH_CASES=${1:-} MPQ_HVBENCH_OUT="$out" \
	go test ./search -run '^TestHVBench$' -count=1 -timeout 0 >/dev/null
cat "$out"
