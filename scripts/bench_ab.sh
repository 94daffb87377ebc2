#!/usr/bin/env bash
# A/B benchmark of one package's benchmarks: the working tree against a git
# revision, built as two test binaries and run alternately (ROUNDS times,
# default 5) so that the machine's drift hits both alike; prints each
# benchmark's median images/s (or ns/op when it reports no images/s; or
# the metric METRIC names, e.g. METRIC=cpu-images/s, images per second of
# CPU time, which time stolen by other guests of the host does not count) for
# both and the ratio new/base.
#
#   bash scripts/bench_ab.sh REV PACKAGE BENCH-REGEXP [BENCHTIME]
#   bash scripts/bench_ab.sh HEAD~1 ./evaluator 'Evaluate/(resnet|lenet)/(w8a8|int-w8a8)$' 2s
set -euo pipefail
cd "$(dirname "$0")/.."
rev=$1 pkg=$2 re=$3 bt=${4:-2s} rounds=${ROUNDS:-5} metric=${METRIC:-images/s}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/base"
git archive "$rev" | tar -x -C "$tmp/base"
(cd "$tmp/base" && go test -c -o "$tmp/base.test" "$pkg")
go test -c -o "$tmp/new.test" "$pkg"
for _ in $(seq "$rounds"); do
	for v in base new; do
		dir=$pkg
		[ "$v" = base ] && dir=$tmp/base/$pkg
		(cd "$dir" && "$tmp/$v.test" -test.run '^$' -test.bench "$re" -test.benchtime "$bt") |
			awk -v v="$v" -v m="$metric" '/^Benchmark/ {
				x = $3; u = "ns/op"
				for (i = 4; i < NF; i++) if ($(i+1) == m) { x = $i; u = m }
				print v, $1, x, u }'
	done
done >"$tmp/runs"
python3 - "$tmp/runs" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(list)
unit = {}
for line in open(sys.argv[1]):
    v, b, x, u = line.split()
    runs[(b, v)].append(float(x))
    unit[b] = u
print("| benchmark | unit | base median (runs) | new median (runs) | new / base |")
print("|---|---|---:|---:|---:|")
for b in sorted(unit):
    base, new = runs[(b, "base")], runs[(b, "new")]
    mb, mn = statistics.median(base), statistics.median(new)
    fmt = lambda v: ", ".join("%.0f" % x for x in v)
    print("| %s | %s | %.0f (%s) | %.0f (%s) | %.3f |" % (b, unit[b], mb, fmt(base), mn, fmt(new), mn / mb))
PY
