#!/usr/bin/env python3
"""Writes tests/golden/nn_batch_norm2d.json: torch.nn.BatchNorm2d over 3 training steps and one
eval step, for several constructor settings, on inputs both sides compute from a formula:
  u(k, i) = (mix64(mix64(k) ^ i) >> 11) * 2^-52 - 1 (splitmix64, as gpunet::mix64), step s's input
  element i = 2 * u(100 + s, i) + 0.5 (s = 0, 1, 2 training; 3 eval), shape (4, 3, 5, 5);
the loss of each training step is sum(y * r), r element i = u(200 + s, i); x/weight/bias grads
recorded. Run: /path/to/venv/bin/python tools/gen_bn_module_fixture.py
"""
import json, os, sys
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_resnet18_fixture import u  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "nn_batch_norm2d.json")
SHAPE = (4, 3, 5, 5)
CONFIGS = {
    "default": dict(),
    "momentum_none": dict(momentum=None),
    "airbench": dict(eps=1e-12, momentum=0.4),
    "no_affine": dict(affine=False),
    "no_running_stats": dict(track_running_stats=False),
}


def t2l(t):
    return [float(v) for v in t.detach().double().flatten().tolist()]


def main():
    n = int(np.prod(SHAPE))
    cases = {}
    for name, kw in CONFIGS.items():
        bn = torch.nn.BatchNorm2d(3, **kw)
        if bn.affine:  # non-trivial affine parameters
            with torch.no_grad():
                bn.weight.copy_(1 + 0.3 * u(7, 3).float())
                bn.bias.copy_(0.2 * u(8, 3).float())
        steps = []
        for s in range(3):
            x = (2 * u(100 + s, n) + 0.5).float().reshape(SHAPE).requires_grad_(True)
            r = u(200 + s, n).float().reshape(SHAPE)
            bn.train()
            if bn.affine:
                bn.weight.grad = None
                bn.bias.grad = None
            y = bn(x)
            (y * r).sum().backward()
            st = {"y": t2l(y), "dx": t2l(x.grad)}
            if bn.affine:
                st["dweight"] = t2l(bn.weight.grad)
                st["dbias"] = t2l(bn.bias.grad)
            if bn.track_running_stats:
                st["running_mean"] = t2l(bn.running_mean)
                st["running_var"] = t2l(bn.running_var)
                st["num_batches_tracked"] = int(bn.num_batches_tracked)
            steps.append(st)
        bn.eval()
        x = (2 * u(103, n) + 0.5).float().reshape(SHAPE)
        with torch.no_grad():
            y_eval = bn(x)
        cases[name] = {"kwargs": {k: v for k, v in kw.items()}, "steps": steps, "eval_y": t2l(y_eval),
                       "state_dict_keys": list(bn.state_dict().keys())}
    with open(OUT, "w") as f:
        json.dump({"torch_version": torch.__version__, "generator": "tools/gen_bn_module_fixture.py",
                   "shape": list(SHAPE), "cases": cases}, f, indent=1)
    print("wrote", OUT)


if __name__ == "__main__":
    sys.exit(main())
