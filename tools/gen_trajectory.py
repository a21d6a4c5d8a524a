#!/usr/bin/env python3
"""Fixture for tests/nn/test_trajectory.cpp: a small residual net trained 20 steps with the
airbench recipe's training rule, in float64 (the reference) and in float32 (the ensemble that
sets the test's allowance).

  /work/venv/bin/python tools/gen_trajectory.py     # from the repository root

The net (state_dict names as in the C++ test):
  stem  conv 3->16, 3x3, stride 2, padding 1, no bias -> bn0 -> GELU
  block f(x) = bn2(conv2(GELU(bn1(conv1(x)))))  (conv 16->16, 3x3, padding 1, no bias)
        y = GELU(x + f(x))                      (the shortcut)
  head  adaptive_avg_pool2d(1) -> flatten -> linear 16->10 (bias)
BatchNorm2d: eps 1e-5, momentum 0.1 (PyTorch's defaults).

Training (the airbench recipe's rule, as the PyTorch peer pytorch_airbench.py runs it):
  - data: the embedded CIFAR-10 sample (data/cifar10-sample), data_batch_1.bin onwards in file
    order, batch 32, 20 steps (640 images), normalised with the recipe's mean/std in float32
    as (u8 / 255 - mean) / std (gpunet's loader does the same float ops);
  - loss: cross-entropy with label smoothing 0.2, summed over the batch;
  - torch.optim.SGD, Nesterov, momentum 0.9, two parameter groups: the BN biases at 16x the
    base lr, everything else at the base lr; weight_decay = WD / group lr (the recipe's
    convention, so every group decays by lr * weight_decay = WD * factor per step);
  - lr schedule: factor = numpy.interp(step, [0, int(0.23 * 20), 20], [0.2, 1, 0.07]), set
    before step `step` (0-based);
  - lookahead: every 5 steps, decay = 0.95^5 * (step / 20)^3 (step counted after the update),
    ema <- lerp(ema, net, 1 - decay) and net <- ema over every floating-point state_dict
    tensor (BN running statistics included); ema starts as the initial state.

Outputs (tests/golden/):
  trajectory.safetensors: init.<name> (float32 initial state, PyTorch's default init from
    seed 0), final.<name> (float64 final state of the float64 run), losses (float64 per-step
    losses of the float64 run).
  trajectory.json: the recipe's constants, the allowance per tensor (MULTIPLE x the ensemble's
    worst relative rms error, at least FLOOR), the ensemble's figures, torch's version.

The allowance: ENSEMBLE float32 runs, run k from the initial weights with every element moved
by one ulp up or down at random (generator seed 1000 + k); for each tensor, its relative rms
error err_k = rms(final32_k - final64) / rms(final64 - init). allowance = max(MULTIPLE *
max_k err_k, FLOOR). The same for the per-step losses: |loss32_k - loss64| / |loss64|.
"""
import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

STEPS = 20
BATCH = 32
WIDTH = 16
BASE_LR = 0.004
BIAS_LR_SCALE = 16.0
MOMENTUM = 0.9
WD = 0.004 * 0.004 * 10  # lr * weight_decay per step at factor 1
LABEL_SMOOTHING = 0.2
EMA_EVERY = 5
EMA_BASE = 0.95
WARMUP_FRACTION = 0.23
LR_POINTS = [0.2, 1.0, 0.07]
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
ENSEMBLE = 8
MULTIPLE = 3.0
FLOOR = 1e-6


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, WIDTH, 3, stride=2, padding=1, bias=False)
        self.bn0 = nn.BatchNorm2d(WIDTH)
        self.conv1 = nn.Conv2d(WIDTH, WIDTH, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(WIDTH)
        self.conv2 = nn.Conv2d(WIDTH, WIDTH, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(WIDTH)
        self.head = nn.Linear(WIDTH, 10)

    def forward(self, x):
        x = F.gelu(self.bn0(self.stem(x)))
        y = F.gelu(x + self.bn2(self.conv2(F.gelu(self.bn1(self.conv1(x))))))
        return self.head(F.adaptive_avg_pool2d(y, 1).flatten(1))


def load_batches():
    raw = np.concatenate([np.fromfile(f"data/cifar10-sample/data_batch_{i}.bin", dtype=np.uint8).reshape(-1, 3073)
                          for i in (1, 2)])[:STEPS * BATCH]
    y = torch.from_numpy(raw[:, 0].astype(np.int64))
    u8 = torch.from_numpy(raw[:, 1:].reshape(-1, 3, 32, 32).copy())
    mean = torch.tensor(MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float32).view(1, 3, 1, 1)
    x = u8.float().div_(255).sub_(mean).div_(std)
    return x, y


def lr_factors():
    warm = int(WARMUP_FRACTION * STEPS)
    return np.interp(np.arange(STEPS + 1), [0, warm, STEPS], LR_POINTS)


def train(init, x, y, dtype, momentum=MOMENTUM, wd=WD, smoothing=LABEL_SMOOTHING):
    """Trains from `init` (a float32 state_dict) in `dtype`; returns (final state, losses)."""
    torch.manual_seed(0)
    net = Net().to(dtype)
    net.load_state_dict({k: v.to(dtype) if v.is_floating_point() else v for k, v in init.items()})
    named = dict(net.named_parameters())
    biases = [p for n, p in named.items() if n.startswith("bn") and n.endswith(".bias")]
    others = [p for n, p in named.items() if not (n.startswith("bn") and n.endswith(".bias"))]
    lr_bias = BASE_LR * BIAS_LR_SCALE
    opt = torch.optim.SGD([dict(params=biases, lr=lr_bias, weight_decay=wd / lr_bias),
                           dict(params=others, lr=BASE_LR, weight_decay=wd / BASE_LR)],
                          momentum=momentum, nesterov=True)
    base_lrs = [g["lr"] for g in opt.param_groups]
    factors = lr_factors()
    decay = EMA_BASE ** EMA_EVERY * (torch.arange(STEPS + 1, dtype=torch.float64) / STEPS) ** 3
    ema = {k: v.detach().clone() for k, v in net.state_dict().items()}
    xs, losses = x.to(dtype), []
    net.train()
    for step in range(STEPS):
        for gi, g in enumerate(opt.param_groups):
            g["lr"] = base_lrs[gi] * factors[step]
        xb, yb = xs[step * BATCH:(step + 1) * BATCH], y[step * BATCH:(step + 1) * BATCH]
        loss = F.cross_entropy(net(xb), yb, label_smoothing=smoothing, reduction="sum")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if (step + 1) % EMA_EVERY == 0:
            d = decay[step + 1].item()
            with torch.no_grad():
                for k, v in net.state_dict().items():
                    if v.is_floating_point():
                        ema[k].lerp_(v, 1 - d)
                        v.copy_(ema[k])
    return {k: v.detach().clone() for k, v in net.state_dict().items()}, losses


def perturb(init, seed):
    """Every floating-point element moved one ulp up or down at random."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in init.items():
        if v.is_floating_point():
            up = torch.rand(v.shape, generator=g) < 0.5
            out[k] = torch.where(up, torch.nextafter(v, torch.full_like(v, float("inf"))),
                                 torch.nextafter(v, torch.full_like(v, float("-inf"))))
        else:
            out[k] = v.clone()
    return out


def rel_rms(final, ref, init):
    num = (final.double() - ref).pow(2).mean().sqrt().item()
    den = (ref - init.double()).pow(2).mean().sqrt().item()
    return num / den


def main():
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    torch.manual_seed(0)
    init = {k: v.detach().clone() for k, v in Net().state_dict().items()}
    x, y = load_batches()
    ref, ref_losses = train(init, x, y, torch.float64)
    names = [k for k, v in init.items() if v.is_floating_point()]
    worst = {n: 0.0 for n in names}
    worst_loss = 0.0
    for k in range(ENSEMBLE):
        fin, losses = train(perturb(init, 1000 + k), x, y, torch.float32)
        for n in names:
            worst[n] = max(worst[n], rel_rms(fin[n], ref[n], init[n]))
        worst_loss = max(worst_loss, max(abs(a - b) / abs(b) for a, b in zip(losses, ref_losses)))
    # How far the rule mutations move the float32 result (for the record: they must be far
    # beyond the allowance, or the test could not tell them apart).
    mutations = {}
    for name, kw in {"weight_decay_x1.1": dict(wd=WD * 1.1), "momentum_0.8": dict(momentum=0.8),
                     "label_smoothing_0.1": dict(smoothing=0.1)}.items():
        fin, _ = train(init, x, y, torch.float32, **kw)
        mutations[name] = {n: rel_rms(fin[n], ref[n], init[n]) for n in names}
    tensors = {f"init.{k}": v.contiguous() for k, v in init.items()}
    tensors.update({f"final.{k}": v.contiguous() for k, v in ref.items()})
    tensors["losses"] = torch.tensor(ref_losses, dtype=torch.float64)
    os.makedirs("tests/golden", exist_ok=True)
    save_file(tensors, "tests/golden/trajectory.safetensors")
    meta = dict(
        generator="tools/gen_trajectory.py", torch=torch.__version__,
        steps=STEPS, batch=BATCH, width=WIDTH, base_lr=BASE_LR, bias_lr_scale=BIAS_LR_SCALE,
        momentum=MOMENTUM, wd=WD, label_smoothing=LABEL_SMOOTHING, ema_every=EMA_EVERY,
        ema_base=EMA_BASE, warmup_fraction=WARMUP_FRACTION, lr_points=LR_POINTS,
        lr_factors=lr_factors().tolist(), mean=MEAN, std=STD,
        ensemble=ENSEMBLE, multiple=MULTIPLE, floor=FLOOR,
        ensemble_worst=worst, ensemble_worst_loss=worst_loss,
        allowance={n: max(MULTIPLE * worst[n], FLOOR) for n in names},
        loss_allowance=max(MULTIPLE * worst_loss, FLOOR),
        mutations_float32=mutations)
    with open("tests/golden/trajectory.json", "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    for n in names:
        print(f"{n:24s} ensemble {worst[n]:.2e}  " +
              "  ".join(f"{m} {v[n]:.2e}" for m, v in mutations.items()))
    print("losses", ref_losses[0], ref_losses[-1], "worst loss rel", worst_loss)


if __name__ == "__main__":
    main()
