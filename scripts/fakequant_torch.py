"""PyTorch reference for mpq's default quantization semantics.

For each shipped model and a set of bitwidth plans, this script quantizes
the trained PyTorch module exactly as mpq's evaluator documents:

- BatchNorm that follows a Conv is folded into it first (eval-mode fusion).
- Weights, b bits: symmetric per output channel, scale = max|w_c| / (2^(b-1)-1),
  q = clamp(round_half_even(w / scale), -(2^(b-1)-1), 2^(b-1)-1), w_hat = q * scale.
- Inputs of every quantized layer, b bits: per tensor, asymmetric, min/max
  observed in an fp32 forward over the first 512 training images (min <= 0 <= max),
  scale = (max-min)/(2^b-1), zp = clamp(round(-min/scale), 0, 2^b-1),
  x_hat = (clamp(round_half_even(x/scale)+zp, 0, 2^b-1) - zp) * scale.

and writes accuracy and loss on the 10,000 MNIST test images to
testdata/golden/<model>.plans.json, which mpq's Go tests compare against.

Run with Debian's interpreter: /usr/bin/python3 scripts/fakequant_torch.py
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnist  # noqa: E402
import models  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS_DIR = os.path.join(REPO, "testdata", "models")
GOLDEN_DIR = os.path.join(REPO, "testdata", "golden")


def fold_bn(model):
    """Fold every BatchNorm2d whose input is a Conv2d's output (read by
    nothing else) into that Conv2d, found by tracing the module with torch.fx."""
    gm = torch.fx.symbolic_trace(model)
    mods = dict(gm.named_modules())
    for node in gm.graph.nodes:
        if node.op != "call_module" or not isinstance(mods[node.target], nn.BatchNorm2d):
            continue
        src = node.args[0]
        if not (isinstance(src, torch.fx.Node) and src.op == "call_module"
                and isinstance(mods[src.target], nn.Conv2d) and len(src.users) == 1):
            continue
        fused = torch.nn.utils.fusion.fuse_conv_bn_eval(mods[src.target], mods[node.target])
        _set(model, src.target, fused)
        _set(model, node.target, nn.Identity())
    return model


def _set(model, path, mod):
    parent, _, leaf = path.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, mod)


def node_name(mod_name, mod):
    op = "Conv" if isinstance(mod, nn.Conv2d) else "Gemm"
    return "/%s/%s" % (mod_name.replace(".", "/"), op)


def layers(model):
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def quant_weight(w, bits):
    qmax = 2 ** (bits - 1) - 1
    amax = w.abs().reshape(w.shape[0], -1).max(dim=1).values
    scale = amax / qmax
    shape = [-1] + [1] * (w.dim() - 1)
    s = scale.reshape(shape)
    safe = torch.where(s == 0, torch.ones_like(s), s)
    q = torch.clamp(torch.round(w / safe), -qmax, qmax)
    return torch.where(s == 0, torch.zeros_like(w), q * s)


def affine(lo, hi, bits):
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    qmax = 2 ** bits - 1
    if lo == hi:
        return 1.0, 0
    scale = (hi - lo) / qmax
    zp = int(min(max(round(-lo / scale), 0), qmax))  # python round: half to even
    return scale, zp


def load_data():
    tr_x = mnist.read_images(os.path.join(mnist.MNIST_DIR, "train-images-idx3-ubyte.gz"))[:512]
    te_x = mnist.read_images(os.path.join(mnist.MNIST_DIR, "t10k-images-idx3-ubyte.gz"))
    te_y = mnist.read_labels(os.path.join(mnist.MNIST_DIR, "t10k-labels-idx1-ubyte.gz"))

    def norm(x):
        x = torch.from_numpy(x).float().unsqueeze(1)
        return (x * torch.tensor(0.00392156862745098, dtype=torch.float32) - 0.1307) / 0.3081

    return norm(tr_x), norm(te_x), torch.from_numpy(te_y).long()


def evaluate(name, plan, calib_x, test_x, test_y):
    model = fold_bn(models.load(name, MODELS_DIR))
    lays = layers(model)
    # calibration: fp32 min/max of each layer's input
    ranges = {}
    hooks = []
    for lname, mod in lays:
        def obs(mod, inp, lname=lname):
            x = inp[0]
            lo, hi = float(x.min()), float(x.max())
            if lname in ranges:
                lo, hi = min(lo, ranges[lname][0]), max(hi, ranges[lname][1])
            ranges[lname] = (lo, hi)
        hooks.append(mod.register_forward_pre_hook(obs))
    with torch.no_grad():
        model(models.prepare_input(name, calib_x))
    for h in hooks:
        h.remove()
    # quantize
    for lname, mod in lays:
        spec = plan.get(node_name(lname, mod), plan.get("default", {"weight_bits": 32, "activation_bits": 32}))
        wb, ab = spec["weight_bits"], spec["activation_bits"]
        if wb != 32:
            with torch.no_grad():
                mod.weight.copy_(quant_weight(mod.weight, wb))
        if ab != 32:
            scale, zp = affine(ranges[lname][0], ranges[lname][1], ab)
            qmax = 2 ** ab - 1
            s32 = torch.tensor(scale, dtype=torch.float32)

            def fq(mod, inp, s32=s32, zp=zp, qmax=qmax):
                x = inp[0]
                q = torch.clamp(torch.round(x / s32) + zp, 0, qmax)
                return ((q - zp) * s32,)
            mod.register_forward_pre_hook(fq)
    correct, loss = 0, 0.0
    with torch.no_grad():
        for i in range(0, len(test_y), 1000):
            logits = model(models.prepare_input(name, test_x[i:i + 1000]))
            correct += int((logits.argmax(1) == test_y[i:i + 1000]).sum())
            loss += float(F.cross_entropy(logits, test_y[i:i + 1000], reduction="sum"))
    return {"accuracy": correct / len(test_y), "loss": loss / len(test_y), "correct": correct}


def plans_for(name):
    model = fold_bn(models.load(name, MODELS_DIR))
    names = [node_name(n, m) for n, m in layers(model)]
    wcycle, acycle = [2, 3, 4, 8], [4, 6, 8]
    mixed = {n: {"weight_bits": wcycle[i % 4], "activation_bits": acycle[i % 3]} for i, n in enumerate(names)}
    mixed_hi = {n: {"weight_bits": [4, 8][i % 2], "activation_bits": [6, 8][(i + 1) % 2]} for i, n in enumerate(names)}
    return [
        ("w8a8", {"default": {"weight_bits": 8, "activation_bits": 8}}),
        ("w4a8", {"default": {"weight_bits": 4, "activation_bits": 8}}),
        ("w8a4", {"default": {"weight_bits": 8, "activation_bits": 4}}),
        ("mixed-2348-468", mixed),
        ("mixed-48-68", mixed_hi),
    ]


def main():
    torch.set_num_threads(2)
    calib_x, test_x, test_y = load_data()
    for name in ["mlp", "lenet", "resnet"]:
        out = []
        for pname, plan in plans_for(name):
            r = evaluate(name, plan, calib_x, test_x, test_y)
            r.update({"name": pname, "plan": plan})
            out.append(r)
            print(name, pname, r["accuracy"], r["loss"], flush=True)
        with open(os.path.join(GOLDEN_DIR, name + ".plans.json"), "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
