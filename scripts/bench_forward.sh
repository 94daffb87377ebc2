#!/usr/bin/env bash
# Measures mpq's fp32 forward and fake-quant evaluation throughput and
# PyTorch's fp32 throughput on the same models, in one run, and prints a
# Markdown table with the ratios. Needs Debian's python3-torch.
#   bash scripts/bench_forward.sh [benchtime]
set -euo pipefail
cd "$(dirname "$0")/.."
bt=${1:-3s}
go_out=$(go test -run x -bench 'Forward$|Evaluate' -benchtime "$bt" ./internal/engine ./evaluator)
py_out=$(/usr/bin/python3 scripts/bench_torch.py --models mlp,lenet,resnet --batch 256 --iters 20 --threads 2)
echo "$go_out" | grep '^Benchmark' > /tmp/mpq-bench-go.txt
echo "$py_out" > /tmp/mpq-bench-py.txt
/usr/bin/python3 - <<'PY'
import json, re
torch = {}
for line in open("/tmp/mpq-bench-py.txt"):
    line = line.strip()
    if line.startswith("{"):
        d = json.loads(line)
        torch[d["model"].replace(".onnx", "")] = d["images_per_s"]
rows = []
for line in open("/tmp/mpq-bench-go.txt"):
    m = re.match(r"Benchmark(\w+)/(\S+?)-\d+\s.*?([\d.]+) images/s", line)
    if not m:
        continue
    kind, name, ips = m.group(1), m.group(2), float(m.group(3))
    model = name.split("/")[0]
    what = "forward fp32 (batch 256)" if kind == "Forward" else "evaluate " + name.split("/")[1]
    if model in torch:
        rows.append((model, what, ips, torch[model], ips / torch[model]))
print("| model | mpq | mpq images/s | PyTorch fp32 images/s | ratio |")
print("|---|---|---:|---:|---:|")
for r in rows:
    print("| %s | %s | %.0f | %.0f | %.2f |" % r)
PY
