#!/usr/bin/env python3
"""The ops of bench/cnn_ops_cpu.cpp in PyTorch on the CPU, float32, same shapes, same layout
of output (op, shape, ms: median of `reps` runs). Backward ops time torch.autograd.grad of a
graph built once (retain_graph), for the same tensors as gpunet's kernels produce (batch norm:
dx, dweight, dbias; the pools and activations: dx).
    /work/venv/bin/python bench/cnn_ops_torch.py --threads 1 --reps 5
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def median_ms(reps, f):
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        t.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"cpu capability {torch.backends.cpu.get_cpu_capability()}, median of {args.reps}")
    shapes = [(64, 64, 32), (64, 128, 16), (64, 256, 16), (256, 64, 32), (256, 128, 16)]
    gen = torch.Generator().manual_seed(1)
    print(f"{'op':<14} {'shape':<18} {'torch ms':>10}")
    for n, c, h in shapes:
        x = 0.5 + 2.0 * torch.randn(n, c, h, h, generator=gen)
        g = torch.randn(n, c, h, h, generator=gen)
        w = torch.full((c,), 1.1)
        b = torch.full((c,), 0.1)
        rm, rv = torch.zeros(c), torch.ones(c)
        xg = x.clone().requires_grad_()
        wg, bg = w.clone().requires_grad_(), b.clone().requires_grad_()

        def grad_of(y, inputs, gy):
            return lambda: torch.autograd.grad(y, inputs, gy, retain_graph=True)

        ops = []
        with torch.no_grad():
            ops.append(("bn_train", lambda: F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.1, eps=1e-5)))
            ops.append(("bn_eval", lambda: F.batch_norm(x, rm, rv, w, b, training=False, eps=1e-5)))
        y_bn = F.batch_norm(xg, None, None, wg, bg, training=True, eps=1e-5)
        ops.append(("bn_bwd", grad_of(y_bn, [xg, wg, bg], g)))
        ops.append(("gelu", lambda: F.gelu(x)))
        ops.append(("gelu_bwd", grad_of(F.gelu(xg), [xg], g)))
        ops.append(("gelu_tanh", lambda: F.gelu(x, approximate="tanh")))
        ops.append(("gelu_tanh_bwd", grad_of(F.gelu(xg, approximate="tanh"), [xg], g)))
        ops.append(("silu", lambda: F.silu(x)))
        ops.append(("silu_bwd", grad_of(F.silu(xg), [xg], g)))
        ops.append(("maxpool3s2", lambda: F.max_pool2d(x, 3, 2, 1, return_indices=True)))
        ops.append(("avgpool2", lambda: F.avg_pool2d(x, 2)))
        ops.append(("avgpool2_bwd", grad_of(F.avg_pool2d(xg, 2), [xg], torch.randn(n, c, h // 2, h // 2, generator=gen))))
        ops.append(("gap", lambda: F.adaptive_avg_pool2d(x, 1)))
        ops.append(("gap_bwd", grad_of(F.adaptive_avg_pool2d(xg, 1), [xg], torch.randn(n, c, 1, 1, generator=gen))))
        shape = f"{n}x{c}x{h}x{h}"
        for name, f in ops:
            with torch.no_grad() if not name.endswith("_bwd") else torch.enable_grad():
                f()  # warm-up
                ms = median_ms(args.reps, f)
            print(f"{name:<14} {shape:<18} {ms:>10.2f}", flush=True)


if __name__ == "__main__":
    main()
