#!/usr/bin/python3
"""PyTorch eager throughput on any .onnx file, fp32 and fake-quantized.

Each ONNX file runs through scripts/torch_onnx.py (an nn.Module that walks
the graph with torch.nn.functional ops); fake-quant modes (wXaY, e.g. w8a8)
use mpq's default semantics there: per-channel symmetric weights
(torch.fake_quantize_per_channel_affine, every forward) and per-tensor uint8
inputs of every Conv/Gemm/MatMul layer (torch.fake_quantize_per_tensor_affine),
calibrated min/max on the first 512 MNIST training images, Conv->BN folded
(--weight-fq once: weights fake-quantized once up front instead).
Inputs are the first --images MNIST test images, normalised, cycled, and
reshaped to the ONNX input's per-sample shape (e.g. N x 784). An input whose
batch dimension is fixed in the file runs at that batch (reported in "batch").

--modules also times the class-based nn.Module of scripts/models.py (fp32,
the path scripts/bench_torch.py measures) for shipped model names, so the
executor's overhead can be compared in the same run; with --rounds R every
(model, impl, mode) is timed R times, interleaved, and the median is printed.

Prints one JSON line per (model, impl, mode):
  {"model": "lenet.onnx", "mode": "fp32", "impl": "onnx", "images_per_s": ..., "batch": 256, "threads": 2, ...}

  /usr/bin/python3 scripts/bench_torch_onnx.py --onnx a.onnx,b.onnx [--mode fp32,w8a8]
      [--modules lenet,resnet] [--batch 256] [--iters 20] [--threads 2] [--rounds 1]
(an --onnx entry without a path, e.g. "lenet", means testdata/models/lenet.onnx)
"""
import argparse
import json
import os
import re
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnist  # noqa: E402
import torch_onnx  # noqa: E402

MODELS_DIR = os.path.join(mnist.REPO_ROOT, "testdata", "models")


def parse_mode(mode):
    if mode == "fp32":
        return 32, 32
    m = re.fullmatch(r"w(\d+)a(\d+)", mode)
    if not m:
        sys.exit("bad --mode %r: want fp32 or wXaY (e.g. w8a8)" % mode)
    return int(m.group(1)), int(m.group(2))


def resolve(path):
    if os.path.exists(path):
        return path
    cand = os.path.join(MODELS_DIR, path if path.endswith(".onnx") else path + ".onnx")
    if os.path.exists(cand):
        return cand
    sys.exit("no such ONNX file: %s" % path)


def time_it(model, inputs, warmup, iters):
    with torch.no_grad():
        for i in range(warmup):
            model(inputs[i % len(inputs)])
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(iters):
            model(inputs[i % len(inputs)])
        return time.perf_counter() - t0, time.process_time() - c0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onnx", default="", help="comma-separated .onnx files (or shipped model names)")
    ap.add_argument("--mode", default="fp32,w8a8", help="comma-separated: fp32, wXaY (default: %(default)s)")
    ap.add_argument("--modules", default="", help="comma-separated shipped model names to also time as scripts/models.py nn.Modules (fp32)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--iters", type=int, default=20, help="timed batches (at a fixed ONNX batch b: at least 512/b)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed warm-up batches")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", type=int, default=2560, help="use the first N test images, cycled (default: %(default)s)")
    ap.add_argument("--weight-fq", choices=["every", "once"], default="every",
                    help="fake-quant modes: quantize weights on every forward (QAT FakeQuantize style, "
                         "default) or once up front")
    ap.add_argument("--rounds", type=int, default=1, help="time every configuration R times, interleaved; print the median")
    args = ap.parse_args()
    paths = [resolve(p.strip()) for p in args.onnx.split(",") if p.strip()]
    modes = [m.strip() for m in args.mode.split(",") if m.strip()]
    mods = [m.strip() for m in args.modules.split(",") if m.strip()]
    if not paths and not mods:
        sys.exit("nothing to do: give --onnx and/or --modules")

    torch.set_num_threads(args.threads)
    images, _ = mnist.load("t10k")
    x_all = torch.from_numpy(mnist.normalize(images[:max(args.images, args.batch)]))

    def batches(bs):
        n = x_all.shape[0]
        return [x_all[i:i + bs] for i in range(0, n - bs + 1, bs)]

    jobs = []  # (label dict, model, inputs, iters)
    for name in mods:
        import models
        name = name[:-5] if name.endswith(".onnx") else name
        if name not in models.MODELS:
            sys.exit("unknown --modules model %r (have %s)" % (name, ", ".join(models.MODELS)))
        model = models.load(name, MODELS_DIR)
        inputs = [models.prepare_input(name, b) for b in batches(args.batch)]
        jobs.append(({"model": name + ".onnx", "mode": "fp32", "impl": "nn.Module", "batch": args.batch},
                     model, inputs, args.iters))
    for path in paths:
        for mode in modes:
            wb, ab = parse_mode(mode)
            model = torch_onnx.load(path, wb, ab, weight_fq=args.weight_fq)
            _, fixed = torch_onnx.sample_shape(model)
            bs = fixed or args.batch
            label = {"model": os.path.basename(path), "mode": mode, "impl": "onnx", "batch": bs}
            if mode != "fp32":
                label["weight_fq"] = args.weight_fq
            iters = args.iters
            if fixed is not None and fixed != args.batch:
                label["note"] = "ONNX input batch fixed at %d" % fixed
                iters = max(args.iters, 512 // fixed)
            inputs = [torch_onnx.as_input(model, b) for b in batches(bs)]
            jobs.append((label, model, inputs, iters))

    times = [[] for _ in jobs]
    for _ in range(args.rounds):
        for j, (label, model, inputs, iters) in enumerate(jobs):
            times[j].append(time_it(model, inputs, args.warmup, iters))
    for (label, model, inputs, iters), tcs in zip(jobs, times):
        ts = [t for t, _ in tcs]
        dt = statistics.median(ts)
        cpu = statistics.median(c for _, c in tcs)
        out = {"model": label["model"], "mode": label["mode"], "impl": label["impl"],
               "images_per_s": round(iters * label["batch"] / dt, 1), "batch": label["batch"],
               "threads": args.threads, "iters": iters, "seconds": round(dt, 4)}
        if cpu > 0:  # images per CPU-second of the process: less disturbed by a shared machine
            out["cpu_images_per_s"] = round(iters * label["batch"] / cpu, 1)
        if args.rounds > 1:
            out["rounds_images_per_s"] = [round(iters * label["batch"] / t, 1) for t in ts]
        if "weight_fq" in label:
            out["weight_fq"] = label["weight_fq"]
        if "note" in label:
            out["note"] = label["note"]
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
