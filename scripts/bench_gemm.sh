#!/usr/bin/env bash
# Compares mpq's GEMM (internal/kernel) with OpenBLAS in one run and prints
# GFLOP/s and the ratio mpq/OpenBLAS for each product: the squares n = 256,
# 512, 1024 on all cores, and the convolution- and FC-shaped products of
# gemmBenchShapes (serial ones on one core, OpenBLAS with one thread).
#
# Needs cgo and OpenBLAS (Debian: apt-get install -y libopenblas-dev).
# The benchmark binary is built once and run COUNT times (default 5), so
# that the two libraries alternate and share the machine's load; the table
# gives the best and the median of the runs.
#
#   scripts/bench_gemm.sh                    # everything, 5 runs
#   COUNT=3 BENCH='GemmCompare/float32/n=' scripts/bench_gemm.sh
set -euo pipefail
cd "$(dirname "$0")/.."

count=${COUNT:-5}
bench=${BENCH:-GemmCompare}
benchtime=${BENCHTIME:-1s}

if ! ldconfig -p 2>/dev/null | grep -q libopenblas; then
  echo "OpenBLAS not found: apt-get install -y libopenblas-dev" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
CGO_LDFLAGS=${CGO_LDFLAGS:--lopenblas} go test -c -tags openblas -o "$tmp/kernel.test" ./internal/kernel

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$count"); do
  echo "run $i/$count" >&2
  "$tmp/kernel.test" -test.run '^$' -test.bench "$bench" -test.benchtime "$benchtime" | grep '^Benchmark' | tee -a "$tmp/out.txt" >&2
done

# Lines look like: BenchmarkGemmCompare/float32/n=256/mpq-2  N  ns/op  X GFLOP/s
awk '
{
  name = $1; sub(/^BenchmarkGemmCompare\//, "", name); sub(/-[0-9]+$/, "", name)
  for (i = 2; i < NF; i++) if ($(i+1) == "GFLOP/s") v = $i
  n[name]++; vals[name, n[name]] = v
}
function sortvals(name, k,   i, j, t) {
  for (i = 1; i <= k; i++) s[i] = vals[name, i]
  for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (s[j] < s[i]) { t = s[i]; s[i] = s[j]; s[j] = t }
}
function best(name) { sortvals(name, n[name]); return s[n[name]] }
function median(name,   k) { k = n[name]; sortvals(name, k); return (k % 2) ? s[(k + 1) / 2] : (s[k / 2] + s[k / 2 + 1]) / 2 }
END {
  printf "%-38s %9s %9s %7s   %9s %9s %7s\n", "GFLOP/s (runs: " n_runs ")", "mpq best", "OB best", "ratio", "mpq med", "OB med", "ratio"
  for (name in n) if (name ~ /\/mpq$/) keys[++nk] = name
  for (i = 1; i <= nk; i++) for (j = i + 1; j <= nk; j++) if (keys[j] < keys[i]) { t = keys[i]; keys[i] = keys[j]; keys[j] = t }
  for (i = 1; i <= nk; i++) {
    m = keys[i]; o = m; sub(/\/mpq$/, "/openblas", o); shape = m; sub(/\/mpq$/, "", shape)
    if (!(o in n)) { printf "%-38s %9.1f %9s %7s   %9.1f\n", shape, best(m), "-", "-", median(m); continue }
    bm = best(m); bo = best(o); mm = median(m); mo = median(o)
    printf "%-38s %9.1f %9.1f %6.0f%%   %9.1f %9.1f %6.0f%%\n", shape, bm, bo, 100 * bm / bo, mm, mo, 100 * mm / mo
  }
}' n_runs="$count" "$tmp/out.txt"
