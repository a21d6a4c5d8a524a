#!/usr/bin/env python3
"""Proves that PyTorch loads a gpunet checkpoint the way a PyTorch user would:

  net = Net(); net.load_state_dict(safetensors.torch.load_file(path), strict=True)

  python3 tools/check_torch_load.py CHECKPOINT [--expect EXPECT.json]

EXPECT.json (optional) maps tensor names to {"sum": s, "first": [..]} that the loaded values
must match (float32 data: first values to 1e-6, float64 sums to 1e-4 relative). Then it runs
one forward pass on zeros. Prints one line starting with "OK" and exits 0, or prints the
problem and exits 1. Needs torch and safetensors.
"""
import argparse
import json
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_torch_checkpoint import Net  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--expect")
    args = ap.parse_args()

    sd = load_file(args.checkpoint)
    with safe_open(args.checkpoint, framework="pt") as f:
        metadata = f.metadata() or {}
    net = Net()
    net.load_state_dict(sd, strict=True)  # raises on a missing, unexpected or misshapen tensor

    if args.expect:
        with open(args.expect) as f:
            expect = json.load(f)
        for name, want in expect.items():
            got = net.state_dict()[name].reshape(-1)
            s = got.double().sum().item()
            if abs(s - want["sum"]) > 1e-4 * max(1.0, abs(want["sum"])):
                raise SystemExit(f"FAIL: {name}: sum {s!r}, expected {want['sum']!r}")
            for i, v in enumerate(want.get("first", [])):
                if abs(got[i].item() - v) > 1e-6:
                    raise SystemExit(f"FAIL: {name}[{i}] = {got[i].item()!r}, expected {v!r}")

    with torch.no_grad():
        out = net(torch.zeros(1, 3, 32, 32))
    if tuple(out.shape) != (1, 10) or not torch.isfinite(out).all():
        raise SystemExit(f"FAIL: forward pass gave {tuple(out.shape)} / non-finite values")
    print(f"OK: {len(sd)} tensors loaded into Net with strict=True; "
          f"{'values match ' + os.path.basename(args.expect) + '; ' if args.expect else ''}"
          f"forward -> {tuple(out.shape)}; metadata keys {sorted(metadata)}; torch {torch.__version__}")


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except Exception as e:  # one line, non-zero exit
        print(f"FAIL: {type(e).__name__}: {' '.join(str(e).split())}")
        sys.exit(1)
