"""Minimal MNIST IDX (.gz) reader used by the mpq fixture scripts.

Only gzip + struct + numpy are used. Magic numbers are checked:
images 0x00000803 (ubyte, 3 dims), labels 0x00000801 (ubyte, 1 dim).
"""
import gzip
import os
import struct

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST_DIR = os.path.join(REPO_ROOT, "testdata", "mnist")

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

MEAN = 0.1307
STD = 0.3081


def read_images(path):
    """Return uint8 array N x rows x cols."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n, rows, cols = struct.unpack(">IIII", data[:16])
    if magic != IMAGES_MAGIC:
        raise ValueError("%s: bad image magic 0x%08x" % (path, magic))
    body = data[16:]
    if len(body) != n * rows * cols:
        raise ValueError("%s: expected %d bytes, got %d" % (path, n * rows * cols, len(body)))
    return np.frombuffer(body, dtype=np.uint8).reshape(n, rows, cols).copy()


def read_labels(path):
    """Return int64 array N."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic != LABELS_MAGIC:
        raise ValueError("%s: bad label magic 0x%08x" % (path, magic))
    body = data[8:]
    if len(body) != n:
        raise ValueError("%s: expected %d bytes, got %d" % (path, n, len(body)))
    return np.frombuffer(body, dtype=np.uint8).astype(np.int64)


def load(split="train", root=MNIST_DIR):
    """Load split 'train' or 't10k' (alias 'test'). Returns (images uint8 NxHxW, labels int64 N)."""
    if split == "test":
        split = "t10k"
    if split not in ("train", "t10k"):
        raise ValueError("unknown split %r" % split)
    images = read_images(os.path.join(root, "%s-images-idx3-ubyte.gz" % split))
    labels = read_labels(os.path.join(root, "%s-labels-idx1-ubyte.gz" % split))
    if images.shape[0] != labels.shape[0]:
        raise ValueError("image/label count mismatch %d vs %d" % (images.shape[0], labels.shape[0]))
    return images, labels


def normalize(images):
    """uint8 N x 28 x 28 -> float32 N x 1 x 28 x 28 with x = (p/255 - MEAN)/STD."""
    x = images.astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(MEAN)) / np.float32(STD)
    return x[:, None, :, :].astype(np.float32)


if __name__ == "__main__":
    for s in ("train", "t10k"):
        im, lb = load(s)
        print(s, im.shape, im.dtype, lb.shape, lb.dtype, np.bincount(lb))
