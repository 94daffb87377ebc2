#!/usr/bin/python3
"""Build the operator zoo: tiny randomly initialised (seeded) models that
exercise every ONNX op mpq must support, exported to testdata/opzoo/.

Run from the repo root:   /usr/bin/python3 scripts/make_opzoo.py
Rebuild some models only: /usr/bin/python3 scripts/make_opzoo.py --only prelu,layernorm_op17
(the files of the others and their manifest entries are left as they are).

For every model <name>:
  <name>.onnx          the export (dynamic batch axis on input/output)
  <name>.input.npy     float32 input, batch 3, seeded standard normal
  <name>.output.npy    float32 PyTorch output (eval mode) for that input
and, for models whose output is N x K (logits / probabilities):
  <name>.labels.npy    int64 labels, seeded
  <name>.grads.npz     (models without BatchNormalization only) gradient of
                       mean cross-entropy(output, labels) -- the output taken
                       as logits, i.e. F.cross_entropy(output, labels) -- with
                       respect to every Conv/Gemm/MatMul weight initializer,
                       keyed by the ONNX initializer name. Initializers that
                       torch stored transposed (MatMul from bias-free
                       nn.Linear) get the transposed gradient, so every array
                       has the initializer's shape.
testdata/opzoo/manifest.json lists models, opsets, ops, shapes, and flags.

Every export is also re-run with the numpy reference interpreter
scripts/onnx_ref.py and compared with PyTorch's output, so the fixtures are
checked against an implementation that does not share PyTorch kernels.
Models are exported with a batch-2 dummy and checked at batch 3, which also
proves the batch axis is really dynamic.
"""
import argparse
import copy
import io
import json
import os
import random
import sys
import warnings

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_ref  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "testdata", "opzoo")
BATCH = 3
SEED = 20240
warnings.filterwarnings("ignore")


def seed_all(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# --------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------

class ConvVariants(nn.Module):
    """Conv: bias/no-bias, groups, depthwise, stride, asymmetric pad (ZeroPad2d), dilation, non-square."""
    in_shape = (3, 16, 16)

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)                            # bias
        self.c2 = nn.Conv2d(8, 8, 3, padding=1, groups=2, bias=False)      # grouped, no bias
        self.c3 = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)        # depthwise stride 2
        self.pad = nn.ZeroPad2d((1, 2, 0, 1))                              # left,right,top,bottom
        self.c4 = nn.Conv2d(8, 12, 3, dilation=2, bias=False)              # dilation 2
        self.c5 = nn.Conv2d(12, 16, (3, 1), stride=(2, 1), padding=(1, 0))  # non-square kernel/stride
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = F.relu(self.c1(x))
        x = F.relu(self.c2(x))
        x = F.relu(self.c3(x))
        x = F.relu(self.c4(self.pad(x)))
        x = F.relu(self.c5(x))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(torch.flatten(x, 1))


class GemmMatMul(nn.Module):
    """Gemm (Linear transB=1, addmm transB=0 with alpha/beta), MatMul with constant
    K x N weight, bias-free Linear (MatMul, transposed initializer), batched MatMul
    3-D x 2-D and activation x activation."""
    in_shape = (20,)

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(20, 16)
        self.w_addmm = nn.Parameter(torch.randn(16, 12) * 0.3)   # K x N -> Gemm transB=0
        self.b_addmm = nn.Parameter(torch.randn(12) * 0.1)
        self.w_mm = nn.Parameter(torch.randn(12, 12) * 0.3)      # x @ W -> MatMul
        self.w_bmm = nn.Parameter(torch.randn(4, 6) * 0.5)       # (N,3,4) @ (4,6)
        self.fc_nb = nn.Linear(12, 10, bias=False)               # MatMul with W^T initializer
        self.fc_out = nn.Linear(9, 10)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        h = F.relu(torch.addmm(self.b_addmm, h, self.w_addmm, beta=0.5, alpha=2.0))
        h = torch.tanh(h @ self.w_mm)
        a = self.fc_nb(h)
        z = torch.tanh(h.reshape(-1, 3, 4) @ self.w_bmm)          # batched MatMul
        zz = z @ z.transpose(1, 2)                                # activation x activation
        b = self.fc_out(zz.view(zz.size(0), -1))
        return a + b


class Elementwise(nn.Module):
    """Add/Sub/Mul/Div with broadcasting (constants and activations) and all the
    pointwise activations."""
    in_shape = (4, 8, 8)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, padding=1)
        self.se = nn.Conv2d(8, 8, 1)
        self.proj = nn.Conv2d(8, 1, 1)
        self.c_add = nn.Parameter(torch.randn(8, 1, 1) * 0.5)     # broadcast constants
        self.c_mul = nn.Parameter(torch.rand(1, 8, 1, 1) + 0.5)
        self.c_div = nn.Parameter(torch.rand(8, 1, 1) + 0.5)
        self.c_sub = nn.Parameter(torch.randn(8) * 0.2)          # broadcasts on the last axis (W=8)
        self.fc = nn.Linear(8 * 9, 10)

    def forward(self, x):
        y = self.conv(x)
        y = (y + self.c_add) * self.c_mul                  # Add, Mul with constants
        y = y / self.c_div - self.c_sub                    # Div, Sub with constants
        y = y - 0.25                                       # scalar constant
        g = torch.sigmoid(self.se(F.adaptive_avg_pool2d(y, 1)))
        y = y * g                                          # N,C,H,W * N,C,1,1
        y = y - self.proj(y)                               # N,C,H,W - N,1,H,W
        y = y / (1.0 + torch.sigmoid(y))                   # Div between activations
        feats = [
            F.relu(y),
            F.leaky_relu(y, 0.1),
            F.relu6(y * 4.0),                              # Clip(0,6)
            F.hardtanh(y, -0.5, 0.5),                      # Clip(-0.5,0.5)
            torch.sigmoid(y),
            torch.tanh(y),
            F.hardsigmoid(y),
            F.hardswish(y),                                # HardSwish (opset>=14) or HardSigmoid*x
            y + y * y,                                     # Add/Mul between activations
        ]
        pooled = [F.adaptive_avg_pool2d(f, 1).flatten(1) for f in feats]
        return self.fc(torch.cat(pooled, 1))


class Pooling(nn.Module):
    """MaxPool (pad, stride, ceil_mode), AveragePool (count_include_pad True/False,
    padding), GlobalAveragePool, Flatten."""
    in_shape = (3, 16, 16)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.mp_ceil = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)    # 16 -> 9
        self.ap_excl = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)  # 9 -> 9
        self.ap_incl = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=True)   # 9 -> 5
        self.mp = nn.MaxPool2d(2)                                               # 5 -> 2
        self.ap2 = nn.AvgPool2d((2, 3), stride=(1, 2), padding=(1, 1), count_include_pad=False)
        self.fc = nn.Linear(8 * 4 + 8, 10)

    def forward(self, x):
        x = F.relu(self.conv(x))
        x = self.mp_ceil(x)
        a = self.ap_excl(x)
        b = self.ap_incl(a)
        c = self.mp(b)                       # N,8,2,2
        d = F.adaptive_avg_pool2d(self.ap2(a), 1)   # GlobalAveragePool
        return self.fc(torch.cat([torch.flatten(c, 1), torch.flatten(d, 1)], 1))


class ShapeOps(nn.Module):
    """Concat of two conv branches, Transpose (permute and back), Reshape with a
    constant shape and with the x.size(0) chain, Flatten."""
    in_shape = (4, 6, 6)

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(4, 6, 3, padding=1)
        self.b = nn.Conv2d(4, 6, 1)
        self.fc1 = nn.Linear(432, 10)
        self.fc2 = nn.Linear(432, 10)
        self.fc3 = nn.Linear(432, 10)

    def forward(self, x):
        h = torch.cat([F.relu(self.a(x)), torch.tanh(self.b(x))], 1)   # N,12,6,6
        h = h.permute(0, 2, 3, 1)                                          # NHWC
        h = F.leaky_relu(h, 0.2)
        h = h.permute(0, 3, 1, 2).clone()                                  # back to NCHW
        l1 = self.fc1(h.view(h.size(0), -1))                               # Shape/Gather/Unsqueeze/Concat->Reshape
        l2 = self.fc2(torch.flatten(h, 1))                                 # Flatten
        l3 = self.fc3(h.reshape(-1, 12, 36).reshape(-1, 432))              # constant-shape Reshape
        return l1 + l2 - l3


class PadOps(nn.Module):
    """F.pad constant (non-zero value), reflect and replicate (edge)."""
    in_shape = (3, 10, 10)

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 6, 3)
        self.c2 = nn.Conv2d(6, 6, 3)
        self.c3 = nn.Conv2d(6, 8, 3)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = F.relu(self.c1(F.pad(x, (1, 2, 0, 1), mode="constant", value=0.5)))
        x = F.relu(self.c2(F.pad(x, (2, 1, 1, 2), mode="reflect")))
        x = F.relu(self.c3(F.pad(x, (1, 1, 2, 0), mode="replicate")))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class SoftmaxHead(nn.Module):
    in_shape = (16,)

    def __init__(self, log=False):
        super().__init__()
        self.log = log
        self.fc1 = nn.Linear(16, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        z = self.fc2(F.relu(self.fc1(x)))
        if self.log:
            return F.log_softmax(z, dim=1)
        # A Softmax that ends the graph is read at its input by mpq (the
        # logits; engine's TestExportVariants): the scale keeps this one on
        # the output's path, so that its forward and backward are checked.
        return 4.0 * F.softmax(z, dim=1)


class BNPreserve(nn.Module):
    """BatchNormalization kept (2-D after Conv and 1-D after Linear); Dropout in eval."""
    in_shape = (3, 12, 12)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.fc1 = nn.Linear(8, 16)
        self.bn1d = nn.BatchNorm1d(16)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(16, 10)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        x = F.relu6(self.bn2(self.dw(x)))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        x = self.drop(F.relu(self.bn1d(self.fc1(x))))
        return self.fc2(x)


class IdentityDropout(nn.Module):
    """Linear -> ReLU -> Dropout -> Identity -> Linear. torch drops Dropout and
    Identity from the export; they are re-inserted by graph surgery."""
    in_shape = (12,)

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(12, 16)
        self.drop = nn.Dropout(0.5)
        self.id = nn.Identity()
        self.fc2 = nn.Linear(16, 10)

    def forward(self, x):
        h = self.id(self.drop(F.relu(self.fc1(x))))
        return self.fc2(h.clone())


class SmallCNN11(nn.Module):
    """For the opset-11 export: Clip/Pad/Unsqueeze take the opset-11 forms."""
    in_shape = (1, 14, 14)

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 3, padding=1)
        self.c2 = nn.Conv2d(6, 8, 3)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = F.relu6(self.c1(x))
        x = F.max_pool2d(x, 2)                          # 7x7
        x = F.pad(x, (1, 0, 1, 0))                      # 8x8
        x = F.relu(self.c2(x))                          # 6x6
        x = F.avg_pool2d(x, 2, stride=1, padding=0)     # 5x5
        x = F.max_pool2d(x, 2, stride=1)                # 4x4
        x = x.view(x.size(0), -1)
        return self.fc(x)


class SmallCNN17(nn.Module):
    """For the opset-17 export: HardSwish, depthwise, LeakyRelu, Sigmoid, GAP, logits."""
    in_shape = (3, 12, 12)

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pw = nn.Conv2d(8, 16, 1, bias=False)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = F.hardswish(self.c1(x))
        x = F.leaky_relu(self.dw(x), 0.05)
        x = torch.sigmoid(self.pw(x))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


class SmoothActivations(nn.Module):
    """ELU, SELU, CELU, Softplus, Softsign, Mish and GELU (erf and tanh forms)
    side by side on the output of a Linear."""
    in_shape = (16,)

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16, 12)
        self.acts = nn.ModuleList([nn.ELU(0.7), nn.SELU(), nn.CELU(1.3), nn.Softplus(), nn.Softsign(),
                                   nn.Mish(), nn.GELU(), nn.GELU(approximate="tanh")])
        self.fc2 = nn.Linear(12 * 8, 10)

    def forward(self, x):
        h = self.fc1(x) * 2.0
        return self.fc2(torch.cat([act(h) for act in self.acts], 1))


class MathOps(nn.Module):
    """Exp, Log, Sqrt, Abs, Neg, Reciprocal, Pow (x^2, x^3, x^0.5), Max and Min
    (torch.maximum / torch.minimum, the latter with a constant)."""
    in_shape = (16,)

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16, 12)
        self.c_min = nn.Parameter(torch.randn(12) * 0.3)
        self.fc2 = nn.Linear(12 * 11, 10)

    def forward(self, x):
        h = self.fc1(x) * 2.0
        pos = h.abs() + 0.5
        feats = [
            torch.exp(h * 0.5),
            torch.log(pos),
            torch.sqrt(pos),
            torch.abs(h),
            torch.neg(h),
            torch.reciprocal(pos),
            h.pow(2),
            h.pow(3),
            pos.pow(0.5),
            torch.maximum(h, -0.5 * h),
            torch.minimum(h, self.c_min),
        ]
        return self.fc2(torch.cat(feats, 1))


class PReLUNet(nn.Module):
    """nn.PReLU per channel after a Conv (slope C x 1 x 1), single (slope 1 x 1 x 1)
    and per feature after a Linear (slope C)."""
    in_shape = (3, 8, 8)

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.p1 = nn.PReLU(8)
        self.c2 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.p2 = nn.PReLU()
        self.fc1 = nn.Linear(8, 16)
        self.p3 = nn.PReLU(16)
        self.fc2 = nn.Linear(16, 10)
        with torch.no_grad():  # distinct slopes, some negative (the default is 0.25 everywhere)
            for p in (self.p1, self.p2, self.p3):
                p.weight.uniform_(-0.3, 0.6)

    def forward(self, x):
        x = self.p1(self.c1(x))
        x = self.p2(self.c2(x))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc2(self.p3(self.fc1(x)))


class TokenMixer(nn.Module):
    """Transformer-style block on N x 6 x 8 tokens: Linear (MatMul + Add),
    LayerNorm over the last axis and over the last two, GELU, mean and sum
    over the tokens."""
    in_shape = (6, 8)

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.ln1 = nn.LayerNorm(16)
        self.fc2 = nn.Linear(16, 16)
        self.ln2 = nn.LayerNorm((6, 16), eps=1e-3)
        self.head = nn.Linear(32, 10)
        with torch.no_grad():  # LayerNorm starts at scale 1, bias 0
            for ln in (self.ln1, self.ln2):
                ln.weight.uniform_(0.5, 1.5)
                ln.bias.normal_(0, 0.2)

    def forward(self, x):
        h = F.gelu(self.ln1(self.fc1(x)))
        h = self.ln2(h + self.fc2(h))
        return self.head(torch.cat([h.mean(1), h.sum(1) * 0.1], 1))


class NormsAndMaxima(nn.Module):
    """GroupNorm (Reshape, InstanceNormalization, Reshape, Mul, Add),
    InstanceNorm2d with affine weights, torch.chunk and torch.split (Split,
    equal and uneven), amax over the spatial axes and a channel amin
    (ReduceMax, ReduceMin), AdaptiveMaxPool2d(1) (GlobalMaxPool)."""
    in_shape = (2, 9, 9)

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 8, 3, padding=1)
        self.gn = nn.GroupNorm(2, 8)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1, bias=False)
        self.inorm = nn.InstanceNorm2d(6, affine=True)
        self.gmp = nn.AdaptiveMaxPool2d(1)
        self.head = nn.Linear(4 + 2 + 4 + 1, 10)
        with torch.no_grad():  # the norms start at scale 1, bias 0
            for m in (self.gn, self.inorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)

    def forward(self, x):
        h = F.relu(self.gn(self.conv1(x)))
        a, b = torch.chunk(h, 2, dim=1)
        h2 = self.inorm(self.conv2(a * torch.sigmoid(b)))
        p, q = torch.split(h2, [2, 4], dim=1)
        feats = [torch.amax(a, dim=(2, 3)), torch.flatten(self.gmp(p), 1),
                 torch.amax(q, dim=(2, 3)) + 0.1 * torch.sum(q, dim=(2, 3)),
                 torch.amin(h2, dim=1).mean(dim=(1, 2)).unsqueeze(1)]
        return self.head(torch.cat([feats[0], feats[1], feats[2], feats[3]], 1))


class NormsSign(nn.Module):
    """A cosine classifier (F.normalize: ReduceL2, Clip, Expand of the norm
    to the features' shape, Div), torch.norm(p=1) (ReduceL1), x.pow(2).sum
    and torch.sign (Sign, no gradient) on a flat input."""
    in_shape = (12,)

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(12, 16)
        self.b = nn.Linear(16, 10, bias=False)
        self.c = nn.Linear(16, 10)

    def forward(self, x):
        h = self.a(x)
        cos = self.b(F.normalize(h, dim=1)) * 5
        l1 = torch.norm(h, p=1, dim=1, keepdim=True)
        return cos + 0.1 * self.c(torch.sign(h)) + 0.01 * l1 + 0.001 * h.pow(2).sum(1, keepdim=True)


class WhereMasks(nn.Module):
    """Activations written with comparisons: torch.where(h > 0, h, 0.1 h)
    (Greater, Where), a mask (h >= 0.5).float() * h (GreaterOrEqual, or
    Not(Less) below opset 12, then Cast), and a clamp through torch.where
    with a constant branch (Less, Where)."""
    in_shape = (12,)

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(12, 16)
        self.b = nn.Linear(16, 10)

    def forward(self, x):
        h = self.a(x)
        h = torch.where(h > 0, h, 0.1 * h) + (h >= 0.5).float() * h
        h = torch.where(h < -1, torch.full_like(h, -1.0), h)
        return self.b(h)


class SignHead(nn.Module):
    """MNIST-shaped (784 inputs) Linear, torch.sign, Linear: no gradient
    reaches the first layer's weights (the sensitivity analysis notes it)."""
    in_shape = (784,)

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(784, 8)
        self.b = nn.Linear(8, 10)

    def forward(self, x):
        return self.b(torch.sign(self.a(x)))


class Conv1dNet(nn.Module):
    """Sequences (N x 6 x 20): Conv1d, grouped, strided and dilated Conv1d,
    MaxPool1d with ceil_mode, AvgPool1d with padding, F.pad on the length,
    mean over it. (No BatchNorm1d: the exporter would fold it into the
    weights, which the gradient check maps back to parameters by value.)"""
    in_shape = (6, 20)

    def __init__(self):
        super().__init__()
        self.a = nn.Conv1d(6, 8, 5, padding=2, bias=False)
        self.b = nn.Conv1d(8, 8, 3, stride=2, padding=1, groups=2)
        self.c = nn.Conv1d(8, 12, 3, dilation=2)
        self.head = nn.Linear(12, 10)

    def forward(self, x):
        x = F.max_pool1d(F.relu(self.a(x)), 3, stride=2, ceil_mode=True)  # 20 -> 10
        x = F.avg_pool1d(torch.tanh(self.b(x)), 2, padding=1)  # 5 -> 3
        x = F.relu(self.c(F.pad(x, (2, 3))))  # 8 -> 4
        return self.head(x.mean(2))


class TinyViT(nn.Module):
    """Vision-transformer pieces: a strided patch Conv, a class token
    broadcast over the batch (cls.expand(x.shape[0], -1, -1): an Expand
    whose shape comes from the input's), position embeddings, one
    self-attention (activation x activation MatMuls, Softmax), LayerNorm and
    the class token read back by x[:, 0] (Gather on activations)."""
    in_shape = (1, 12, 12)

    def __init__(self, d=8):
        super().__init__()
        self.patch = nn.Conv2d(1, d, 4, stride=4)
        self.cls = nn.Parameter(torch.randn(1, 1, d))
        self.pos = nn.Parameter(torch.randn(1, 10, d) * 0.5)
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, 10)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
        a = torch.softmax(self.q(x) @ self.k(x).transpose(1, 2) / 8 ** 0.5, -1)
        x = self.norm(x + a @ self.v(x))
        return self.head(x[:, 0])


class StatsTile(nn.Module):
    """Per-channel statistics a user writes by hand: torch.std and torch.var
    (the element count as ReduceProd of the input's Shape, folded when
    planned), torch.logsumexp (ReduceLogSumExp), torch.cumsum forwards and
    on a flipped tensor (CumSum, Slice with step -1), x.repeat (Tile)."""
    in_shape = (2, 8, 8)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 6, 3, padding=1)
        self.head = nn.Linear(6 + 1 + 6 + 6 + 6 + 12, 10)

    def forward(self, x):
        h = F.relu(self.conv(x))
        m = h.mean((2, 3))
        feats = [h.std((2, 3)), h.var(1).mean((1, 2)).unsqueeze(1),
                 torch.logsumexp(h.flatten(2), 2) - 4, torch.cumsum(m, 1) * 0.3,
                 torch.cumsum(m.flip(1), 1) * 0.3, m.repeat(1, 2)]
        return self.head(torch.cat(feats, 1))


class Resample(nn.Module):
    """Upsampling and resampling: nn.PixelShuffle (DepthToSpace, CRD),
    F.interpolate bilinear down by half (half_pixel) and to a size with
    align_corners and without (Resize linear), nearest up by 2 and to a
    size (asymmetric, floor). ('nearest-exact' does not export in torch
    1.13.)"""
    in_shape = (2, 6, 6)

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 8, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)
        self.conv2 = nn.Conv2d(2, 4, 3, stride=4)
        self.head = nn.Linear(72 + 50 + 98 + 144 + 162, 10)

    def forward(self, x):
        h = self.shuffle(torch.tanh(self.conv1(x)))  # 2 x 12 x 12
        feats = [F.interpolate(h, scale_factor=0.5, mode="bilinear", align_corners=False),
                 F.interpolate(h, size=(5, 5), mode="bilinear", align_corners=True),
                 F.interpolate(h, size=(7, 7), mode="nearest"),
                 self.conv2(F.interpolate(h, scale_factor=2, mode="nearest")),
                 F.interpolate(h, size=(9, 9), mode="bilinear", align_corners=False)]
        return self.head(torch.cat([f.flatten(1) for f in feats], 1))


class EinsumNet(nn.Module):
    """torch.einsum as hand-written attention and layers use it: scores
    'bid,bjd->bij', mixing 'bij,bjd->bid', a batched projection with an
    ellipsis and a parameter '...d,de->...e', a transpose-sum 'bid->bd',
    and an implicit output 'bi,bi'."""
    in_shape = (6, 8)

    def __init__(self):
        super().__init__()
        self.q = nn.Linear(8, 8)
        self.k = nn.Linear(8, 8)
        self.proj = nn.Parameter(torch.randn(8, 5) * 0.3)
        self.head = nn.Linear(5 * 6 + 8 + 6, 10)

    def forward(self, x):
        a = torch.einsum("bid,bjd->bij", self.q(x), self.k(x)).softmax(-1)
        h = torch.einsum("bij,bjd->bid", a, x)
        p = torch.einsum("...d,de->...e", h, self.proj)
        s = torch.einsum("bid->bd", h)
        d = torch.einsum("bi,bi->bi", x.mean(2), h.mean(2))
        return self.head(torch.cat([p.flatten(1), s, d], 1))


class ConvTransposeNet(nn.Module):
    """nn.ConvTranspose2d as decoders and upsampling heads use it: stride 2
    with padding and output_padding, grouped without bias, dilated with an
    asymmetric stride, and nn.ConvTranspose1d."""
    in_shape = (4, 5, 5)

    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1)  # 10 x 10
        self.grouped = nn.ConvTranspose2d(6, 4, 2, stride=2, groups=2, bias=False)  # 20 x 20
        self.dil = nn.ConvTranspose2d(4, 3, (3, 2), stride=(1, 2), dilation=(2, 1), padding=(1, 0))
        self.seq = nn.ConvTranspose1d(4, 2, 4, stride=3, padding=1, output_padding=2)
        self.head = nn.Linear(3 + 2, 10)

    def forward(self, x):
        h = self.grouped(torch.relu(self.up(x)))
        a = self.dil(torch.tanh(h)).mean((2, 3))
        b = self.seq(x.mean(3)).mean(2)
        return self.head(torch.cat([a, b], 1))


class TorchAttention(nn.Module):
    """PyTorch's own attention modules: nn.MultiheadAttention (batch_first,
    two heads; its export splits the packed in-projection with Slice and
    runs the heads through Reshape/Transpose/MatMul/Softmax) inside one
    nn.TransformerEncoderLayer (post-norm, ReLU feed-forward)."""
    in_shape = (5, 8)

    def __init__(self):
        super().__init__()
        self.mha = nn.MultiheadAttention(8, 2, batch_first=True)
        self.layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        h, _ = self.mha(x, x, x, need_weights=False)
        return self.head(self.layer(x + h).mean(1))


class ConvTransposeBN(nn.Module):
    """BatchNorm after ConvTranspose, which torch.onnx leaves in the graph
    (it folds Conv+BatchNorm only) and mpq folds: grouped 2-D with bias,
    and 1-D without."""
    in_shape = (4, 5, 5)

    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, groups=2)
        self.bn = nn.BatchNorm2d(6)
        self.seq = nn.ConvTranspose1d(4, 3, 3, stride=2, bias=False)
        self.bn1 = nn.BatchNorm1d(3)
        self.head = nn.Linear(6 + 3, 10)

    def forward(self, x):
        a = torch.relu(self.bn(self.up(x))).mean((2, 3))
        b = torch.relu(self.bn1(self.seq(x.mean(3)))).mean(2)
        return self.head(torch.cat([a, b], 1))


class ShrinkTrig(nn.Module):
    """nn.Hardshrink (Abs, Greater, Or of masks at torch 1.13's export,
    Where), torch.floor and torch.round (no gradient) added to the
    activation, and sin/cos features."""
    in_shape = (12,)

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(12, 16)
        self.shrink = nn.Hardshrink(0.3)
        self.b = nn.Linear(16 * 3, 10)

    def forward(self, x):
        h = self.a(x)
        q = h + 0.1 * torch.floor(2 * h) + 0.1 * torch.round(3 * h)
        return self.b(torch.cat([self.shrink(q), torch.sin(2 * h), torch.cos(h)], 1))


class WeightFirst(nn.Module):
    """A parameter multiplying from the left, torch.matmul(W, x) (MatMul
    with the constant first: a layer W @ x, channels on axis 0), beside
    an ordinary Linear."""
    in_shape = (6, 5)

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 6) * 0.4)
        self.head = nn.Linear(4 * 5, 10)

    def forward(self, x):
        return self.head(torch.tanh(torch.matmul(self.w, x)).flatten(1))


class DedupCopies(nn.Module):
    """Modules that are deep copies of each other, left at their (equal)
    initial values: an nn.TransformerEncoder of two layers and two copies
    of a Linear block. torch.onnx keeps one initializer per distinct value
    and feeds the copies through Identity nodes; each copy is still its own
    layer."""
    in_shape = (5, 8)

    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        block = nn.Sequential(nn.Linear(8, 8), nn.Tanh())
        self.blocks = nn.Sequential(block, copy.deepcopy(block))
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        return self.head(self.blocks(self.enc(x)).mean(1))


class Recurrent(nn.Module):
    """nn.LSTM (two layers), a bidirectional nn.GRU whose initial state is
    computed from the input, and a ReLU nn.RNN, batch_first, after a Linear
    on each step whose gradient flows back through all three; the head
    reads the RNN's last step and the GRU's final states (Y_h)."""
    in_shape = (5, 6)

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(6, 8)
        self.lstm = nn.LSTM(8, 7, num_layers=2, batch_first=True)
        self.init = nn.Linear(6, 10)
        self.gru = nn.GRU(7, 5, batch_first=True, bidirectional=True)
        self.rnn = nn.RNN(10, 4, nonlinearity="relu", batch_first=True)
        self.head = nn.Linear(4 + 10, 10)

    def forward(self, x):
        h, _ = self.lstm(torch.tanh(self.proj(x)))
        h0 = torch.tanh(self.init(x.mean(1))).reshape(-1, 2, 5).transpose(0, 1).contiguous()
        g, gh = self.gru(h, h0)
        r, _ = self.rnn(g)
        return self.head(torch.cat([r[:, -1], gh.transpose(0, 1).flatten(1)], 1))


class Pool3DLRN(nn.Module):
    """nn.LocalResponseNorm (torch.onnx writes it as a 3-D AveragePool over
    the channels of x² and an If that squeezes the pooled dimension when it
    is 1), a channel max (MaxPool3d over depth: maxout) and a 3-D pool over
    height and width, each on a 5-D view of a 4-D map."""
    in_shape = (3, 8, 8)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.lrn = nn.LocalResponseNorm(3, alpha=0.1, beta=0.75, k=1.0)
        self.maxout = nn.MaxPool3d((2, 1, 1), stride=(2, 1, 1))
        self.hw = nn.AvgPool3d((1, 2, 2), stride=(1, 2, 2))
        self.fc = nn.Linear(6 * 4 * 4 + 3 * 8 * 8, 10)

    def forward(self, x):
        h = self.lrn(torch.relu(self.conv(x)))
        m = self.maxout(h.unsqueeze(1)).squeeze(1)  # N x 3 x 8 x 8
        a = self.hw(h.unsqueeze(1)).squeeze(1)      # N x 6 x 4 x 4
        return self.fc(torch.cat([a.flatten(1), m.flatten(1)], 1))


# --------------------------------------------------------------------------
# graph surgery helpers
# --------------------------------------------------------------------------

def fuse_pad_into_conv(model):
    """Replace Pad(constant 0, spatial only) -> Conv with a Conv carrying
    asymmetric pads [top, left, bottom, right]. Expects folded constants."""
    g = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    fused = 0
    remove = []
    for n in g.node:
        if n.op_type != "Pad":
            continue
        a = {x.name: helper.get_attribute_value(x) for x in n.attribute}
        if a.get("mode", b"constant") not in (b"constant", "constant"):
            continue
        pads = [int(v) for v in inits[n.input[1]]]
        cv = float(inits[n.input[2]]) if len(n.input) > 2 and n.input[2] else 0.0
        if cv != 0.0 or pads[0] or pads[1] or pads[4] or pads[5]:
            continue
        cons = consumers.get(n.output[0], [])
        if len(cons) != 1 or cons[0].op_type != "Conv":
            continue
        conv = cons[0]
        cp = [0, 0, 0, 0]
        for at in conv.attribute:
            if at.name == "pads":
                cp = list(at.ints)
        new = [cp[0] + pads[2], cp[1] + pads[3], cp[2] + pads[6], cp[3] + pads[7]]
        keep = [at for at in conv.attribute if at.name != "pads"]
        del conv.attribute[:]
        conv.attribute.extend(keep + [helper.make_attribute("pads", new)])
        conv.input[0] = n.input[0]
        remove.append(n)
        fused += 1
    for n in remove:
        g.node.remove(n)
    used = {i for n in g.node for i in n.input}
    inits_keep = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(inits_keep)
    if not fused:
        raise RuntimeError("no Pad fused")
    return model


def insert_passthrough(model, op_type, after_op, nth=0):
    """Insert a single-input pass-through node (Identity, or an inference-mode
    Dropout: opset 13 with no ratio/training_mode inputs) after the nth node of
    type after_op. torch removes Dropout/Identity from eval exports, so graph
    surgery is the only way to get them."""
    g = model.graph
    seen = 0
    for idx, n in enumerate(g.node):
        if n.op_type != after_op:
            continue
        if seen < nth:
            seen += 1
            continue
        src = n.output[0]
        new_out = "%s_%s" % (src, op_type.lower())
        for m in g.node[idx + 1:]:
            for k, i in enumerate(m.input):
                if i == src:
                    m.input[k] = new_out
        g.node.insert(idx + 1, helper.make_node(op_type, [src], [new_out], name="%s_inserted" % op_type))
        return model
    raise RuntimeError("no %s node" % after_op)


# --------------------------------------------------------------------------
# export / grads / checks
# --------------------------------------------------------------------------

def export(model, opset, output_name, preserve_bn=False, fixed_batch=None):
    model.eval()
    dummy = torch.randn((fixed_batch or 2,) + tuple(model.in_shape))
    kw = dict(opset_version=opset, input_names=["input"], output_names=[output_name],
              dynamic_axes={"input": {0: "batch"}, output_name: {0: "batch"}})
    if fixed_batch:
        del kw["dynamic_axes"]
    if preserve_bn:
        kw.update(training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    f = io.BytesIO()
    torch.onnx.export(model, dummy, f, **kw)
    return onnx.load_from_string(f.getvalue())


def weight_grads(model, onnx_model, x, labels):
    """Gradient of F.cross_entropy(model(x), labels) for every Conv/Gemm/MatMul
    weight initializer, matched to torch parameters by value."""
    inits = {t.name: numpy_helper.to_array(t) for t in onnx_model.graph.initializer}
    names = []
    for n in onnx_model.graph.node:
        if n.op_type in ("Conv", "ConvTranspose", "Gemm") and len(n.input) > 1 and n.input[1] in inits:
            names.append(n.input[1])
        elif n.op_type == "MatMul":
            names += [i for i in n.input if i in inits]
        elif n.op_type == "Einsum" and len(n.input) == 2 and n.input[1] in inits:
            names.append(n.input[1])
    model.eval()
    model.zero_grad()
    loss = F.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(labels))
    loss.backward()
    params = [(pn, p) for pn, p in model.named_parameters()]
    grads = {}
    for name in dict.fromkeys(names):
        val = inits[name]
        hits = []
        for pn, p in params:
            pv = p.detach().numpy()
            if pv.shape == val.shape and np.array_equal(pv, val):
                hits.append((pn, p.grad.numpy().copy()))
            elif pv.ndim == 2 and pv.T.shape == val.shape and np.array_equal(pv.T, val):
                hits.append((pn + "^T", p.grad.numpy().T.copy()))
        if len(hits) != 1:
            raise RuntimeError("initializer %s matched %d parameters" % (name, len(hits)))
        grads[name] = hits[0][1].astype(np.float32)
    grads.update(recurrent_grads(onnx_model, inits, params))
    return grads


# ONNX gate k of each recurrent op is PyTorch's gate ONNX_FROM_TORCH[op][k]
# (LSTM: ONNX i,o,f,c, PyTorch i,f,g,o; GRU: ONNX z,r,h, PyTorch r,z,n).
ONNX_FROM_TORCH = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN": [0]}


def recurrent_grads(onnx_model, inits, params):
    """The gradient of each LSTM/GRU/RNN's quantizable weight as mpq holds
    it: rows (direction, gate unit) of [W | R], keyed "<W>+<R>" (mpq's name
    for it), from the PyTorch weight_ih/weight_hh whose values, in ONNX's
    gate order, are the node's W and R."""
    out = {}
    byname = dict(params)
    for n in onnx_model.graph.node:
        if n.op_type not in ONNX_FROM_TORCH or len(n.input) < 3 or n.input[1] not in inits:
            continue
        W, R = inits[n.input[1]], inits[n.input[2]]
        dirs, gh, _ = W.shape
        hid = R.shape[2]
        order = ONNX_FROM_TORCH[n.op_type]

        def onnx_rows(t):
            return np.concatenate([t[k * hid:(k + 1) * hid] for k in order])
        rows = []
        for d in range(dirs):
            hits = [pn for pn, p in params if ".weight_ih_l" in pn and p.shape == W[d].shape
                    and np.array_equal(onnx_rows(p.detach().numpy()), W[d])]
            if len(hits) != 1:
                raise RuntimeError("%s direction %d: W matched %d parameters" % (n.name, d, len(hits)))
            hh = byname[hits[0].replace(".weight_ih_l", ".weight_hh_l")]
            if not np.array_equal(onnx_rows(hh.detach().numpy()), R[d]):
                raise RuntimeError("%s direction %d: R is not %s" % (n.name, d, hits[0]))
            gi = onnx_rows(byname[hits[0]].grad.numpy())
            rows.append(np.concatenate([gi, onnx_rows(hh.grad.numpy())], 1))
        out[n.input[1] + "+" + n.input[2]] = np.concatenate(rows).astype(np.float32)
    return out


def graph_ops(m):
    seen = []
    for n in m.graph.node:
        if n.op_type not in seen:
            seen.append(n.op_type)
    return seen


class Manifest:
    """The entries of manifest.json in build order. With only (a set of
    names), the other models are not written: they keep their files and
    their entry of the existing manifest."""

    def __init__(self, only=None):
        self.entries = []
        self.only = only
        self.seen = set()
        self.old = {}
        if only is not None:
            with open(os.path.join(OUT, "manifest.json")) as f:
                self.old = {e["name"]: e for e in json.load(f)["models"]}

    def keep(self, name):
        """Reports whether name is left as it is (and keeps its entry)."""
        self.seen.add(name)
        if self.only is None or name in self.only:
            return False
        if name not in self.old:
            raise RuntimeError("%s is not in manifest.json yet: add it to --only" % name)
        self.entries.append(self.old[name])
        return True

    def append(self, entry):
        self.entries.append(entry)


def save(name, model, onnx_model, x, out, opset, with_grads, notes, manifest, grads=None):
    if manifest.keep(name):
        return None
    onnx.checker.check_model(onnx_model)
    path = os.path.join(OUT, name + ".onnx")
    onnx.save(onnx_model, path)
    np.save(os.path.join(OUT, name + ".input.npy"), x)
    np.save(os.path.join(OUT, name + ".output.npy"), out)
    # independent check with the numpy reference interpreter, at batch 3
    ref = list(onnx_ref.run(onnx_model, {"input": x}).values())[0]
    err = float(np.abs(ref - out).max())
    tol = 1e-4 * max(1.0, float(np.abs(out).max()))
    if ref.shape != out.shape or err > tol:
        raise RuntimeError("%s: numpy reference differs from torch: max abs %.3g (shape %s vs %s)"
                           % (name, err, ref.shape, out.shape))
    entry = {
        "name": name,
        "file": name + ".onnx",
        "opset": opset,
        "ops": sorted(set(graph_ops(onnx_model))),
        "node_count": len(onnx_model.graph.node),
        "input_name": onnx_model.graph.input[0].name,
        "input_shape": list(x.shape),
        "output_name": onnx_model.graph.output[0].name,
        "output_shape": list(out.shape),
        "labels": False,
        "grads": False,
        "ref_max_abs_diff": err,
        "notes": notes,
    }
    if out.ndim == 2:
        rng = np.random.RandomState(SEED + 7)
        labels = rng.randint(0, out.shape[1], size=out.shape[0]).astype(np.int64)
        np.save(os.path.join(OUT, name + ".labels.npy"), labels)
        entry["labels"] = True
        if with_grads:
            if grads is None:
                grads = weight_grads(model, onnx_model, x, labels)
            np.savez(os.path.join(OUT, name + ".grads.npz"), **grads)
            entry["grads"] = True
            entry["grad_keys"] = sorted(grads)
            entry["loss"] = float(F.cross_entropy(torch.from_numpy(out).double(), torch.from_numpy(labels)).item())
    entry["size_bytes"] = os.path.getsize(path)
    manifest.append(entry)
    print("%-18s opset %-2d ops=%s grads=%s diff=%.2g" % (name, opset, entry["ops"], entry["grads"], err), flush=True)
    return entry


def make_input(model, seed):
    rng = np.random.RandomState(seed)
    return rng.standard_normal((BATCH,) + tuple(model.in_shape)).astype(np.float32)


def randomize_bn(model):
    g = torch.Generator().manual_seed(SEED + 99)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.2)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.3)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def torch_out(model, x):
    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy().astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", help="comma-separated model names to rebuild; the others stay as they are")
    args = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(OUT, exist_ok=True)
    manifest = Manifest(set(args.only.split(",")) if args.only else None)

    # (name, constructor, opset, output name, flags)
    plain = [
        ("conv_variants", ConvVariants, 13, "logits", "Conv variants; asymmetric pad as a Pad node before Conv"),
        ("gemm_matmul", GemmMatMul, 13, "logits", "Gemm transB=1 and transB=0 alpha=2 beta=0.5; MatMul const, transposed-init, batched, act x act"),
        ("elementwise", Elementwise, 13, "logits", "broadcast arithmetic; HardSwish decomposed to HardSigmoid*x at opset 13"),
        ("elementwise_op14", Elementwise, 14, "logits", "same network as elementwise, opset 14 so HardSwish is a single op"),
        ("pooling", Pooling, 13, "logits", "MaxPool ceil_mode/pads; AveragePool count_include_pad=0 with pads; count_include_pad=1 exports as Pad+AveragePool"),
        ("shape_ops", ShapeOps, 13, "logits", "Concat, Transpose pair, Reshape const and size(0) chain, Flatten (clone() is dropped by the exporter)"),
        ("pad_ops", PadOps, 13, "logits", "raw torch export: pads computed by a constant sub-graph (ConstantOfShape/Slice/...)"),
        ("softmax_head", lambda: SoftmaxHead(False), 13, "output", "output is 4 x Softmax probabilities; grads use F.cross_entropy(output) as if logits"),
        ("logsoftmax_head", lambda: SoftmaxHead(True), 13, "output", "output is LogSoftmax; grads use F.cross_entropy(output)"),
        ("opset11_cnn", SmallCNN11, 11, "logits", "opset 11: Clip min/max and Pad pads as inputs, Unsqueeze axes as attribute"),
        ("opset17_cnn", SmallCNN17, 17, "logits", "opset 17 export"),
    ]
    built = {}
    for i, (name, ctor, opset, oname, notes) in enumerate(plain):
        seed_all(SEED + i)
        model = ctor()
        model.eval()
        x = make_input(model, SEED + 1000 + i)
        om = export(model, opset, oname)
        out = torch_out(model, x)
        built[name] = (model, om, x, out)
        save(name, model, om, x, out, opset, True, notes, manifest)

    # pad_ops with the pad constant sub-graphs folded into initializers
    model, om, x, out = built["pad_ops"]
    folded = onnx_ref.fold_constants(om)
    save("pad_ops_folded", model, folded, x, out, 13, True,
         "pad_ops with constant sub-graphs pre-evaluated: Pad takes initializer pads", manifest)

    # Conv with asymmetric pads attribute: ZeroPad2d fused into the Conv
    model, om, x, out = built["conv_variants"]
    fused = fuse_pad_into_conv(onnx_ref.fold_constants(om))
    save("conv_asympad", model, fused, x, out, 13, True,
         "conv_variants with the zero Pad fused into Conv pads=[0,1,1,2] (graph surgery)", manifest)

    # BatchNormalization kept
    seed_all(SEED + 50)
    model = BNPreserve()
    randomize_bn(model)
    model.eval()
    x = make_input(model, SEED + 1050)
    om = export(model, 13, "logits", preserve_bn=True)
    save("bn_preserve", model, om, x, torch_out(model, x), 13, False,
         "exported with TrainingMode.PRESERVE, no constant folding: BatchNormalization on 4-D and 2-D; no grads", manifest)

    # Identity + Dropout (inference) nodes
    seed_all(SEED + 51)
    model = IdentityDropout()
    model.eval()
    x = make_input(model, SEED + 1051)
    om = export(model, 13, "logits")
    om = insert_passthrough(om, "Dropout", "Relu")
    om = insert_passthrough(om, "Identity", "Dropout")
    save("identity_dropout", model, om, x, torch_out(model, x), 13, True,
         "Dropout (inference) and Identity inserted by graph surgery after the Relu (torch drops nn.Dropout, nn.Identity and clone() from eval exports)", manifest)

    # Activations and normalizations PyTorch users bring (seeds after the
    # ones above, so that adding models leaves the others unchanged).
    later = [
        ("activations_smooth", SmoothActivations, 13, "logits", "ELU, SELU, CELU, Softplus, Softsign, Mish, GELU and GELU(approximate='tanh') as torch 1.13 exports them at opset 13"),
        ("activations_math", MathOps, 13, "logits", "exp, log, sqrt, abs, neg, reciprocal, pow 2/3/0.5 (constant exponent), maximum, minimum with a constant"),
        ("prelu", PReLUNet, 13, "logits", "nn.PReLU per channel (slope C x 1 x 1), single (1 x 1 x 1) and per feature on 2-D input (C)"),
        ("layernorm_op11", TokenMixer, 11, "logits", "nn.LayerNorm below opset 17: ReduceMean/Sub/Pow/Sqrt/Div; ReduceSum with the axes attribute"),
        ("layernorm_op13", TokenMixer, 13, "logits", "nn.LayerNorm below opset 17: ReduceMean/Sub/Pow/Sqrt/Div; ReduceSum with the axes input"),
        ("layernorm_op17", TokenMixer, 17, "logits", "nn.LayerNorm at opset 17: LayerNormalization over the last axis and the last two"),
        ("norms_maxima_op11", NormsAndMaxima, 11, "logits", "GroupNorm, InstanceNorm2d, torch.chunk/split (Split with the split attribute), amax/amin (ReduceMax/ReduceMin), AdaptiveMaxPool2d(1)"),
        ("norms_maxima_op13", NormsAndMaxima, 13, "logits", "the same at opset 13: Split sizes as input 1"),
        ("tiny_vit", TinyViT, 13, "logits", "patch Conv, class token Expand to the batch, position Add, attention MatMuls, LayerNorm decomposed, x[:, 0] as Gather"),
        ("norms_sign", NormsSign, 13, "logits", "F.normalize (ReduceL2, Expand on activations), torch.norm p=1 (ReduceL1), torch.sign"),
        ("where_masks_op11", WhereMasks, 11, "logits", "torch.where and comparison masks at opset 11: Greater, Less, Not, Cast, Where on activations"),
        ("where_masks_op13", WhereMasks, 13, "logits", "the same at opset 13: GreaterOrEqual"),
        ("sign_head", SignHead, 13, "logits", "Linear, Sign, Linear on 784 inputs: the first layer gets no gradient"),
        ("conv1d", Conv1dNet, 13, "logits", "Conv1d (grouped, strided, dilated), MaxPool1d ceil_mode, AvgPool1d with padding, Pad on the length"),
        ("stats_tile", StatsTile, 13, "logits", "torch.std/var (ReduceProd of a Shape), logsumexp, cumsum (and of a flip), repeat (Tile)"),
        ("resample_op11", Resample, 11, "logits", "PixelShuffle (DepthToSpace CRD), F.interpolate bilinear/nearest, scales and sizes, at opset 11"),
        ("resample_op13", Resample, 13, "logits", "the same at opset 13"),
        ("einsum", EinsumNet, 13, "logits", "torch.einsum: attention scores and mixing, ellipsis with a parameter, a sum, elementwise"),
        ("conv_transpose", ConvTransposeNet, 13, "logits", "ConvTranspose 2-D (output_padding, groups, dilation, asymmetric stride) and 1-D"),
        ("torch_attention", TorchAttention, 14, "logits", "nn.MultiheadAttention and nn.TransformerEncoderLayer as torch 1.13 exports them at opset 14"),
        ("shrink_trig", ShrinkTrig, 13, "logits", "nn.Hardshrink (Or of masks), torch.floor/round (no gradient), sin, cos"),
        ("weight_first", WeightFirst, 13, "logits", "torch.matmul(W, x) with a parameter W: MatMul whose constant is its first operand"),
    ]
    for i, (name, ctor, opset, oname, notes) in enumerate(later):
        seed_all(SEED + 60 + i)
        model = ctor()
        model.eval()
        x = make_input(model, SEED + 1060 + i)
        om = export(model, opset, oname)
        save(name, model, om, x, torch_out(model, x), opset, True, notes, manifest)

    # BatchNorm after ConvTranspose (kept by the exporter, folded by mpq):
    # outputs only, as the gradients are with respect to the folded weights.
    seed_all(SEED + 90)
    model = ConvTransposeBN()
    randomize_bn(model)
    model.eval()
    x = make_input(model, SEED + 1090)
    om = export(model, 13, "logits")
    save("convt_bn", model, om, x, torch_out(model, x), 13, False,
         "ConvTranspose 2-D (grouped) and 1-D each followed by a kept BatchNormalization, which mpq folds; no grads", manifest)

    # Deep copies at equal values: torch.onnx's deduplicated initializers
    # (Identity nodes). Outputs only: the gradients are per parameter, and
    # equal values cannot tell the copies' parameters apart.
    seed_all(SEED + 91)
    model = DedupCopies()
    model.eval()
    x = make_input(model, SEED + 1091)
    om = export(model, 14, "logits")
    save("dedup_copies", model, om, x, torch_out(model, x), 14, False,
         "deep-copied modules at equal values (nn.TransformerEncoder's layers, a copied Linear): weights fed through Identity of one initializer; no grads", manifest)

    # 3-D pools with a trivial side, and nn.LocalResponseNorm's If.
    seed_all(SEED + 93)
    model = Pool3DLRN()
    model.eval()
    x = make_input(model, SEED + 1093)
    om = export(model, 13, "logits")
    save("pool3d_lrn", model, om, x, torch_out(model, x), 13, True,
         "nn.LocalResponseNorm (3-D AveragePool over channels, If on a shape), MaxPool3d over depth, AvgPool3d over height and width, at opset 13", manifest)

    # Recurrent layers (float in every plan), with gradients through time.
    seed_all(SEED + 92)
    model = Recurrent()
    model.eval()
    x = make_input(model, SEED + 1092)
    om = export(model, 14, "logits")
    save("recurrent", model, om, x, torch_out(model, x), 14, True,
         "nn.LSTM (2 layers), bidirectional nn.GRU with a computed initial state, ReLU nn.RNN, batch_first, at opset 14", manifest)
    # The same module exported with a fixed batch of 4 (no dynamic_axes):
    # the LSTM's and RNN's zero initial states are constants for 4 samples
    # expanded to the input's batch; checked at batch 4, and sample by
    # sample by TestRecurrentFixedBatch.
    x4 = np.concatenate([x, x[:1] * 0.5])
    om = export(model, 14, "logits", fixed_batch=4)
    save("recurrent_fixed4", model, om, x4, torch_out(model, x4), 14, False,
         "the recurrent model exported with a fixed batch of 4 (constant initial states for 4 samples)", manifest)

    if manifest.only and manifest.only - manifest.seen:
        raise SystemExit("--only: no model named %s" % ", ".join(sorted(manifest.only - manifest.seen)))
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump({"batch": BATCH, "seed": SEED, "models": manifest.entries}, f, indent=1)
        f.write("\n")
    all_ops = sorted({o for e in manifest.entries for o in e["ops"]})
    print("all ops:", all_ops)


if __name__ == "__main__":
    main()
