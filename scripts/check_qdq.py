"""Check QDQ ONNX files written by `mpq export-onnx`.

For each file:
  1. onnx.checker.check_model(model, full_check=True) (with strict shape inference);
  2. structure: default-domain opset >= 13, every INT/FLOAT/STRING attribute carries
     its value field (proto2 presence), and, when the encodings file
     (<model>.encodings.json, next to the model) is there, every int8 weight
     initializer's codes within +-(2^(b-1)-1) of its layer's bitwidth and every
     QuantizeLinear zero point and scale equal to the encodings';
  3. with --images N (default 1000; 0 skips it): runs the model with the numpy
     reference interpreter scripts/onnx_ref.py (which implements
     QuantizeLinear/DequantizeLinear per the ONNX spec; onnx 1.12 has no reference
     evaluator and onnxruntime is not needed) on the first N MNIST test images and
     prints top-1 accuracy and mean cross-entropy.

Usage (Debian's interpreter, which has python3-onnx; not a pyenv python3):
    /usr/bin/python3 scripts/check_qdq.py model.qdq.onnx [more.onnx ...] [--images N]
Exits non-zero if any check fails.
"""
import argparse
import json
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnist  # noqa: E402
import onnx_ref  # noqa: E402


def structure(model, path):
    problems = []
    opset = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not opset or opset[0] < 13:
        problems.append("default-domain opset %s < 13" % opset)
    fields = {onnx.AttributeProto.INT: "i", onnx.AttributeProto.FLOAT: "f", onnx.AttributeProto.STRING: "s"}
    for n in model.graph.node:
        for a in n.attribute:
            f = fields.get(a.type)
            if f and not a.HasField(f):
                problems.append("node %s (%s) attribute %s has no value field" % (n.name, n.op_type, a.name))
    counts = {}
    for n in model.graph.node:
        counts[n.op_type] = counts.get(n.op_type, 0) + 1
    enc_path = os.path.splitext(path)[0] + ".encodings.json"
    checked = 0
    if os.path.exists(enc_path):
        with open(enc_path) as f:
            enc = json.load(f)
        inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        for layer in enc["mpq"]["layers"]:
            w, x = layer.get("weight"), layer.get("input")
            if w and w["dtype"] == "int8":
                codes = inits[w["integer_tensor"]]
                lim = 2 ** (w["bitwidth"] - 1) - 1
                if codes.dtype != np.int8 or np.abs(codes.astype(np.int32)).max() > lim:
                    problems.append("layer %s: int8 codes outside +-%d" % (layer["layer"], lim))
                checked += 1
            if x and x["dtype"] == "uint8":
                q = [n for n in model.graph.node if n.op_type == "QuantizeLinear" and n.output[0] == x["integer_tensor"]]
                if len(q) != 1:
                    problems.append("layer %s: no QuantizeLinear writes %s" % (layer["layer"], x["integer_tensor"]))
                    continue
                scale, zp = inits[q[0].input[1]], inits[q[0].input[2]]
                if zp.dtype != np.uint8 or int(zp) != x["zero_points"][0] or float(scale) != x["scales"][0]:
                    problems.append("layer %s: QuantizeLinear scale/zero point %s/%s, encodings %s/%s" % (
                        layer["layer"], float(scale), int(zp), x["scales"][0], x["zero_points"][0]))
                checked += 1
    return problems, counts, opset, checked, os.path.exists(enc_path)


def evaluate(model, n, batch=250):
    images, labels = mnist.load("test")
    x = mnist.normalize(images[:n])
    labels = labels[:n]
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    name = model.graph.input[0].name
    correct, loss = 0, 0.0
    for i in range(0, n, batch):
        xb = x[i:i + batch]
        xb = xb.reshape([len(xb)] + [d for d in dims[1:]])
        out = list(onnx_ref.run(model, {name: xb}).values())[0].astype(np.float64)
        yb = labels[i:i + batch]
        correct += int((out.argmax(axis=1) == yb).sum())
        m = out.max(axis=1, keepdims=True)
        lse = (m + np.log(np.exp(out - m).sum(axis=1, keepdims=True)))[:, 0]
        loss += float((lse - out[np.arange(len(yb)), yb]).sum())
    return correct / n, loss / n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--images", type=int, default=1000, help="MNIST test images to evaluate (0: skip)")
    args = ap.parse_args()
    failed = False
    for path in args.models:
        model = onnx.load(path)
        try:
            onnx.checker.check_model(model, full_check=True)
            print("%s: onnx %s checker (full_check): ok" % (path, onnx.__version__))
        except Exception as e:  # the checker raises several exception types
            print("%s: checker FAILED: %s" % (path, e))
            failed = True
            continue
        problems, counts, opset, checked, has_enc = structure(model, path)
        print("  opset %s, IR %d; QuantizeLinear %d, DequantizeLinear %d, Clip %d; %s" % (
            opset, model.ir_version, counts.get("QuantizeLinear", 0), counts.get("DequantizeLinear", 0),
            counts.get("Clip", 0),
            ("%d quantized tensors checked against the encodings" % checked) if has_enc else "no encodings file"))
        for p in problems:
            print("  FAILED:", p)
            failed = True
        if args.images > 0:
            acc, loss = evaluate(model, args.images)
            print("  numpy reference run on %d MNIST test images: accuracy %.4f, loss %.6f" % (args.images, acc, loss))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
