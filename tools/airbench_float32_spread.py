#!/usr/bin/env python3
"""The spread of legitimate float32 runs of the airbench94 peer (../shared/peers/pytorch_airbench.py)
against its float64 run, on the configuration of tests/golden/airbench_full_steps.safetensors's run
a (full widths, batch 128, --no-augment --no-shuffle, the generator's initial weights, the plan of
--epochs 9.9, lookahead included), after --steps steps. Diagnostic for issue 13 (not a fixture):
it shows how far float32 runs that differ only in rounding drift apart over a few steps (max-pool
near-ties, BN over the batch make the trajectory chaotic), which bounds what a many-step check can
demand of gpunet. Members: the peer as it is; the peer with oneDNN off (PyTorch's other CPU conv,
another summation order); the peer from the initial weights moved 1 ulp at random (seed 1000, the
generator's member 0). Prints, per state tensor, rms(member - float64) / rms(float64 update).

  /work/venv/bin/python tools/airbench_float32_spread.py [--steps 10] [--threads 1]

Measured (torch 2.15, 1 thread, 10 steps): the peer as it is 1.2e-3..3.1e-3 on the conv weights,
the BN biases of group 1 and whiten.bias; oneDNN off 7e-3..1.3e-2; 1 ulp 1e-4..1.4e-3."""
import argparse, math, os, sys
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_airbench_full_steps as G  # noqa: E402  (the peer module, initial_weights, perturb)

peer = G.peer


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    sample = os.path.join(HERE, "..", "data", "cifar10-sample")
    raw = np.concatenate([np.fromfile(os.path.join(sample, f"data_batch_{i}.bin"), dtype=np.uint8)
                          for i in range(1, 6)]).reshape(-1, 3073)
    xu8 = torch.from_numpy(raw[:, 1:].reshape(-1, 3, 32, 32).copy())
    y = torch.from_numpy(raw[:, 0].astype(np.int64))
    init = G.initial_weights(torch.cat([xu8] * G.TILES))
    x32 = peer.normalise(xu8)
    B = G.BATCH
    total = math.ceil((50000 // B) * 9.9)
    momentum = 0.85
    kilostep = 1024 * (1 + 1 / (1 - momentum))
    lr, wd = 11.5 / kilostep, 0.0153 * B / kilostep
    factors = np.interp(np.arange(total + 1), [0, int(0.23 * total), total], [0.2, 1.0, 0.07])
    alpha = 0.95 ** 5 * (torch.arange(total + 1, dtype=torch.float64) / total) ** 3

    def run(dtype, sd, mkldnn=True):  # the peer's main() loop, without its data preparation
        with torch.backends.mkldnn.flags(enabled=mkldnn):
            net = peer.Net().to(dtype)
            net.load_state_dict({k: (v.to(dtype) if v.is_floating_point() else v) for k, v in sd.items()})
            nb = [p for n, p in net.named_parameters() if "norm" in n and p.requires_grad]
            ot = [p for n, p in net.named_parameters() if "norm" not in n and p.requires_grad]
            opt = torch.optim.SGD([dict(params=nb, lr=lr * 64, weight_decay=wd / (lr * 64)),
                                   dict(params=ot, lr=lr, weight_decay=wd / lr)], momentum=momentum, nesterov=True)
            ema = {k: v.detach().clone() for k, v in net.state_dict().items()}
            for s in range(a.steps):
                for gi, base in enumerate((lr * 64, lr)):
                    opt.param_groups[gi]["lr"] = base * factors[s]
                out = net(x32[s * B:(s + 1) * B].to(dtype))
                loss = torch.nn.functional.cross_entropy(out, y[s * B:(s + 1) * B], label_smoothing=0.2,
                                                         reduction="none").sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if (s + 1) % 5 == 0:
                    d = alpha[s + 1].item()
                    with torch.no_grad():
                        for k, v in net.state_dict().items():
                            if v.is_floating_point():
                                ema[k].lerp_(v, 1 - d)
                                v.copy_(ema[k])
        return {k: v.detach().double() for k, v in net.state_dict().items()}

    f64 = run(torch.float64, init)
    members = {"peer": run(torch.float32, init), "oneDNN-off": run(torch.float32, init, False),
               "1-ulp": run(torch.float32, G.perturb(init, 1000))}
    print(f"{a.steps} steps, torch {torch.__version__}, {a.threads} thread(s)")
    print(f"{'tensor':28s}" + "".join(f"{t:>13s}" for t in members))
    for k, v in f64.items():
        d = v - init[k].double()
        if not init[k].is_floating_point() or d.abs().max() == 0:
            continue
        den = d.pow(2).mean().sqrt()
        print(f"{k:28s}" + "".join(f"{((m[k] - v).pow(2).mean().sqrt() / den).item():13.3e}" for m in members.values()))


if __name__ == "__main__":
    main()
