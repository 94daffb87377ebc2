"""Tiny numpy reference interpreter for the ONNX subset mpq supports.

Used by the fixture scripts to cross-check every exported .onnx file against
the PyTorch outputs (independently of PyTorch's own kernels), and to
constant-fold shape sub-graphs (fold_constants). No onnxruntime needed.

Usage as a script:  /usr/bin/python3 scripts/onnx_ref.py model.onnx input.npy [expected.npy]
"""
import itertools
import math
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper


def _attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _s(v):
    return v.decode() if isinstance(v, bytes) else v


def _pool_out(in_sz, k, s, pb, pe, d, ceil_mode):
    eff = (k - 1) * d + 1
    num = in_sz + pb + pe - eff
    if ceil_mode:
        out = int(math.ceil(num / s)) + 1
        # PyTorch/ORT rule: the last window must start inside input or left padding
        if (out - 1) * s >= in_sz + pb:
            out -= 1
    else:
        out = num // s + 1
    return out


def _lift_1d(a):
    """A 1-D window's attributes as those of a 2-D window of height 1."""
    a = dict(a)
    for k in ("kernel_shape", "strides", "dilations"):
        if k in a:
            a[k] = [1] + list(a[k])
    if "pads" in a:
        a["pads"] = [0, a["pads"][0], 0, a["pads"][1]]
    return a


def _conv(x, w, b, a):
    if x.ndim == 3:  # Conv1d: the same as a 2-D convolution over height 1
        return _conv(x[:, :, None, :], w[:, :, None, :], b, _lift_1d(a))[:, :, 0, :]
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    group = a.get("group", 1)
    strides = a.get("strides", [1, 1])
    dil = a.get("dilations", [1, 1])
    pads = a.get("pads", [0, 0, 0, 0])
    ap = _s(a.get("auto_pad", "NOTSET"))
    if ap not in ("NOTSET", "VALID"):
        raise NotImplementedError("auto_pad " + ap)
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh = (h + pads[0] + pads[2] - ((kh - 1) * dil[0] + 1)) // strides[0] + 1
    ow = (wd + pads[1] + pads[3] - ((kw - 1) * dil[1] + 1)) // strides[1] + 1
    out = np.zeros((n, m, oh, ow), dtype=np.float64)
    mg = m // group
    for g in range(group):
        xs = xp[:, g * cg:(g + 1) * cg].astype(np.float64)
        ws = w[g * mg:(g + 1) * mg].astype(np.float64)
        for i in range(kh):
            for j in range(kw):
                hs = i * dil[0]
                wsx = j * dil[1]
                patch = xs[:, :, hs:hs + strides[0] * (oh - 1) + 1:strides[0],
                           wsx:wsx + strides[1] * (ow - 1) + 1:strides[1]]
                out[:, g * mg:(g + 1) * mg] += np.einsum("nchw,mc->nmhw", patch, ws[:, :, i, j])
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out.astype(np.float32)


def _conv_transpose(x, w, b, a):
    """ConvTranspose by scattering each input pixel's kernel-weighted copy."""
    if x.ndim == 3:
        la = dict(_lift_1d(a))
        if "output_padding" in a:
            la["output_padding"] = [0] + list(a["output_padding"])
        return _conv_transpose(x[:, :, None, :], w[:, :, None, :], b, la)[:, :, 0, :]
    n, c, h, wd = x.shape
    _, mg, kh, kw = w.shape
    group = a.get("group", 1)
    st = a.get("strides", [1, 1])
    dl = a.get("dilations", [1, 1])
    p = a.get("pads", [0, 0, 0, 0])
    op = a.get("output_padding", [0, 0])
    full_h = (h - 1) * st[0] + (kh - 1) * dl[0] + 1 + op[0]
    full_w = (wd - 1) * st[1] + (kw - 1) * dl[1] + 1 + op[1]
    out = np.zeros((n, mg * group, full_h, full_w))
    cg = c // group
    for g in range(group):
        xs = x[:, g * cg:(g + 1) * cg].astype(np.float64)
        ws = w[g * cg:(g + 1) * cg].astype(np.float64)
        for i in range(kh):
            for j in range(kw):
                contrib = np.einsum("nchw,cm->nmhw", xs, ws[:, :, i, j])
                out[:, g * mg:(g + 1) * mg, i * dl[0]:i * dl[0] + st[0] * (h - 1) + 1:st[0],
                    j * dl[1]:j * dl[1] + st[1] * (wd - 1) + 1:st[1]] += contrib
    out = out[:, :, p[0]:full_h - p[2], p[1]:full_w - p[3]]
    if b is not None:
        out = out + b.reshape(1, -1, 1, 1)
    return out.astype(np.float32)


def _pool(x, a, kind):
    """Max or average pooling over any number of spatial dimensions."""
    if x.ndim == 3:  # MaxPool1d/AvgPool1d as 2-D pooling over height 1
        return _pool(x[:, :, None, :], _lift_1d(a), kind)[:, :, 0, :]
    k = a["kernel_shape"]
    r = len(k)
    s = a.get("strides", [1] * r)
    d = a.get("dilations", [1] * r)
    pads = a.get("pads", [0] * (2 * r))
    ceil_mode = a.get("ceil_mode", 0)
    if _s(a.get("auto_pad", "NOTSET")) not in ("NOTSET", "VALID"):
        raise NotImplementedError("auto_pad")
    n, c = x.shape[:2]
    sp = x.shape[2:]
    outs = [_pool_out(sp[i], k[i], s[i], pads[i], pads[i + r], d[i], ceil_mode) for i in range(r)]
    # pad generously on the right for ceil_mode windows
    extra = [max(0, (outs[i] - 1) * s[i] + (k[i] - 1) * d[i] + 1 - (sp[i] + pads[i])) for i in range(r)]
    fill = -np.inf if kind == "max" else 0.0
    widths = tuple((pads[i], extra[i]) for i in range(r))
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0)) + widths, constant_values=fill)
    valid = np.pad(np.ones(sp), widths)
    # "declared" region = input plus declared pads (count_include_pad counts these)
    decl = np.zeros_like(valid)
    decl[tuple(slice(0, pads[i] + sp[i] + pads[i + r]) for i in range(r))] = 1
    out = np.full((n, c) + tuple(outs), -np.inf if kind == "max" else 0.0)
    cnt_valid = np.zeros(outs)
    cnt_decl = np.zeros(outs)
    for off in itertools.product(*[range(kk) for kk in k]):
        sl = tuple(slice(off[i] * d[i], off[i] * d[i] + s[i] * (outs[i] - 1) + 1, s[i]) for i in range(r))
        patch = xp[(slice(None), slice(None)) + sl]
        if kind == "max":
            out = np.maximum(out, patch)
        else:
            out += patch
            cnt_valid += valid[sl]
            cnt_decl += decl[sl]
    if kind == "avg":
        cnt = cnt_decl if a.get("count_include_pad", 0) else cnt_valid
        out = out / cnt
    return out.astype(np.float32)


_erf = np.vectorize(math.erf, otypes=[np.float64])


def _softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _gelu(x, a):
    if _s(a.get("approximate", "none")) == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


# float activations computed in float64: op -> f(x, attributes)
_UNARY = {
    "Elu": lambda x, a: np.where(x < 0, a.get("alpha", 1.0) * np.expm1(np.minimum(x, 0)), x),
    "Selu": lambda x, a: a.get("gamma", 1.05070102214813232421875) * np.where(
        x > 0, x, a.get("alpha", 1.67326319217681884765625) * np.expm1(np.minimum(x, 0))),
    "Celu": lambda x, a: np.maximum(x, 0) + np.minimum(0, a.get("alpha", 1.0) * np.expm1(np.minimum(x, 0) / a.get("alpha", 1.0))),
    "ThresholdedRelu": lambda x, a: np.where(x > a.get("alpha", 1.0), x, 0.0),
    "Softplus": lambda x, a: _softplus(x),
    "Softsign": lambda x, a: x / (1 + np.abs(x)),
    "Mish": lambda x, a: x * np.tanh(_softplus(x)),
    "Erf": lambda x, a: _erf(x),
    "Gelu": _gelu,
    "Exp": lambda x, a: np.exp(x),
    "Log": lambda x, a: np.log(x),
    "Sqrt": lambda x, a: np.sqrt(x),
    "Reciprocal": lambda x, a: 1 / x,
}


def _reduce_axes(ins, a, x):
    """Axes of ReduceMean/ReduceSum: the attribute, or input 1 (ReduceSum from
    opset 13, ReduceMean from 18); None means all (unless noop_with_empty_axes)."""
    axes = a.get("axes")
    if axes is None and len(ins) > 1 and ins[1] is not None:
        axes = _bcast_int(ins[1])
    if not axes:
        return None if not a.get("noop_with_empty_axes", 0) else ()
    return tuple(v + x.ndim if v < 0 else v for v in axes)


def _resize(x, ins, a, opset):
    """Resize, nearest or linear, separably axis by axis (the ONNX
    reference's order of operations), edge-clamped."""
    if opset < 11:
        scales, sizes, coord = np.asarray(ins[1], np.float64), None, "asymmetric"
    else:
        scales = ins[2] if len(ins) > 2 and ins[2] is not None and ins[2].size else None
        sizes = ins[3] if len(ins) > 3 and ins[3] is not None and ins[3].size else None
        coord = _s(a.get("coordinate_transformation_mode", b"half_pixel"))
    mode = _s(a.get("mode", b"nearest"))
    nearest = _s(a.get("nearest_mode", b"round_prefer_floor"))
    y = x.astype(np.float64)
    for d in range(x.ndim):
        n_in = x.shape[d]
        if sizes is not None:
            n_out = int(sizes[d])
            sc = n_out / n_in
        else:
            sc = float(scales[d])
            n_out = int(np.floor(n_in * sc))
        o = np.arange(n_out, dtype=np.float64)
        if coord == "half_pixel":
            xo = (o + 0.5) / sc - 0.5
        elif coord == "pytorch_half_pixel":
            xo = (o + 0.5) / sc - 0.5 if n_out > 1 else np.zeros_like(o)
        elif coord == "align_corners":
            xo = o * (n_in - 1) / (n_out - 1) if n_out > 1 else np.zeros_like(o)
        elif coord == "asymmetric":
            xo = o / sc
        elif coord == "tf_half_pixel_for_nn":
            xo = (o + 0.5) / sc
        else:
            raise NotImplementedError(coord)
        if mode == "nearest":
            frac = xo - np.floor(xo)
            if nearest == "floor":
                idx = np.floor(xo)
            elif nearest == "ceil":
                idx = np.ceil(xo)
            elif nearest == "round_prefer_ceil":
                idx = np.where(frac == 0.5, np.ceil(xo), np.round(xo))
            else:
                idx = np.where(frac == 0.5, np.floor(xo), np.round(xo))
            idx = np.clip(idx.astype(np.int64), 0, n_in - 1)
            y = np.take(y, idx, axis=d)
        else:
            lo = np.floor(xo)
            f = xo - lo
            i0 = np.clip(lo.astype(np.int64), 0, n_in - 1)
            i1 = np.clip(lo.astype(np.int64) + 1, 0, n_in - 1)
            shp = [1] * x.ndim
            shp[d] = -1
            f = f.reshape(shp)
            y = np.take(y, i0, axis=d) * (1 - f) + np.take(y, i1, axis=d) * f
    return y.astype(x.dtype)


def _bcast_int(v):
    return [int(t) for t in np.asarray(v).reshape(-1)]


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _recurrent(op, ins, a):
    """LSTM, GRU and RNN (layout 0, default activations; RNN also Relu), in
    float64, by the ONNX spec's equations. Returns Y, Y_h (and Y_c)."""
    x = ins[0].astype(np.float64)
    W, R = ins[1].astype(np.float64), ins[2].astype(np.float64)
    seq, batch, _ = x.shape
    dirs, gh, hid = R.shape
    B = ins[3].astype(np.float64) if len(ins) > 3 and ins[3] is not None else np.zeros((dirs, 2 * gh))
    h0 = ins[5].astype(np.float64) if len(ins) > 5 and ins[5] is not None else np.zeros((dirs, batch, hid))
    c0 = ins[6].astype(np.float64) if len(ins) > 6 and ins[6] is not None else np.zeros((dirs, batch, hid))
    acts = [_s(v) for v in a.get("activations", [])]
    relu = op == "RNN" and acts[:1] == ["Relu"]
    reverse = _s(a.get("direction", "forward")) == "reverse"
    lbr = a.get("linear_before_reset", 0)
    Y = np.zeros((seq, dirs, batch, hid))
    Yh, Yc = np.zeros((dirs, batch, hid)), np.zeros((dirs, batch, hid))
    for d in range(dirs):
        w, r, wb, rb = W[d], R[d], B[d, :gh], B[d, gh:]
        h, c = h0[d], c0[d]
        order = range(seq - 1, -1, -1) if d == 1 or reverse else range(seq)
        for t in order:
            xt = x[t]
            if op == "LSTM":
                g = xt @ w.T + h @ r.T + wb + rb
                i, o, f, cc = (g[:, k * hid:(k + 1) * hid] for k in range(4))
                c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(cc)
                h = _sigmoid(o) * np.tanh(c)
            elif op == "GRU":
                gx = xt @ w.T + wb
                z = _sigmoid(gx[:, :hid] + h @ r[:hid].T + rb[:hid])
                rr = _sigmoid(gx[:, hid:2 * hid] + h @ r[hid:2 * hid].T + rb[hid:2 * hid])
                if lbr:
                    hh = np.tanh(gx[:, 2 * hid:] + rr * (h @ r[2 * hid:].T + rb[2 * hid:]))
                else:
                    hh = np.tanh(gx[:, 2 * hid:] + (rr * h) @ r[2 * hid:].T + rb[2 * hid:])
                h = (1 - z) * hh + z * h
            else:
                v = xt @ w.T + h @ r.T + wb + rb
                h = np.maximum(v, 0) if relu else np.tanh(v)
            Y[t, d] = h
        Yh[d], Yc[d] = h, c
    out = [Y.astype(np.float32), Yh.astype(np.float32)]
    if op == "LSTM":
        out.append(Yc.astype(np.float32))
    return out


def run_node(node, vals, opset):
    a = _attrs(node)
    ins = [vals[i] if i else None for i in node.input]
    op = node.op_type
    x = ins[0] if ins else None
    if op == "Constant":
        return [numpy_helper.to_array(a["value"])]
    if op == "If":  # the chosen branch, reading the enclosing graph's values
        g = a["then_branch"] if bool(np.asarray(x).reshape(-1)[0]) else a["else_branch"]
        env = dict(vals)
        env.update({t.name: numpy_helper.to_array(t) for t in g.initializer})
        for bn in g.node:
            for name, v in zip(bn.output, run_node(bn, env, opset)):
                if name:
                    env[name] = v
        return [env[o.name] for o in g.output]
    if op == "Conv":
        return [_conv(x, ins[1], ins[2] if len(ins) > 2 else None, a)]
    if op in ("LSTM", "GRU", "RNN"):
        return _recurrent(op, ins, a)
    if op == "Gemm":
        A, B = ins[0].astype(np.float64), ins[1].astype(np.float64)
        if a.get("transA", 0):
            A = A.T
        if a.get("transB", 0):
            B = B.T
        y = a.get("alpha", 1.0) * (A @ B)
        if len(ins) > 2 and ins[2] is not None:
            y = y + a.get("beta", 1.0) * ins[2].astype(np.float64)
        return [y.astype(np.float32)]
    if op == "MatMul":
        return [np.matmul(ins[0].astype(np.float64), ins[1].astype(np.float64)).astype(np.float32)]
    if op in ("Add", "Sub", "Mul", "Div"):
        f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op]
        if ins[0].dtype.kind in "iu" and ins[1].dtype.kind in "iu":
            if op == "Div":
                return [(ins[0] // ins[1]).astype(ins[0].dtype)]
            return [f(ins[0], ins[1]).astype(ins[0].dtype)]
        return [f(ins[0], ins[1]).astype(ins[0].dtype)]
    if op == "Relu":
        return [np.maximum(x, 0).astype(x.dtype)]
    if op == "LeakyRelu":
        al = a.get("alpha", 0.01)
        return [np.where(x >= 0, x, x * np.float32(al)).astype(x.dtype)]
    if op == "Clip":
        if opset < 11:
            lo, hi = a.get("min", -np.inf), a.get("max", np.inf)
        else:
            lo = ins[1] if len(ins) > 1 and ins[1] is not None else -np.inf
            hi = ins[2] if len(ins) > 2 and ins[2] is not None else np.inf
        return [np.minimum(np.maximum(x, lo), hi).astype(x.dtype)]
    if op == "Sigmoid":
        return [(1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(np.float32)]
    if op == "Tanh":
        return [np.tanh(x)]
    if op == "HardSigmoid":
        al, be = a.get("alpha", 0.2), a.get("beta", 0.5)
        return [np.clip(al * x.astype(np.float64) + be, 0, 1).astype(np.float32)]
    if op == "HardSwish":
        xd = x.astype(np.float64)
        return [(xd * np.clip(xd / 6.0 + 0.5, 0, 1)).astype(np.float32)]
    if op in _UNARY:
        return [_UNARY[op](x.astype(np.float64), a).astype(np.float32)]
    if op in ("Abs", "Neg", "Sign", "Floor", "Ceil", "Round", "Sin", "Cos"):
        y = {"Abs": np.abs, "Neg": np.negative, "Sign": np.sign, "Floor": np.floor, "Ceil": np.ceil,
             "Round": np.round, "Sin": np.sin, "Cos": np.cos}[op](x)  # np.round: halves to even, as ONNX
        return [y.astype(x.dtype)]
    if op == "PRelu":
        xd = x.astype(np.float64)
        return [np.where(xd < 0, xd * ins[1].astype(np.float64), xd).astype(np.float32)]
    if op == "Pow":
        return [np.power(x.astype(np.float64), ins[1].astype(np.float64)).astype(x.dtype)]
    if op in ("Max", "Min"):
        f = np.maximum if op == "Max" else np.minimum
        y = ins[0]
        for t in ins[1:]:
            y = f(y, t)
        return [y.astype(x.dtype)]
    if op in ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL1", "ReduceL2", "ReduceSumSquare",
              "ReduceLogSumExp", "ReduceProd"):
        axes = _reduce_axes(ins, a, x)
        if axes == ():
            return [x]
        f = {"ReduceMean": np.mean, "ReduceSum": np.sum, "ReduceMax": np.max, "ReduceMin": np.min,
             "ReduceL1": lambda v, **k: np.sum(np.abs(v), **k),
             "ReduceL2": lambda v, **k: np.sqrt(np.sum(v * v, **k)),
             "ReduceSumSquare": lambda v, **k: np.sum(v * v, **k),
             "ReduceLogSumExp": lambda v, **k: np.log(np.sum(np.exp(v), **k)),
             "ReduceProd": np.prod}[op]
        return [f(x.astype(np.float64), axis=axes, keepdims=bool(a.get("keepdims", 1))).astype(x.dtype)]
    if op == "CumSum":
        ax = _bcast_int(ins[1])[0]
        v = np.flip(x, ax) if a.get("reverse", 0) else x
        y = np.cumsum(v.astype(np.float64), axis=ax)
        if a.get("exclusive", 0):
            y = y - v
        y = np.flip(y, ax) if a.get("reverse", 0) else y
        return [y.astype(x.dtype)]
    if op == "ConvTranspose":
        return [_conv_transpose(x, ins[1], ins[2] if len(ins) > 2 else None, a)]
    if op == "Einsum":
        return [np.einsum(_s(a["equation"]), *[v.astype(np.float64) for v in ins]).astype(x.dtype)]
    if op == "Tile":
        return [np.tile(x, _bcast_int(ins[1]))]
    if op in ("DepthToSpace", "SpaceToDepth"):
        b = a["blocksize"]
        n, c, h, w = x.shape
        if op == "SpaceToDepth":
            t = x.reshape(n, c, h // b, b, w // b, b).transpose(0, 3, 5, 1, 2, 4)
            return [t.reshape(n, c * b * b, h // b, w // b)]
        if _s(a.get("mode", b"DCR")) == "CRD":
            t = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
        else:
            t = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
        return [t.reshape(n, c // (b * b), h * b, w * b)]
    if op == "Resize":
        return [_resize(x, ins, a, opset)]
    if op == "GlobalMaxPool":
        return [x.max(axis=tuple(range(2, x.ndim)), keepdims=True)]
    if op == "InstanceNormalization":
        axes = tuple(range(2, x.ndim))
        shp = (1, -1) + (1,) * (x.ndim - 2)
        xd = x.astype(np.float64)
        mu = xd.mean(axis=axes, keepdims=True)
        var = ((xd - mu) ** 2).mean(axis=axes, keepdims=True)
        y = (xd - mu) / np.sqrt(var + a.get("epsilon", 1e-5))
        return [(y * ins[1].astype(np.float64).reshape(shp) + ins[2].astype(np.float64).reshape(shp)).astype(np.float32)]
    if op == "Split":
        ax = a.get("axis", 0)
        ax = ax + x.ndim if ax < 0 else ax
        if len(ins) > 1 and ins[1] is not None:
            sizes = _bcast_int(ins[1])
        elif "split" in a:
            sizes = list(a["split"])
        else:
            k = a.get("num_outputs", len(node.output))
            each = -(-x.shape[ax] // k) if "num_outputs" in a else x.shape[ax] // k
            sizes = [max(0, min(each, x.shape[ax] - j * each)) for j in range(k)]
        return np.split(x, np.cumsum(sizes)[:-1], axis=ax)
    if op == "LayerNormalization":
        ax = a.get("axis", -1)
        ax = ax + x.ndim if ax < 0 else ax
        axes = tuple(range(ax, x.ndim))
        xd = x.astype(np.float64)
        mu = xd.mean(axis=axes, keepdims=True)
        var = ((xd - mu) ** 2).mean(axis=axes, keepdims=True)
        y = (xd - mu) / np.sqrt(var + a.get("epsilon", 1e-5)) * ins[1].astype(np.float64)
        if len(ins) > 2 and ins[2] is not None:
            y = y + ins[2].astype(np.float64)
        return [y.astype(np.float32)]
    if op == "MaxPool":
        return [_pool(x, a, "max")]
    if op == "AveragePool":
        return [_pool(x, a, "avg")]
    if op == "GlobalAveragePool":
        return [x.astype(np.float64).mean(axis=tuple(range(2, x.ndim)), keepdims=True).astype(np.float32)]
    if op == "BatchNormalization":
        sc, bi, mu, var = ins[1:5]
        eps = a.get("epsilon", 1e-5)
        shp = (1, -1) + (1,) * (x.ndim - 2)
        y = (x.astype(np.float64) - mu.reshape(shp)) / np.sqrt(var.reshape(shp).astype(np.float64) + eps)
        return [(y * sc.reshape(shp) + bi.reshape(shp)).astype(np.float32)]
    if op == "Flatten":
        ax = a.get("axis", 1)
        if ax < 0:
            ax += x.ndim
        return [x.reshape(int(np.prod(x.shape[:ax])), -1)]
    if op == "Reshape":
        shp = _bcast_int(ins[1])
        shp = [x.shape[i] if (v == 0 and not a.get("allowzero", 0)) else v for i, v in enumerate(shp)]
        return [x.reshape(shp)]
    if op == "Transpose":
        return [np.transpose(x, a.get("perm"))]
    if op == "Concat":
        return [np.concatenate([t for t in ins if t is not None], axis=a["axis"])]
    if op == "Pad":
        mode = _s(a.get("mode", "constant"))
        if opset < 11:
            pads, cv = a["pads"], a.get("value", 0.0)
        else:
            pads = _bcast_int(ins[1])
            cv = ins[2].item() if len(ins) > 2 and ins[2] is not None else 0.0
        r = x.ndim
        pw = [(pads[i], pads[i + r]) for i in range(r)]
        if any(p < 0 for pr in pw for p in pr):
            raise NotImplementedError("negative pads")
        if mode == "constant":
            return [np.pad(x, pw, constant_values=cv).astype(x.dtype)]
        return [np.pad(x, pw, mode={"reflect": "reflect", "edge": "edge"}[mode])]
    if op in ("Softmax", "LogSoftmax"):
        xd = x.astype(np.float64)
        ax = a.get("axis", -1 if opset >= 13 else 1)
        if opset < 13:
            if ax < 0:
                ax += x.ndim
            shp = x.shape
            xd = xd.reshape(int(np.prod(shp[:ax])), -1)
            ax2 = 1
        else:
            ax2 = ax
        mx = xd.max(axis=ax2, keepdims=True)
        e = np.exp(xd - mx)
        ssum = e.sum(axis=ax2, keepdims=True)
        y = (xd - mx - np.log(ssum)) if op == "LogSoftmax" else e / ssum
        if opset < 13:
            y = y.reshape(x.shape)
        return [y.astype(np.float32)]
    if op == "Identity":
        return [x]
    if op == "Dropout":
        training = opset >= 12 and len(ins) > 2 and ins[2] is not None and bool(ins[2])
        if training:
            raise NotImplementedError("Dropout in training mode")
        return [x, np.ones(x.shape, dtype=bool)][:len(node.output)]
    if op == "Shape":
        return [np.array(x.shape, dtype=np.int64)]
    if op == "Gather":
        return [np.take(x, ins[1], axis=a.get("axis", 0))]
    if op == "Unsqueeze":
        axes = a["axes"] if opset < 13 else _bcast_int(ins[1])
        r = x.ndim + len(axes)
        axes = sorted(v + r if v < 0 else v for v in axes)
        y = x
        for ax in axes:
            y = np.expand_dims(y, ax)
        return [y]
    if op == "Squeeze":
        axes = a.get("axes") if opset < 13 else (_bcast_int(ins[1]) if len(ins) > 1 and ins[1] is not None else None)
        return [np.squeeze(x, axis=tuple(axes) if axes is not None else None)]
    if op in ("Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual"):
        f = {"Equal": np.equal, "Greater": np.greater, "Less": np.less,
             "GreaterOrEqual": np.greater_equal, "LessOrEqual": np.less_equal}[op]
        return [f(ins[0], ins[1])]
    if op == "Not":
        return [np.logical_not(x)]
    if op in ("And", "Or", "Xor"):
        f = {"And": np.logical_and, "Or": np.logical_or, "Xor": np.logical_xor}[op]
        return [f(ins[0], ins[1])]
    if op == "Where":
        return [np.where(ins[0], ins[1], ins[2])]
    if op == "Expand":
        shp = np.broadcast_shapes(x.shape, tuple(_bcast_int(ins[1])))
        return [np.broadcast_to(x, shp).copy()]
    if op == "ConstantOfShape":
        v = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
        return [np.full(_bcast_int(x), v.reshape(-1)[0], dtype=v.dtype)]
    if op == "Slice":
        starts, ends = _bcast_int(ins[1]), _bcast_int(ins[2])
        axes = _bcast_int(ins[3]) if len(ins) > 3 and ins[3] is not None else list(range(len(starts)))
        steps = _bcast_int(ins[4]) if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
        sl = [slice(None)] * x.ndim
        for s0, e0, ax, st in zip(starts, ends, axes, steps):
            dim = x.shape[ax]
            # clamp like the ONNX spec (handles INT64 min/max sentinels)
            if st > 0:
                s0 = min(max(s0 + dim if s0 < 0 else s0, 0), dim)
                e0 = min(max(e0 + dim if e0 < 0 else e0, 0), dim)
            else:
                s0 = min(max(s0 + dim if s0 < 0 else s0, 0), dim - 1)
                e0 = e0 + dim if e0 < 0 else e0
                e0 = min(max(e0, -1), dim - 1)
                if e0 == -1:
                    e0 = None
            sl[ax] = slice(s0, e0, st)
        return [x[tuple(sl)]]
    if op in ("QuantizeLinear", "DequantizeLinear"):
        # ONNX opset 13: per tensor (scalar scale) or per axis (1-D scale).
        scale = np.asarray(ins[1], dtype=np.float32)
        zp = ins[2] if len(ins) > 2 and ins[2] is not None else np.zeros(scale.shape, np.uint8)
        if scale.ndim == 1:
            shp = [1] * x.ndim
            shp[a.get("axis", 1) % x.ndim] = -1
            scale, zp = scale.reshape(shp), zp.reshape(shp)
        if op == "DequantizeLinear":
            return [((x.astype(np.int32) - zp.astype(np.int32)).astype(np.float32) * scale).astype(np.float32)]
        info = np.iinfo(zp.dtype)
        y = np.rint(x.astype(np.float32) / scale) + zp.astype(np.float32)  # rint: half to even
        return [np.clip(y, info.min, info.max).astype(zp.dtype)]
    if op == "Cast":
        to = a["to"]
        return [x.astype(helper.tensor_dtype_to_np_dtype(to)) if hasattr(helper, "tensor_dtype_to_np_dtype")
                else x.astype(onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[to])]
    raise NotImplementedError(op)


def _opset(model):
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return o.version
    return 13


def run(model, feeds):
    """Run the graph; returns dict name->array of the graph outputs."""
    opset = _opset(model)
    vals = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    vals.update(feeds)
    for node in model.graph.node:
        outs = run_node(node, vals, opset)
        for name, v in zip(node.output, outs):
            if name:
                vals[name] = v
    return {o.name: vals[o.name] for o in model.graph.output}


def fold_constants(model):
    """Evaluate every node whose inputs are all constants and turn the results
    into initializers (removes Constant / shape-arithmetic chains such as the
    one torch emits for F.pad). Returns a new ModelProto."""
    opset = _opset(model)
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    keep, new_inits = [], []
    graph_outputs = {o.name for o in g.output}
    for node in g.node:
        if all((i == "" or i in consts) for i in node.input) and node.op_type not in ("Dropout",) \
                and not any(o in graph_outputs for o in node.output):
            outs = run_node(node, consts, opset)
            for name, v in zip(node.output, outs):
                if name:
                    consts[name] = v
                    new_inits.append(numpy_helper.from_array(np.asarray(v), name))
        else:
            keep.append(node)
    used = {i for n in keep for i in n.input} | graph_outputs
    del g.node[:]
    g.node.extend(keep)
    inits = [t for t in g.initializer if t.name in used] + [t for t in new_inits if t.name in used]
    del g.initializer[:]
    g.initializer.extend(inits)
    # drop stale value_info for removed tensors
    vi = [v for v in g.value_info if v.name in used or any(v.name in n.output for n in keep)]
    del g.value_info[:]
    g.value_info.extend(vi)
    return m


if __name__ == "__main__":
    mdl = onnx.load(sys.argv[1])
    inp = np.load(sys.argv[2])
    out = list(run(mdl, {mdl.graph.input[0].name: inp}).values())[0]
    print(out.shape, out.reshape(-1)[:8])
    if len(sys.argv) > 3:
        exp = np.load(sys.argv[3])
        print("max abs diff", float(np.abs(out - exp).max()))
