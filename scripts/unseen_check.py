#!/usr/bin/python3
"""Run mpq's whole workflow on study configs the repo was not built on and
check what a user would check, printing one summary line per step.

    go build -o /tmp/mpq ./cmd/mpq
    /usr/bin/python3 scripts/make_unseen.py             # -> /tmp/mpq-unseen/*.{onnx,yaml}
    /usr/bin/python3 scripts/unseen_check.py [--mpq /tmp/mpq] [--trials 40] /tmp/mpq-unseen/*.yaml

For each config:
  1. inspect the model, evaluate fp32;
  2. sensitivity (JSON), checking every layer has finite, non-negative traces;
  3. a search of --trials trials (resumes a study that exists);
  4. export the Pareto front, and re-evaluate every exported plan with
     `mpq eval --plan FILE --trial N`: accuracy and size must equal the
     stored ones, the loss too up to its last bits (1e-12 relative);
  5. the HTML report (index.html and five PNGs must exist and be non-empty);
  6. export-onnx of the front's most mixed plan with --verify, then
     scripts/check_qdq.py (onnx full_check + accuracy by the numpy interpreter);
  7. integer evaluation of w8a8 against fake-quant: predictions compared
     through accuracy (they must agree within 0.1 point).
Exits non-zero when a check fails; the study databases and outputs stay in
<config dir>/<name>.out/ for inspection.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, **kw):
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s" % (" ".join(cmd), p.returncode, p.stderr[-2000:]))
    return p.stdout, time.time() - t0


def check_config(mpq, cfg, trials):
    name = os.path.splitext(os.path.basename(cfg))[0]
    out = os.path.join(os.path.dirname(cfg), name + ".out")
    os.makedirs(out, exist_ok=True)
    res = {}
    o, _ = run([mpq, "eval", "-c", cfg, "--json"])
    fp32 = json.loads(o)
    res["fp32"] = "acc %.4f" % fp32["accuracy"]

    o, dt = run([mpq, "sensitivity", "-c", cfg, "--json", "--no-plot"])
    sens = json.loads(o)
    for l in sens["layers"]:
        for k in ("hessian_trace", "fisher_trace"):
            v = l.get(k)
            if v is None or not math.isfinite(v) or v < -3 * (l.get("hessian_trace_stderr") or 0) - 1e-12:
                raise RuntimeError("%s: layer %s has %s = %r" % (cfg, l["name"], k, v))
    res["sensitivity"] = "%d layers, %.0fs" % (len(sens["layers"]), dt)

    _, dt = run([mpq, "search", "-c", cfg, "--trials", str(trials)])
    res["search"] = "%d trials, %.0fs" % (trials, dt)

    front = os.path.join(out, "front.json")
    run([mpq, "export", "-c", cfg, "-o", front])
    plans = json.load(open(front))["plans"]
    if not plans:
        raise RuntimeError("%s: empty Pareto front" % cfg)
    for p in plans:
        o, _ = run([mpq, "eval", "-c", cfg, "--plan", front, "--trial", str(p["trial"]), "--json"])
        e = json.loads(o)
        # The loss is a float64 sum whose grouping follows the evaluator's
        # parts and chunks (the core count, the build): a study resumed from
        # another machine or mpq build may differ in its last bits.
        if e["accuracy"] != p["accuracy"] or abs(e["loss"] - p["loss"]) > 1e-12 * abs(p["loss"]) or e["size_bits"] != p["size_bits"]:
            raise RuntimeError("%s: trial %d re-evaluates to %r, stored %r" % (cfg, p["trial"], e, p))
    res["export"] = "%d front plans re-evaluate to their stored results" % len(plans)

    rep = os.path.join(out, "report")
    run([mpq, "report", "-c", cfg, "-o", rep])
    pngs = [f for f in os.listdir(rep) if f.endswith(".png")]
    if not os.path.getsize(os.path.join(rep, "index.html")) or len(pngs) < 5 or \
            any(os.path.getsize(os.path.join(rep, f)) < 1000 for f in pngs):
        raise RuntimeError("%s: report incomplete: %s" % (cfg, sorted(os.listdir(rep))))
    res["report"] = "index.html + %d PNGs" % len(pngs)

    def mixedness(p):
        bits = {(v["weight_bits"], v["activation_bits"]) for v in p["layers"].values()}
        return len(bits)
    mixed = max(plans, key=mixedness)
    qdq = os.path.join(out, name + ".qdq.onnx")
    o, _ = run([mpq, "export-onnx", "-c", cfg, "--plan", front, "--trial", str(mixed["trial"]), "-o", qdq])
    chk, _ = run(["/usr/bin/python3", os.path.join(HERE, "check_qdq.py"), qdq, "--images", "1000"])
    res["qdq"] = "trial %d (%d bit pairs): %s | %s" % (
        mixed["trial"], mixedness(mixed), o.strip().splitlines()[-1] if o.strip() else "",
        chk.strip().splitlines()[-1] if chk.strip() else "")

    plan = os.path.join(out, "w8a8.yaml")
    with open(plan, "w") as f:
        f.write("default: {weight_bits: 8, activation_bits: 8}\n")
    o, t_fq = run([mpq, "eval", "-c", cfg, "--plan", plan, "--json"])
    fq = json.loads(o)
    o, t_int = run([mpq, "eval", "-c", cfg, "--plan", plan, "--integer", "--json"])
    iq = json.loads(o)
    if abs(fq["accuracy"] - iq["accuracy"]) > 0.001:
        raise RuntimeError("%s: integer accuracy %.4f vs fake-quant %.4f" % (cfg, iq["accuracy"], fq["accuracy"]))
    res["integer"] = "w8a8 fake-quant %.4f, integer %.4f" % (fq["accuracy"], iq["accuracy"])
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mpq", default="/tmp/mpq")
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("configs", nargs="+")
    args = ap.parse_args()
    failed = 0
    for cfg in args.configs:
        cfg = os.path.abspath(cfg)
        try:
            res = check_config(args.mpq, cfg, args.trials)
            print("%s: OK" % cfg, flush=True)
            for k, v in res.items():
                print("  %-12s %s" % (k, v), flush=True)
        except Exception as e:  # report and go on with the next config
            failed += 1
            print("%s: FAIL %s" % (cfg, e), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
