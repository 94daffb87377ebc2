#!/usr/bin/python3
"""Train and export MNIST models that mpq's tests and tuning never saw.

Run with the Debian interpreter (python3-torch, python3-onnx):

    /usr/bin/python3 scripts/make_unseen.py [--out DIR] [--only a,b]

Writes DIR/<name>.onnx (default DIR: /tmp/mpq-unseen) and DIR/<name>.yaml,
a study config in the shape of configs/*.yaml that points at the repo's
MNIST files. scripts/unseen_check.sh runs the whole CLI on them.

These are deliberately *not* the shipped fixtures: other layer mixes
(BatchNorm kept or folded, BatchNorm1d after Linear, depthwise-separable
blocks with ReLU6/Hardswish and a squeeze-excite gate, an inception-style
Concat, classic LeNet-5 with Tanh and average pooling, GELU/ELU/LeakyReLU
MLPs with LogSoftmax outputs, a fixed batch-1 export, LeakyReLU, SiLU,
Mish and SELU with 3x3 pooling, GroupNorm and InstanceNorm with a
torch.chunk gate and amax pooling, Conv1d over the image's rows, a
ShuffleNet channel shuffle, a SqueezeNet fire module, DenseNet's
BatchNorm-before-Conv concatenations, torch.where activations, a cosine
classifier, torch.sign, F.interpolate and PixelShuffle, std/logsumexp
pooling with Tile and CumSum, attention and layers in torch.einsum, ConvTranspose2d decoders, a
token-mixing torch.matmul(W, x), an LSTM over the image's rows, a
bidirectional GRU after a Conv front end, a vision transformer of
nn.TransformerEncoder layers), other opsets
(11, 13, 17) and other seeds, exported the way a user would export them
(`torch.onnx.export(model.eval(), ...)`).
"""
import argparse
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnist  # noqa: E402

REPO = mnist.REPO_ROOT


class VGGBN(nn.Module):
    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()

        def blk(i, o):
            return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *blk(1, 16), *blk(16, 16), nn.MaxPool2d(2),
            *blk(16, 32), *blk(32, 32), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.2), nn.Linear(32 * 7 * 7, 64), nn.BatchNorm1d(64),
            nn.ReLU(), nn.Linear(64, 10),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


class SE(nn.Module):
    def __init__(self, c, r=4):
        super().__init__()
        self.fc1 = nn.Conv2d(c, c // r, 1)
        self.fc2 = nn.Conv2d(c // r, c, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(s))))
        return x * s


class Mobile(nn.Module):
    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()

        def dws(i, o, s):
            return nn.Sequential(
                nn.Conv2d(i, i, 3, stride=s, padding=1, groups=i, bias=False), nn.BatchNorm2d(i), nn.ReLU6(),
                nn.Conv2d(i, o, 1, bias=False), nn.BatchNorm2d(o), nn.Hardswish(),
            )

        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU6())
        self.b1 = dws(16, 24, 1)
        self.se = SE(24)
        self.b2 = dws(24, 48, 2)
        self.b3 = dws(48, 48, 1)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.1), nn.Linear(48, 10))

    def forward(self, x):
        x = self.stem(x)
        x = self.se(self.b1(x))
        x = self.b2(x)
        x = x + self.b3(x)
        return self.head(x)


class Inception(nn.Module):
    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.c0 = nn.Conv2d(1, 12, 5, padding=2)
        self.b1 = nn.Conv2d(12, 8, 1)
        self.b3 = nn.Conv2d(12, 8, 3, padding=1)
        self.b5 = nn.Conv2d(12, 8, 5, padding=2)
        self.bp = nn.Conv2d(12, 8, 1)
        self.c1 = nn.Conv2d(32, 32, 3, stride=2, dilation=1)
        self.fc = nn.Linear(32 * 3 * 3, 10)

    def forward(self, x):
        x = F.leaky_relu(self.c0(x), 0.1)
        x = F.max_pool2d(x, 2)  # 14
        p = self.bp(F.max_pool2d(x, 3, stride=1, padding=1))
        x = torch.cat([F.relu(self.b1(x)), F.relu(self.b3(x)), F.relu(self.b5(x)), F.relu(p)], 1)
        x = F.elu(self.c1(x))  # 6
        x = F.avg_pool2d(x, 2)  # 3
        return self.fc(x.reshape(x.shape[0], -1))


class LeNet5(nn.Module):
    """The 1998 layout: Tanh, average pooling, 32x32 input by padding."""
    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5, padding=2)
        self.c3 = nn.Conv2d(6, 16, 5)
        self.c5 = nn.Conv2d(16, 120, 5)
        self.f6 = nn.Linear(120, 84)
        self.out = nn.Linear(84, 10)

    def forward(self, x):
        x = F.avg_pool2d(torch.tanh(self.c1(x)), 2)
        x = F.avg_pool2d(torch.tanh(self.c3(x)), 2)
        x = torch.tanh(self.c5(x))
        x = torch.flatten(x, 1)
        return F.log_softmax(self.out(torch.tanh(self.f6(x))), dim=1)


class MLPGelu(nn.Module):
    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(784, 200), nn.GELU(), nn.Dropout(0.1),
            nn.Linear(200, 100), nn.ELU(), nn.Linear(100, 10), nn.LogSoftmax(dim=1),
        )

    def forward(self, x):
        return self.net(x)


class MLPMatMul(nn.Module):
    """Weights used through torch.matmul (exports as MatMul + Add, W stored K x N)."""
    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(784, 128) * (2 / 784) ** 0.5)
        self.b1 = nn.Parameter(torch.zeros(128))
        self.w2 = nn.Parameter(torch.randn(128, 10) * (1 / 128) ** 0.5)
        self.b2 = nn.Parameter(torch.zeros(10))

    def forward(self, x):
        x = x.flatten(1)
        x = F.leaky_relu(torch.matmul(x, self.w1) + self.b1, 0.01)
        return torch.matmul(x, self.w2) + self.b2


class Acts(nn.Module):
    """Activations and pooling the other models do not use: LeakyReLU,
    SiLU (Sigmoid + Mul), Mish (Softplus + Tanh + Mul at opset 17), SELU
    after a BatchNorm1d, 3x3 stride-2 max and average pooling."""
    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 24, 3, padding=1)
        self.b1 = nn.BatchNorm2d(24)
        self.c2 = nn.Conv2d(24, 32, 3, padding=1)
        self.b2 = nn.BatchNorm2d(32)
        self.c3 = nn.Conv2d(32, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 7 * 7, 64)
        self.bn = nn.BatchNorm1d(64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.leaky_relu(self.b1(self.c1(x)), 0.1), 3, 2, 1)  # 14
        x = F.silu(self.b2(self.c2(x)))
        x = F.avg_pool2d(F.mish(self.c3(x)), 3, 2, 1)  # 7
        x = F.selu(self.bn(self.fc1(x.flatten(1))))
        return self.fc2(x)


# name -> (class, seed, epochs, opset, export options)
class GNChunk(nn.Module):
    """GroupNorm after each convolution, a GLU-style gate from torch.chunk,
    amax pooling and InstanceNorm2d: the ops the other models lack."""
    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 3, stride=2, padding=1, bias=False)
        self.g1 = nn.GroupNorm(4, 16)
        self.c2 = nn.Conv2d(16, 64, 3, stride=2, padding=1)
        self.c3 = nn.Conv2d(32, 32, 3, padding=1, bias=False)
        self.n3 = nn.InstanceNorm2d(32, affine=True)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        h = F.relu(self.g1(self.c1(x)))
        a, b = torch.chunk(self.c2(h), 2, dim=1)
        h = a * torch.sigmoid(b)
        h = F.relu(self.n3(self.c3(h)))
        return self.fc(torch.cat([torch.amax(h, dim=(2, 3)), h.mean((2, 3))], 1))


class Seq1d(nn.Module):
    """The image as a sequence of 28 rows of 28 features: Conv1d with
    BatchNorm1d, MaxPool1d, a strided grouped Conv1d, AvgPool1d, mean over
    the length."""
    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.a = nn.Conv1d(28, 48, 5, padding=2, bias=False)
        self.bn = nn.BatchNorm1d(48)
        self.b = nn.Conv1d(48, 64, 3, stride=2, padding=1, groups=4)
        self.c = nn.Conv1d(64, 64, 3, padding=1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = x.squeeze(1).transpose(1, 2)  # N x 28 columns (features) x 28 rows (length)
        x = F.max_pool1d(F.relu(self.bn(self.a(x))), 2)
        x = F.avg_pool1d(F.relu(self.b(x)), 2, ceil_mode=True)
        return self.fc(F.relu(self.c(x)).mean(2))


def channel_shuffle(x, groups):
    b, c, h, w = x.size()
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).contiguous().view(b, c, h, w)


class Shuffle(nn.Module):
    """ShuffleNet-style unit: a grouped 1x1 conv, a channel shuffle written
    with x.size() (Shape/Gather chains into Reshape-Transpose-Reshape), a
    depthwise conv with BatchNorm, a residual Add, adaptive average pooling
    and view(x.size(0), -1)."""
    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 24, 3, stride=2, padding=1)
        self.g1 = nn.Conv2d(24, 24, 1, groups=4)
        self.dw = nn.Conv2d(24, 24, 3, padding=1, groups=24, bias=False)
        self.bn = nn.BatchNorm2d(24)
        self.down = nn.Conv2d(24, 48, 3, stride=2, padding=1)
        self.fc = nn.Linear(48, 10)

    def forward(self, x):
        x = F.relu(self.stem(x))
        y = self.bn(self.dw(channel_shuffle(F.relu(self.g1(x)), 4)))
        x = F.relu(self.down(F.relu(x + y)))
        return self.fc(F.adaptive_avg_pool2d(x, (1, 1)).view(x.size(0), -1))


class Fire(nn.Module):
    """SqueezeNet-style: ceil-mode 3x3 max pool, a fire module (squeeze 1x1,
    expand 1x1 and 3x3, Concat), dropout, a 1x1 conv classifier head and
    global average pooling."""
    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 32, 3, stride=2)
        self.squeeze = nn.Conv2d(32, 16, 1)
        self.e1 = nn.Conv2d(16, 32, 1)
        self.e3 = nn.Conv2d(16, 32, 3, padding=1)
        self.head = nn.Conv2d(64, 10, 1)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.stem(x)), 3, 2, ceil_mode=True)
        q = F.relu(self.squeeze(x))
        x = torch.cat([F.relu(self.e1(q)), F.relu(self.e3(q))], 1)
        x = F.dropout(x, 0.3, self.training)
        return torch.flatten(F.adaptive_avg_pool2d(self.head(x), 1), 1)


class Dense(nn.Module):
    """DenseNet-style block: BatchNorm-ReLU-Conv layers (BatchNorm before
    the conv, so the exporter cannot fold it) whose outputs are concatenated
    with their inputs, then a 2x2 average-pooling transition."""
    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.c0 = nn.Conv2d(1, 12, 3, stride=2, padding=1)

        def layer(c):
            return nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, 8, 3, padding=1, bias=False))

        self.l1, self.l2, self.l3 = layer(12), layer(20), layer(28)
        self.fc = nn.Linear(36 * 7 * 7, 10)

    def forward(self, x):
        x = self.c0(x)
        for l in (self.l1, self.l2, self.l3):
            x = torch.cat([x, l(x)], 1)
        return self.fc(F.avg_pool2d(F.relu(x), 2).flatten(1))


class WhereAct(nn.Module):
    """An MLP whose activation is written with torch.where (Greater and
    Where on activations) and a comparison mask."""
    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(784, 128)
        self.b = nn.Linear(128, 10)

    def forward(self, x):
        h = self.a(x.flatten(1))
        h = torch.where(h > 0, h, 0.1 * h) + 0.1 * (h >= 1).float() * h
        return self.b(h)


class Cosine(nn.Module):
    """A cosine classifier: F.normalize (ReduceL2, Expand, Div) before a
    bias-free Linear, and a scale."""
    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(784, 64)
        self.b = nn.Linear(64, 10, bias=False)

    def forward(self, x):
        return 10 * self.b(F.normalize(F.relu(self.a(x.flatten(1))), dim=1))


class SignMLP(nn.Module):
    """Binary activations: torch.sign after the first layer (no gradient
    flows through it, so its Hessian trace is 0)."""
    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(784, 128)
        self.b = nn.Linear(128, 10)

    def forward(self, x):
        return self.b(torch.sign(self.a(x.flatten(1))))


class Upsample(nn.Module):
    """Resampling inside the network: the input resized to 32x32 with
    F.interpolate (bilinear), strided convolutions, nn.PixelShuffle
    (DepthToSpace) back up and a nearest-neighbour downsample."""
    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 16, 3, stride=2, padding=1)
        self.b = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.shuffle = nn.PixelShuffle(2)
        self.c = nn.Conv2d(8, 24, 3, padding=1)
        self.fc = nn.Linear(24 * 8 * 8, 10)

    def forward(self, x):
        x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
        h = self.shuffle(F.relu(self.b(F.relu(self.a(x)))))  # 8 x 16 x 16
        h = F.interpolate(F.relu(self.c(h)), scale_factor=0.5, mode="nearest")
        return self.fc(h.flatten(1))


class StatsPool(nn.Module):
    """Statistics pooling: per-channel mean, torch.std (ReduceProd of a
    Shape) and torch.logsumexp over the spatial positions, concatenated,
    x.repeat (Tile) of the mean and its cumulative sum over the channels
    (CumSum)."""
    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 16, 3, stride=2)
        self.b = nn.Conv2d(16, 32, 3, stride=2)
        self.fc = nn.Linear(32 * 5, 10)

    def forward(self, x):
        h = F.relu(self.b(F.relu(self.a(x)))).flatten(2)  # 32 x 36
        m = h.mean(2)
        f = torch.cat([m.repeat(1, 2), h.std(2), torch.logsumexp(h, 2) - 4, 0.1 * torch.cumsum(m, 1)], 1)
        return self.fc(f)


class EinsumAttn(nn.Module):
    """The image's 28 rows as tokens through a hand-written self-attention
    in torch.einsum ('bid,bjd->bij', 'bij,bjd->bid'), a residual MLP and
    mean pooling."""
    input_shape = (1, 28, 28)

    def __init__(self, d=32):
        super().__init__()
        self.embed = nn.Linear(28, d)
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 64), nn.ReLU(), nn.Linear(64, d))
        self.head = nn.Linear(d, 10)

    def forward(self, x):
        h = self.embed(x.flatten(1, 2))  # B x 28 x d
        a = torch.einsum("bid,bjd->bij", self.q(h), self.k(h)).div(h.shape[-1] ** 0.5).softmax(-1)
        h = h + torch.einsum("bij,bjd->bid", a, self.v(h))
        h = h + self.mlp(h)
        return self.head(h.mean(1))


class Hourglass(nn.Module):
    """An encoder-decoder classifier: strided convolutions down to 7x7,
    nn.ConvTranspose2d back up to 14x14 (stride 2, output_padding) with a
    BatchNorm after it (kept: the exporter folds BatchNorm into Conv only),
    a skip connection, a grouped ConvTranspose, and a strided head."""
    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.d1 = nn.Conv2d(1, 16, 3, stride=2, padding=1)  # 14
        self.d2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)  # 7
        self.u1 = nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1)  # 14
        self.bn = nn.BatchNorm2d(16)
        self.u2 = nn.ConvTranspose2d(16, 16, 2, stride=1, groups=4)  # 15
        self.head = nn.Conv2d(16, 32, 3, stride=2)  # 7
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        s = F.relu(self.d1(x))
        h = F.relu(self.bn(self.u1(F.relu(self.d2(s)))) + s)
        h = F.relu(self.head(F.relu(self.u2(h))))
        return self.fc(h.mean((2, 3)))


class EinsumMLP(nn.Module):
    """An MLP whose weights are parameters used through torch.einsum
    ('bi,ih->bh': channels last, 'bh,ch->bc': channels first), which
    mpq quantizes as layers."""
    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(784, 128) * 784 ** -0.5)
        self.b1 = nn.Parameter(torch.zeros(128))
        self.w2 = nn.Parameter(torch.randn(10, 128) * 128 ** -0.5)
        self.b2 = nn.Parameter(torch.zeros(10))

    def forward(self, x):
        h = F.relu(torch.einsum("bi,ih->bh", x.flatten(1), self.w1) + self.b1)
        return torch.einsum("bh,ch->bc", h, self.w2) + self.b2


class TokenMix(nn.Module):
    """MLP-Mixer-style token mixing written as torch.matmul(W, x): a
    parameter multiplying the image's 28 rows from the left (MatMul with
    its constant first), then a Linear over the features."""
    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.mix = nn.Parameter(torch.randn(16, 28) * 28 ** -0.5)
        self.feat = nn.Linear(28, 32)
        self.head = nn.Linear(16 * 32, 10)

    def forward(self, x):
        h = F.gelu(torch.matmul(self.mix, x.flatten(1, 2)))  # B x 16 x 28
        return self.head(F.relu(self.feat(h)).flatten(1))


class LSTMRows(nn.Module):
    """The classic tutorial model: an nn.LSTM reading the image's 28 rows
    as a sequence (batch_first), a Linear on its last hidden state. Only
    the head is a quantizable layer; the LSTM runs in floating point."""
    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(28, 64, batch_first=True)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        out, _ = self.rnn(x.squeeze(1))
        return self.fc(out[:, -1])


class ConvGRU(nn.Module):
    """A strided Conv front end whose 13 output rows are a sequence for a
    bidirectional two-layer nn.GRU, between two Linears, the head reading
    both directions' final states (h_n)."""
    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, stride=2)
        self.proj = nn.Linear(8 * 13, 48)
        self.gru = nn.GRU(48, 32, num_layers=2, batch_first=True, bidirectional=True)
        self.head = nn.Linear(4 * 32, 10)

    def forward(self, x):
        h = F.relu(self.conv(x))                      # B x 8 x 13 x 13
        h = h.permute(0, 2, 1, 3).flatten(2)          # B x 13 rows x 104
        _, hn = self.gru(F.relu(self.proj(h)))        # 4 x B x 32
        return self.head(hn.transpose(0, 1).flatten(1))


class ViTEnc(nn.Module):
    """A small vision transformer as users write it from PyTorch's own
    modules: a 7x7 stride-7 patch Conv (16 tokens), a learned position
    embedding, an nn.TransformerEncoder of two pre-norm GELU layers
    (nn.MultiheadAttention inside), a final LayerNorm, mean pooling and a
    Linear head."""
    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(1, 32, 7, stride=7)
        self.pos = nn.Parameter(torch.randn(1, 16, 32) * 0.02)
        layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.1, activation="gelu", batch_first=True, norm_first=True)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(32)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        t = self.patch(x).flatten(2).transpose(1, 2) + self.pos
        return self.head(self.norm(self.enc(t)).mean(1))


class AlexLRN(nn.Module):
    """An AlexNet-style stack: Conv, ReLU, nn.LocalResponseNorm, MaxPool,
    twice, then two Linears. torch.onnx writes each LRN as a 3-D
    AveragePool over the channels of x² and an If that squeezes the pooled
    dimension when it is 1."""
    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 5, padding=2)
        self.c2 = nn.Conv2d(16, 32, 3, padding=1)
        self.lrn = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)
        self.fc1 = nn.Linear(32 * 7 * 7, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        h = F.max_pool2d(self.lrn(F.relu(self.c1(x))), 2)
        h = F.max_pool2d(self.lrn(F.relu(self.c2(h))), 2)
        return self.fc2(F.relu(self.fc1(h.flatten(1))))


MODELS = {
    "vgg_bn": (VGGBN, 11, 1, 13, {}),
    "vgg_bn_kept": (VGGBN, 11, 1, 13, {"keep_bn": True}),
    "mobile": (Mobile, 12, 2, 13, {}),
    "inception": (Inception, 13, 1, 11, {}),
    "lenet5": (LeNet5, 14, 2, 17, {}),
    "mlp_gelu": (MLPGelu, 15, 1, 13, {}),
    "mlp_matmul": (MLPMatMul, 16, 2, 13, {}),
    "lenet5_b1": (LeNet5, 14, 2, 11, {"static_batch": True}),
    "acts": (Acts, 17, 1, 17, {}),
    "gn_chunk": (GNChunk, 18, 1, 13, {}),
    "seq1d": (Seq1d, 19, 1, 13, {}),
    "shuffle": (Shuffle, 20, 3, 13, {}),
    "fire": (Fire, 21, 3, 11, {}),
    "dense": (Dense, 22, 1, 13, {}),
    "where_act": (WhereAct, 23, 1, 13, {}),
    "cosine": (Cosine, 24, 1, 13, {}),
    "sign_mlp": (SignMLP, 25, 1, 13, {}),
    "upsample": (Upsample, 26, 1, 11, {}),
    "stats_pool": (StatsPool, 27, 3, 13, {}),
    "einsum_attn": (EinsumAttn, 28, 5, 13, {}),
    "hourglass": (Hourglass, 29, 3, 13, {}),
    "einsum_mlp": (EinsumMLP, 30, 2, 13, {}),
    "token_mix": (TokenMix, 31, 2, 13, {}),
    "lstm_rows": (LSTMRows, 32, 2, 13, {}),
    "conv_gru": (ConvGRU, 33, 2, 14, {}),
    "vit_enc": (ViTEnc, 34, 3, 14, {}),
    "alex_lrn": (AlexLRN, 35, 1, 13, {}),
}


def train(model, seed, epochs, x, y, n_train):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    model.train()
    for ep in range(epochs):
        perm = torch.randperm(x.shape[0], generator=g)[:n_train]
        for i in range(0, n_train, 128):
            idx = perm[i:i + 128]
            opt.zero_grad()
            out = model(x[idx])
            loss = F.nll_loss(out, y[idx]) if isinstance(model, LeNet5) or isinstance(model, MLPGelu) else F.cross_entropy(out, y[idx])
            loss.backward()
            opt.step()
    model.eval()
    return model


CONFIG = """# Generated by scripts/make_unseen.py: {name} ({cls}, opset {opset}).
model: {name}.onnx
data:
  train: {{format: idx, images: {mn}/train-images-idx3-ubyte.gz, labels: {mn}/train-labels-idx1-ubyte.gz}}
  test:  {{format: idx, images: {mn}/t10k-images-idx3-ubyte.gz, labels: {mn}/t10k-labels-idx1-ubyte.gz}}
  transform: {{scale: 0.00392156862745098, mean: [0.1307], std: [0.3081]}}
evaluation:  {{split: test, count: 10000}}
calibration: {{split: train, count: 512, method: minmax}}
sensitivity: {{split: train, count: 512, seed: 0, max_samples: 60}}
study: {{name: {name}, storage: sqlite://{name}.db}}
search:
  weight_bits: [2, 3, 4, 8]
  activation_bits: [4, 8]
  objectives: [accuracy, size_bits]
  constraints: {{max_accuracy_drop: 0.02}}
  trials: {trials}
  seed: 1
  sampler: auto
  workers: 2
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/mpq-unseen")
    ap.add_argument("--only", default="")
    ap.add_argument("--train", type=int, default=20000, help="training images per epoch")
    ap.add_argument("--trials", type=int, default=60)
    args = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(args.out, exist_ok=True)
    only = [n for n in args.only.split(",") if n] or list(MODELS)
    tr_img, tr_lab = mnist.load("train")
    te_img, te_lab = mnist.load("t10k")
    x = torch.from_numpy(mnist.normalize(tr_img))
    y = torch.from_numpy(tr_lab)
    xt = torch.from_numpy(mnist.normalize(te_img))
    yt = torch.from_numpy(te_lab)
    for name in only:
        cls, seed, epochs, opset, opts = MODELS[name]
        t0 = time.time()
        torch.manual_seed(seed)
        m = train(cls(), seed, epochs, x, y, args.train)
        with torch.no_grad():
            acc = (m(xt).argmax(1) == yt).float().mean().item()
        path = os.path.join(args.out, name + ".onnx")
        batch = 1 if opts.get("static_batch") else 2
        kw = dict(opset_version=opset, input_names=["input"], output_names=["output"])
        if not opts.get("static_batch"):
            kw["dynamic_axes"] = {"input": {0: "N"}, "output": {0: "N"}}
        if opts.get("keep_bn"):
            kw.update(training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
        torch.onnx.export(m, torch.zeros((batch,) + cls.input_shape), path, **kw)
        # The weights too, for references that rebuild the module, e.g.
        # scripts/hessian_torch.py --module scripts/make_unseen.py:LeNet5
        #     --weights /tmp/mpq-unseen/lenet5.pt --onnx /tmp/mpq-unseen/lenet5.onnx
        torch.save(m.state_dict(), os.path.join(args.out, name + ".pt"))
        with open(os.path.join(args.out, name + ".yaml"), "w") as f:
            f.write(CONFIG.format(name=name, cls=cls.__name__, opset=opset,
                                  mn=os.path.join(REPO, "testdata", "mnist"), trials=args.trials))
        print("%-12s torch accuracy %.4f  (%.0fs) -> %s" % (name, acc, time.time() - t0, path), flush=True)


if __name__ == "__main__":
    main()
