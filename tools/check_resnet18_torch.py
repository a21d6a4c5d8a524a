#!/usr/bin/env python3
"""Moves ResNet-18 weights both ways between gpunet and torchvision, as a PyTorch user would.

  python3 tools/check_resnet18_torch.py load GPUNET.safetensors LOGITS.json
      torchvision's CIFAR resnet18 (conv1 = 3x3 stride 1, maxpool = Identity) loads the file
      with load_state_dict(strict=True); its eval-mode logits on the formula batch (see
      gen_resnet18_fixture.py) must equal LOGITS.json's "logits" within 1e-4.
  python3 tools/check_resnet18_torch.py save OUT.safetensors LOGITS.json
      writes a freshly initialised torchvision model's state_dict (seed 0, after one training
      forward so the BN statistics move) and its eval-mode logits on the formula batch.
Prints one line starting with "OK" and exits 0, or prints the problem and exits 1.
"""
import json, os, sys

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_resnet18_fixture import cifar_resnet18, u  # noqa: E402


def batch():
    return u(1000, 2 * 3 * 32 * 32).to(torch.float32).reshape(2, 3, 32, 32)


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("load", "save"):
        print(__doc__)
        return 1
    mode, path, logits_path = sys.argv[1:]
    m = cifar_resnet18()
    if mode == "load":
        m.load_state_dict(load_file(path), strict=True)
        m.eval()
        with torch.no_grad():
            got = m(batch()).flatten().tolist()
        want = json.load(open(logits_path))["logits"]
        worst = max(abs(a - b) for a, b in zip(got, want))
        if len(got) != len(want) or worst > 1e-4:
            print(f"logits differ: worst {worst:.3g} over {len(got)} values")
            return 1
        print(f"OK: torchvision loaded {path} strictly; logits within {worst:.2g} of gpunet's")
        return 0
    torch.manual_seed(0)
    m.train()
    with torch.no_grad():
        m(torch.randn(8, 3, 32, 32))
    m.eval()
    with torch.no_grad():
        logits = m(batch()).flatten().tolist()
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, path)
    json.dump({"logits": logits}, open(logits_path, "w"))
    print(f"OK: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
