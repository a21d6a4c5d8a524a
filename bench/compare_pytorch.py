#!/usr/bin/env python3
"""Summarises the runs of compare_pytorch.sh: one JSON line per run,
{"side": "peer"|"gpunet", "model", "round", "batch", "threads", "steps", "result": <the program's
JSON line>}, into a markdown table of medians per configuration, with the gpunet/PyTorch ratio
and the torch version the peers reported."""
import argparse
import json
import platform
import statistics
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rounds", type=int, default=0)
    ap.add_argument("--precision", default="fp32")
    args = ap.parse_args()

    runs = {}
    torch_version = "?"
    with open(args.results) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
                ips = float(r["result"]["images_per_second"])
            except (ValueError, KeyError, TypeError) as e:
                sys.exit(f"compare_pytorch.py: {args.results}:{n}: a run gave no images_per_second ({e}): {line[:200]}")
            if r["side"] == "peer":
                torch_version = r["result"].get("torch", torch_version)
            key = (r.get("model", "lenet"), r["batch"], r["threads"], r.get("steps", 0))
            runs.setdefault(key, {"peer": [], "gpunet": []})[r["side"]].append(ips)

    print(f"\nDevice {args.device}, {args.precision}, median of {args.rounds} alternating rounds; torch {torch_version}; "
          f"{platform.machine()}, python {platform.python_version()}\n")
    print("| config | torch | PyTorch img/s (median) | gpunet img/s (median) | gpunet / PyTorch | runs PyTorch | runs gpunet |")
    print("|---|---|---:|---:|---:|---|---|")
    for (model, batch, threads, steps), sides in sorted(runs.items()):
        p, g = sides["peer"], sides["gpunet"]
        if not p or not g:
            continue
        mp, mg = statistics.median(p), statistics.median(g)
        fmt = lambda v: ", ".join(f"{x:.0f}" for x in v)
        print(f"| {model}, {args.device}, batch {batch}, {threads} thread{'s' if threads != 1 else ''}, {steps} steps | {torch_version} | "
              f"{mp:.1f} | {mg:.1f} | {mg / mp:.2f}x | {fmt(p)} | {fmt(g)} |")


if __name__ == "__main__":
    main()
