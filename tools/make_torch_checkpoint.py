#!/usr/bin/env python3
"""Writes the PyTorch-made safetensors fixtures that tests/io checks gpunet against.

  python3 tools/make_torch_checkpoint.py [--out tests/golden]

Needs torch, safetensors and numpy. Writes:
  io_lenet_torch.safetensors   the tutorial LeNet's state_dict after torch.manual_seed(0),
                               saved by safetensors.torch.save_file (metadata {"format": "pt"})
  io_lenet_torch.json          per tensor: shape, dtype, sum, abs_sum (float64) and the first
                               and last values, plus the versions that made the file
  io_dtypes_torch.safetensors  one tensor of each dtype gpunet reads (F32 F64 I64 I32 U8), a
                               scalar and an empty tensor, with edge values; gpunet must read
                               these values exactly and write the same bytes
  io_dtypes_torch.json         every value of io_dtypes_torch.safetensors
Committed outputs are small (~250 KB); rerun only when the fixtures must change.
"""
import argparse
import json
import math
import os

import torch
import safetensors
from safetensors.torch import save_file


class Net(torch.nn.Module):
    """The CIFAR-10 tutorial LeNet, as in /work/shared/peers/pytorch_seed.py."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 6, 5)
        self.pool = torch.nn.MaxPool2d(2, 2)
        self.conv2 = torch.nn.Conv2d(6, 16, 5)
        self.fc1 = torch.nn.Linear(16 * 5 * 5, 120)
        self.fc2 = torch.nn.Linear(120, 84)
        self.fc3 = torch.nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(torch.nn.functional.relu(self.conv1(x)))
        x = self.pool(torch.nn.functional.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = torch.nn.functional.relu(self.fc1(x))
        x = torch.nn.functional.relu(self.fc2(x))
        return self.fc3(x)


DTYPE_NAMES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64",
               torch.int32: "I32", torch.uint8: "U8"}


def summary(t):
    """Checksums that gpunet's test recomputes (float64 sums, exact first and last values)."""
    flat = t.reshape(-1)
    return {"shape": list(t.shape), "dtype": DTYPE_NAMES[t.dtype],
            "sum": flat.double().sum().item(), "abs_sum": flat.double().abs().sum().item(),
            "first": [v.item() for v in flat[:4]], "last": flat[-1].item() if flat.numel() else None}


def versions():
    return {"generator": "tools/make_torch_checkpoint.py", "torch": torch.__version__,
            "safetensors": safetensors.__version__}


def dtype_tensors():
    return {
        "f32": torch.tensor([[1.5, -2.25, 3.0], [0.1, 1e-30, -1e30]], dtype=torch.float32),
        "f64": torch.tensor([[math.pi, -1.0 / 3.0]], dtype=torch.float64),
        "i64": torch.tensor([-2**63, 2**63 - 1, 0, -1], dtype=torch.int64),
        "i32": torch.tensor([[-2**31, 2**31 - 1, 7], [0, -1, 123456]], dtype=torch.int32),
        "u8": torch.tensor([0, 1, 127, 128, 255], dtype=torch.uint8),
        "scalar": torch.tensor(2.5, dtype=torch.float32),
        "empty": torch.zeros(0, 3, dtype=torch.float32),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    torch.manual_seed(0)
    sd = Net().state_dict()
    save_file(sd, os.path.join(args.out, "io_lenet_torch.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(args.out, "io_lenet_torch.json"), "w") as f:
        json.dump({**versions(), "seed": 0, "order": list(sd.keys()),
                   "tensors": {k: summary(v) for k, v in sd.items()}}, f, indent=1)

    dt = dtype_tensors()
    save_file(dt, os.path.join(args.out, "io_dtypes_torch.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(args.out, "io_dtypes_torch.json"), "w") as f:
        json.dump({**versions(), "metadata": {"format": "pt"},
                   "tensors": {k: {"shape": list(v.shape), "dtype": DTYPE_NAMES[v.dtype],
                                   "values": v.reshape(-1).tolist()} for k, v in dt.items()}}, f, indent=1)
    print("wrote io_lenet_torch.{safetensors,json} and io_dtypes_torch.{safetensors,json} to", args.out)


if __name__ == "__main__":
    main()
