"""PyTorch model definitions shared by make_models.py and bench_torch.py.

The ONNX files in testdata/models are exports of these classes; the trained
weights are kept next to them as <name>.pt state_dicts.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class MLP(nn.Module):
    """784 -> 256 -> 128 -> 10. Takes the *flat* N x 784 vector."""

    input_shape = (784,)

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 256)
        self.fc2 = nn.Linear(256, 128)
        self.fc3 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class LeNet(nn.Module):
    """LeNet-5 style CNN on N x 1 x 28 x 28."""

    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        # x.view(x.size(0), -1) exports as Shape/Gather/Unsqueeze/Concat -> Reshape
        x = x.view(x.size(0), -1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class SmallResNet(nn.Module):
    """Small residual CNN: BN, stride-2 conv, depthwise conv, residual Add, GAP."""

    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        # stem (stride 2: 28x28 -> 14x14, keeps training cheap)
        self.stem = nn.Conv2d(1, 16, 3, stride=2, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(16)
        # residual block
        self.b_conv = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.b_bn = nn.BatchNorm2d(16)
        self.b_dw = nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False)
        self.b_dw_bn = nn.BatchNorm2d(16)
        # downsample 14x14 -> 7x7
        self.down = nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False)
        self.down_bn = nn.BatchNorm2d(32)
        # pointwise
        self.pw = nn.Conv2d(32, 32, 1, bias=False)
        self.pw_bn = nn.BatchNorm2d(32)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.stem_bn(self.stem(x)))
        idn = x
        y = F.relu(self.b_bn(self.b_conv(x)))
        y = self.b_dw_bn(self.b_dw(y))
        x = F.relu(y + idn)
        x = F.relu(self.down_bn(self.down(x)))
        x = F.relu(self.pw_bn(self.pw(x)))
        x = self.gap(x)
        x = torch.flatten(x, 1)
        return self.fc(x)


class MLP4(nn.Module):
    """784 -> 96 -> 64 -> 32 -> 10, flat input: a search-benchmark model
    (testdata/hvbench) that the search code was not tuned on."""

    input_shape = (784,)

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 96)
        self.fc2 = nn.Linear(96, 64)
        self.fc3 = nn.Linear(64, 32)
        self.fc4 = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = F.relu(self.fc3(x))
        return self.fc4(x)


class CNN4(nn.Module):
    """Three stride-2 3x3 convs (8, 16, 32 channels), global average pool,
    Linear 32 -> 10: the second search-benchmark model."""

    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.relu(self.conv3(x))
        x = torch.flatten(self.gap(x), 1)
        return self.fc(x)


class MLP4X(nn.Module):
    """784 -> 64 -> 256 -> 128 -> 10, flat input: a search-benchmark model
    (testdata/hvbench) that widens after a narrow first layer, so that its
    weights are spread over three layers instead of sitting in the first."""

    input_shape = (784,)

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 64)
        self.fc2 = nn.Linear(64, 256)
        self.fc3 = nn.Linear(256, 128)
        self.fc4 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = F.relu(self.fc3(x))
        return self.fc4(x)


class MLP3H(nn.Module):
    """784 -> 300 -> 100 -> 10 (LeNet-300-100), flat input: a held-out
    search-benchmark model added on 2026-11-28, after all the search tuning,
    with a three-layer space of 512 plans."""

    input_shape = (784,)

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 300)
        self.fc2 = nn.Linear(300, 100)
        self.fc3 = nn.Linear(100, 10)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class CNN3H(nn.Module):
    """Conv 5x5 (6) - pool - Conv 5x5 (16) - pool - Linear 400 -> 10: the
    second held-out search-benchmark model of 2026-11-28 (512 plans)."""

    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc = nn.Linear(400, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(torch.flatten(x, 1))


class MLP4H(nn.Module):
    """784 -> 200 -> 100 -> 60 -> 10, flat input: the third held-out
    search-benchmark model of 2026-11-28, with a four-layer space (4,096
    plans) like mlp4 and mlp4x."""

    input_shape = (784,)

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 200)
        self.fc2 = nn.Linear(200, 100)
        self.fc3 = nn.Linear(100, 60)
        self.fc4 = nn.Linear(60, 10)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = F.relu(self.fc3(x))
        return self.fc4(x)


class MLP4J(nn.Module):
    """784 -> 160 -> 80 -> 40 -> 10, flat input: a held-out search-benchmark
    model of 2026-11-29, defined and trained before any search ran on it."""

    input_shape = (784,)

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 160)
        self.fc2 = nn.Linear(160, 80)
        self.fc3 = nn.Linear(80, 40)
        self.fc4 = nn.Linear(40, 10)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = F.relu(self.fc3(x))
        return self.fc4(x)


class MLP4K(nn.Module):
    """784 -> 48 -> 128 -> 64 -> 10, flat input: a second held-out model of
    2026-11-29, narrow first and widening after it."""

    input_shape = (784,)

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 48)
        self.fc2 = nn.Linear(48, 128)
        self.fc3 = nn.Linear(128, 64)
        self.fc4 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = F.relu(self.fc3(x))
        return self.fc4(x)


# ONNX file stem -> (class, state_dict file stem)
MODELS = {
    "mlp": (MLP, "mlp"),
    "lenet": (LeNet, "lenet"),
    "resnet": (SmallResNet, "resnet"),
    "resnet_bn": (SmallResNet, "resnet"),  # same weights, BN kept in the export
    "mlp4": (MLP4, "mlp4"),
    "cnn4": (CNN4, "cnn4"),
    "mlp4x": (MLP4X, "mlp4x"),
    "mlp3h": (MLP3H, "mlp3h"),
    "cnn3h": (CNN3H, "cnn3h"),
    "mlp4h": (MLP4H, "mlp4h"),
    "mlp4j": (MLP4J, "mlp4j"),
    "mlp4k": (MLP4K, "mlp4k"),
}


def build(name):
    cls, _ = MODELS[name]
    return cls()


def prepare_input(name, x):
    """x: float32 tensor N x 1 x 28 x 28 (normalised). Returns the model's input."""
    if MODELS[name][0] in (MLP, MLP4, MLP4X, MLP3H, MLP4H, MLP4J, MLP4K):
        return x.reshape(x.shape[0], 784)
    return x


def load(name, models_dir):
    """Rebuild a module and load its trained state_dict from models_dir/<stem>.pt."""
    import os

    cls, stem = MODELS[name]
    m = cls()
    sd = torch.load(os.path.join(models_dir, stem + ".pt"), map_location="cpu")
    m.load_state_dict(sd)
    m.eval()
    return m
