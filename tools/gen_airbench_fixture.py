#!/usr/bin/env python3
"""Writes the airbench94 fixtures from the peer's own code (../shared/peers/pytorch_airbench.py):

  tests/golden/airbench_data.json    the peer's normalise() of every byte value per channel, and
                                     its reflect-padded (F.pad, mode="reflect", by 2) normalised
                                     train image 0 of data/cifar10-sample, unflipped and flipped:
                                     what the batch kernel's translate crops from
  tests/golden/airbench_whiten.json  the peer's whitening_filters() (24 x 3 x 2 x 2) and the
                                     patch covariance's eigenvalues, on the first 5,000 training
                                     images of data/cifar10-sample (all 2,000 of them) and, when
                                     present, of ../shared/datasets/cifar10
  tests/golden/airbench94_net.json   the peer's Net: state_dict names, shapes, dtypes and which
                                     parameters train; filled with deterministic weights (the
                                     formula below), its logits in eval mode on a formula batch,
                                     and in train mode its logits, the summed label-smoothed
                                     cross-entropy, the BN statistics after the step and the
                                     gradients (small ones whole, large ones sampled + sums)

Deterministic weights (as tools/gen_resnet18_fixture.py): u(k, i) = (mix64(mix64(k) ^ i) >> 11)
* 2^-52 - 1 in [-1, 1), mix64 = splitmix64's finaliser; tensor k of the state_dict (in order),
element i: weights (dim > 1) sqrt(3 / fan_in) * u; BN weight 1 + 0.2 u; running_var 0.5 + u^2;
other 1-D 0.1 u; int64 (num_batches_tracked) k. Batch x (element j): u(1000, j), 4 x 3 x 32 x 32;
labels 1, 3, 5, 7.

Moving weights both ways through the peer (used by tests/models/test_airbench.cpp):
    python tools/gen_airbench_fixture.py load GPUNET.safetensors LOGITS.json
        the peer's Net loads the file with load_state_dict(strict=True); its eval logits on the
        formula batch must equal LOGITS.json's "logits" within 1e-4
    python tools/gen_airbench_fixture.py save OUT.safetensors LOGITS.json
        writes a fresh peer Net's state_dict (seed 0, after one training forward so the BN
        statistics move) and its eval logits on the formula batch

Float32 values are printed exactly (a float32 widened to a Python float round-trips). The
fixtures are committed: CI has no torch. Regenerate with
    /work/venv/bin/python tools/gen_airbench_fixture.py [--peer PATH]
"""
import argparse
import importlib.util
import json
import os
import sys

import torch
import torch.nn.functional as F

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT_DIR = os.path.join(ROOT, "tests", "golden")
SAMPLE = os.path.join(ROOT, "data", "cifar10-sample")
FULL = os.path.normpath(os.path.join(ROOT, "..", "shared", "datasets", "cifar10", "cifar-10-batches-bin"))


def load_peer(path):
    spec = importlib.util.spec_from_file_location("pytorch_airbench", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def t2j(t):
    t = t.detach().contiguous()
    if t.dtype in (torch.int64, torch.int32):
        data = [int(v) for v in t.flatten().tolist()]
    else:
        data = [float(v) for v in t.flatten().tolist()]
    return {"shape": list(t.shape), "data": data}


def write(name, cases, peer_path):
    doc = {"torch_version": torch.__version__, "generator": "tools/gen_airbench_fixture.py",
           "peer": os.path.relpath(peer_path, ROOT), "cases": cases}
    path = os.path.join(OUT_DIR, name)
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.relpath(path, ROOT)} ({len(cases)} cases)")


def data_cases(peer):
    # (1, 3, 1, 256): every byte value in every channel, through the peer's normalise().
    all_bytes = torch.arange(256, dtype=torch.uint8).view(1, 1, 1, 256).expand(1, 3, 1, 256).contiguous()
    lut = peer.normalise(all_bytes).view(3, 256)
    xtr, _ = peer.load_split(SAMPLE, True)
    img = peer.normalise(xtr[:1])
    # The peer's translate pads the (maybe flipped) images once: F.pad(flipped, (2,)*4, "reflect").
    padded = F.pad(img, (2, 2, 2, 2), mode="reflect")[0]
    padded_flipped = F.pad(img.flip(-1), (2, 2, 2, 2), mode="reflect")[0]
    return {"normalise_lut": {"mean": list(peer.MEAN), "std": list(peer.STD), "out": t2j(lut)},
            "sample_image0_padded": {"record": 0, "pad": 2, "unflipped": t2j(padded), "flipped": t2j(padded_flipped)}}


def whiten_case(peer, data_dir, count=5000):
    xtr, _ = peer.load_split(data_dir, True)
    x = peer.normalise(xtr[:count])
    filters = peer.whitening_filters(x)
    # The same covariance as whitening_filters, for the eigenvalues (descending).
    patches = x.double().unfold(2, 2, 1).unfold(3, 2, 1).permute(0, 2, 3, 1, 4, 5).reshape(-1, 12)
    cov = patches.T @ patches / patches.shape[0]
    evals = torch.linalg.eigvalsh(cov).flip(0)
    return {"images": int(x.shape[0]), "eps": 5e-4, "filters": t2j(filters), "eigenvalues": t2j(evals),
            "covariance": t2j(cov)}


# The formula both sides compute (u, mix64, fill): one definition, in gen_resnet18_fixture.py.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_resnet18_fixture import fill, mix64, u  # noqa: E402,F401


def batch():
    return u(1000, 4 * 3 * 32 * 32).to(torch.float32).reshape(4, 3, 32, 32), torch.tensor([1, 3, 5, 7])


SAMPLED = 32  # gradient elements kept per large tensor: indices (i * 7919) % numel


def grad_entry(g):
    g = g.detach().flatten()
    e = {"numel": g.numel(), "sum": float(g.double().sum()), "norm": float(g.double().norm())}
    if g.numel() <= 4096:
        e["data"] = [float(v) for v in g.tolist()]
    else:
        idx = [(i * 7919) % g.numel() for i in range(SAMPLED)]
        e["index"] = idx
        e["data"] = [float(g[i]) for i in idx]
    return e


def net_case(peer):
    net = peer.Net()
    sd = net.state_dict()
    trains = {n: p.requires_grad for n, p in net.named_parameters()}
    tensors = [{"name": n, "shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""),
                "parameter": n in trains, "requires_grad": trains.get(n, False)} for n, t in sd.items()]
    net.load_state_dict(fill(sd), strict=True)
    x, y = batch()
    net.eval()
    with torch.no_grad():
        eval_logits = net(x)
        eval64 = peer.Net().double()
        eval64.load_state_dict({k: v.double() if v.is_floating_point() else v for k, v in fill(sd).items()})
        eval64.eval()
        eval_logits64 = eval64(x.double())
    net.train()
    logits = net(x)
    loss = F.cross_entropy(logits, y, label_smoothing=0.2, reduction="none").sum()
    loss.backward()
    stats = {n: t2j(t) for n, t in net.state_dict().items() if "running" in n or "num_batches" in n}
    grads = {n: grad_entry(p.grad) for n, p in net.named_parameters() if p.requires_grad}
    return {"tensors": tensors, "num_parameters": sum(p.numel() for p in net.parameters()),
            "x": {"formula": "u(1000, j)", "shape": list(x.shape)}, "y": y.tolist(),
            "eval_logits": t2j(eval_logits), "eval_logits_float64": t2j(eval_logits64),
            "train_logits": t2j(logits), "train_loss_sum": float(loss.detach()), "stats_after": stats, "grads": grads}


def move(peer, mode, path, logits_path):
    from safetensors.torch import load_file, save_file
    x, _ = batch()
    if mode == "load":
        net = peer.Net()
        net.load_state_dict(load_file(path), strict=True)
        net.eval()
        with torch.no_grad():
            got = net(x).flatten().tolist()
        want = json.load(open(logits_path))["logits"]
        worst = max(abs(a - b) for a, b in zip(got, want))
        if len(got) != len(want) or worst > 1e-4:
            print(f"logits differ: worst {worst:.3g} over {len(got)} values")
            return 1
        print(f"OK: the peer's Net loaded {path} strictly; logits within {worst:.2g} of gpunet's")
        return 0
    torch.manual_seed(0)
    net = peer.Net()
    net.train()
    with torch.no_grad():
        net(torch.randn(8, 3, 32, 32))
    net.eval()
    with torch.no_grad():
        logits = net(x).flatten().tolist()
    save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()}, path)
    with open(logits_path, "w") as f:
        json.dump({"logits": logits}, f)
    print(f"OK: wrote {path}")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", default=os.path.normpath(os.path.join(ROOT, "..", "shared", "peers",
                                                                     "pytorch_airbench.py")))
    ap.add_argument("move", nargs="*", help="load|save FILE LOGITS.json (see the docstring)")
    a = ap.parse_args()
    peer = load_peer(a.peer)
    if a.move:
        if len(a.move) != 3 or a.move[0] not in ("load", "save"):
            print(__doc__)
            return 1
        return move(peer, *a.move)
    torch.manual_seed(0)
    write("airbench_data.json", data_cases(peer), a.peer)
    cases = {"sample": whiten_case(peer, SAMPLE)}
    if os.path.exists(os.path.join(FULL, "data_batch_1.bin")):
        cases["cifar10_first5000"] = whiten_case(peer, FULL)
    write("airbench_whiten.json", cases, a.peer)
    write("airbench94_net.json", {"net": net_case(peer)}, a.peer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
