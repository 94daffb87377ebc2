#!/usr/bin/python3
"""How much of an exhaustive front's hypervolume is activation-bit chance.

    /usr/bin/python3 scripts/hv_lottery.py [case ...]     (default: every table)

Reads testdata/hvbench/<case>.exhaustive.json.gz (every plan of the case's
space, evaluated by mpq) and prints, per case:

- the hypervolume, in (accuracy, size_bits) with the reference point at
  accuracy 0.95 and the all-8-bit plan's size (issue 5's), of the front of
  the plans whose activations are all at 8 bits, as a fraction of the whole
  front's. size_bits counts weights only, so a plan's activation bits move
  its accuracy and nothing else: this is what a search scores that finds
  the best weight bits of every size but never tries 4-bit activations.
- per layer, the accuracy change (percentage points) of setting that
  layer's input activations from 8 to 4 bits, other choices fixed, over the
  plans at or above 0.95: mean, standard deviation and how often it helps.
  A mean near 0 with a spread of several hundredths of a point is chance on
  this evaluation set, which no model of the plans can predict.
"""
import gzip
import json
import os
import statistics
import sys

HV_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "testdata", "hvbench")


def hypervolume(points, ref_acc, ref_size):
    """2-D hypervolume of (size, accuracy) points: size minimised, accuracy
    maximised, dominating the reference point."""
    h, best, stairs = 0.0, ref_acc, []
    for s, a in sorted(p for p in points if p[1] > ref_acc and p[0] < ref_size):
        if a > best:
            stairs.append((s, a))
            best = a
    for i, (s, a) in enumerate(stairs):
        nxt = stairs[i + 1][0] if i + 1 < len(stairs) else ref_size
        h += (nxt - s) * (a - ref_acc)
    return h


def main():
    cases = sys.argv[1:] or sorted(f[:-len(".exhaustive.json.gz")] for f in os.listdir(HV_DIR)
                                   if f.endswith(".exhaustive.json.gz"))
    for case in cases:
        with gzip.open(os.path.join(HV_DIR, case + ".exhaustive.json.gz")) as f:
            table = json.load(f)
        plans = table["plans"]
        choices = {p["plan"]: p["plan"].split(";") for p in plans}
        acc = {p["plan"]: p["accuracy"] for p in plans}
        widest = [p for p in plans if all(c.split("/")[1:] == ["8", "8"] for c in choices[p["plan"]])][0]
        ref_size = widest["size_bits"] * 1.0001
        whole = hypervolume([(p["size_bits"], p["accuracy"]) for p in plans], 0.95, ref_size)
        act8 = hypervolume([(p["size_bits"], p["accuracy"]) for p in plans
                            if all(c.endswith("/8") for c in choices[p["plan"]])], 0.95, ref_size)
        print("%s: front of the plans with 8-bit activations = %.4f of the front's hypervolume" % (case, act8 / whole))
        for j, layer in enumerate(table["layers"]):
            d = []
            for key, parts in choices.items():
                if parts[j].endswith("/8") and acc[key] >= 0.95:
                    q = list(parts)
                    q[j] = q[j][:-2] + "/4"
                    other = acc.get(";".join(q))
                    if other is not None:
                        d.append(100 * (other - acc[key]))
            if d:
                print("  %-12s 8 -> 4-bit input: %+.3f ± %.3f pt over %d plans, helps in %.0f %%" % (
                    layer, statistics.mean(d), statistics.pstdev(d), len(d), 100 * sum(v > 0 for v in d) / len(d)))


if __name__ == "__main__":
    main()
