#!/usr/bin/python3
"""Export one small CNN the ways users export classifiers that mpq must
read as it reads the shipped models (engine's TestExportVariants):

- with a fixed batch size, as `torch.onnx.export` does without
  `dynamic_axes`: `x.view(x.size(0), -1)` becomes a Reshape to the
  constant [B, 1568];
- with its Softmax head, so that the graph outputs probabilities;
- fully convolutional: a 1×1 convolution to the classes and global
  average pooling, no Flatten, so that the logits are [N, 10, 1, 1].

Run from the repo root with the Debian interpreter:

    /usr/bin/python3 scripts/make_export_variants.py

Produces (deterministically, untrained weights from seed 0):
  testdata/models/static_b1.onnx       exported with batch 1
  testdata/models/static_b64.onnx      exported with batch 64
  testdata/models/softmax_head.onnx    dynamic batch, ends in Softmax
  testdata/models/conv_head.onnx       dynamic batch, [N, 10, 1, 1] logits
  testdata/golden/export_variants.json PyTorch's logits (before any Softmax)
                                       of the first 8 test images and their
                                       mean cross-entropy, for SmallCNN and
                                       for ConvHead
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnist  # noqa: E402


class SmallCNN(nn.Module):
    def __init__(self, softmax=False):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, stride=2, padding=1)
        self.fc = nn.Linear(8 * 14 * 14, 10)
        self.softmax = softmax

    def forward(self, x):
        z = self.fc(torch.relu(self.conv(x)).view(x.size(0), -1))
        return torch.softmax(z, dim=1) if self.softmax else z


class ConvHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, stride=2, padding=1)
        self.head = nn.Conv2d(8, 10, 1)

    def forward(self, x):
        return F.adaptive_avg_pool2d(self.head(torch.relu(self.conv(x))), 1)


def main():
    torch.manual_seed(0)
    model = SmallCNN().eval()
    models = os.path.join(mnist.REPO_ROOT, "testdata", "models")
    kw = dict(opset_version=13, input_names=["input"], output_names=["output"])
    for batch in (1, 64):
        torch.onnx.export(model, torch.zeros(batch, 1, 28, 28),
                          os.path.join(models, "static_b%d.onnx" % batch), **kw)
    head = SmallCNN(softmax=True).eval()
    head.load_state_dict(model.state_dict())
    torch.onnx.export(head, torch.zeros(2, 1, 28, 28), os.path.join(models, "softmax_head.onnx"),
                      dynamic_axes={"input": {0: "N"}, "output": {0: "N"}}, **kw)
    conv = ConvHead().eval()
    torch.onnx.export(conv, torch.zeros(2, 1, 28, 28), os.path.join(models, "conv_head.onnx"),
                      dynamic_axes={"input": {0: "N"}, "output": {0: "N"}}, **kw)
    images, labels = mnist.load("test")
    x = torch.tensor(mnist.normalize(images[:8]), dtype=torch.float32)
    y = torch.tensor(labels[:8])
    golden = {}
    with torch.no_grad():
        for prefix, m in (("", model), ("conv_head_", conv)):
            logits = m(x).reshape(8, 10).double()
            golden[prefix + "logits_first8"] = logits.tolist()
            golden[prefix + "loss_first8"] = F.cross_entropy(logits, y).item()
    with open(os.path.join(mnist.REPO_ROOT, "testdata", "golden", "export_variants.json"), "w") as f:
        json.dump(golden, f)


if __name__ == "__main__":
    main()
