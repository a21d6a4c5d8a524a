#!/usr/bin/env python3
"""Makes tests/golden/airbench_one_step.safetensors: ONE step of the airbench94 recipe from a state
in the middle of a run, made by the peer (../shared/peers/pytorch_airbench.py: its Net and its
optimizer, as its main() builds them), for tests/nn/test_recipe_airbench_one_step.cpp.

Why one step: over many steps float32 rounding differences grow chaotically (max-pool near-ties,
BN over small batches), so a many-step comparison cannot tell a rule difference from noise. One
step from exactly the same state can: a rule difference (lr schedule index, weight decay, momentum,
Nesterov, label smoothing, BN, GELU, head scale) shows as an error far above float32 rounding.

The state: the peer's Net at widths WIDTHS (small, so the state is stored), batch BATCH, the
planned run of --epochs 9.9 on 50,000 images (the schedule's total), --no-augment --no-shuffle on
the embedded CIFAR-10 sample (data/cifar10-sample, records in file order), run in float64 for K
steps from the initial weights below (lookahead included), then rounded to float32 (parameters,
BN statistics, momentum buffers): start.<name>, mom.<name>. From that state one step (the peer's
step K, its lr factor factors[K]) in float64 (the reference: f64.new.<name>) and in float32 as the
peer runs it (its error, per tensor: p32err.<name> = rms(new32 - new64) / rms(new64 - start), float64
[1]). The batch: x (float32, the peer's normalise()), y (int64).
Initial weights: convs and head from the formula u(k, i) / sqrt(fan_in) (tools/gen_resnet18_fixture.py),
dirac_ on each group conv's first C_in filters, the peer's whitening of the sample's images.

Run from the repo root: /work/venv/bin/python tools/gen_airbench_one_step.py"""
import math, os, sys, importlib.util
import numpy as np
import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_resnet18_fixture import u  # noqa: E402

PEER = os.path.join(HERE, "..", "..", "shared", "peers", "pytorch_airbench.py")
if not os.path.exists(PEER):
    PEER = "/work/shared/peers/pytorch_airbench.py"
spec = importlib.util.spec_from_file_location("pytorch_airbench", PEER)
peer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(peer)

WIDTHS, BATCH, K, N_TRAIN, EPOCHS = (24, 32, 32), 32, 3, 50000, 9.9
OUT = "tests/golden/airbench_one_step.safetensors"


def main():
    torch.set_num_threads(1)
    sample = os.path.join(HERE, "..", "data", "cifar10-sample")
    raw = np.concatenate([np.fromfile(os.path.join(sample, f"data_batch_{i}.bin"), dtype=np.uint8)
                          for i in range(1, 6)]).reshape(-1, 3073)
    xu8 = torch.from_numpy(raw[:, 1:].reshape(-1, 3, 32, 32).copy())
    y = torch.from_numpy(raw[:, 0].astype(np.int64))
    x32 = peer.normalise(xu8)

    init = {}
    for k, (name, t) in enumerate(peer.Net(WIDTHS).state_dict().items()):
        v = t.detach().clone()
        if name.endswith("conv1.weight") or name.endswith("conv2.weight") or name == "head.weight":
            v = (u(k, t.numel()) / math.sqrt(t[0].numel())).to(torch.float32).reshape(t.shape)
            if name.startswith("group"):
                torch.nn.init.dirac_(v[:t.shape[1]])
        elif name == "whiten.weight":
            v = peer.whitening_filters(x32)
        init[name] = v.contiguous()

    # The peer's numbers (main()): total steps, lr, wd, groups, schedule, lookahead.
    total = math.ceil((N_TRAIN // BATCH) * EPOCHS)
    momentum = 0.85
    kilostep = 1024 * (1 + 1 / (1 - momentum))
    lr = 11.5 / kilostep
    wd = 0.0153 * BATCH / kilostep
    lr_bias = lr * 64
    warm = int(0.23 * total)
    factors = np.interp(np.arange(total + 1), [0, warm, total], [0.2, 1.0, 0.07])
    alpha = 0.95 ** 5 * (torch.arange(total + 1, dtype=torch.float64) / total) ** 3

    def make(dtype, sd, mom):
        net = peer.Net(WIDTHS).to(dtype)
        net.load_state_dict({k: (v.to(dtype) if v.is_floating_point() else v) for k, v in sd.items()}, strict=True)
        nb = [(n, p) for n, p in net.named_parameters() if "norm" in n and p.requires_grad]
        ot = [(n, p) for n, p in net.named_parameters() if "norm" not in n and p.requires_grad]
        opt = torch.optim.SGD([dict(params=[p for _, p in nb], lr=lr_bias, weight_decay=wd / lr_bias),
                               dict(params=[p for _, p in ot], lr=lr, weight_decay=wd / lr)],
                              momentum=momentum, nesterov=True)
        if mom is not None:
            for n, p in nb + ot:
                opt.state[p]["momentum_buffer"] = mom[n].to(dtype).clone()
        return net, opt, nb + ot

    def step(net, opt, s, ema, dtype):
        for gi, base in enumerate((lr_bias, lr)):
            opt.param_groups[gi]["lr"] = base * factors[s]
        out = net(x32[s * BATCH:(s + 1) * BATCH].to(dtype))
        loss = torch.nn.functional.cross_entropy(out, y[s * BATCH:(s + 1) * BATCH], label_smoothing=0.2,
                                                 reduction="none").sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        s += 1
        if s % 5 == 0 and ema is not None:
            d = alpha[s].item()
            with torch.no_grad():
                for k, v in net.state_dict().items():
                    if v.is_floating_point():
                        ema[k].lerp_(v, 1 - d)
                        v.copy_(ema[k])

    net, opt, named = make(torch.float64, init, None)
    ema = {k: v.detach().clone() for k, v in net.state_dict().items()}
    for s in range(K):
        step(net, opt, s, ema, torch.float64)
    start = {k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in net.state_dict().items()}
    mom = {n: opt.state[p]["momentum_buffer"].float().contiguous() for n, p in named}
    new = {}
    for tag, dt in (("f64", torch.float64), ("f32", torch.float32)):
        net, opt, _ = make(dt, start, mom)
        step(net, opt, K, None, dt)
        new[tag] = {k: v.detach() for k, v in net.state_dict().items()}
    out = {f"start.{k}": v for k, v in start.items()}
    out.update({f"mom.{k}": v for k, v in mom.items()})
    out["x"] = x32[K * BATCH:(K + 1) * BATCH].contiguous()
    out["y"] = y[K * BATCH:(K + 1) * BATCH].contiguous()
    for k, v in new["f64"].items():
        out[f"f64.new.{k}"] = v.contiguous()
        if v.is_floating_point():
            d = v - start[k].double()
            den = d.pow(2).mean().sqrt()
            e = (new["f32"][k].double() - v).pow(2).mean().sqrt() / den if den > 0 else torch.tensor(0.0)
            out[f"p32err.{k}"] = e.reshape(1).double()
            print(f"  {k:28s} peer float32 one-step error {e.item():.3e}")
    meta = {"generator": "tools/gen_airbench_one_step.py", "torch": torch.__version__, "k": str(K),
            "batch": str(BATCH), "total_steps": str(total), "widths": ",".join(map(str, WIDTHS))}
    save_file(out, OUT + ".tmp", metadata=meta)
    os.replace(OUT + ".tmp", OUT)
    print(f"wrote {OUT} ({os.path.getsize(OUT) / 1e3:.0f} kB), torch {torch.__version__}")


if __name__ == "__main__":
    main()
