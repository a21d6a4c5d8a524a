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

Float32 values are printed exactly (a float32 widened to a Python float round-trips). The
fixtures are committed: CI has no torch. Regenerate with
    /work/venv/bin/python tools/gen_airbench_fixture.py [--peer PATH]
"""
import argparse
import importlib.util
import json
import os

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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", default=os.path.normpath(os.path.join(ROOT, "..", "shared", "peers",
                                                                     "pytorch_airbench.py")))
    a = ap.parse_args()
    peer = load_peer(a.peer)
    torch.manual_seed(0)
    write("airbench_data.json", data_cases(peer), a.peer)
    cases = {"sample": whiten_case(peer, SAMPLE)}
    if os.path.exists(os.path.join(FULL, "data_batch_1.bin")):
        cases["cifar10_first5000"] = whiten_case(peer, FULL)
    write("airbench_whiten.json", cases, a.peer)


if __name__ == "__main__":
    main()
