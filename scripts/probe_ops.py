#!/usr/bin/python3
"""Export small untrained MNIST-shaped classifiers written the way tutorials
write them, and report which ones mpq loads.

    /usr/bin/python3 scripts/probe_ops.py --mpq /tmp/mpq [--out DIR] [names...]

Each model is a few lines around one construct (nn.LSTM, nn.Upsample,
nn.ConvTranspose2d, nn.PixelShuffle, torch.einsum, nn.LocalResponseNorm,
x.repeat, torch.logsumexp, torch.std, torch.cumsum, nn.MultiheadAttention,
nn.TransformerEncoder, ...), exported at opset 14 with a dynamic batch.
It checks loading only; scripts/make_opzoo.py and make_unseen.py check
numbers.
"""
import argparse
import os
import subprocess

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
class RNN(nn.Module):
    def __init__(s, kind):
        super().__init__(); s.r = getattr(nn, kind)(28, 32, batch_first=True); s.fc = nn.Linear(32, 10)
    def forward(s, x):
        y, _ = s.r(x.view(-1, 28, 28)); return s.fc(y[:, -1])
class Up(nn.Module):
    def __init__(s, mode):
        super().__init__(); s.c = nn.Conv2d(1, 4, 3, stride=2, padding=1); s.u = nn.Upsample(scale_factor=2, mode=mode); s.fc = nn.Linear(4*28*28, 10)
    def forward(s, x): return s.fc(torch.flatten(s.u(F.relu(s.c(x))), 1))
class CT(nn.Module):
    def __init__(s):
        super().__init__(); s.c = nn.Conv2d(1, 4, 3, stride=2, padding=1); s.t = nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1); s.fc = nn.Linear(3*28*28, 10)
    def forward(s, x): return s.fc(torch.flatten(F.relu(s.t(F.relu(s.c(x)))), 1))
class PS(nn.Module):
    def __init__(s):
        super().__init__(); s.c = nn.Conv2d(1, 8, 3, stride=2, padding=1); s.p = nn.PixelShuffle(2); s.u = nn.PixelUnshuffle(2); s.fc = nn.Linear(8*14*14, 10)
    def forward(s, x): return s.fc(torch.flatten(s.u(s.p(F.relu(s.c(x)))), 1))
class Ein(nn.Module):
    def __init__(s):
        super().__init__(); s.q = nn.Linear(28, 16); s.k = nn.Linear(28, 16); s.fc = nn.Linear(28*28, 10)
    def forward(s, x):
        x = x.view(-1, 28, 28); a = torch.einsum('bid,bjd->bij', s.q(x), s.k(x)).softmax(-1); return s.fc(torch.einsum('bij,bjd->bid', a, x).flatten(1))
class LRN(nn.Module):
    def __init__(s):
        super().__init__(); s.c = nn.Conv2d(1, 8, 5, stride=2); s.n = nn.LocalResponseNorm(3); s.fc = nn.Linear(8*12*12, 10)
    def forward(s, x): return s.fc(torch.flatten(s.n(F.relu(s.c(x))), 1))
class Rep(nn.Module):
    def __init__(s):
        super().__init__(); s.fc = nn.Linear(784*2, 10)
    def forward(s, x): return s.fc(x.flatten(1).repeat(1, 2))
class LSE(nn.Module):
    def __init__(s):
        super().__init__(); s.fc = nn.Linear(784, 40)
    def forward(s, x): return torch.logsumexp(s.fc(x.flatten(1)).view(-1, 10, 4), dim=2)
class AdMax(nn.Module):
    def __init__(s):
        super().__init__(); s.c = nn.Conv2d(1, 8, 3); s.p = nn.AdaptiveAvgPool2d(2); s.fc = nn.Linear(32, 10)
    def forward(s, x): return s.fc(torch.flatten(s.p(F.relu(s.c(x))), 1))
class MHA(nn.Module):
    def __init__(s):
        super().__init__(); s.e = nn.Linear(28, 32); s.a = nn.MultiheadAttention(32, 4, batch_first=True); s.fc = nn.Linear(32, 10)
    def forward(s, x):
        h = s.e(x.view(-1, 28, 28)); y, _ = s.a(h, h, h, need_weights=False); return s.fc(y.mean(1))
class TEL(nn.Module):
    def __init__(s):
        super().__init__(); s.e = nn.Linear(28, 32); s.t = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, batch_first=True, dropout=0.0), 2); s.fc = nn.Linear(32, 10)
    def forward(s, x): return s.fc(s.t(s.e(x.view(-1, 28, 28))).mean(1))
class Norm(nn.Module):
    def __init__(s):
        super().__init__(); s.fc = nn.Linear(784, 64); s.o = nn.Linear(64, 10)
    def forward(s, x): return s.o(F.normalize(F.relu(s.fc(x.flatten(1))), dim=1) * 10)
class Cum(nn.Module):
    def __init__(s):
        super().__init__(); s.fc = nn.Linear(784, 10)
    def forward(s, x): return torch.cumsum(s.fc(x.flatten(1)), 1)
class Bil(nn.Module):
    def __init__(s):
        super().__init__(); s.a = nn.Linear(784, 16); s.b = nn.Bilinear(16, 16, 10)
    def forward(s, x): h = torch.tanh(s.a(x.flatten(1))); return s.b(h, h)
class Emb(nn.Module):
    def __init__(s):
        super().__init__(); s.c = nn.Conv2d(1, 8, 3, stride=2); s.pos = nn.Parameter(torch.randn(1, 8, 13, 13)); s.fc = nn.Linear(8*169, 10)
    def forward(s, x): return s.fc((F.hardtanh(s.c(x)) + s.pos).flatten(1))
class Std(nn.Module):
    def __init__(s):
        super().__init__(); s.c = nn.Conv2d(1, 8, 3, stride=2); s.fc = nn.Linear(16, 10)
    def forward(s, x):
        h = F.relu(s.c(x)); return s.fc(torch.cat([h.mean((2, 3)), h.std((2, 3))], 1))
class VarMax(nn.Module):
    def __init__(s):
        super().__init__(); s.c = nn.Conv2d(1, 8, 3, stride=2); s.fc = nn.Linear(8, 10)
    def forward(s, x):
        h = F.relu(s.c(x)); return s.fc(h.flatten(2).max(2).values - h.flatten(2).min(2).values)
class Tied(nn.Module):
    def __init__(s):
        super().__init__(); s.a = nn.Linear(784, 64); s.b = nn.Linear(64, 64); s.fc = nn.Linear(64, 10)
    def forward(s, x):
        h = F.relu(s.b(F.relu(s.a(x.flatten(1)))))
        return s.fc(F.relu(s.b(h)))  # the same Linear twice: mpq refuses a weight two layers read
class Act(nn.Module):
    """A Conv, one activation or pooling module, a Linear."""
    def __init__(s, mod, flat=8 * 13 * 13):
        super().__init__(); s.c = nn.Conv2d(1, 8, 3, stride=2); s.m = mod; s.fc = nn.LazyLinear(10)
    def forward(s, x):
        return s.fc(torch.flatten(s.m(s.c(x)), 1))
class Fn(nn.Module):
    """A Conv, a function of its output, a Linear."""
    def __init__(s, f):
        super().__init__(); s.c = nn.Conv2d(1, 8, 3, stride=2); s.f = f; s.fc = nn.LazyLinear(10)
    def forward(s, x):
        return s.fc(torch.flatten(s.f(s.c(x)), 1))
def act(mod):
    m = Act(mod)
    m(torch.randn(2, 1, 28, 28))  # materialize the LazyLinear
    return m
def fn(f):
    m = Fn(f)
    m(torch.randn(2, 1, 28, 28))
    return m
small = dict(
    logsigmoid=act(nn.LogSigmoid()), softshrink=act(nn.Softshrink()), hardshrink=act(nn.Hardshrink()),
    tanhshrink=act(nn.Tanhshrink()), threshold=act(nn.Threshold(0.1, 0.0)), relu6=act(nn.ReLU6()),
    softmin=act(nn.Softmin(dim=1)), glu=act(nn.GLU(dim=1)), rrelu=act(nn.RReLU()),
    maxpool_ceil=act(nn.MaxPool2d(2, ceil_mode=True)), avgpool_ceil=act(nn.AvgPool2d(2, ceil_mode=True)),
    adaptive_7=act(nn.AdaptiveAvgPool2d(7)), adaptive_max_3=act(nn.AdaptiveMaxPool2d(3)),
    lppool=act(nn.LPPool2d(2, 2)), softmax2d=act(nn.Softmax2d()),
    rsqrt=fn(lambda h: torch.rsqrt(h * h + 1)), square=fn(lambda h: torch.square(h) + h ** 2),
    floor=fn(lambda h: torch.floor(h) + h), round=fn(lambda h: torch.round(h) + h), sin=fn(lambda h: torch.sin(h)),
    clamp=fn(lambda h: torch.clamp(h, -1, 1)), var_mean=fn(lambda h: torch.var_mean(h, dim=1)[0]),
    minimum=fn(lambda h: torch.minimum(h, h.flip(1))), argmax_gather=fn(lambda h: h.max(dim=1, keepdim=True)[0]),
)
models = dict(tied=Tied(), **small, lstm=RNN('LSTM'), gru=RNN('GRU'), rnn=RNN('RNN'), up_nearest=Up('nearest'), up_bilinear=Up('bilinear'), convT=CT(), pixshuf=PS(), einsum=Ein(), lrn=LRN(), repeat=Rep(), logsumexp=LSE(), adapool=AdMax(), mha=MHA(), tel=TEL(), normalize=Norm(), cumsum=Cum(), bilinear=Bil(), hardtanh_pos=Emb(), std=Std(), maxmin=VarMax())
ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--out", default="/tmp/mpq-probe")
ap.add_argument("--mpq", help="an mpq binary: run `mpq inspect` on each model")
ap.add_argument("names", nargs="*")
args = ap.parse_args()
os.makedirs(args.out, exist_ok=True)
for name, m in models.items():
    if args.names and name not in args.names:
        continue
    path = os.path.join(args.out, name + ".onnx")
    try:
        torch.onnx.export(m.eval(), torch.randn(2, 1, 28, 28), path, input_names=['input'], output_names=['logits'],
                          dynamic_axes={'input': {0: 'b'}, 'logits': {0: 'b'}}, opset_version=14)
    except Exception as e:  # noqa: BLE001 (an op the exporter lacks)
        print("%-14s export fails: %s" % (name, str(e).splitlines()[0][:90]))
        continue
    if args.mpq:
        r = subprocess.run([args.mpq, "inspect", path], capture_output=True, text=True)
        last = (r.stdout + r.stderr).strip().splitlines()[-1]
        print("%-14s %s" % (name, "loads" if r.returncode == 0 else last[:110]))
