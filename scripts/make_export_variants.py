#!/usr/bin/python3
"""Export one small CNN the ways users export classifiers that mpq must
read as it reads the shipped models (engine's TestExportVariants):

- with a fixed batch size, as `torch.onnx.export` does without
  `dynamic_axes`: `x.view(x.size(0), -1)` becomes a Reshape to the
  constant [B, 1568];
- with its Softmax head, so that the graph outputs probabilities.

Run from the repo root with the Debian interpreter:

    /usr/bin/python3 scripts/make_export_variants.py

Produces (deterministically, untrained weights from seed 0):
  testdata/models/static_b1.onnx       exported with batch 1
  testdata/models/static_b64.onnx      exported with batch 64
  testdata/models/softmax_head.onnx    dynamic batch, ends in Softmax
  testdata/golden/export_variants.json PyTorch's logits (before any Softmax)
                                       of the first 8 test images and their
                                       mean cross-entropy
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
    images, labels = mnist.load("test")
    x = torch.tensor(mnist.normalize(images[:8]), dtype=torch.float32)
    with torch.no_grad():
        logits = model(x)
        loss = F.cross_entropy(logits.double(), torch.tensor(labels[:8])).item()
    with open(os.path.join(mnist.REPO_ROOT, "testdata", "golden", "export_variants.json"), "w") as f:
        json.dump({"logits_first8": logits.double().tolist(), "loss_first8": loss}, f)


if __name__ == "__main__":
    main()
