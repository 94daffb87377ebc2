#!/usr/bin/python3
"""Run any .onnx file as a PyTorch eager module, in fp32 or fake-quantized.

    import torch_onnx
    m = torch_onnx.OnnxModule("model.onnx")                  # fp32
    q = torch_onnx.OnnxModule("model.onnx", wbits=8, abits=8)
    q.calibrate(calib_x)                                      # activation ranges
    y = q(x)

OnnxModule is a torch.nn.Module whose forward walks the ONNX graph in
topological order and calls torch / torch.nn.functional ops (F.conv2d,
F.linear, F.max_pool2d, ...), so its speed is PyTorch eager speed; nothing is
traced or compiled. Weights become float32 torch tensors; every node whose
inputs are all constant is evaluated once at construction; shape sub-graphs
(Shape/Gather/Unsqueeze/Concat -> Reshape, as torch emits for
x.view(x.size(0), -1)) run eagerly on the actual tensor shapes.

Fake-quant mode follows mpq's default semantics (scripts/fakequant_torch.py):

- A quantizable layer is a Conv, Gemm or MatMul whose weight (input 1) is a
  constant float initializer (MatMul: 2-D). BatchNormalization directly after
  a Conv (the Conv output read by nothing else) is folded into the Conv first,
  W' = W*g/sqrt(var+eps) per output channel, b' = beta - mean*s + b*s
  (in float32, like mpq and torch.onnx).
- Weights, b bits: symmetric per output channel (axis 0 for Conv and Gemm
  transB=1; axis 1 for Gemm transB=0 and MatMul K x N weights),
  torch.fake_quantize_per_channel_affine with q range +-(2^(b-1)-1),
  zero point 0, scale = max|w_c|/(2^(b-1)-1) (all-zero channel: scale 1),
  applied on every forward like PyTorch's QAT FakeQuantize modules.
- The input of every quantized layer, b bits: per tensor, asymmetric,
  torch.fake_quantize_per_tensor_affine on [0, 2^b-1], min/max from a plain
  fp32 forward over calibration data (calibrate(); mpq uses the first 512
  training images), min <= 0 <= max, scale = (max-min)/(2^b-1),
  zero_point = clamp(round(-min/scale), 0, 2^b-1).

As a script it cross-checks the executor (fp32) against scripts/onnx_ref.py
and, for the shipped models, against the nn.Module classes of
scripts/models.py, on the first 64 MNIST test images, and reports the w8a8
fake-quant accuracy on the 10,000 test images (for the shipped models next
to testdata/golden/<model>.plans.json):

    /usr/bin/python3 scripts/torch_onnx.py [model.onnx ...] [--no-ref] [--no-accuracy]
"""
import math
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import helper, numpy_helper

# ONNX TensorProto element type -> torch dtype
_DTYPES = {
    1: torch.float32, 2: torch.uint8, 3: torch.int8, 4: torch.int32, 5: torch.int16, 6: torch.int32,
    7: torch.int64, 9: torch.bool, 10: torch.float16, 11: torch.float64, 12: torch.int64, 13: torch.int64,
    16: torch.bfloat16,
}


def _s(v):
    return v.decode() if isinstance(v, bytes) else v


def _ints(t):
    """A constant (tensor, list or scalar) as a list of Python ints."""
    if isinstance(t, torch.Tensor):
        return [int(v) for v in t.reshape(-1).tolist()]
    if isinstance(t, (list, tuple)):
        return [int(v) for v in t]
    return [int(t)]


def _scalar(t):
    return t.reshape(-1)[0].item() if isinstance(t, torch.Tensor) else t


def to_torch(arr):
    """numpy array -> torch tensor (a copy; 0-d stays 0-d); floats become float32."""
    arr = np.asarray(arr)
    if arr.dtype.kind == "f":
        return torch.from_numpy(np.array(arr, dtype=np.float32, copy=True))
    if arr.dtype in (np.uint16, np.uint32, np.uint64):
        arr = arr.astype(np.int64)
    return torch.from_numpy(np.array(arr, copy=True))


def opset_of(model):
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return o.version
    return 13


def data_inputs(model):
    """Graph inputs that are not initializers: (name, shape list with None for symbolic dims)."""
    inits = {t.name for t in model.graph.initializer}
    out = []
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        dims = []
        for d in vi.type.tensor_type.shape.dim:
            dims.append(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None)
        out.append((vi.name, dims))
    return out


def _affine(lo, hi, bits):
    """mpq's input quantizer: per tensor, asymmetric, [0, 2^bits-1]."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    qmax = 2 ** bits - 1
    if lo == hi:
        return 1.0, 0
    scale = (hi - lo) / qmax
    zp = int(min(max(round(-lo / scale), 0), qmax))  # Python round: half to even
    return scale, zp


def _einsum_linear(eq, operands):
    """The weight axis of the output channels when an Einsum of two
    operands with a 2-D second one is a linear layer of its first (one
    weight letter summed over, the other an output letter the first
    operand lacks), else None: mpq's rule (engine.einsumLinear)."""
    eq = eq.replace(" ", "")
    if operands != 2:
        return None
    lhs, _, rhs = eq.partition("->")
    parts = lhs.split(",")
    if len(parts) != 2 or len(parts[1]) != 2 or "." in parts[1]:
        return None
    a, w = parts
    if "->" not in eq:  # implicit output: the letters used once, sorted
        letters = [c for c in a + w if c.isalpha()]
        rhs = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    channel, summed = None, 0
    for i, c in enumerate(w):
        if c in a and c not in rhs:
            summed += 1
        elif c not in a and c in rhs:
            channel = i
    return channel if summed == 1 else None


def outer_reads(node):
    """The values of the enclosing graph an If's branches read (ONNX lets a
    branch name them without declaring them as inputs), sorted."""
    out = set()
    for at in node.attribute:
        if at.type != onnx.AttributeProto.GRAPH:
            continue
        local = {""} | {t.name for t in at.g.initializer}
        for bn in at.g.node:
            out.update(i for i in node_inputs(bn) if i not in local)
            local.update(bn.output)
        out.update(o.name for o in at.g.output if o.name not in local)
    return sorted(out)


def node_inputs(node):
    """A node's inputs, with an If's outer reads after its condition."""
    if node.op_type == "If":
        return list(node.input) + outer_reads(node)
    return list(node.input)


class Layer:
    """One quantizable layer: its weight in [out, in, ...] layout (output
    channel on axis 0; Gemm transB=0 and MatMul weights are stored
    transposed), the bits, and the input range once calibrated."""

    def __init__(self, name, op, weight, wbits, abits, weight_fq="every"):
        self.name, self.op, self.wbits, self.abits = name, op, wbits, abits
        self.weight = weight.contiguous()
        self.weight_fq = weight_fq
        self.wcached = None
        self.lo, self.hi = math.inf, -math.inf
        self.ascale, self.azp = None, None
        self.set_weight_bits(wbits)

    def set_weight_bits(self, wbits):
        self.wbits = wbits
        if wbits >= 32:
            return
        qmax = 2 ** (wbits - 1) - 1
        amax = self.weight.abs().reshape(self.weight.shape[0], -1).max(dim=1).values
        scale = amax / qmax
        self.wscale = torch.where(scale == 0, torch.ones_like(scale), scale).float().contiguous()
        self.wzp = torch.zeros(self.weight.shape[0], dtype=torch.int32)
        self.wqmin, self.wqmax = -qmax, qmax
        self.wcached = None
        if self.weight_fq == "once":
            self.wcached = torch.fake_quantize_per_channel_affine(self.weight, self.wscale, self.wzp, 0, -qmax, qmax)

    def observe(self, x):
        if x.numel():
            self.lo = min(self.lo, float(x.min()))
            self.hi = max(self.hi, float(x.max()))

    def finish_calibration(self):
        if self.abits < 32:
            if self.lo > self.hi:
                raise RuntimeError("layer %s: no calibration data reached it" % self.name)
            self.ascale, self.azp = _affine(self.lo, self.hi, self.abits)

    def fq_weight(self):
        if self.wbits >= 32:
            return self.weight
        if self.wcached is not None:
            return self.wcached
        return torch.fake_quantize_per_channel_affine(self.weight, self.wscale, self.wzp, 0, self.wqmin, self.wqmax)

    def fq_input(self, x):
        if self.abits >= 32:
            return x
        if self.ascale is None:
            raise RuntimeError("layer %s: activation range not calibrated; call calibrate() first" % self.name)
        return torch.fake_quantize_per_tensor_affine(x, self.ascale, self.azp, 0, 2 ** self.abits - 1)


class OnnxModule(nn.Module):
    """An ONNX graph as an eager PyTorch module.

    wbits/abits: 32 (default) is fp32; anything lower quantizes every layer
    (plan: optional {layer name or weight name: (wbits, abits)} overrides).
    fold_bn: fold Conv->BatchNormalization (default: only when quantizing,
    so fp32 runs the graph exactly as written).
    weight_fq: "every" fake-quantizes the weights on every forward (as
    PyTorch's QAT FakeQuantize modules do); "once" does it at construction
    and reuses the result (the cheaper post-training simulation)."""

    def __init__(self, model, wbits=32, abits=32, plan=None, fold_bn=None, weight_fq="every"):
        super().__init__()
        if isinstance(model, (str, os.PathLike)):
            model = onnx.load(str(model))
        self.onnx_model = model
        self.opset = opset_of(model)
        g = model.graph
        self.inputs = data_inputs(model)
        self.output_names = [o.name for o in g.output]
        self.quantized = wbits < 32 or abits < 32 or bool(plan)
        if fold_bn is None:
            fold_bn = self.quantized
        consts = {t.name: to_torch(numpy_helper.to_array(t)) for t in g.initializer}
        nodes = self._toposort(list(g.node), set(consts) | {n for n, _ in self.inputs})
        # 1. constant folding (every node whose inputs are all constant)
        outputs = set(self.output_names)
        rest = []
        for node in nodes:
            if node.op_type != "Dropout" and all(i == "" or i in consts for i in node_inputs(node)) \
                    and not any(o in outputs for o in node.output):
                fn = self._build(node, consts, None)
                vals = fn([consts[i] if i else None for i in node_inputs(node)])
                for name, v in zip(node.output, vals):
                    if name:
                        consts[name] = v
            else:
                rest.append(node)
        # 2. Conv -> BatchNormalization folding
        self.folded_bn = []
        if fold_bn:
            rest = self._fold_bn(rest, consts, outputs)
        # 3. quantizable layers
        self.layers = []
        layer_of = {}
        plan = plan or {}
        for node in rest:
            lay = self._layer(node, consts)
            if lay is None:
                continue
            name, op, w = lay
            wname = node.input[1]
            wb, ab = plan.get(name, plan.get(wname, (wbits, abits)))
            layer = Layer(name, op, w, wb, ab, weight_fq)
            self.layers.append(layer)
            layer_of[id(node)] = layer
        # 4. the program: (fn, inputs [(is_const, value or name)], outputs)
        self.consts = consts
        self.program = []
        last_use = {}
        for k, node in enumerate(rest):
            for i in node_inputs(node):
                if i and i not in consts:
                    last_use[i] = k
        for k, node in enumerate(rest):
            fn = self._build(node, consts, layer_of.get(id(node)))
            ins = [(True, None) if i == "" else ((True, consts[i]) if i in consts else (False, i)) for i in node_inputs(node)]
            # values read for the last time here are dropped right after, so
            # activations are freed as early as in an nn.Module's forward
            drop = sorted({i for i in node_inputs(node) if last_use.get(i) == k and i not in outputs})
            self.program.append((fn, ins, list(node.output), drop))
        self._observing = False

    # ---- graph preparation ----

    @staticmethod
    def _toposort(nodes, available):
        avail = set(available) | {""}
        order = []
        pending = list(nodes)
        while pending:
            progress, nxt = False, []
            for n in pending:
                if all(i in avail for i in node_inputs(n)):
                    order.append(n)
                    avail.update(n.output)
                    progress = True
                else:
                    nxt.append(n)
            if not progress:
                missing = sorted({i for n in nxt for i in node_inputs(n) if i not in avail})
                raise ValueError("ONNX graph: inputs never produced: %s" % ", ".join(missing[:10]))
            pending = nxt
        return order

    def _fold_bn(self, nodes, consts, outputs):
        producer, uses = {}, {}
        for n in nodes:
            for o in n.output:
                producer[o] = n
            for i in n.input:
                uses[i] = uses.get(i, 0) + 1
        drop, new_conv = set(), {}
        for bn in nodes:
            if bn.op_type != "BatchNormalization":
                continue
            conv = producer.get(bn.input[0])
            if conv is None or conv.op_type not in ("Conv", "ConvTranspose") or uses.get(bn.input[0], 0) != 1 \
                    or bn.input[0] in outputs:
                continue
            if any(o for o in bn.output[1:]) or id(conv) in new_conv:
                continue
            if not all(i in consts for i in bn.input[1:5]) or conv.input[1] not in consts:
                continue
            if len(conv.input) > 2 and conv.input[2] and conv.input[2] not in consts:
                continue
            a = {x.name: helper.get_attribute_value(x) for x in bn.attribute}
            eps = torch.tensor(a.get("epsilon", 1e-5), dtype=torch.float32)
            gamma, beta, mean, var = (consts[i].float() for i in bn.input[1:5])
            w = consts[conv.input[1]]
            s = gamma / torch.sqrt(var + eps)
            if conv.op_type == "ConvTranspose":  # C_in x C_out/group x k: output channels per group on axis 1
                g = {x.name: helper.get_attribute_value(x) for x in conv.attribute}.get("group", 1)
                cg, mg, k = w.shape[0] // g, w.shape[1], tuple(w.shape[2:])
                nw = (w.reshape((g, cg, mg) + k) * s.reshape((g, 1, mg) + (1,) * len(k))).reshape(w.shape)
            else:
                nw = w * s.reshape((-1,) + (1,) * (w.dim() - 1))
            nb = beta - mean * s
            if len(conv.input) > 2 and conv.input[2]:
                nb = nb + consts[conv.input[2]] * s
            wname, bname = conv.input[1] + "::bnfolded", (conv.name or conv.input[1]) + "::bias_bnfolded"
            consts[wname], consts[bname] = nw.contiguous(), nb.contiguous()
            nc = onnx.NodeProto()
            nc.CopyFrom(conv)
            del nc.input[:]
            nc.input.extend([conv.input[0], wname, bname])
            del nc.output[:]
            nc.output.append(bn.output[0])
            new_conv[id(conv)] = nc
            drop.add(id(bn))
            self.folded_bn.append((conv.name or conv.output[0], bn.name or bn.output[0]))
        return [new_conv.get(id(n), n) for n in nodes if id(n) not in drop]

    def _layer(self, node, consts):
        """(name, op, weight in [out, in...] layout) if node is a quantizable layer."""
        op = node.op_type
        if op in ("LSTM", "GRU", "RNN"):
            # One layer: rows (direction, gate unit) of [W | R], the
            # weights over the input and the previous hidden state, as mpq
            # quantizes them (one scale per row); its input is X.
            W, R = consts.get(node.input[1]), consts.get(node.input[2])
            if W is None or R is None or W.dim() != 3 or R.dim() != 3:
                return None
            rows = W.shape[0] * W.shape[1]
            w = torch.cat([W.reshape(rows, -1), R.reshape(rows, -1)], 1)
            return (node.name or node.input[1] + "+" + node.input[2]), op, w
        if op not in ("Conv", "ConvTranspose", "Gemm", "MatMul", "Einsum") or len(node.input) < 2:
            return None
        w = consts.get(node.input[1])
        w0 = consts.get(node.input[0])
        if op == "MatMul" and (w is None or not w.is_floating_point()) and w0 is not None \
                and w0.is_floating_point() and w0.dim() == 2:
            return (node.name or node.input[0]), "MatMulWeightFirst", w0  # W @ x: W is M x K, channels first
        if w is None or not w.is_floating_point():
            return None
        name = node.name or node.input[1]
        if op == "Conv":
            return name, op, w
        if op == "ConvTranspose":  # C_in x C_out/group x k -> output channels first
            return name, op, w.transpose(0, 1)
        if w.dim() != 2:
            return None
        if op == "Einsum":
            eq = {x.name: helper.get_attribute_value(x) for x in node.attribute}["equation"]
            axis = _einsum_linear(eq.decode() if isinstance(eq, bytes) else eq, len(node.input))
            if axis is None:
                return None
            return name, op, (w if axis == 0 else w.t())
        if op == "Gemm":
            tb = {x.name: helper.get_attribute_value(x) for x in node.attribute}.get("transB", 0)
            return name, op, (w if tb else w.t())
        return name, op, w.t()  # MatMul: K x N -> N x K

    # ---- execution ----

    def forward(self, *xs):
        env = {}
        for (name, _), x in zip(self.inputs, xs):
            env[name] = x
        for fn, ins, outs, drop in self.program:
            args = [v if c else env[v] for c, v in ins]
            for name in drop:
                del env[name]
            res = fn(args)
            del args
            for name, v in zip(outs, res):
                if name:
                    env[name] = v
        res = [env[n] if n in env else self.consts[n] for n in self.output_names]
        return res[0] if len(res) == 1 else tuple(res)

    @torch.no_grad()
    def calibrate(self, x, batch=256):
        """Record each quantized layer's input min/max over x (an fp32
        forward, nothing quantized), then fix the input quantizers.
        (An input whose batch dimension is fixed in the file runs at it.)"""
        dims = self.inputs[0][1] if self.inputs else None
        if dims and dims[0] is not None:
            batch = dims[0]
        for l in self.layers:
            l.lo, l.hi = math.inf, -math.inf
        self._observing = True
        try:
            for i in range(0, x.shape[0], batch):
                self(x[i:i + batch])
        finally:
            self._observing = False
        for l in self.layers:
            l.finish_calibration()

    # ---- op builders: each returns fn(list of inputs) -> list of outputs ----

    def _build(self, node, consts, layer):
        op = node.op_type
        if node.domain not in ("", "ai.onnx"):
            raise NotImplementedError("op %s.%s (node %s)" % (node.domain, op, node.name))
        a = {x.name: helper.get_attribute_value(x) for x in node.attribute}
        if op in _UNARY:
            f = _UNARY[op]
            return lambda ins: [f(ins[0])]
        if op in _BINARY:
            f = _BINARY[op]
            return lambda ins: [f(ins[0], ins[1])]
        b = getattr(self, "_op_" + op, None)
        if b is None:
            raise NotImplementedError("ONNX op %s (node %s) is not supported by torch_onnx" % (op, node.name))
        return b(node, a, consts, layer)

    def _wrap_layer(self, layer, compute, xi=0):
        """compute(x, w, ins) -> y for a quantizable layer whose input is
        ins[xi]: adds the input observation (calibration) and the fake
        quantization."""
        if layer.wbits >= 32 and layer.abits >= 32:  # float layer: nothing to add
            w = layer.weight
            return lambda ins: [compute(ins[xi], w, ins)]

        def fn(ins):
            x = ins[xi]
            if self._observing:
                layer.observe(x)
                return [compute(x, layer.weight, ins)]
            return [compute(layer.fq_input(x), layer.fq_weight(), ins)]
        return fn

    def _op_Conv(self, node, a, consts, layer):
        strides, dil, group = a.get("strides"), a.get("dilations"), a.get("group", 1)
        pads, auto = a.get("pads"), _s(a.get("auto_pad", "NOTSET"))
        conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}

        def geometry(x, w):
            k = list(w.shape[2:])
            n = len(k)
            st = strides or [1] * n
            dl = dil or [1] * n
            if auto in ("SAME_UPPER", "SAME_LOWER"):
                p = [0] * (2 * n)
                for i in range(n):
                    size = x.shape[2 + i]
                    tot = max(0, (-(-size // st[i]) - 1) * st[i] + (k[i] - 1) * dl[i] + 1 - size)
                    lo = tot // 2 if auto == "SAME_UPPER" else tot - tot // 2
                    p[i], p[i + n] = lo, tot - lo
            elif auto == "VALID":
                p = [0] * (2 * n)
            else:
                p = pads or [0] * (2 * n)
            return n, st, dl, p

        def compute(x, w, b):
            n, st, dl, p = geometry(x, w)
            if p[:n] != p[n:]:
                fp = []
                for i in reversed(range(n)):
                    fp += [p[i], p[i + n]]
                x = F.pad(x, fp)
                p = [0] * (2 * n)
            return conv[n](x, w, b, st, p[:n], dl, group)

        bname = node.input[2] if len(node.input) > 2 and node.input[2] else None
        if layer is not None:
            if bname and bname not in consts:
                return self._wrap_layer(layer, lambda x, w, ins: compute(x, w, ins[2]))
            bias = consts.get(bname) if bname else None
            return self._wrap_layer(layer, lambda x, w, ins: compute(x, w, bias))
        return lambda ins: [compute(ins[0], ins[1], ins[2] if len(ins) > 2 else None)]

    def _op_ConvTranspose(self, node, a, consts, layer):
        if a.get("output_shape") or _s(a.get("auto_pad", "NOTSET")) not in ("NOTSET", "VALID"):
            raise NotImplementedError("ConvTranspose output_shape / auto_pad")
        group = a.get("group", 1)
        tconv = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}

        def compute(x, w, b):  # w: C_in x C_out/group x k, as in the file
            n = w.dim() - 2
            st, dl = a.get("strides") or [1] * n, a.get("dilations") or [1] * n
            p = a.get("pads") or [0] * (2 * n)
            op = a.get("output_padding") or [0] * n
            y = tconv[n](x, w, b, st, 0, op, group, dl)
            idx = [slice(None), slice(None)] + [slice(p[i], y.shape[2 + i] - p[i + n]) for i in range(n)]
            return y[tuple(idx)]

        bname = node.input[2] if len(node.input) > 2 and node.input[2] else None
        if layer is not None:
            bias = consts.get(bname) if bname else None
            return self._wrap_layer(layer, lambda x, w, ins: compute(x, w.transpose(0, 1), bias if bias is not None or not bname else ins[2]))
        return lambda ins: [compute(ins[0], ins[1], ins[2] if len(ins) > 2 else None)]

    def _op_Gemm(self, node, a, consts, layer):
        alpha, beta = a.get("alpha", 1.0), a.get("beta", 1.0)
        ta, tb = a.get("transA", 0), a.get("transB", 0)
        cname = node.input[2] if len(node.input) > 2 and node.input[2] else None
        c_const = consts.get(cname) if cname else None
        if layer is not None:
            lin_bias = c_const if (c_const is not None and beta == 1.0 and alpha == 1.0 and c_const.dim() == 1) else None

            def compute(x, w, ins):
                if ta:
                    x = x.t()
                y = F.linear(x, w, lin_bias)
                if alpha != 1.0:
                    y = y * alpha
                if cname and lin_bias is None:
                    cc = c_const if c_const is not None else ins[2]
                    y = y + (cc * beta if beta != 1.0 else cc)
                return y
            return self._wrap_layer(layer, compute)

        def fn(ins):
            A, B = ins[0], ins[1]
            if ta:
                A = A.t()
            if tb:
                y = F.linear(A, B)
            else:
                y = torch.matmul(A, B)
            if alpha != 1.0:
                y = y * alpha
            if len(ins) > 2 and ins[2] is not None:
                y = y + (ins[2] * beta if beta != 1.0 else ins[2])
            return [y]
        return fn

    def _op_MatMul(self, node, a, consts, layer):
        if layer is not None and layer.op == "MatMulWeightFirst":
            return self._wrap_layer(layer, lambda x, w, ins: torch.matmul(w, x), xi=1)
        if layer is not None:
            return self._wrap_layer(layer, lambda x, w, ins: F.linear(x, w))
        return lambda ins: [torch.matmul(ins[0], ins[1])]

    def _op_BatchNormalization(self, node, a, consts, layer):
        eps = a.get("epsilon", 1e-5)
        nout = len(node.output)

        def fn(ins):
            x, sc, bi, mu, var = ins[:5]
            y = F.batch_norm(x, mu, var, sc, bi, False, 0.0, eps)
            return [y, mu, var, mu, var][:nout]
        return fn

    def _pool(self, node, a, kind):
        k = list(a["kernel_shape"])
        n = len(k)
        st = list(a.get("strides", [1] * n))
        dl = list(a.get("dilations", [1] * n))
        ceil = bool(a.get("ceil_mode", 0))
        cip = bool(a.get("count_include_pad", 0))
        auto = _s(a.get("auto_pad", "NOTSET"))
        pads0 = list(a.get("pads", [0] * (2 * n)))
        fmax = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[n]
        favg = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[n]
        if kind == "avg" and any(d != 1 for d in dl):
            raise NotImplementedError("AveragePool with dilations")
        mask_cache = {}

        def pads_for(x):
            if auto in ("SAME_UPPER", "SAME_LOWER"):
                p = [0] * (2 * n)
                for i in range(n):
                    size = x.shape[2 + i]
                    tot = max(0, (-(-size // st[i]) - 1) * st[i] + (k[i] - 1) * dl[i] + 1 - size)
                    lo = tot // 2 if auto == "SAME_UPPER" else tot - tot // 2
                    p[i], p[i + n] = lo, tot - lo
                return p
            if auto == "VALID":
                return [0] * (2 * n)
            return pads0

        def native_ok(p):
            return p[:n] == p[n:] and all(p[i] <= k[i] // 2 for i in range(n))

        def fn(ins):
            x = ins[0]
            p = pads_for(x)
            if native_ok(p):
                if kind == "max":
                    return [fmax(x, k, st, p[:n], dl, ceil)]
                return [favg(x, k, st, p[:n], ceil, cip)]
            # general case: explicit padding (declared pads, plus the extra
            # right padding ceil_mode windows need), then a floor-mode pool
            sizes = list(x.shape[2:])
            extra = []
            for i in range(n):
                eff = (k[i] - 1) * dl[i] + 1
                num = sizes[i] + p[i] + p[i + n] - eff
                if ceil:
                    out = -(-num // st[i]) + 1
                    if (out - 1) * st[i] >= sizes[i] + p[i]:
                        out -= 1
                else:
                    out = num // st[i] + 1
                extra.append(max(0, (out - 1) * st[i] + eff - (sizes[i] + p[i] + p[i + n])))
            fp = []
            for i in reversed(range(n)):
                fp += [p[i], p[i + n] + extra[i]]
            if kind == "max":
                return [fmax(F.pad(x, fp, value=-math.inf), k, st, 0, dl, False)]
            s = favg(F.pad(x, fp), k, st, 0, False, True)
            key = (tuple(sizes), x.dtype)
            if key not in mask_cache:
                m = torch.zeros([1, 1] + [sizes[i] + p[i] + p[i + n] + extra[i] for i in range(n)], dtype=x.dtype)
                region = [slice(None), slice(None)]
                for i in range(n):
                    region.append(slice(0, p[i] + sizes[i] + p[i + n]) if cip else slice(p[i], p[i] + sizes[i]))
                m[tuple(region)] = 1
                mask_cache[key] = favg(m, k, st, 0, False, True)
            return [s / mask_cache[key]]
        return fn

    def _op_MaxPool(self, node, a, consts, layer):
        if len(node.output) > 1 and node.output[1]:
            raise NotImplementedError("MaxPool with indices output")
        return self._pool(node, a, "max")

    def _op_AveragePool(self, node, a, consts, layer):
        return self._pool(node, a, "avg")

    def _op_GlobalAveragePool(self, node, a, consts, layer):
        return lambda ins: [ins[0].mean(dim=tuple(range(2, ins[0].dim())), keepdim=True)]

    def _op_GlobalMaxPool(self, node, a, consts, layer):
        return lambda ins: [torch.amax(ins[0], dim=tuple(range(2, ins[0].dim())), keepdim=True)]

    def _op_Relu(self, node, a, consts, layer):
        return lambda ins: [F.relu(ins[0])]

    def _op_LeakyRelu(self, node, a, consts, layer):
        al = a.get("alpha", 0.01)
        return lambda ins: [F.leaky_relu(ins[0], al)]

    def _op_Elu(self, node, a, consts, layer):
        al = a.get("alpha", 1.0)
        return lambda ins: [F.elu(ins[0], al)]

    def _op_Selu(self, node, a, consts, layer):
        al, ga = a.get("alpha", 1.67326319217681884765625), a.get("gamma", 1.05070102214813232421875)
        return lambda ins: [ga * torch.where(ins[0] > 0, ins[0], al * torch.expm1(ins[0]))]

    def _op_Celu(self, node, a, consts, layer):
        al = a.get("alpha", 1.0)
        return lambda ins: [F.celu(ins[0], al)]

    def _op_HardSigmoid(self, node, a, consts, layer):
        al, be = a.get("alpha", 0.2), a.get("beta", 0.5)
        if abs(al - 1 / 6) < 1e-7 and be == 0.5:
            return lambda ins: [F.hardsigmoid(ins[0])]
        return lambda ins: [torch.clamp(ins[0] * al + be, 0.0, 1.0)]

    def _op_Softplus(self, node, a, consts, layer):
        return lambda ins: [F.softplus(ins[0])]

    def _op_Gelu(self, node, a, consts, layer):
        approx = _s(a.get("approximate", "none"))
        return lambda ins: [F.gelu(ins[0], approximate=approx)]

    def _op_PRelu(self, node, a, consts, layer):
        return lambda ins: [torch.where(ins[0] >= 0, ins[0], ins[0] * ins[1])]

    def _op_Clip(self, node, a, consts, layer):
        if self.opset < 11:
            lo, hi = a.get("min"), a.get("max")
            if lo is None and hi is None:
                return lambda ins: [ins[0]]
            return lambda ins: [torch.clamp(ins[0], lo, hi)]

        def fn(ins):
            lo = _scalar(ins[1]) if len(ins) > 1 and ins[1] is not None else None
            hi = _scalar(ins[2]) if len(ins) > 2 and ins[2] is not None else None
            if lo is None and hi is None:
                return [ins[0]]
            return [torch.clamp(ins[0], lo, hi)]
        return fn

    def _op_Softmax(self, node, a, consts, layer):
        return self._softmax(a, F.softmax)

    def _op_LogSoftmax(self, node, a, consts, layer):
        return self._softmax(a, F.log_softmax)

    def _softmax(self, a, f):
        if self.opset >= 13:
            ax = a.get("axis", -1)
            return lambda ins: [f(ins[0], dim=ax)]
        ax = a.get("axis", 1)

        def fn(ins):
            x = ins[0]
            axn = ax + x.dim() if ax < 0 else ax
            if axn == x.dim() - 1:
                return [f(x, dim=-1)]
            return [f(x.reshape(int(np.prod(x.shape[:axn])), -1), dim=1).reshape(x.shape)]
        return fn

    def _reduce(self, a, f, axes_from_input):
        keep = bool(a.get("keepdims", 1))
        noop = a.get("noop_with_empty_axes", 0)

        def fn(ins):
            x = ins[0]
            if axes_from_input:
                axes = _ints(ins[1]) if len(ins) > 1 and ins[1] is not None else None
            else:
                axes = a.get("axes")
            if not axes:
                if noop:
                    return [x]
                axes = list(range(x.dim()))
            return [f(x, axes, keep)]
        return fn

    def _op_ReduceMean(self, node, a, consts, layer):
        return self._reduce(a, lambda x, ax, k: x.mean(dim=ax, keepdim=k), self.opset >= 18)

    def _op_ReduceSum(self, node, a, consts, layer):
        return self._reduce(a, lambda x, ax, k: x.sum(dim=ax, keepdim=k), self.opset >= 13)

    def _op_ReduceMax(self, node, a, consts, layer):
        return self._reduce(a, lambda x, ax, k: torch.amax(x, dim=ax, keepdim=k), self.opset >= 18)

    def _op_ReduceMin(self, node, a, consts, layer):
        return self._reduce(a, lambda x, ax, k: torch.amin(x, dim=ax, keepdim=k), self.opset >= 18)

    def _op_ReduceProd(self, node, a, consts, layer):
        def prod(x, ax, k):
            for d in sorted((v % x.dim() for v in ax), reverse=True):
                x = x.prod(dim=d, keepdim=k)
            return x
        return self._reduce(a, prod, self.opset >= 18)

    def _op_ReduceL2(self, node, a, consts, layer):
        return self._reduce(a, lambda x, ax, k: torch.sqrt((x * x).sum(dim=ax, keepdim=k)), self.opset >= 18)

    def _op_ReduceL1(self, node, a, consts, layer):
        return self._reduce(a, lambda x, ax, k: x.abs().sum(dim=ax, keepdim=k), self.opset >= 18)

    def _op_ReduceSumSquare(self, node, a, consts, layer):
        return self._reduce(a, lambda x, ax, k: (x * x).sum(dim=ax, keepdim=k), self.opset >= 18)

    def _op_LayerNormalization(self, node, a, consts, layer):
        ax, eps = a.get("axis", -1), a.get("epsilon", 1e-5)
        if len(node.output) > 1 and any(node.output[1:]):
            raise NotImplementedError("LayerNormalization mean/inv_std outputs")

        def fn(ins):
            x = ins[0]
            axn = ax + x.dim() if ax < 0 else ax
            shape = tuple(x.shape[axn:])
            sc = ins[1].expand(shape) if ins[1].shape != shape else ins[1]
            bi = ins[2] if len(ins) > 2 else None
            if bi is not None and bi.shape != shape:
                bi = bi.expand(shape)
            return [F.layer_norm(x, shape, sc, bi, eps)]
        return fn

    def _op_InstanceNormalization(self, node, a, consts, layer):
        eps = a.get("epsilon", 1e-5)
        return lambda ins: [F.instance_norm(ins[0], weight=ins[1], bias=ins[2], eps=eps)]

    def _op_Pow(self, node, a, consts, layer):
        def fn(ins):
            e = ins[1]
            if e.numel() == 1 and e.is_floating_point():
                v = e.item()
                if v == 2.0:
                    return [ins[0] * ins[0]]
                return [torch.pow(ins[0], v)]
            return [torch.pow(ins[0], e).to(ins[0].dtype)]
        return fn

    def _op_Flatten(self, node, a, consts, layer):
        ax = a.get("axis", 1)

        def fn(ins):
            x = ins[0]
            axn = ax + x.dim() if ax < 0 else ax
            return [x.reshape(int(np.prod(x.shape[:axn], dtype=np.int64)), -1)]
        return fn

    def _op_Reshape(self, node, a, consts, layer):
        allowzero = a.get("allowzero", 0)
        if self.opset < 5:
            shape0 = list(a["shape"])

        def fn(ins):
            x = ins[0]
            shp = shape0 if self.opset < 5 else _ints(ins[1])
            if not allowzero:
                shp = [x.shape[i] if v == 0 else v for i, v in enumerate(shp)]
            return [x.reshape(shp)]
        return fn

    def _op_Transpose(self, node, a, consts, layer):
        perm = a.get("perm")
        return lambda ins: [ins[0].permute(perm if perm is not None else list(reversed(range(ins[0].dim()))))]

    def _op_Squeeze(self, node, a, consts, layer):
        def fn(ins):
            x = ins[0]
            axes = a.get("axes") if self.opset < 13 else (_ints(ins[1]) if len(ins) > 1 and ins[1] is not None else None)
            if axes is None:
                axes = [i for i, s in enumerate(x.shape) if s == 1]
            keep = [s for i, s in enumerate(x.shape) if i not in {v % x.dim() for v in axes}]
            return [x.reshape(keep)]
        return fn

    def _op_Unsqueeze(self, node, a, consts, layer):
        def fn(ins):
            x = ins[0]
            axes = a["axes"] if self.opset < 13 else _ints(ins[1])
            r = x.dim() + len(axes)
            for ax in sorted(v + r if v < 0 else v for v in axes):
                x = x.unsqueeze(ax)
            return [x]
        return fn

    def _op_Concat(self, node, a, consts, layer):
        ax = a["axis"]
        return lambda ins: [torch.cat([t for t in ins if t is not None], dim=ax)]

    def _recurrent(self, node, a, consts, layer):
        """LSTM, GRU and RNN (layout 0, default activations; RNN also Relu)
        as PyTorch's own nn.LSTM/nn.GRU/nn.RNN, one per direction, loaded
        with the ONNX weights in PyTorch's gate order (ONNX LSTM i,o,f,c is
        PyTorch's i,f,g,o; GRU z,r,h is r,z,n); a reverse direction runs
        on the flipped sequence. As a quantized layer (mpq's semantics):
        X is fake-quantized, and [W | R] per row (Layer); the hidden state
        stays in floating point."""
        op = node.op_type
        W, R = consts[node.input[1]].float(), consts[node.input[2]].float()
        dirs, gh, hid = R.shape
        feat = W.shape[2]
        B = consts[node.input[3]].float() if len(node.input) > 3 and node.input[3] else torch.zeros(dirs, 2 * gh)
        acts = [_s(v) for v in a.get("activations", [])]
        direction = _s(a.get("direction", "forward"))
        if a.get("layout", 0) or a.get("clip") is not None or a.get("input_forget", 0):
            raise NotImplementedError("%s %s: layout/clip/input_forget" % (op, node.name))
        if op == "GRU" and not a.get("linear_before_reset", 0):
            raise NotImplementedError("GRU %s: linear_before_reset=0 (PyTorch's GRU is linear_before_reset=1)" % node.name)
        if op == "LSTM":
            order = [0, 2, 3, 1]
            cls = nn.LSTM
        elif op == "GRU":
            order = [1, 0, 2]
            cls = nn.GRU
        else:
            order = [0]
            cls = lambda i, h: nn.RNN(i, h, nonlinearity="relu" if acts[:1] == ["Relu"] else "tanh")
        def gates(t):
            return torch.cat([t[k * hid:(k + 1) * hid] for k in order])

        def load(W, R):
            mods = []
            for d in range(dirs):
                m = cls(feat, hid)
                with torch.no_grad():
                    m.weight_ih_l0.copy_(gates(W[d]))
                    m.weight_hh_l0.copy_(gates(R[d]))
                    m.bias_ih_l0.copy_(gates(B[d, :gh]))
                    m.bias_hh_l0.copy_(gates(B[d, gh:]))
                mods.append(m.eval())
            return mods
        float_mods = load(W, R)
        cache = {}

        def fn(ins):
            x = ins[0]
            mods = float_mods
            if layer is not None and self._observing:
                layer.observe(x)
            elif layer is not None:
                x = layer.fq_input(x)
                if layer.wbits < 32:
                    wq = layer.fq_weight()
                    if cache.get("w") is not wq:
                        cache["w"], cache["mods"] = wq, load(wq[:, :feat].reshape(dirs, gh, feat), wq[:, feat:].reshape(dirs, gh, hid))
                    mods = cache["mods"]
            h0 = ins[5] if len(ins) > 5 and ins[5] is not None else None
            c0 = ins[6] if len(ins) > 6 and ins[6] is not None else None
            ys, hs, cs = [], [], []
            for d, m in enumerate(mods):
                rev = d == 1 or direction == "reverse"
                xi = torch.flip(x, [0]) if rev else x
                st = None
                if h0 is not None or c0 is not None:
                    zero = torch.zeros(1, x.shape[1], hid)
                    hd = h0[d:d + 1] if h0 is not None else zero
                    cd = c0[d:d + 1] if c0 is not None else zero
                    st = (hd.contiguous(), cd.contiguous()) if op == "LSTM" else hd.contiguous()
                y, last = m(xi, st)
                if rev:
                    y = torch.flip(y, [0])
                ys.append(y)
                if op == "LSTM":
                    hs.append(last[0])
                    cs.append(last[1])
                else:
                    hs.append(last)
            out = [torch.stack(ys, 1), torch.cat(hs, 0)]
            if op == "LSTM":
                out.append(torch.cat(cs, 0))
            return out[:len(node.output)]
        return fn

    def _op_LSTM(self, node, a, consts, layer):
        return self._recurrent(node, a, consts, layer)

    def _op_GRU(self, node, a, consts, layer):
        return self._recurrent(node, a, consts, layer)

    def _op_RNN(self, node, a, consts, layer):
        return self._recurrent(node, a, consts, layer)

    def _op_Split(self, node, a, consts, layer):
        ax = a.get("axis", 0)
        nout = len(node.output)

        def fn(ins):
            x = ins[0]
            if self.opset < 13:
                sizes = a.get("split")
            else:
                sizes = _ints(ins[1]) if len(ins) > 1 and ins[1] is not None else None
            if sizes is None:
                d = x.shape[ax]
                c = -(-d // nout)
                sizes = [min(c, d - i * c) for i in range(nout)]
            return list(torch.split(x, list(sizes), dim=ax))
        return fn

    def _op_Pad(self, node, a, consts, layer):
        mode = _s(a.get("mode", "constant"))
        tmode = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}.get(mode)
        if tmode is None:
            raise NotImplementedError("Pad mode " + mode)

        def fn(ins):
            x = ins[0]
            r = x.dim()
            if self.opset < 11:
                pads, cv = list(a["pads"]), a.get("value", 0.0)
            else:
                pads = _ints(ins[1])
                cv = _scalar(ins[2]) if len(ins) > 2 and ins[2] is not None and ins[2].numel() else 0.0
                if len(ins) > 3 and ins[3] is not None:  # opset 18 axes
                    axes = [v % r for v in _ints(ins[3])]
                    full = [0] * (2 * r)
                    for j, ax in enumerate(axes):
                        full[ax], full[ax + r] = pads[j], pads[j + len(axes)]
                    pads = full
            padded = [i for i in range(r) if pads[i] or pads[i + r]]
            if not padded:
                return [x]
            first = min(padded)
            if tmode != "constant":
                if first < 2:
                    raise NotImplementedError("Pad mode %s on the batch or channel axis" % mode)
                first = 2
            fp = []
            for i in range(r - 1, first - 1, -1):
                fp += [pads[i], pads[i + r]]
            if tmode == "constant":
                return [F.pad(x, fp, value=float(cv))]
            return [F.pad(x, fp, mode=tmode)]
        return fn

    def _op_Slice(self, node, a, consts, layer):
        def fn(ins):
            x = ins[0]
            if self.opset < 10:
                starts, ends = list(a["starts"]), list(a["ends"])
                axes = list(a.get("axes", range(len(starts))))
                steps = [1] * len(starts)
            else:
                starts, ends = _ints(ins[1]), _ints(ins[2])
                axes = _ints(ins[3]) if len(ins) > 3 and ins[3] is not None else list(range(len(starts)))
                steps = _ints(ins[4]) if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
            for s0, e0, ax, st in zip(starts, ends, axes, steps):
                ax = ax % x.dim()
                dim = x.shape[ax]
                if st > 0:
                    s0 = min(max(s0 + dim if s0 < 0 else s0, 0), dim)
                    e0 = min(max(e0 + dim if e0 < 0 else e0, 0), dim)
                    if st == 1:
                        x = x.narrow(ax, s0, max(0, e0 - s0))
                    else:
                        idx = torch.arange(s0, e0, st, dtype=torch.int64) if e0 > s0 else torch.zeros(0, dtype=torch.int64)
                        x = x.index_select(ax, idx)
                else:
                    s0 = min(max(s0 + dim if s0 < 0 else s0, -1), dim - 1)
                    e0 = min(max(e0 + dim if e0 < 0 else e0, -1), dim - 1)
                    idx = list(range(s0, e0, st))
                    x = x.index_select(ax, torch.tensor(idx, dtype=torch.int64))
            return [x]
        return fn

    def _op_Dropout(self, node, a, consts, layer):
        nout = len(node.output)
        return lambda ins: [ins[0], torch.ones(ins[0].shape, dtype=torch.bool)][:nout]

    def _op_Identity(self, node, a, consts, layer):
        return lambda ins: [ins[0]]

    def _op_Cast(self, node, a, consts, layer):
        dt = _DTYPES[a["to"]]
        return lambda ins: [ins[0].to(dt)]

    def _op_CastLike(self, node, a, consts, layer):
        return lambda ins: [ins[0].to(ins[1].dtype)]

    def _op_If(self, node, a, consts, layer):
        """The branch the condition chooses, run on the enclosing graph's
        values (ins: the condition, then outer_reads(node))."""
        outer = outer_reads(node)
        branches = {}
        for key in ("then_branch", "else_branch"):
            g = a[key]
            local = {t.name: to_torch(numpy_helper.to_array(t)) for t in g.initializer}
            steps = [(self._build(bn, local, None), node_inputs(bn), list(bn.output)) for bn in g.node]
            branches[key] = (local, steps, [o.name for o in g.output])

        def fn(ins):
            local, steps, outs = branches["then_branch" if bool(ins[0].reshape(-1)[0]) else "else_branch"]
            env = dict(local)
            env.update(zip(outer, ins[1:]))
            for f, names, results in steps:
                for name, v in zip(results, f([env[i] if i else None for i in names])):
                    if name:
                        env[name] = v
            return [env[o] for o in outs]
        return fn

    def _op_Constant(self, node, a, consts, layer):
        if "value" in a:
            v = to_torch(numpy_helper.to_array(a["value"]))
        elif "value_float" in a:
            v = torch.tensor(a["value_float"], dtype=torch.float32)
        elif "value_floats" in a:
            v = torch.tensor(list(a["value_floats"]), dtype=torch.float32)
        elif "value_int" in a:
            v = torch.tensor(a["value_int"], dtype=torch.int64)
        elif "value_ints" in a:
            v = torch.tensor(list(a["value_ints"]), dtype=torch.int64)
        else:
            raise NotImplementedError("Constant without value/value_float(s)/value_int(s)")
        return lambda ins: [v]

    def _op_Shape(self, node, a, consts, layer):
        start, end = a.get("start", 0), a.get("end")
        return lambda ins: [torch.tensor(list(ins[0].shape)[start:end], dtype=torch.int64)]

    def _op_Size(self, node, a, consts, layer):
        return lambda ins: [torch.tensor(ins[0].numel(), dtype=torch.int64)]

    def _op_Gather(self, node, a, consts, layer):
        ax = a.get("axis", 0)

        def fn(ins):
            x, idx = ins[0], ins[1].long()
            axn = ax % x.dim()
            idx = torch.where(idx < 0, idx + x.shape[axn], idx)
            if idx.dim() == 0:
                return [x.select(axn, int(idx))]
            y = x.index_select(axn, idx.reshape(-1))
            return [y.reshape(list(x.shape[:axn]) + list(idx.shape) + list(x.shape[axn + 1:]))]
        return fn

    def _op_ConstantOfShape(self, node, a, consts, layer):
        v = to_torch(numpy_helper.to_array(a["value"])) if "value" in a else torch.zeros(1)
        return lambda ins: [torch.full(_ints(ins[0]), v.reshape(-1)[0].item(), dtype=v.dtype)]

    def _op_Expand(self, node, a, consts, layer):
        def fn(ins):
            shp = torch.broadcast_shapes(tuple(ins[0].shape), tuple(_ints(ins[1])))
            return [ins[0].expand(shp)]
        return fn

    def _op_Tile(self, node, a, consts, layer):
        return lambda ins: [ins[0].repeat(_ints(ins[1]))]

    def _op_Einsum(self, node, a, consts, layer):
        eq = a["equation"]
        eq = eq.decode() if isinstance(eq, bytes) else eq
        if layer is not None:  # a linear layer: layer.weight is [out, in]
            back = (lambda w: w) if _einsum_linear(eq, 2) == 0 else (lambda w: w.t())
            return self._wrap_layer(layer, lambda x, w, ins: torch.einsum(eq, x, back(w)))
        return lambda ins: [torch.einsum(eq, *ins)]

    def _op_CumSum(self, node, a, consts, layer):
        excl, rev = a.get("exclusive", 0), a.get("reverse", 0)

        def fn(ins):
            x, ax = ins[0], _ints(ins[1])[0]
            v = x.flip(ax) if rev else x
            y = v.cumsum(ax)
            if excl:
                y = y - v
            return [y.flip(ax) if rev else y]
        return fn

    def _op_ReduceLogSumExp(self, node, a, consts, layer):
        return self._reduce(a, lambda x, ax, k: torch.logsumexp(x, dim=ax, keepdim=k), self.opset >= 18)

    def _op_DepthToSpace(self, node, a, consts, layer):
        b, mode = a["blocksize"], a.get("mode", b"DCR")
        mode = mode.decode() if isinstance(mode, bytes) else mode

        def fn(ins):
            x = ins[0]
            n, c, h, w = x.shape
            if mode == "CRD":
                t = x.reshape(n, c // (b * b), b, b, h, w).permute(0, 1, 4, 2, 5, 3)
            else:
                t = x.reshape(n, b, b, c // (b * b), h, w).permute(0, 3, 4, 1, 5, 2)
            return [t.reshape(n, c // (b * b), h * b, w * b)]
        return fn

    def _op_SpaceToDepth(self, node, a, consts, layer):
        b = a["blocksize"]

        def fn(ins):
            x = ins[0]
            n, c, h, w = x.shape
            t = x.reshape(n, c, h // b, b, w // b, b).permute(0, 3, 5, 1, 2, 4)
            return [t.reshape(n, c * b * b, h // b, w // b)]
        return fn

    def _op_Resize(self, node, a, consts, layer):
        """Resize nearest or linear, axis by axis, inputs clamped to the edge."""
        dec = lambda v, d: (v.decode() if isinstance(v, bytes) else v) if v is not None else d  # noqa: E731
        mode = dec(a.get("mode"), "nearest")
        coord = dec(a.get("coordinate_transformation_mode"), "half_pixel")
        nearest = dec(a.get("nearest_mode"), "round_prefer_floor")
        if mode not in ("nearest", "linear"):
            raise NotImplementedError("Resize mode %s" % mode)
        opset = self.opset

        def fn(ins):
            x = ins[0]
            if opset < 11:
                scales, sizes, cm = [float(v) for v in ins[1].reshape(-1)], None, "asymmetric"
            else:
                scales = ins[2] if len(ins) > 2 and ins[2] is not None and ins[2].numel() else None
                sizes = ins[3] if len(ins) > 3 and ins[3] is not None and ins[3].numel() else None
                scales = [float(v) for v in scales.reshape(-1)] if scales is not None else None
                cm = coord
            y = x
            for d in range(x.dim()):
                n_in = x.shape[d]
                if sizes is not None:
                    n_out = int(sizes.reshape(-1)[d])
                    sc = n_out / n_in
                else:
                    sc = scales[d]
                    n_out = int(math.floor(n_in * sc))
                o = torch.arange(n_out, dtype=torch.float64)
                if cm == "half_pixel":
                    xo = (o + 0.5) / sc - 0.5
                elif cm == "pytorch_half_pixel":
                    xo = (o + 0.5) / sc - 0.5 if n_out > 1 else torch.zeros_like(o)
                elif cm == "align_corners":
                    xo = o * (n_in - 1) / (n_out - 1) if n_out > 1 else torch.zeros_like(o)
                elif cm == "asymmetric":
                    xo = o / sc
                elif cm == "tf_half_pixel_for_nn":
                    xo = (o + 0.5) / sc
                else:
                    raise NotImplementedError("Resize coordinate_transformation_mode %s" % cm)
                lo = torch.floor(xo)
                if mode == "nearest":
                    tie = (xo - lo) == 0.5
                    idx = {"floor": lo, "ceil": torch.ceil(xo),
                           "round_prefer_ceil": torch.where(tie, torch.ceil(xo), torch.round(xo)),
                           "round_prefer_floor": torch.where(tie, lo, torch.round(xo))}[nearest]
                    y = y.index_select(d, idx.long().clamp(0, n_in - 1))
                    continue
                f = (xo - lo).to(x.dtype)
                i0 = lo.long().clamp(0, n_in - 1)
                i1 = (lo.long() + 1).clamp(0, n_in - 1)
                shp = [1] * x.dim()
                shp[d] = -1
                f = f.reshape(shp)
                y = y.index_select(d, i0) * (1 - f) + y.index_select(d, i1) * f
            return [y]
        return fn

    def _op_Range(self, node, a, consts, layer):
        def fn(ins):
            dt = ins[0].dtype
            return [torch.arange(_scalar(ins[0]), _scalar(ins[1]), _scalar(ins[2]), dtype=dt)]
        return fn

    def _op_Where(self, node, a, consts, layer):
        return lambda ins: [torch.where(ins[0].bool(), ins[1], ins[2])]

    def _op_Not(self, node, a, consts, layer):
        return lambda ins: [torch.logical_not(ins[0])]

    def _variadic(self, f):
        def fn(ins):
            y = ins[0]
            for t in ins[1:]:
                y = f(y, t)
            return [y]
        return fn

    def _op_Sum(self, node, a, consts, layer):
        return self._variadic(torch.add)

    def _op_Max(self, node, a, consts, layer):
        return self._variadic(torch.maximum)

    def _op_Min(self, node, a, consts, layer):
        return self._variadic(torch.minimum)

    def _op_Mean(self, node, a, consts, layer):
        s = self._variadic(torch.add)
        return lambda ins: [s(ins)[0] / len(ins)]

    def _op_ArgMax(self, node, a, consts, layer):
        ax, keep = a.get("axis", 0), bool(a.get("keepdims", 1))
        return lambda ins: [torch.argmax(ins[0], dim=ax, keepdim=keep)]


def _div(a, b):
    if not a.is_floating_point() and not b.is_floating_point():
        return torch.div(a, b, rounding_mode="trunc")
    return a / b


_UNARY = {
    "Sigmoid": torch.sigmoid, "Tanh": torch.tanh, "HardSwish": F.hardswish, "Softsign": F.softsign,
    "Erf": torch.erf, "Exp": torch.exp, "Log": torch.log, "Sqrt": torch.sqrt, "Abs": torch.abs,
    "Neg": torch.neg, "Reciprocal": torch.reciprocal, "Floor": torch.floor, "Ceil": torch.ceil,
    "Sign": torch.sign, "Sin": torch.sin, "Cos": torch.cos, "Round": torch.round, "Mish": F.mish,
}
_BINARY = {
    "Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": _div,
    "Equal": torch.eq, "Less": torch.lt, "Greater": torch.gt, "LessOrEqual": torch.le,
    "GreaterOrEqual": torch.ge, "And": torch.logical_and, "Or": torch.logical_or,
}


# ---- MNIST helpers shared with bench_torch_onnx.py ----

def sample_shape(module):
    """Per-sample input shape and fixed batch (None if symbolic) of the first data input."""
    _, dims = module.inputs[0]
    if not dims:
        raise ValueError("the ONNX input has no declared shape")
    if any(d is None for d in dims[1:]):
        raise ValueError("the ONNX input has symbolic non-batch dims: %r" % (dims,))
    return tuple(dims[1:]), dims[0]


def as_input(module, x):
    """MNIST batch N x 1 x 28 x 28 -> the model's input shape (e.g. N x 784)."""
    shp, _ = sample_shape(module)
    return x.reshape((x.shape[0],) + shp)


def mnist_calibration(module, count=512):
    """mpq's default calibration set: the first `count` training images."""
    import mnist
    images, _ = mnist.load("train")
    return as_input(module, torch.from_numpy(mnist.normalize(images[:count])))


def load(path, wbits=32, abits=32, calib_count=512, **kw):
    """OnnxModule in eval mode; calibrated on MNIST when quantizing activations."""
    m = OnnxModule(path, wbits=wbits, abits=abits, **kw).eval()
    if any(l.abits < 32 for l in m.layers):
        m.calibrate(mnist_calibration(m, calib_count))
    return m


# ---- cross-check ----

def _check(paths, use_ref=True, accuracy=True):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import json
    import mnist
    import models as repo_models
    torch.set_num_threads(2)
    te_img, te_lab = mnist.load("t10k")
    x64 = torch.from_numpy(mnist.normalize(te_img[:64]))
    ok = True
    for path in paths:
        stem = os.path.splitext(os.path.basename(path))[0]
        mdl = onnx.load(path)
        try:
            m = OnnxModule(mdl).eval()
        except NotImplementedError as e:
            print("%-14s executor: %s" % (stem, e))
            ok = False
            continue
        _, fixed = sample_shape(m)
        line = "%-14s" % stem
        xin = as_input(m, x64)
        with torch.no_grad():
            if fixed is not None:
                y = torch.cat([m(xin[i:i + fixed]) for i in range(0, 64, fixed)])
            else:
                y = m(xin)
        if use_ref:
            import onnx_ref
            try:
                if fixed is not None:
                    ref = np.concatenate([list(onnx_ref.run(mdl, {m.inputs[0][0]: xin[i:i + fixed].numpy()}).values())[0]
                                          for i in range(0, 64, fixed)])
                else:
                    ref = list(onnx_ref.run(mdl, {m.inputs[0][0]: xin.numpy()}).values())[0]
                d = float(np.abs(y.numpy() - ref).max())
                ok &= d < 1e-4
                line += " vs onnx_ref %.2e" % d
            except Exception as e:  # onnx_ref lacks an op
                line += " vs onnx_ref skipped (%s: %s)" % (type(e).__name__, e)
        if stem in repo_models.MODELS and os.path.dirname(os.path.abspath(path)) == os.path.join(mnist.REPO_ROOT, "testdata", "models"):
            ref_m = repo_models.load(stem, os.path.dirname(os.path.abspath(path)))
            with torch.no_grad():
                yt = ref_m(repo_models.prepare_input(stem, x64))
            d = float((y - yt).abs().max())
            ok &= d < 1e-4
            line += " | vs models.py nn.Module %.2e" % d
        mq = load(path, 8, 8)
        line += " | folded BN %d, layers %d" % (len(mq.folded_bn), len(mq.layers))
        if accuracy:
            xt = as_input(m, torch.from_numpy(mnist.normalize(te_img)))
            yt_lab = torch.from_numpy(te_lab)
            correct = {}
            for mode, mm in (("fp32", m), ("w8a8", mq)):
                c = 0
                step = fixed or 1000
                with torch.no_grad():
                    for i in range(0, xt.shape[0], step):
                        c += int((mm(xt[i:i + step]).argmax(1) == yt_lab[i:i + step]).sum())
                correct[mode] = c
            line += " | acc fp32 %.4f w8a8 %.4f" % (correct["fp32"] / 1e4, correct["w8a8"] / 1e4)
            golden = os.path.join(mnist.REPO_ROOT, "testdata", "golden", stem + ".plans.json")
            if os.path.dirname(os.path.abspath(path)) == os.path.join(mnist.REPO_ROOT, "testdata", "models") \
                    and os.path.exists(golden):
                gl = {p["name"]: p for p in json.load(open(golden))}
                if "w8a8" in gl:
                    line += " (golden w8a8 %.4f, %+d images)" % (gl["w8a8"]["accuracy"],
                                                                 correct["w8a8"] - gl["w8a8"]["correct"])
        print(line, flush=True)
    return ok


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if not args:
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        d = os.path.join(here, "testdata", "models")
        args = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".onnx"))
    sys.exit(0 if _check(args, "--no-ref" not in sys.argv, "--no-accuracy" not in sys.argv) else 1)
