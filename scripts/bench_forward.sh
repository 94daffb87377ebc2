#!/usr/bin/env bash
# Evaluation throughput (images/s) of mpq and of PyTorch on the same models,
# in one run, as a Markdown table: mpq fp32, mpq w8a8 fake-quant, mpq w8a8
# integer arithmetic, PyTorch fp32 and PyTorch w8a8 fake-quant (eager, via
# scripts/torch_onnx.py, mpq's quantization semantics), and the ratios.
# Needs Debian's python3-torch and python3-onnx (/usr/bin/python3).
#
#   bash scripts/bench_forward.sh [benchtime] [model.onnx ...]
#
# Without ONNX files: the shipped mlp, lenet, resnet; mpq is measured by
# `go test -bench Evaluate ./evaluator` (2,560 test images per op, batch 256,
# benchtime default 3s), and the nn.Module classes of scripts/models.py are
# timed too (fp32), to show the ONNX executor runs at nn.Module speed.
# With ONNX files (any MNIST classifier: N x 1 x 28 x 28 or N x 784 input):
# mpq is measured in process by `go test -bench EvaluateONNX ./evaluator`
# with MPQ_BENCH_ONNX set to each file (2,560 test images per op, batch
# 256, as for the shipped models). With MPQ_VIA=cli it is measured through
# its CLI instead, `mpq eval` on a generated config (batch 256, evaluating
# the training split): images/s = (N - n) / (wall(N images) - wall(n
# images)), best of MPQ_REPEAT (default 3) runs each, n = 256 and N =
# MPQ_EVAL_COUNT (default: about 3 s of work, 10,240 to 60,000 images), so
# process start, model and data loading and calibration cancel out (for
# models faster than about 100k images/s the difference is too small to
# time well); the benchtime argument is then unused.
# PyTorch: batch 256 (or the ONNX file's fixed batch), 20 timed batches after
# 3 warm-up ones, 2 threads, torch.no_grad(), eval mode; weights are
# fake-quantized on every forward (QAT FakeQuantize style), or once up front
# with TORCH_WEIGHT_FQ=once.
set -euo pipefail
cd "$(dirname "$0")/.."
bt=3s
if [ $# -gt 0 ] && [[ "$1" != *.onnx ]]; then
	bt=$1
	shift
fi
PY=/usr/bin/python3
wfq=${TORCH_WEIGHT_FQ:-every}
tmp=$(mktemp -d /tmp/mpq-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

if [ $# -eq 0 ]; then
	kind=shipped
	onnx_list=mlp,lenet,resnet
	go test -run x -bench 'Evaluate/(mlp|lenet|resnet)/(fp32|w8a8|int-w8a8)$' -benchtime "$bt" ./evaluator \
		| grep '^Benchmark' > "$tmp/go.txt"
	$PY scripts/bench_torch_onnx.py --onnx "$onnx_list" --mode fp32,w8a8 --modules "$onnx_list" \
		--weight-fq "$wfq" --batch 256 --iters 20 --threads 2 > "$tmp/py.txt"
else
	kind=cli
	onnx_list=""
	for f in "$@"; do
		[ -f "$f" ] || { echo "no such file: $f" >&2; exit 2; }
		onnx_list="$onnx_list${onnx_list:+,}$(realpath "$f")"
	done
fi
if [ "$kind" = cli ] && [ "${MPQ_VIA:-bench}" != cli ]; then
	go test -c -o "$tmp/evaluator.test" ./evaluator
	for f in ${onnx_list//,/ }; do
		stem=$(basename "$f" .onnx)
		(cd evaluator && MPQ_BENCH_ONNX="$f" "$tmp/evaluator.test" -test.run '^$' -test.bench 'EvaluateONNX' -test.benchtime "$bt") |
			awk -v m="$stem" '/^BenchmarkEvaluateONNX/ {
				split($1, p, "/"); sub(/-[0-9]+$/, "", p[2])
				for (i = 4; i < NF; i++) if ($(i+1) == "images/s") print m, p[2], $i, 2560 }' >> "$tmp/go.txt"
	done
	$PY scripts/bench_torch_onnx.py --onnx "$onnx_list" --mode fp32,w8a8 \
		--weight-fq "$wfq" --batch 256 --iters 20 --threads 2 > "$tmp/py.txt"
elif [ "$kind" = cli ]; then
	go build -o "$tmp/mpq" ./cmd/mpq
	MPQ="$tmp/mpq" TMPD="$tmp" REPO="$PWD" MODELS="$onnx_list" $PY - > "$tmp/go.txt" <<'PY'
# Times `mpq eval` per model and variant; prints "model variant images/s".
import os, subprocess, sys, time
mpq, tmp, repo = os.environ["MPQ"], os.environ["TMPD"], os.environ["REPO"]
small, fixed = 256, int(os.environ.get("MPQ_EVAL_COUNT", "0"))
repeat = int(os.environ.get("MPQ_REPEAT", "3"))
mn = os.path.join(repo, "testdata", "mnist")
plan = os.path.join(tmp, "w8a8.yaml")
with open(plan, "w") as f:
    f.write("default: {weight_bits: 8, activation_bits: 8}\n")

def config(path, stem, n):
    cfg = os.path.join(tmp, "%s.%d.yaml" % (stem, n))
    with open(cfg, "w") as f:
        f.write("model: %s\n" % path)
        f.write("data:\n")
        f.write("  train: {format: idx, images: %s/train-images-idx3-ubyte.gz, labels: %s/train-labels-idx1-ubyte.gz}\n" % (mn, mn))
        f.write("  test:  {format: idx, images: %s/t10k-images-idx3-ubyte.gz, labels: %s/t10k-labels-idx1-ubyte.gz}\n" % (mn, mn))
        f.write("  transform: {scale: 0.00392156862745098, mean: [0.1307], std: [0.3081]}\n")
        # the training split (60,000 images): enough work to time even an MLP
        f.write("evaluation:  {split: train, count: %d, batch: 256}\n" % n)
        f.write("calibration: {split: train, count: 512, method: minmax}\n")
        f.write("study: {name: bench-%s, storage: sqlite://%s/%s.db}\n" % (stem, tmp, stem))
    return cfg

def wall(cfg, extra):
    t0 = time.perf_counter()
    r = subprocess.run([mpq, "eval", "-c", cfg] + extra, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(((r.stderr or r.stdout).strip().splitlines() or ["exit %d" % r.returncode])[-1])
    return dt

for path in os.environ["MODELS"].split(","):
    stem = os.path.splitext(os.path.basename(path))[0]
    c_small = config(path, stem, small)
    big = fixed
    if not big:
        # about 3 s of evaluation per run, 10,000 to 60,000 images
        try:
            d = wall(config(path, stem, 10240), []) - wall(c_small, [])
        except RuntimeError:
            d = 0
        big = 60000 if d <= 0 else int(min(60000, max(10240, 3.0 * (10240 - small) / d)) // 256 * 256)
    c_big = config(path, stem, big)
    for variant, extra in (("fp32", []), ("w8a8", ["--plan", plan]), ("int-w8a8", ["--plan", plan, "--integer"])):
        try:
            t_small = min(wall(c_small, extra) for _ in range(repeat))
            t_big = min(wall(c_big, extra) for _ in range(repeat))
        except RuntimeError as e:
            print("mpq eval %s %s failed: %s" % (stem, variant, e), file=sys.stderr)
            print("%s %s n/a" % (stem, variant))
            continue
        if t_big > t_small:
            print("%s %s %.1f %d" % (stem, variant, (big - small) / (t_big - t_small), big))
        else:
            print("%s %s n/a" % (stem, variant))
        sys.stdout.flush()
PY
	$PY scripts/bench_torch_onnx.py --onnx "$onnx_list" --mode fp32,w8a8 \
		--weight-fq "$wfq" --batch 256 --iters 20 --threads 2 > "$tmp/py.txt"
fi

MPQ_VIA=${MPQ_VIA:-bench} WFQ=$wfq KIND=$kind GO="$tmp/go.txt" PYOUT="$tmp/py.txt" $PY - <<'PY'
import json, os, re
kind = os.environ["KIND"]
mpq, torch, module, note, order = {}, {}, {}, {}, []
for line in open(os.environ["PYOUT"]):
    line = line.strip()
    if not line.startswith("{"):
        continue
    d = json.loads(line)
    m = d["model"][:-5] if d["model"].endswith(".onnx") else d["model"]
    if d["impl"] == "nn.Module":
        module[m] = d["images_per_s"]
        continue
    if m not in order:
        order.append(m)
    torch[(m, d["mode"])] = d["images_per_s"]
    if d["batch"] != 256:
        note[m] = d["batch"]
for line in open(os.environ["GO"]):
    if kind == "shipped":
        r = re.match(r"BenchmarkEvaluate/(\w+)/(\S+?)-\d+\s.*?([\d.]+) images/s", line)
        if r:
            mpq[(r.group(1), r.group(2))] = float(r.group(3))
    else:
        f = line.split()
        if len(f) >= 3 and f[2] != "n/a":
            mpq[(f[0], f[1])] = float(f[2])

def num(v):
    return "n/a" if v is None else "%.0f" % v

def ratio(a, b):
    return "n/a" if a is None or not b else "%.2f" % (a / b)

src = {"shipped": "go test -bench Evaluate ./evaluator", "cli": "mpq eval CLI, batch 256"}[kind] if os.environ.get("MPQ_VIA", "bench") == "cli" or kind == "shipped" else "go test -bench EvaluateONNX ./evaluator, batch 256"
print("mpq: %s; PyTorch: eager, scripts/torch_onnx.py on the .onnx file, batch 256, 2 threads, "
      "weights fake-quantized %s; images/s" % (src, "on every forward" if os.environ["WFQ"] == "every" else "once"))
print()
print("| model | mpq fp32 | mpq w8a8 fake-quant | mpq w8a8 integer | PyTorch fp32 | PyTorch w8a8 fake-quant "
      "| mpq w8a8 / PyTorch fp32 | mpq integer / PyTorch fp32 | mpq w8a8 / PyTorch w8a8 |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for m in order:
    mf, mq, mi = mpq.get((m, "fp32")), mpq.get((m, "w8a8")), mpq.get((m, "int-w8a8"))
    tf, tq = torch.get((m, "fp32")), torch.get((m, "w8a8"))
    name = m + (" (PyTorch batch %d)" % note[m] if m in note else "")
    print("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (name, num(mf), num(mq), num(mi), num(tf), num(tq),
                                                            ratio(mq, tf), ratio(mi, tf), ratio(mq, tq)))
if module:
    print()
    print("PyTorch fp32, scripts/models.py nn.Module vs the ONNX executor (same run):")
    print()
    print("| model | nn.Module | torch_onnx executor | executor / nn.Module |")
    print("|---|---:|---:|---:|")
    for m in order:
        if m in module:
            tf = torch.get((m, "fp32"))
            print("| %s | %s | %s | %s |" % (m, num(module[m]), num(tf), ratio(tf, module[m])))
PY
