#!/usr/bin/python3
"""Cross-check `mpq eval --plan` against PyTorch on any ONNX model (issue 3's
acceptance test): random mixed plans (weights 2/3/4/8 bits, inputs 4/6/8
bits, some layers left float) are evaluated by mpq and by PyTorch running
the same ONNX file with mpq's quantization semantics (scripts/torch_onnx.py:
torch.fake_quantize_per_channel_affine / per_tensor_affine, BatchNorm folded
into the Conv before it, input ranges calibrated on the first 512 training
images). Accuracy must agree within 0.3 percentage points (1 point for plans
with a 2- or 3-bit layer); size_bits (Σ params × weight bits, from the ONNX
weights) and BOPs (Σ MACs × weight bits × input bits, float layers at 32 × 32, MACs
from the layer's output shape in a run of scripts/onnx_ref.py; a recurrent
layer's products with its float hidden state at 32 input bits) must be exact.

    go build -o /tmp/mpq ./cmd/mpq
    /usr/bin/python3 scripts/plan_check_torch.py --mpq /tmp/mpq [--plans 6] CONFIG.yaml ...

The config must be an MNIST study config (as written by
scripts/make_unseen.py or configs/*.yaml): the model is its `model:`, the
evaluation is the whole MNIST test split, calibration the first 512
training images. Exits non-zero when any plan disagrees.
"""
import argparse
import json
import os
import random
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnist  # noqa: E402
import torch_onnx  # noqa: E402


def mpq_json(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), p.stderr.strip()))
    return json.loads(p.stdout)


def model_path(cfg):
    """The config's model, after checking that its evaluation is the whole
    MNIST test split, which the PyTorch side evaluates."""
    import yaml
    with open(cfg) as f:
        c = yaml.safe_load(f)
    ev = c.get("evaluation") or {}
    if ev.get("split", "test") != "test" or ev.get("count", 10000) != 10000:
        raise SystemExit("%s: evaluation is %s; this check compares with PyTorch on the whole MNIST test split: "
                         "set evaluation: {split: test, count: 10000}" % (cfg, ev))
    if "model" not in c:
        raise SystemExit("%s: no model: key" % cfg)
    return os.path.normpath(os.path.join(os.path.dirname(cfg), c["model"]))


def shape_input(x, module):
    dims = module.inputs[0][1]
    if len(dims) == 2:
        return x.reshape(x.shape[0], -1)
    return x


@torch.no_grad()
def torch_eval(onnx_path, plan, calib_x, test_x, test_y):
    m = torch_onnx.OnnxModule(onnx_path, plan=plan, weight_fq="once")
    m.eval()
    m.calibrate(shape_input(calib_x, m))
    dims = m.inputs[0][1]
    batch = dims[0] if dims and dims[0] is not None else 1000
    correct = 0
    for i in range(0, test_x.shape[0], batch):
        out = m(shape_input(test_x[i:i + batch], m))
        correct += int((out.argmax(1) == test_y[i:i + batch]).sum())
    return m, correct / test_x.shape[0]


def layer_costs(onnx_path, module):
    """{layer name: (params, MACs per sample)} from the weights PyTorch
    holds and the shapes of the layer outputs in a run of the numpy
    reference interpreter (scripts/onnx_ref.py) on one zero sample. (ONNX
    shape inference loses the spatial sizes behind data-dependent Reshapes,
    such as nn.GroupNorm's.)"""
    import onnx
    import onnx_ref
    model = onnx.load(onnx_path)
    out_of = {(n.name or n.input[1]): n.output[0] for n in model.graph.node}
    in_of = {(n.name or n.input[1]): n.input[0] for n in model.graph.node if n.input}
    wanted = [out_of[l.name] for l in module.layers] + [in_of[l.name] for l in module.layers]
    known = {o.name for o in model.graph.output}
    for name in wanted:
        if name not in known:
            model.graph.output.append(onnx.ValueInfoProto(name=name))
    inp = model.graph.input[0]
    dims = [d.dim_value if d.dim_value > 0 else 1 for d in inp.type.tensor_type.shape.dim]
    vals = onnx_ref.run(model, {inp.name: np.zeros(dims, np.float32)})
    costs = {}
    for l in module.layers:
        params = l.weight.numel()
        out = vals[out_of[l.name]].shape
        if l.op in ("LSTM", "GRU", "RNN"):  # per step, each row of [W | R] over the input and the hidden state
            seq, feat = vals[in_of[l.name]].shape[0], vals[in_of[l.name]].shape[2]
            rows = l.weight.shape[0]
            costs[l.name] = (params, seq * rows * feat, seq * rows * (l.weight.shape[1] - feat))
            continue
        if l.op == "Conv":
            macs = params * int(np.prod(out[2:]))
        elif l.op == "ConvTranspose":  # each input position meets every weight
            macs = params * int(np.prod(vals[in_of[l.name]].shape[2:]))
        elif l.op in ("Einsum", "MatMulWeightFirst"):  # every output element sums over its channel's inputs
            macs = int(np.prod(out[1:])) * (params // l.weight.shape[0])
        else:  # each row of a MatMul's ... x rows x features output (the
            # batch may sit anywhere, e.g. an attention in-projection's
            # tokens x batch x features: count all rows, per sample)
            macs = params * int(np.prod(out[:-1])) // dims[0]
        costs[l.name] = (params, macs, 0)
    return costs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mpq", default="/tmp/mpq")
    ap.add_argument("--plans", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("configs", nargs="+")
    args = ap.parse_args()
    torch.set_num_threads(2)
    tr_img, _ = mnist.load("train")
    te_img, te_lab = mnist.load("t10k")
    calib_x = torch.from_numpy(mnist.normalize(tr_img[:512]))
    test_x = torch.from_numpy(mnist.normalize(te_img))
    test_y = torch.from_numpy(te_lab)
    rng = random.Random(args.seed)
    bad = 0
    for cfg in args.configs:
        cfg = os.path.abspath(cfg)
        onnx_path = model_path(cfg)
        layers = mpq_json([args.mpq, "inspect", "--json", onnx_path])["layers"]
        out_dir = os.path.join(os.path.dirname(cfg), os.path.splitext(os.path.basename(cfg))[0] + ".plans")
        os.makedirs(out_dir, exist_ok=True)
        print("%s (%d layers)" % (onnx_path, len(layers)), flush=True)
        for k in range(args.plans):
            plan = {}
            for l in layers:
                if k > 0 and rng.random() < 0.15:
                    continue  # stays float
                wb = 8 if k == 0 else rng.choice([2, 3, 4, 8])
                ab = 8 if k == 0 else rng.choice([4, 6, 8])
                plan[l["name"]] = (wb, ab)
            path = os.path.join(out_dir, "plan%d.yaml" % k)
            with open(path, "w") as f:
                f.write("layers:\n")
                for name, (wb, ab) in plan.items():
                    f.write("  %s: {weight_bits: %d, activation_bits: %d}\n" % (json.dumps(name), wb, ab))
            got = mpq_json([args.mpq, "eval", "-c", cfg, "--plan", path, "--json"])
            m, acc = torch_eval(onnx_path, plan, calib_x, test_x, test_y)
            costs = layer_costs(onnx_path, m)
            if sorted(costs) != sorted(l["name"] for l in layers):
                raise RuntimeError("%s: PyTorch finds layers %s, mpq %s" % (onnx_path, sorted(costs), [l["name"] for l in layers]))
            size = sum(p * plan.get(n, (32, 32))[0] for n, (p, _, _) in costs.items())
            # A recurrent layer's products with its hidden state, which
            # stays float, count 32 input bits.
            bops = sum((mc * plan.get(n, (32, 32))[1] + smc * 32) * plan.get(n, (32, 32))[0] for n, (_, mc, smc) in costs.items())
            low = any(wb <= 3 for wb, _ in plan.values())
            tol = 0.01 if low else 0.003
            ok = abs(got["accuracy"] - acc) <= tol and got["size_bits"] == size and got["bops"] == bops \
                and got["samples"] == test_x.shape[0]
            bad += not ok
            bits = ",".join("%d/%d" % plan.get(l["name"], (32, 32)) for l in layers)
            print("  plan %d [%s]: mpq %.4f  torch %.4f  diff %+.2f pt (tol %.1f)  size %s  bops %s  %s" % (
                k, bits, got["accuracy"], acc, 100 * (got["accuracy"] - acc), 100 * tol,
                "ok" if got["size_bits"] == size else "%d != %d" % (got["size_bits"], size),
                "ok" if got["bops"] == bops else "%d != %d" % (got["bops"], bops),
                "OK" if ok else "FAIL"), flush=True)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
