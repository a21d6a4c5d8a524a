#!/usr/bin/env python3
"""Writes tests/golden/resnet18_torchvision.json: the CIFAR variant of torchvision's resnet18
(conv1 -> 3x3 stride 1, maxpool -> Identity, 10 classes) filled with deterministic weights, and its
logits in eval mode on a deterministic batch. Both sides compute the same weights from a formula,
so the 45 MB of weights need not be committed:
  u(k, i) = (mix64(mix64(k) ^ i) >> 11) * 2^-52 - 1, uniform in [-1, 1), with mix64 the splitmix64
  finaliser (gpunet::mix64); tensor k of the state_dict (in order), element i (row-major):
    weights (dim > 1): sqrt(3 / fan_in) * u      (variance 1/fan_in)
    BN weight: 1 + 0.2 u, bias / running_mean / other 1-D: 0.1 u, running_var: 0.5 + u^2
    int64 (num_batches_tracked): k
  input x (element j row-major): u(1000, j); 2 images of 3x32x32.
Run: /path/to/venv/bin/python tools/gen_resnet18_fixture.py
"""
import json, math, os, sys
import numpy as np
import torch, torchvision

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "resnet18_torchvision.json")


def cifar_resnet18():
    m = torchvision.models.resnet18(num_classes=10)
    m.conv1 = torch.nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    m.maxpool = torch.nn.Identity()
    return m


M64 = (1 << 64) - 1


def mix64(x):
    x = (x + np.uint64(0x9E3779B97F4A7C15)) & np.uint64(M64)
    x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & np.uint64(M64)
    x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & np.uint64(M64)
    return x ^ (x >> np.uint64(31))


def u(k, n):
    with np.errstate(over="ignore"):
        i = np.arange(n, dtype=np.uint64)
        h = mix64(mix64(np.uint64(k)) ^ i)
    return torch.from_numpy((h >> np.uint64(11)).astype(np.float64) * 2.0 ** -52 - 1.0)


def fill(sd):
    out = {}
    for k, (name, t) in enumerate(sd.items()):
        if t.dtype == torch.int64:
            out[name] = torch.full_like(t, k)
            continue
        v = u(k, t.numel())
        if t.dim() > 1:
            v = v * math.sqrt(3.0 / t[0].numel())
        elif name.endswith("running_var"):
            v = 0.5 + v * v
        elif name.endswith("weight"):
            v = 1 + 0.2 * v
        else:
            v = 0.1 * v
        out[name] = v.to(torch.float32).reshape(t.shape)
    return out


def main():
    m = cifar_resnet18()
    sd = fill(m.state_dict())
    m.load_state_dict(sd, strict=True)
    m.eval()
    x = u(1000, 2 * 3 * 32 * 32).to(torch.float32).reshape(2, 3, 32, 32)
    with torch.no_grad():
        logits = m(x)
        logits64 = m.double()(x.double())
    doc = {
        "torch_version": torch.__version__, "torchvision_version": torchvision.__version__,
        "generator": "tools/gen_resnet18_fixture.py",
        "tensors": [{"name": n, "shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", "")}
                    for n, t in sd.items()],
        "logits": [float(v) for v in logits.flatten().tolist()],
        "logits_float64": [float(v) for v in logits64.flatten().tolist()],
    }
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=1)
    print("wrote", OUT, "logits", logits)


if __name__ == "__main__":
    sys.exit(main())
