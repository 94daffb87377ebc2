#!/usr/bin/python3
"""PyTorch fp32 eval-mode throughput baseline for testdata/models.

Rebuilds each module from scripts/models.py, loads testdata/models/<stem>.pt,
and times forward passes over the first N MNIST test images.
Prints one JSON line per model:
  {"model": "lenet.onnx", "images_per_s": ..., "batch": 256, "threads": 2, ...}

  /usr/bin/python3 scripts/bench_torch.py [--models mlp,lenet] [--batch 256]
      [--iters 20] [--threads 2] [--images 2560]
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnist  # noqa: E402
import models  # noqa: E402

MODELS_DIR = os.path.join(mnist.REPO_ROOT, "testdata", "models")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(models.MODELS),
                    help="comma-separated model names (default: %(default)s)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--iters", type=int, default=20, help="timed batches per model")
    ap.add_argument("--warmup", type=int, default=3, help="untimed warm-up batches")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", type=int, default=2560,
                    help="use the first N test images, cycled (default: %(default)s)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    images, _ = mnist.load("t10k")
    x_all = torch.from_numpy(mnist.normalize(images[:max(args.images, args.batch)]))
    n = x_all.shape[0]
    batches = [x_all[i:i + args.batch] for i in range(0, n - args.batch + 1, args.batch)]

    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        name = name[:-5] if name.endswith(".onnx") else name
        if name not in models.MODELS:
            sys.exit("unknown model %r (have %s)" % (name, ", ".join(models.MODELS)))
        model = models.load(name, MODELS_DIR)
        inputs = [models.prepare_input(name, b) for b in batches]
        with torch.no_grad():
            for i in range(args.warmup):
                model(inputs[i % len(inputs)])
            t0 = time.perf_counter()
            for i in range(args.iters):
                model(inputs[i % len(inputs)])
            dt = time.perf_counter() - t0
        ips = args.iters * args.batch / dt
        print(json.dumps({"model": name + ".onnx", "images_per_s": round(ips, 1), "batch": args.batch,
                          "threads": args.threads, "iters": args.iters, "seconds": round(dt, 4)}), flush=True)


if __name__ == "__main__":
    main()
