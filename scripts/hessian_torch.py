#!/usr/bin/python3
"""PyTorch double-backprop reference for mpq's sensitivity pass.

For one model of scripts/models.py (trained weights testdata/models/<stem>.pt)
and the first N MNIST training images (normalised as configs/lenet.yaml:
x = (p/255 - 0.1307)/0.3081), with the loss the mean cross-entropy over the N
images, it computes per quantizable layer (Conv2d/Linear weight W_l):

  trace           Hutchinson estimate of Tr(H_ll) (HAWQ-v2, PyHessian): the
                  mean over Rademacher probes v (drawn over *all* layer
                  weights at once) of v_l . (Hv)_l, with Hv from
                  torch.autograd.grad(grads, params, v) (double backprop);
                  stderr is the standard error of that mean
  top_eigenvalue  power iteration on H_ll (v nonzero only on layer l), the
                  Rayleigh quotient at convergence (HAWQ-v1)
  fisher_trace    mean over images of ||d loss_i / d W_l||^2 (empirical Fisher)
  activation_trace mean over images of ||d loss_i / d a_l||^2, a_l the
                  layer's input as the layer reads it (a full backward hook on
                  the module: the gradient through this layer only)

Models with BatchNorm are folded first (torch.fx finds every BatchNorm2d
that directly follows a Conv2d; torch.nn.utils.fusion.fuse_conv_bn_eval
folds it), so the numbers refer to the weights mpq quantizes. When
python3-onnx is installed, the folded weights are checked against the ONNX
file's (within 1e-5) and then replaced by them, BatchNormalization nodes
folded in float32 as mpq's engine does: the reference then analyses exactly
the tensors mpq reads, and the images are normalised exactly as mpq does.

Layer names are the ONNX node names of the export: "/" + module path with
"/" for "." + "/Conv" or "/Gemm" (e.g. "/conv1/Conv", "/fc1/Gemm").

Timing: seconds_per_sample is the median wall time of one Hutchinson probe
over the whole subset (a forward, a backward with create_graph and a second
backward per batch) in the computation dtype; seconds_per_sample_float32
times a few probes of the float32 model (what a PyTorch user would run).
cpu_seconds_* are the process CPU times of the same (all threads), which a
busy machine distorts less.

    /usr/bin/python3 scripts/hessian_torch.py --model lenet \
        [--count 1024] [--samples 1000] [--rel-stderr 0.005] [--min-samples 50] \
        [--seed 0] [--batch 256] [--threads 2] [--dtype float64] \
        [--eigen-iters 200] [--eigen-tol 1e-6] [--time-float32 5] \
        [--out testdata/golden/lenet.hessian.json]
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnist  # noqa: E402
import models  # noqa: E402

MODELS_DIR = os.path.join(mnist.REPO_ROOT, "testdata", "models")
GOLDEN_DIR = os.path.join(mnist.REPO_ROOT, "testdata", "golden")


def fold_batchnorm(model):
    """Return a GraphModule with every Conv2d -> BatchNorm2d pair folded."""
    gm = torch.fx.symbolic_trace(model)
    mods = dict(gm.named_modules())
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or not isinstance(mods[node.target], nn.BatchNorm2d):
            continue
        prev = node.args[0]
        if not (isinstance(prev, torch.fx.Node) and prev.op == "call_module"
                and isinstance(mods[prev.target], nn.Conv2d) and len(prev.users) == 1):
            continue
        conv, bn = mods[prev.target], mods[node.target]
        fused = fuse_conv_bn_eval(conv.eval(), bn.eval())
        parent, _, leaf = prev.target.rpartition(".")
        setattr(gm.get_submodule(parent) if parent else gm, leaf, fused)
        node.replace_all_uses_with(prev)
        gm.graph.erase_node(node)
    gm.graph.lint()
    gm.recompile()
    gm.eval()
    return gm


def quantizable(model):
    """(onnx node name, module) for every Conv2d/Linear, in forward order."""
    out = []
    gm = model if isinstance(model, torch.fx.GraphModule) else torch.fx.symbolic_trace(model)
    mods = dict(model.named_modules())
    for node in gm.graph.nodes:
        if node.op != "call_module":
            continue
        mod = mods[node.target]
        if isinstance(mod, nn.Conv2d):
            out.append(("/" + node.target.replace(".", "/") + "/Conv", mod))
        elif isinstance(mod, nn.Linear):
            out.append(("/" + node.target.replace(".", "/") + "/Gemm", mod))
    return out


def onnx_weights(path):
    """Layer weights and biases of an ONNX file by node name, as mpq runs them:
    a Conv followed by BatchNormalization is folded in float32 exactly as
    mpq's engine folds it (internal/engine/model.go, foldBatchNorm):
    s = f32(gamma) / f32(sqrt(f64(f32(var) + f32(eps)))), W' = f32(W)*s,
    b' = f32(beta) - f32(mean)*s [+ f32(b)*s]. Returns float32 arrays."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(path)
    init = {t.name: numpy_helper.to_array(t).astype(np.float32) for t in m.graph.initializer}
    consumers = {}
    for n in m.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    out = {}
    for n in m.graph.node:
        if n.op_type not in ("Conv", "Gemm") or n.input[1] not in init:
            continue
        w = init[n.input[1]]
        b = init.get(n.input[2]) if len(n.input) > 2 else None
        users = consumers.get(n.output[0], [])
        if n.op_type == "Conv" and len(users) == 1 and users[0].op_type == "BatchNormalization":
            bn = users[0]
            eps = np.float32(next((a.f for a in bn.attribute if a.name == "epsilon"), 1e-5))
            gamma, beta, mean, var = (init[bn.input[i]] for i in range(1, 5))
            sc = (gamma / np.sqrt((var + eps).astype(np.float64)).astype(np.float32)).astype(np.float32)
            w = (w * sc.reshape(-1, 1, 1, 1)).astype(np.float32)
            nb = (beta - mean * sc).astype(np.float32)
            if b is not None:
                nb = (nb + b * sc).astype(np.float32)
            b = nb
        out[n.name] = (w, b)
    return out


def use_onnx_weights(name, layers, path):
    """Check the module's (folded) weights against the ONNX file's, then
    replace them by the ONNX file's, so that the reference analyses exactly
    the tensors mpq reads."""
    try:
        ref = onnx_weights(path)
    except ImportError:
        print("note: python3-onnx not installed; the .pt weights are used unchecked", file=sys.stderr)
        return False
    for lname, mod in layers:
        if lname not in ref:
            sys.exit("%s: no layer %s in %s (have %s)" % (name, lname, path, ", ".join(ref)))
        w, b = ref[lname]
        diff = np.abs(mod.weight.detach().double().numpy() - w).max()
        if diff > 1e-5 * max(np.abs(w).max(), 1e-30):
            sys.exit("%s: layer %s differs from %s by %.3g: the .pt and the .onnx are out of sync" % (name, lname, path, diff))
        with torch.no_grad():
            mod.weight.copy_(torch.from_numpy(w))
            if b is not None:
                if mod.bias is None:
                    sys.exit("%s: layer %s has a bias in %s but not in the module" % (name, lname, path))
                mod.bias.copy_(torch.from_numpy(b.reshape(mod.bias.shape)))
    return True


def subset(input_shape, count, dtype):
    """The first count training images, normalised as mpq does
    (internal/dataset/transform.go): (p*scale - mean)/std in float64, rounded
    once to float32 (mnist.normalize computes in float32 and may differ by
    one unit in the last place)."""
    images, labels = mnist.load("train")
    x = ((images[:count].astype(np.float64) * (1 / 255) - mnist.MEAN) / mnist.STD).astype(np.float32)
    x = torch.from_numpy(x).to(dtype)
    y = torch.from_numpy(labels[:count])
    return x.reshape((x.shape[0],) + tuple(input_shape)), y


def load_module(spec, weights):
    """A module from FILE.py:NAME (a class or a function of no arguments)
    with the state_dict in weights, in eval mode."""
    import importlib.util

    path, _, name = spec.rpartition(":")
    if not path or not name:
        sys.exit("--module wants FILE.py:NAME, got %r" % spec)
    ms = importlib.util.spec_from_file_location("user_module", path)
    mod = importlib.util.module_from_spec(ms)
    ms.loader.exec_module(mod)
    model = getattr(mod, name)()
    model.load_state_dict(torch.load(weights, map_location="cpu"))
    model.eval()
    return model


def batches(x, y, size):
    return [(x[i:i + size], y[i:i + size]) for i in range(0, x.shape[0], size)]


def hvp(model, params, data, n, vs):
    """Hv of the mean loss over all n samples, summed over batches."""
    out = [torch.zeros_like(p) for p in params]
    for xb, yb in data:
        loss = F.cross_entropy(model(xb), yb, reduction="sum") / n
        grads = torch.autograd.grad(loss, params, create_graph=True)
        hv = torch.autograd.grad(grads, params, grad_outputs=vs)
        for o, h in zip(out, hv):
            o.add_(h)
    return out


def rademacher(p, gen):
    return torch.randint(0, 2, p.shape, generator=gen, dtype=torch.int64).to(p.dtype) * 2 - 1


GAMMA = 0x9E3779B97F4A7C15
MASK = (1 << 64) - 1


def mix64(z):
    """SplitMix64's output function on a numpy uint64 array (wrapping arithmetic)."""
    z = z ^ (z >> np.uint64(30))
    z = z * np.uint64(0xBF58476D1CE4E5B9)
    z = z ^ (z >> np.uint64(27))
    z = z * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def splitmix_words(seed, probe, count):
    """mpq's probe words: word(i) = mix64(mix64(seed + G*(probe+1)) + G*(i+1))."""
    with np.errstate(over="ignore"):
        base = mix64(np.array([(seed + GAMMA * (probe + 1)) & MASK], dtype=np.uint64))[0]
        return mix64(base + np.uint64(GAMMA) * np.arange(1, count + 1, dtype=np.uint64))


def splitmix_probe(params, seed, probe):
    """mpq's Rademacher probe (sensitivity/hutchinson.go): element j of the
    concatenated layer weights is +1 when bit j%64 of word j//64 is set."""
    total = sum(p.numel() for p in params)
    words = splitmix_words(seed, probe, (total + 63) // 64)
    bits = ((words[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)).reshape(-1)[:total]
    flat = torch.from_numpy(bits.astype(np.float64) * 2 - 1)
    out, j = [], 0
    for p in params:
        out.append(flat[j:j + p.numel()].reshape(p.shape).to(p.dtype))
        j += p.numel()
    return out


def hutchinson(model, params, data, n, args, gen):
    est = [[] for _ in params]
    times, cpu = [], []
    for k in range(args.samples):
        if args.probes == "splitmix":
            vs = splitmix_probe(params, args.seed, k)
        else:
            vs = [rademacher(p, gen) for p in params]
        t0, c0 = time.perf_counter(), time.process_time()
        hv = hvp(model, params, data, n, vs)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        for l, (v, h) in enumerate(zip(vs, hv)):
            est[l].append(float(torch.sum(v * h)))
        if k + 1 >= args.min_samples:
            rel = [np.std(e, ddof=1) / math.sqrt(len(e)) / max(abs(np.mean(e)), 1e-30) for e in est]
            if max(rel) <= args.rel_stderr:
                break
        if (k + 1) % 10 == 0:
            print("  probe %d: %s (%.2fs/probe)" % (k + 1, " ".join("%.4g" % np.mean(e) for e in est),
                                                   np.mean(times)), file=sys.stderr, flush=True)
    return est, times, cpu


def power_iteration(model, p, data, n, iters, tol, gen):
    v = torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype)
    v /= v.norm()
    lam = None
    for it in range(iters):
        hv = [torch.zeros_like(p)]
        for xb, yb in data:
            loss = F.cross_entropy(model(xb), yb, reduction="sum") / n
            (g,) = torch.autograd.grad(loss, [p], create_graph=True)
            (h,) = torch.autograd.grad(g, [p], grad_outputs=v)
            hv[0].add_(h)
        new = float(torch.sum(v * hv[0]))
        norm = hv[0].norm()
        if norm == 0:
            return 0.0, it + 1
        v = hv[0] / norm
        if lam is not None and abs(new - lam) <= tol * abs(new):
            return new, it + 1
        lam = new
    return lam, iters


def fisher_and_activation(model, layers, x, y):
    """Per-sample squared gradient norms of the weights and of the layer inputs."""
    act = {}

    def hook(lname):
        def fn(mod, grad_in, grad_out):
            act[lname] = grad_in[0]
        return fn

    handles = [mod.register_full_backward_hook(hook(lname)) for lname, mod in layers]
    params = [mod.weight for _, mod in layers]
    fisher = [0.0] * len(layers)
    acts = [0.0] * len(layers)
    n = x.shape[0]
    for i in range(n):
        xi = x[i:i + 1].clone().requires_grad_(True)
        loss = F.cross_entropy(model(xi), y[i:i + 1], reduction="sum")
        grads = torch.autograd.grad(loss, params + [xi])
        for l, g in enumerate(grads[:len(params)]):
            fisher[l] += float(torch.sum(g * g))
        for l, (lname, _) in enumerate(layers):
            a = act[lname]
            acts[l] += float(torch.sum(a * a))
    for h in handles:
        h.remove()
    return [f / n for f in fisher], [a / n for a in acts]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True,
                    help="one of %s, or a name for --module" % ", ".join(models.MODELS))
    ap.add_argument("--module", help="FILE.py:NAME: a model not in models.py (a class or function building "
                                     "it; its input_shape attribute, default (1, 28, 28), shapes the images)")
    ap.add_argument("--weights", help="with --module: its state_dict (.pt)")
    ap.add_argument("--onnx", help="the ONNX export to check the weights against "
                                   "(default testdata/models/<model>.onnx without --module)")
    ap.add_argument("--count", type=int, default=1024, help="first N training images (default %(default)s)")
    ap.add_argument("--samples", type=int, default=1000, help="most Hutchinson probes (default %(default)s)")
    ap.add_argument("--min-samples", type=int, default=50)
    ap.add_argument("--rel-stderr", type=float, default=0.005,
                    help="stop when every layer's stderr/|trace| is below this (default %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--probes", choices=["splitmix", "torch"], default="splitmix",
                    help="splitmix: mpq's probe sequence for --seed (the two agree probe by probe); "
                         "torch: torch.randint, independent of mpq (default %(default)s)")
    ap.add_argument("--keep-probes", type=int, default=50,
                    help="record the per-probe estimates of the first K probes (default %(default)s)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    ap.add_argument("--eigen-iters", type=int, default=200)
    ap.add_argument("--eigen-tol", type=float, default=1e-6)
    ap.add_argument("--no-eigen", action="store_true")
    ap.add_argument("--no-fisher", action="store_true", help="skip the Fisher and activation traces")
    ap.add_argument("--time-float32", type=int, default=5, help="float32 probes to time (default %(default)s)")
    ap.add_argument("--out", help="JSON output (default testdata/golden/<model>.hessian.json; - for stdout)")
    args = ap.parse_args()
    if args.module is None and args.model not in models.MODELS:
        sys.exit("unknown model %r (have %s; or use --module)" % (args.model, ", ".join(models.MODELS)))
    if args.module is not None and args.weights is None:
        sys.exit("--module needs --weights")

    torch.set_num_threads(args.threads)
    dtype = torch.float64 if args.dtype == "float64" else torch.float32
    gen = torch.Generator().manual_seed(args.seed)
    t_start = time.perf_counter()

    if args.module:
        raw = load_module(args.module, args.weights)
    else:
        raw = models.load(args.model, MODELS_DIR)
        args.onnx = args.onnx or os.path.join(MODELS_DIR, args.model + ".onnx")
    input_shape = getattr(raw, "input_shape", (1, 28, 28))
    model = fold_batchnorm(raw)
    layers = quantizable(model)
    onnx_used = bool(args.onnx) and use_onnx_weights(args.model, layers, args.onnx)
    model = model.to(dtype)
    for p in model.parameters():
        p.requires_grad_(False)
    params = [mod.weight for _, mod in layers]
    for p in params:
        p.requires_grad_(True)

    x, y = subset(input_shape, args.count, dtype)
    n = x.shape[0]
    data = batches(x, y, args.batch)
    with torch.no_grad():
        logits = model(x)
        loss = float(F.cross_entropy(logits, y))
        acc = float((logits.argmax(1) == y).double().mean())
    print("%s: %d images, loss %.6f, accuracy %.4f, %d layers" % (args.model, n, loss, acc, len(layers)),
          file=sys.stderr, flush=True)

    est, times, cpu = hutchinson(model, params, data, n, args, gen)

    eig = [None] * len(layers)
    if not args.no_eigen:
        for l, p in enumerate(params):
            eig[l], it = power_iteration(model, p, data, n, args.eigen_iters, args.eigen_tol, gen)
            print("  eigen %s: %.6g (%d iterations)" % (layers[l][0], eig[l], it), file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    fisher = acts = [None] * len(layers)
    if not args.no_fisher:
        fisher, acts = fisher_and_activation(model, layers, x, y)
    fisher_seconds = time.perf_counter() - t0

    t32 = c32 = None
    if args.time_float32 > 0:
        m32 = model.float()
        p32 = [mod.weight for _, mod in quantizable(m32)]
        d32 = [(xb.float(), yb) for xb, yb in data]
        g32 = torch.Generator().manual_seed(args.seed + 1)
        ts, cs = [], []
        for _ in range(args.time_float32):
            vs = [rademacher(p, g32) for p in p32]
            t0, c0 = time.perf_counter(), time.process_time()
            hvp(m32, p32, d32, n, vs)
            ts.append(time.perf_counter() - t0)
            cs.append(time.process_time() - c0)
        t32, c32 = float(np.median(ts)), float(np.median(cs))

    out = {
        "model": args.model,
        "split": "train",
        "subset": n,
        "transform": {"scale": 1 / 255, "mean": [mnist.MEAN], "std": [mnist.STD]},
        "loss": loss,
        "accuracy": acc,
        "dtype": args.dtype,
        "threads": args.threads,
        "batch": args.batch,
        "seed": args.seed,
        "probes": args.probes,
        "weights": "onnx" if onnx_used else "pt",
        "probe_words": ["%016x" % w for w in splitmix_words(args.seed, 0, 4)],
        "torch": torch.__version__,
        "seconds_per_sample": float(np.median(times)),
        "seconds_per_sample_float32": t32,
        "cpu_seconds_per_sample": float(np.median(cpu)),
        "cpu_seconds_per_sample_float32": c32,
        "fisher_seconds": fisher_seconds,
        "total_seconds": time.perf_counter() - t_start,
        "layers": [],
    }
    for l, (lname, mod) in enumerate(layers):
        e = est[l]
        out["layers"].append({
            "name": lname,
            "params": mod.weight.numel(),
            "trace": float(np.mean(e)),
            "stderr": float(np.std(e, ddof=1) / math.sqrt(len(e))) if len(e) > 1 else None,
            "rel_stderr": float(np.std(e, ddof=1) / math.sqrt(len(e)) / abs(np.mean(e))) if len(e) > 1 else None,
            "samples": len(e),
            "top_eigenvalue": eig[l],
            "fisher_trace": fisher[l],
            "activation_trace": acts[l],
            "probe_estimates": e[:args.keep_probes],
        })
    text = json.dumps(out, indent=1) + "\n"
    if args.out == "-":
        sys.stdout.write(text)
        return
    path = args.out or os.path.join(GOLDEN_DIR, args.model + ".hessian.json")
    with open(path, "w") as f:
        f.write(text)
    print("wrote %s" % path, file=sys.stderr)


if __name__ == "__main__":
    main()
