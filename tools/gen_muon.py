#!/usr/bin/env python3
"""Makes tests/golden/muon_steps.safetensors: Muon as the airbench94_muon record (Keller
Jordan) defines it, written out here from the published algorithm, float32 on the CPU (the
record runs the Newton-Schulz iteration in bf16 on the GPU; here X stays float32):

  zeropower_via_newtonschulz5(G, steps, eps=1e-7): (a, b, c) = (3.4445, -4.7750, 2.0315);
    X = G / (||G||_F + eps); X = X.T if rows > cols; steps times: A = X X^T,
    B = b A + c A A, X = a X + B X; transposed back.
  Muon.step, per parameter: buf.mul_(momentum).add_(g); g = g + momentum*buf if nesterov else buf;
    p *= sqrt(len(p)) / ||p||  (the record's weight normalisation);
    update = zeropower(g.reshape(len(g), -1)).view(g.shape); p -= lr * update.

The record's own bf16 iteration ("bf16" below) is written as the record has it:
  X = G.bfloat16(); X /= (X.norm() + eps); ... A = X @ X.T; B = b * A + c * A @ A;
  X = a * X + B @ X (all bf16 tensors; PyTorch's CPU bf16 matmul accumulates in float32),
  then the update is added to the float32 parameter.

Three configurations over four random parameters (filter banks (8,3,3,3), (16,2,1,1),
(24,2,2,2) and a (5,7) matrix), 3 steps each with fixed random gradients:
  "rec":  the record's settings: lr 0.24, momentum 0.6, nesterov, 3 steps, weight normalised;
  "bf16": the record's settings with the record's bf16 iteration;
  "orig": the original Muon's scaling instead: lr 0.02, momentum 0.95, no nesterov, 5 steps,
          no weight normalisation, update *= sqrt(max(1, rows/cols)).
Holds <cfg>.init.<k>, <cfg>.grad.<s>.<k>, <cfg>.after.<s>.<k> (s = 0, 1, 2).
Run from the repo root: /work/venv/bin/python tools/gen_muon.py"""
import torch
from safetensors.torch import save_file

A, B, C = 3.4445, -4.7750, 2.0315


def zeropower(G, steps, eps=1e-7, dtype=torch.float32):
    X = G.to(dtype)
    X = X / (X.norm() + eps)
    if G.size(0) > G.size(1):
        X = X.T
    for _ in range(steps):
        Am = X @ X.T
        Bm = B * Am + C * Am @ Am
        X = A * X + Bm @ X
    if G.size(0) > G.size(1):
        X = X.T
    return X


def run(params, grads, lr, momentum, nesterov, steps, normalize, shape_scale, dtype=torch.float32):
    bufs = [torch.zeros_like(p) for p in params]
    afters = []
    for gs in grads:
        for p, g, buf in zip(params, gs, bufs):
            buf.mul_(momentum).add_(g)
            u = g.add(buf, alpha=momentum) if nesterov else buf
            if normalize:
                p.mul_(len(p) ** 0.5 / p.norm())
            upd = zeropower(u.reshape(len(u), -1), steps, dtype=dtype).view(u.shape)
            if shape_scale:
                upd = upd * max(1, u.size(0) / u[0].numel()) ** 0.5
            p.add_(upd, alpha=-lr)
        afters.append([p.clone() for p in params])
    return afters


torch.manual_seed(0)
shapes = {"w0": (8, 3, 3, 3), "w1": (16, 2, 1, 1), "w2": (24, 2, 2, 2), "w3": (5, 7)}
out = {}
configs = {"rec": dict(lr=0.24, momentum=0.6, nesterov=True, steps=3, normalize=True, shape_scale=False),
           "orig": dict(lr=0.02, momentum=0.95, nesterov=False, steps=5, normalize=False, shape_scale=True),
           "bf16": dict(lr=0.24, momentum=0.6, nesterov=True, steps=3, normalize=True, shape_scale=False,
                        dtype=torch.bfloat16)}
for cfg, kw in configs.items():
    init = {k: torch.randn(s) * 0.3 for k, s in shapes.items()}
    grads = [{k: torch.randn(s) for k, s in shapes.items()} for _ in range(3)]
    params = [init[k].clone() for k in shapes]
    afters = run(params, [[g[k] for k in shapes] for g in grads], **kw)
    for k in shapes:
        out[f"{cfg}.init.{k}"] = init[k]
        for s in range(3):
            out[f"{cfg}.grad.{s}.{k}"] = grads[s][k]
            out[f"{cfg}.after.{s}.{k}"] = afters[s][list(shapes).index(k)]
save_file({k: v.contiguous() for k, v in out.items()}, "tests/golden/muon_steps.safetensors",
          metadata={"generator": "tools/gen_muon.py", "torch": torch.__version__})
print("wrote tests/golden/muon_steps.safetensors with torch", torch.__version__)
