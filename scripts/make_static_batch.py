#!/usr/bin/python3
"""Export one small CNN with a fixed batch size, as `torch.onnx.export`
does without `dynamic_axes`: `x.view(x.size(0), -1)` then becomes a Reshape
to the constant [B, 1568]. mpq evaluates such models at other batch sizes
(engine's TestStaticBatch); the golden logits are PyTorch's.

Run from the repo root with the Debian interpreter:

    /usr/bin/python3 scripts/make_static_batch.py

Produces (deterministically, untrained weights from seed 0):
  testdata/models/static_b1.onnx    exported with batch 1
  testdata/models/static_b64.onnx   exported with batch 64
  testdata/golden/static_batch.json PyTorch's logits of the first 8 test images
"""
import json
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnist  # noqa: E402


class StaticCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, stride=2, padding=1)
        self.fc = nn.Linear(8 * 14 * 14, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).view(x.size(0), -1))


def main():
    torch.manual_seed(0)
    model = StaticCNN().eval()
    models = os.path.join(mnist.REPO_ROOT, "testdata", "models")
    for batch in (1, 64):
        torch.onnx.export(model, torch.zeros(batch, 1, 28, 28),
                          os.path.join(models, "static_b%d.onnx" % batch),
                          opset_version=13, input_names=["input"], output_names=["logits"])
    images, _ = mnist.load("test")
    x = torch.tensor(mnist.normalize(images[:8]), dtype=torch.float32).reshape(8, 1, 28, 28)
    with torch.no_grad():
        logits = model(x)
    with open(os.path.join(mnist.REPO_ROOT, "testdata", "golden", "static_batch.json"), "w") as f:
        json.dump({"logits_first8": logits.double().tolist()}, f)


if __name__ == "__main__":
    main()
