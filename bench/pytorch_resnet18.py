#!/usr/bin/env python3
"""The PyTorch side of `gpunet bench --model resnet18`: torchvision's ResNet-18 in its CIFAR
variant (3x3 stride-1 stem, no max-pool; torchvision's BasicBlock, 1x1 stride-2 downsample with
BN, kaiming_normal fan_out init), trained as gpunet bench trains: cross-entropy, SGD lr 0.001
momentum 0.9, batches from the CIFAR-10 binary files (normalised, shuffled, drop_last).

  python3 bench/pytorch_resnet18.py --data DIR [--device cpu] [--batch-size 128] [--max-steps 20]
      [--warmup 2] [--threads N]

Prints one JSON line: images_per_second over the timed steps (after --warmup untimed ones),
ms_per_step, the torch version and thread count."""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, inp, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inp != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inp, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + (self.downsample(x) if self.downsample is not None else x))


class ResNet18(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)  # CIFAR stem: no 7x7/2, no max-pool
        self.bn1 = nn.BatchNorm2d(64)
        layers, inp = [], 64
        for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers.append(nn.Sequential(BasicBlock(inp, planes, stride), BasicBlock(planes, planes, 1)))
            inp = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.fc = nn.Linear(512, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def load_train(data_dir):
    parts = []
    for i in range(1, 6):
        path = os.path.join(data_dir, f"data_batch_{i}.bin")
        if os.path.exists(path):
            parts.append(np.fromfile(path, dtype=np.uint8).reshape(-1, 3073))
    if not parts:
        raise SystemExit(f"pytorch_resnet18.py: no data_batch_*.bin in {data_dir}")
    raw = np.concatenate(parts)
    labels = torch.from_numpy(raw[:, 0].astype(np.int64))
    images = torch.from_numpy(raw[:, 1:].reshape(-1, 3, 32, 32).copy())
    return images, labels


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--max-steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    images, labels = load_train(a.data)
    if a.batch_size > len(labels):
        raise SystemExit(f"pytorch_resnet18.py: --batch-size {a.batch_size} is larger than the {len(labels)} images")
    mean = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
    std = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)
    net = ResNet18().to(dev).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    perm, pos = torch.randperm(len(labels), generator=gen), 0

    def step():
        nonlocal perm, pos
        if pos + a.batch_size > len(labels):
            perm, pos = torch.randperm(len(labels), generator=gen), 0
        idx = perm[pos:pos + a.batch_size]
        pos += a.batch_size
        x = ((images[idx].float() / 255.0 - mean) / std).to(dev)
        y = labels[idx].to(dev)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(a.warmup):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    t0 = time.perf_counter()
    for _ in range(a.max_steps):
        loss = step()
    last = float(loss.detach())
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    s = time.perf_counter() - t0
    print(json.dumps({"model": "resnet18", "device": str(dev), "batch_size": a.batch_size, "steps": a.max_steps,
                      "images_per_second": a.max_steps * a.batch_size / s, "ms_per_step": 1000.0 * s / a.max_steps,
                      "last_loss": last, "threads": torch.get_num_threads(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
