#!/usr/bin/env python3
"""Makes tests/golden/airbench_muon_steps.safetensors: a few steps of the airbench94_muon recipe
(Keller Jordan's airbench94_muon.py, the published CIFAR-10 record) written here in plain PyTorch
from the record's facts, for tests/nn/test_recipe_airbench_muon.cpp.

The recipe, as this file runs it (one step t = 0, 1, ...):
  net: whitening conv 3->24 (2x2, bias; weight frozen) -> layers = Sequential(GELU, three conv
       groups, MaxPool2d(3)) -> flatten -> head (linear, no bias) / the feature count; a group is
       conv3x3 -> max_pool 2 -> BN -> GELU -> conv3x3 -> BN -> GELU, BN eps 1e-12, torch momentum
       0.4, weight frozen at 1. state_dict names: whiten.*, layers.{1,2,3}.{conv,norm}{1,2}.*, head.weight
  loss: cross-entropy, label smoothing 0.2, summed over the batch
  SGD (momentum 0.85, Nesterov): whiten.bias lr 0.053, the BN biases lr 0.053, the head lr 0.67;
       wd = 2e-6 x batch, each group's weight_decay = wd / its lr
  Muon (every trainable 4-D weight: the group convs): lr 0.24, momentum 0.6, Nesterov;
       buf = m buf + g; u = g + m buf; p *= sqrt(rows) / ||p||; p -= lr NS3(u as rows x cols),
       NS3: X = u / (||u|| + 1e-7), transposed when rows > cols, 3 x {A = X X^T;
       X = 3.4445 X + (-4.7750 A + 2.0315 A A) X}
  lr: whiten.bias's x (1 - t / S_w), S_w = ceil(3 x steps per epoch); every other group's (Muon
       included) x (1 - t / T), T = ceil(8 x steps per epoch); set before the step
  whiten.bias trains while t < S_w (after: its bias is detached, so no grad and no update)
  order per step: forward, backward, the lrs, SGD.step, Muon.step, zero_grad(set_to_none)
  no lookahead.

The configuration (small, so the states are stored): widths WIDTHS, the first N_TRAIN records of
the embedded CIFAR-10 sample (data/cifar10-sample) in file order (--no-shuffle), no augmentation
(--no-augment), batch BATCH: STEPS_PER_EPOCH = N_TRAIN // BATCH, the plan T = 8 x that, S_w = 3 x
that. Inputs: the record's normalisation, in float32. The Newton-Schulz iteration runs in the
run's dtype (the record runs it in bf16; gpunet's test compares its ns_bf16 = false path, the
same rule in float32).

Initial weights (init.<name>, float32; the test starts gpunet from them, as --init): conv and head
weights u(k, i) / sqrt(fan_in) (tools/gen_resnet18_fixture.py's formula: PyTorch's default
distribution), dirac_ on each group conv's first C_in filters, the head then divided by its std
(the record's reset()), whiten.bias u(k, i) / sqrt(12) (PyTorch's default), whiten.weight the
record's whitening of those N_TRAIN images (uncentred 2x2-patch covariance, eigh, ascending
eigenvalues, v / sqrt(lambda + 5e-4), then negated), BN at its defaults.

Runs (tag: steps done of the plan T): RUNS. Why so few: Muon orthogonalises each update, which
amplifies the float32 rounding of the gradient's small singular directions, so the float32 runs
leave the float64 one quickly (measured, torch 2.15, 1 thread: rms error / rms update 5e-4..7e-3
after one step, up to 2e-2 after three, 0.1-0.3 after four at batch 50): a check over more steps
could not tell a rule difference from that drift. For each: the float64 run's final state
(<tag>.f64.<name>, float64; int64 for num_batches_tracked) and the peer's own float32 spread,
per tensor: <tag>.p32err.<name> = max over members of rms(member - f64) / rms(f64 - init), float64
[1]. Members: the float32 program as it is; with oneDNN off (another conv summation order); from
the initial weights moved one ulp at random (seeds 1000, 1001).

Run from the repo root: /work/venv/bin/python tools/gen_airbench_muon_steps.py
(--check prints the spread without writing)."""
import argparse, math, os, sys
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_resnet18_fixture import u  # noqa: E402

WIDTHS, N_TRAIN, BATCH = (24, 32, 64), 50, 50
STEPS_PER_EPOCH = N_TRAIN // BATCH                  # 1: each epoch one step, the lr moves fast
TOTAL = math.ceil(8 * STEPS_PER_EPOCH)              # 8
WHITEN_BIAS_STEPS = math.ceil(3 * STEPS_PER_EPOCH)  # 3
RUNS = {"a": 2, "b": 4}
MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
OUT = "tests/golden/airbench_muon_steps.safetensors"


class FrozenNorm(nn.BatchNorm2d):
    def __init__(self, c):
        super().__init__(c, eps=1e-12, momentum=0.4)
        self.weight.requires_grad_(False)


class ConvGroup(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.norm1 = FrozenNorm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.norm2 = FrozenNorm(cout)

    def forward(self, x):
        x = F.gelu(self.norm1(F.max_pool2d(self.conv1(x), 2)))
        return F.gelu(self.norm2(self.conv2(x)))


class Net(nn.Module):
    def __init__(self, widths):
        super().__init__()
        self.whiten = nn.Conv2d(3, 24, 2, bias=True)
        self.whiten.weight.requires_grad_(False)
        w1, w2, w3 = widths
        self.layers = nn.Sequential(nn.GELU(), ConvGroup(24, w1), ConvGroup(w1, w2), ConvGroup(w2, w3),
                                    nn.MaxPool2d(3))
        self.head = nn.Linear(w3, 10, bias=False)

    def forward(self, x, train_whiten_bias=True):
        b = self.whiten.bias if train_whiten_bias else self.whiten.bias.detach()
        h = self.layers(F.conv2d(x, self.whiten.weight, b)).flatten(1)
        return self.head(h) / h.shape[-1]


def newton_schulz3(g, eps=1e-7):
    x = g / (g.norm() + eps)
    tall = g.shape[0] > g.shape[1]
    if tall:
        x = x.T
    for _ in range(3):
        a = x @ x.T
        x = 3.4445 * x + (-4.7750 * a + 2.0315 * (a @ a)) @ x
    return x.T if tall else x


class Muon(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum, nesterov):
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov))

    @torch.no_grad()
    def step(self):
        for grp in self.param_groups:
            for p in grp["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if "buf" not in st:
                    st["buf"] = torch.zeros_like(p.grad)
                buf = st["buf"]
                buf.mul_(grp["momentum"]).add_(p.grad)
                upd = p.grad + grp["momentum"] * buf if grp["nesterov"] else buf
                p.mul_(p.shape[0] ** 0.5 / p.norm())
                p.sub_(grp["lr"] * newton_schulz3(upd.reshape(p.shape[0], -1)).view(p.shape))


def sample():
    d = os.path.join(HERE, "..", "data", "cifar10-sample")
    raw = np.concatenate([np.fromfile(os.path.join(d, f"data_batch_{i}.bin"), dtype=np.uint8)
                          for i in range(1, 6)]).reshape(-1, 3073)[:N_TRAIN]
    xu8 = torch.from_numpy(raw[:, 1:].reshape(-1, 3, 32, 32).copy())
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    return (xu8.float() / 255.0 - mean) / std, torch.from_numpy(raw[:, 0].astype(np.int64))


def whitening(x32, eps=5e-4):
    p = x32.double().unfold(2, 2, 1).unfold(3, 2, 1)             # N, C, 31, 31, 2, 2
    p = p.permute(0, 2, 3, 1, 4, 5).reshape(-1, 12)               # each patch as (c, dy, dx)
    vals, vecs = torch.linalg.eigh(p.T @ p / p.shape[0])          # ascending, kept so
    f = (vecs.T / torch.sqrt(vals + eps).view(-1, 1)).reshape(12, 3, 2, 2)
    return torch.cat([f, -f]).float()


def initial_weights(x32):
    out = {}
    for k, (name, t) in enumerate(Net(WIDTHS).state_dict().items()):
        v = t.detach().clone()
        if name.endswith("conv1.weight") or name.endswith("conv2.weight") or name == "head.weight":
            v = (u(k, t.numel()) / math.sqrt(t[0].numel())).reshape(t.shape)
            if name.startswith("layers."):
                torch.nn.init.dirac_(v[:t.shape[1]])
            if name == "head.weight":
                v = v / v.std()
            v = v.float()
        elif name == "whiten.bias":
            v = (u(k, t.numel()) / math.sqrt(12)).float()
        elif name == "whiten.weight":
            v = whitening(x32)
        out[name] = v.contiguous()
    return out


def perturb(init, seed):
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in init.items():
        if v.is_floating_point():
            up = torch.rand(v.shape, generator=g) < 0.5
            out[k] = torch.where(up, torch.nextafter(v, torch.full_like(v, math.inf)),
                                 torch.nextafter(v, torch.full_like(v, -math.inf)))
        else:
            out[k] = v.clone()
    return out


def run(init, x32, y, dtype, steps, mkldnn=True):
    with torch.backends.mkldnn.flags(enabled=mkldnn):
        net = Net(WIDTHS).to(dtype)
        net.load_state_dict({k: (v.to(dtype) if v.is_floating_point() else v) for k, v in init.items()}, strict=True)
        net.train()
        wd = 2e-6 * BATCH
        norm_biases = [p for n, p in net.named_parameters() if "norm" in n and p.requires_grad]
        sgd = torch.optim.SGD([dict(params=[net.whiten.bias], lr=0.053, weight_decay=wd / 0.053),
                               dict(params=norm_biases, lr=0.053, weight_decay=wd / 0.053),
                               dict(params=[net.head.weight], lr=0.67, weight_decay=wd / 0.67)],
                              momentum=0.85, nesterov=True)
        filters = [p for p in net.parameters() if p.dim() == 4 and p.requires_grad]
        muon = Muon(filters, lr=0.24, momentum=0.6, nesterov=True)
        base = [[g["lr"] for g in o.param_groups] for o in (sgd, muon)]
        for t in range(steps):
            i = (t % STEPS_PER_EPOCH) * BATCH
            out = net(x32[i:i + BATCH].to(dtype), train_whiten_bias=t < WHITEN_BIAS_STEPS)
            F.cross_entropy(out, y[i:i + BATCH], label_smoothing=0.2, reduction="sum").backward()
            sgd.param_groups[0]["lr"] = base[0][0] * (1 - t / WHITEN_BIAS_STEPS)
            for g, b0 in zip(sgd.param_groups[1:], base[0][1:]):
                g["lr"] = b0 * (1 - t / TOTAL)
            for g, b0 in zip(muon.param_groups, base[1]):
                g["lr"] = b0 * (1 - t / TOTAL)
            sgd.step()
            muon.step()
            net.zero_grad(set_to_none=True)
        return {k: v.detach().clone() for k, v in net.state_dict().items()}


def rel(member, f64, init):
    den = (f64 - init.double()).pow(2).mean().sqrt()
    return ((member.double() - f64).pow(2).mean().sqrt() / den).item() if den > 0 else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="print the spread, write nothing")
    a = ap.parse_args()
    torch.set_num_threads(1)
    x32, y = sample()
    init = initial_weights(x32)
    out = {f"init.{k}": v for k, v in init.items()}
    for tag, steps in RUNS.items():
        f64 = run(init, x32, y, torch.float64, steps)
        members = {"as-is": run(init, x32, y, torch.float32, steps),
                   "oneDNN-off": run(init, x32, y, torch.float32, steps, mkldnn=False),
                   "ulp-1000": run(perturb(init, 1000), x32, y, torch.float32, steps),
                   "ulp-1001": run(perturb(init, 1001), x32, y, torch.float32, steps)}
        print(f"run {tag}: {steps} of {TOTAL} steps; rms(member - float64) / rms(float64 update)")
        for k, v in f64.items():
            out[f"{tag}.f64.{k}"] = v.contiguous()
            if not v.is_floating_point():
                continue
            errs = [rel(m[k], v, init[k]) for m in members.values()]
            out[f"{tag}.p32err.{k}"] = torch.tensor([max(errs)], dtype=torch.float64)
            print(f"  {k:28s} " + "  ".join(f"{e:.2e}" for e in errs))
    if a.check:
        return
    meta = {"generator": "tools/gen_airbench_muon_steps.py", "torch": torch.__version__,
            "widths": ",".join(map(str, WIDTHS)), "n_train": str(N_TRAIN), "batch": str(BATCH),
            "total_steps": str(TOTAL), "runs": ",".join(f"{t}:{s}" for t, s in RUNS.items())}
    save_file(out, OUT + ".tmp", metadata=meta)
    os.replace(OUT + ".tmp", OUT)
    print(f"wrote {OUT} ({os.path.getsize(OUT) / 1e3:.0f} kB), torch {torch.__version__}")


if __name__ == "__main__":
    main()
