#!/usr/bin/env python3
"""Writes the PyTorch fixtures for the learning-rate schedules: tests/golden/schedules.json.

"values": for each schedule, the lr of every parameter group at every step, as PyTorch's
scheduler sets it (param_groups[g]["lr"] before optimizer step t, then scheduler.step()):
StepLR, OneCycleLR (cycle_momentum off: gpunet does not cycle the momentum), and LambdaLR with
the factors gpunet defines for piecewise (numpy.interp) and warmup-cosine.
"training": a Linear(4, 3) trained with SGD (two groups, Nesterov, weight decay) and each
schedule for a few steps on a fixed batch: the initial and final weights (float32).
The fixture is committed (CI has no torch). Regenerate with
    /work/venv/bin/python tools/gen_schedules.py
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim import lr_scheduler as S

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "schedules.json")
SEED = 1234


def piecewise(points):
    xs = [p[0] for p in points]
    fs = [p[1] for p in points]
    return lambda t: float(np.interp(t, xs, fs))


def warmup_cosine(warmup, min_factor, total):
    def f(t):
        if t < warmup:
            return float(t) / float(max(1, warmup))
        progress = float(t - warmup) / float(max(1, total - warmup))
        return min_factor + (1.0 - min_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return f


# name -> (description for the C++ test, maker(optimizer, total_steps))
SCHEDULES = {
    "step": ({"kind": "step", "step_size": 7, "gamma": 0.3},
             lambda o, T: S.StepLR(o, step_size=7, gamma=0.3)),
    "step_1": ({"kind": "step", "step_size": 1, "gamma": 0.9},
               lambda o, T: S.StepLR(o, step_size=1, gamma=0.9)),
    "cosine": ({"kind": "cosine", "warmup": 5, "min_factor": 0.1},
               lambda o, T: S.LambdaLR(o, warmup_cosine(5, 0.1, T))),
    "cosine_nowarmup": ({"kind": "cosine", "warmup": 0, "min_factor": 0.0},
                        lambda o, T: S.LambdaLR(o, warmup_cosine(0, 0.0, T))),
    "onecycle": ({"kind": "onecycle", "max_lr": []},
                 lambda o, T: S.OneCycleLR(o, max_lr=[g["lr"] for g in o.param_groups], total_steps=T,
                                           cycle_momentum=False)),
    "onecycle_linear3": ({"kind": "onecycle", "max_lr": [0.3, 0.05], "pct_start": 0.25, "cos": False,
                          "div_factor": 10.0, "final_div_factor": 100.0, "three_phase": True},
                         lambda o, T: S.OneCycleLR(o, max_lr=[0.3, 0.05], total_steps=T, pct_start=0.25,
                                                   anneal_strategy="linear", div_factor=10.0,
                                                   final_div_factor=100.0, three_phase=True,
                                                   cycle_momentum=False)),
    "piecewise": ({"kind": "piecewise", "points": [[0, 0.2], [8, 1.0], [40, 0.0]]},
                  lambda o, T: S.LambdaLR(o, piecewise([[0, 0.2], [8, 1.0], [40, 0.0]]))),
    "piecewise_clamped": ({"kind": "piecewise", "points": [[5, 0.5], [12.5, 1.5], [30, 0.1]]},
                          lambda o, T: S.LambdaLR(o, piecewise([[5, 0.5], [12.5, 1.5], [30, 0.1]]))),
}


def lr_values(maker, base_lrs, total):
    p = [torch.zeros(1, requires_grad=True) for _ in base_lrs]
    opt = torch.optim.SGD([{"params": [q], "lr": lr} for q, lr in zip(p, base_lrs)], lr=base_lrs[0])
    sched = maker(opt, total)
    rows = []
    for _ in range(total):
        rows.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    return rows


def t2j(t):
    t = t.detach().contiguous()
    return {"shape": list(t.shape), "data": [float(v) for v in t.flatten().tolist()]}


def training(maker, total):
    torch.manual_seed(SEED)
    lin = torch.nn.Linear(4, 3)
    x = torch.randn(6, 4)
    y = torch.tensor([0, 2, 1, 2, 0, 1])
    init = {"weight": t2j(lin.weight), "bias": t2j(lin.bias)}
    opt = torch.optim.SGD([{"params": [lin.weight], "lr": 0.1}, {"params": [lin.bias], "lr": 0.4}],
                          momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = maker(opt, total)
    for _ in range(total):
        opt.zero_grad()
        F.cross_entropy(lin(x), y).backward()
        opt.step()
        sched.step()
    return {"x": t2j(x), "y": [int(v) for v in y.tolist()], "init": init,
            "final": {"weight": t2j(lin.weight), "bias": t2j(lin.bias)}}


def main():
    base_lrs = [0.1, 0.025]
    total = 40
    values, train = {}, {}
    for name, (desc, maker) in SCHEDULES.items():
        values[name] = {"schedule": desc, "base_lrs": base_lrs, "total_steps": total,
                        "lr": lr_values(maker, base_lrs, total)}
        train[name] = {"schedule": desc, "total_steps": 12, **training(maker, 12)}
    doc = {"torch_version": torch.__version__, "generator": "tools/gen_schedules.py", "seed": SEED,
           "values": values, "training": train}
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
