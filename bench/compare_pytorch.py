#!/usr/bin/env python3
"""Summarises the runs of compare_pytorch.sh: one JSON line per run,
{"side": "peer"|"gpunet", "round", "batch", "threads", "result": <the program's JSON line>},
into a markdown table of medians per configuration, with the gpunet/PyTorch ratio."""
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
            runs.setdefault((r["batch"], r["threads"], r.get("steps", 0)), {"peer": [], "gpunet": []})[r["side"]].append(ips)

    print(f"\nDevice {args.device}, median of {args.rounds} alternating rounds; "
          f"{platform.machine()}, python {platform.python_version()}\n")
    print("| config | torch | PyTorch img/s (median) | gpunet img/s (median) | gpunet / PyTorch | runs PyTorch | runs gpunet |")
    print("|---|---|---:|---:|---:|---|---|")
    for (batch, threads, steps), sides in sorted(runs.items()):
        p, g = sides["peer"], sides["gpunet"]
        if not p or not g:
            continue
        mp, mg = statistics.median(p), statistics.median(g)
        fmt = lambda v: ", ".join(f"{x:.0f}" for x in v)
        print(f"| {args.device}, batch {batch}, {threads} thread{'s' if threads != 1 else ''}, {steps} steps | {torch_version} | "
              f"{mp:.1f} | {mg:.1f} | {mg / mp:.2f}x | {fmt(p)} | {fmt(g)} |")


if __name__ == "__main__":
    main()
