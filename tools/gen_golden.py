#!/usr/bin/env python3
"""Writes the PyTorch fixtures for the op tests: tests/golden/ops_*.json.

Each file holds {"torch_version", "generator", "seed", "cases": {name: {...}}}; a tensor is
{"shape": [...], "data": [...]} (row-major, float32 values printed exactly). The fixtures are
committed: CI has no torch. Regenerate with
    python3 tools/gen_golden.py            # writes tests/golden/ops_*.json
Everything runs on the CPU in float32 (float64 only where noted), with fixed seeds.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden")
SEED = 1234


def t2j(t):
    t = t.detach().contiguous()
    if t.dtype in (torch.int64, torch.int32):
        data = [int(v) for v in t.flatten().tolist()]
    else:
        data = [float(v) for v in t.to(torch.float32).flatten().tolist()]
    return {"shape": list(t.shape), "data": data}


def write(name, cases):
    doc = {
        "torch_version": torch.__version__,
        "generator": "tools/gen_golden.py",
        "seed": SEED,
        "cases": cases,
    }
    path = os.path.join(OUT_DIR, name)
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.normpath(path)} ({len(cases)} cases)")


def leaf(t):
    return t.clone().requires_grad_(True)


def conv2d_cases(g):
    cases = {}
    for stride, pad, bias in [(1, 0, True), (1, 1, False), (2, 1, True), (2, 0, False)]:
        x = leaf(torch.randn(2, 3, 7, 7, generator=g))
        w = leaf(torch.randn(4, 3, 3, 3, generator=g) * 0.3)
        b = leaf(torch.randn(4, generator=g)) if bias else None
        out = F.conv2d(x, w, b, stride=stride, padding=pad)
        dout = torch.randn(out.shape, generator=g)
        out.backward(dout)
        c = {"stride": stride, "padding": pad, "x": t2j(x), "w": t2j(w), "out": t2j(out), "dout": t2j(dout),
             "dx": t2j(x.grad), "dw": t2j(w.grad)}
        if bias:
            c["b"] = t2j(b)
            c["db"] = t2j(b.grad)
        cases[f"s{stride}_p{pad}_{'bias' if bias else 'nobias'}"] = c
    # CNN shapes (issue 12): 1x1 stride-2 shortcuts, "same" padding of odd kernels, no bias,
    # widths up to 512 channels (on small planes, to keep the fixture small).
    for name, (n, ic, hw, oc, k, stride, pad) in {
            "1x1_s2_512to16": (1, 512, 5, 16, 1, 2, 0), "1x1_s2_16to512": (2, 16, 4, 512, 1, 2, 0),
            "3x3_s2_p1_16to32": (2, 16, 7, 32, 3, 2, 1), "5x5_same_8to8": (1, 8, 6, 8, 5, 1, 2)}.items():
        x = leaf(torch.randn(n, ic, hw, hw, generator=g))
        w = leaf(torch.randn(oc, ic, k, k, generator=g) * (1.0 / (ic * k * k) ** 0.5))
        out = F.conv2d(x, w, None, stride=stride, padding=pad)
        dout = torch.randn(out.shape, generator=g)
        out.backward(dout)
        cases[name] = {"stride": stride, "padding": pad, "x": t2j(x), "w": t2j(w), "out": t2j(out),
                       "dout": t2j(dout), "dx": t2j(x.grad), "dw": t2j(w.grad)}
    return cases


def max_pool2d_cases(g):
    cases = {}
    for k, s, shape in [(2, 2, (2, 3, 8, 8)), (3, 2, (2, 2, 9, 9)), (2, 2, (1, 2, 7, 5))]:
        x = leaf(torch.randn(*shape, generator=g))  # continuous values: no ties
        out = F.max_pool2d(x, k, s)
        dout = torch.randn(out.shape, generator=g)
        out.backward(dout)
        cases[f"k{k}_s{s}_{shape[2]}x{shape[3]}"] = {"kernel": k, "stride": s, "x": t2j(x), "out": t2j(out),
                                                      "dout": t2j(dout), "dx": t2j(x.grad)}
    return cases


def linear_cases(g):
    cases = {}
    for bias in (True, False):
        x = leaf(torch.randn(5, 7, generator=g))
        w = leaf(torch.randn(3, 7, generator=g) * 0.4)
        b = leaf(torch.randn(3, generator=g)) if bias else None
        out = F.linear(x, w, b)
        dout = torch.randn(out.shape, generator=g)
        out.backward(dout)
        c = {"x": t2j(x), "w": t2j(w), "out": t2j(out), "dout": t2j(dout), "dx": t2j(x.grad), "dw": t2j(w.grad)}
        if bias:
            c["b"] = t2j(b)
            c["db"] = t2j(b.grad)
        cases["bias" if bias else "nobias"] = c
    return cases


def activation_cases(g):
    cases = {}
    x = leaf(torch.randn(4, 6, generator=g))
    out = F.relu(x)
    dout = torch.randn(out.shape, generator=g)
    out.backward(dout)
    cases["relu"] = {"x": t2j(x), "out": t2j(out), "dout": t2j(dout), "dx": t2j(x.grad)}

    for scale in (1.0, 30.0):
        x = leaf(torch.randn(4, 10, generator=g) * scale)
        out = F.log_softmax(x, dim=1)
        dout = torch.randn(out.shape, generator=g)
        out.backward(dout)
        cases[f"log_softmax_x{int(scale)}"] = {"x": t2j(x), "out": t2j(out), "dout": t2j(dout), "dx": t2j(x.grad),
                                                "softmax": t2j(F.softmax(x.detach(), dim=1))}

    x = torch.randn(5, 10, generator=g)
    x[2, 3] = 5.0
    x[2, 7] = 5.0  # a tie: the first index wins
    cases["argmax"] = {"x": t2j(x), "out": t2j(torch.argmax(x, dim=1))}
    return cases


def loss_cases(g):
    cases = {}
    for scale in (1.0, 20.0):
        logits = leaf(torch.randn(6, 10, generator=g) * scale)
        target = torch.randint(0, 10, (6,), generator=g)
        loss = F.cross_entropy(logits, target)
        loss.backward()
        logp = leaf(F.log_softmax(logits.detach(), dim=1))
        nll = F.nll_loss(logp, target)
        nll.backward(torch.tensor(2.0))  # a non-unit upstream gradient
        cases[f"x{int(scale)}"] = {"logits": t2j(logits), "target": t2j(target), "loss": t2j(loss),
                                   "dlogits": t2j(logits.grad), "logp": t2j(logp), "nll": t2j(nll),
                                   "dlogp_x2": t2j(logp.grad)}
    return cases


def batch_norm_cases(g):
    cases = {}
    # Training, affine, running statistics: three steps (the running statistics after each).
    C = 3
    w = leaf(torch.randn(C, generator=g) * 0.5 + 1.0)
    b = leaf(torch.randn(C, generator=g) * 0.5)
    rm, rv = torch.zeros(C), torch.ones(C)
    steps = []
    for _ in range(3):
        x = leaf(torch.randn(4, C, 5, 3, generator=g) * 2.0 + 0.7)
        w.grad = None
        b.grad = None
        out = F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.1, eps=1e-5)
        dout = torch.randn(out.shape, generator=g)
        out.backward(dout)
        steps.append({"x": t2j(x), "out": t2j(out), "dout": t2j(dout), "dx": t2j(x.grad), "dw": t2j(w.grad),
                      "db": t2j(b.grad), "running_mean": t2j(rm), "running_var": t2j(rv)})
    cases["train_affine_3steps"] = {"weight": t2j(w), "bias": t2j(b), "momentum": 0.1, "eps": 1e-5, "steps": steps}

    def one(name, shape, affine, running, training, momentum=0.1, eps=1e-5):
        c = shape[1]
        x = leaf(torch.randn(*shape, generator=g) * 1.5 - 0.3)
        wt = leaf(torch.randn(c, generator=g) * 0.5 + 1.0) if affine else None
        bs = leaf(torch.randn(c, generator=g) * 0.5) if affine else None
        rmean = torch.randn(c, generator=g) * 0.3 if running else None
        rvar = torch.rand(c, generator=g) + 0.5 if running else None
        case = {"training": training, "momentum": momentum, "eps": eps, "x": t2j(x)}
        if running:
            case["running_mean_in"] = t2j(rmean)
            case["running_var_in"] = t2j(rvar)
        # nn.BatchNorm2d passes training=True when it tracks no running statistics.
        out = F.batch_norm(x, rmean, rvar, wt, bs, training=training or not running, momentum=momentum, eps=eps)
        dout = torch.randn(out.shape, generator=g)
        out.backward(dout)
        case.update({"out": t2j(out), "dout": t2j(dout), "dx": t2j(x.grad)})
        if affine:
            case.update({"weight": t2j(wt), "bias": t2j(bs), "dw": t2j(wt.grad), "db": t2j(bs.grad)})
        if running:
            case["running_mean"] = t2j(rmean)
            case["running_var"] = t2j(rvar)
        cases[name] = case

    one("eval_affine", (3, 4, 4, 5), True, True, False)
    one("train_noaffine_norunning", (2, 5, 3, 3), False, False, True)
    one("eval_norunning", (3, 2, 2, 3), True, False, False)  # track_running_stats=False: batch stats
    one("train_batch1", (1, 3, 4, 4), True, True, True, momentum=0.3, eps=1e-3)
    one("train_spatial1", (6, 4, 1, 1), True, True, True)
    return cases


def cnn_activation_cases(g):
    cases = {}
    for name, fn in {"gelu": lambda x: F.gelu(x), "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
                     "silu": F.silu}.items():
        x = leaf(torch.randn(5, 7, generator=g) * 3.0)
        out = fn(x)
        dout = torch.randn(out.shape, generator=g)
        out.backward(dout)
        cases[name] = {"x": t2j(x), "out": t2j(out), "dout": t2j(dout), "dx": t2j(x.grad)}
    return cases


def pooling_cases(g):
    cases = {}
    for kind, shape, k, s, p, ceil, cip in [
            ("max", (2, 3, 9, 9), 3, 2, 1, False, True), ("max", (1, 2, 8, 7), 3, 1, 1, False, True),
            ("max", (2, 2, 7, 7), 2, 2, 0, True, True), ("max", (1, 3, 8, 8), 3, 2, 1, True, True),
            ("max", (1, 2, 10, 11), 3, 3, 0, True, True), ("max", (2, 2, 6, 6), 4, 2, 2, False, True),
            ("avg", (2, 3, 8, 8), 2, 2, 0, False, True), ("avg", (2, 2, 9, 7), 3, 2, 1, False, True),
            ("avg", (2, 2, 9, 7), 3, 2, 1, False, False), ("avg", (1, 2, 8, 8), 3, 2, 1, True, True),
            ("avg", (1, 3, 7, 7), 2, 2, 0, True, True), ("avg", (1, 2, 10, 10), 3, 3, 1, True, False),
            # ceil_mode's rule drops a last window that would start in the right padding (5 -> 3,
            # not 4); the count_include_pad divisor is clipped to the input plus padding.
            ("max", (1, 2, 5, 5), 2, 2, 1, True, True), ("avg", (1, 2, 5, 5), 2, 2, 1, True, True),
            ("avg", (1, 2, 6, 6), 3, 2, 1, True, True)]:
        x = leaf(torch.randn(*shape, generator=g))
        if kind == "max":
            out = F.max_pool2d(x, k, s, p, ceil_mode=ceil)
        else:
            out = F.avg_pool2d(x, k, s, p, ceil_mode=ceil, count_include_pad=cip)
        dout = torch.randn(out.shape, generator=g)
        out.backward(dout)
        name = f"{kind}_k{k}_s{s}_p{p}{'_ceil' if ceil else ''}{'' if cip else '_nopadcount'}_{shape[2]}x{shape[3]}"
        cases[name] = {"kind": kind, "kernel": k, "stride": s, "padding": p, "ceil_mode": ceil,
                       "count_include_pad": cip, "x": t2j(x), "out": t2j(out), "dout": t2j(dout), "dx": t2j(x.grad)}
    for shape, (oh, ow) in [((2, 3, 7, 5), (3, 2)), ((1, 2, 8, 8), (1, 1)), ((1, 2, 5, 7), (4, 5)),
                            ((2, 1, 6, 6), (6, 6)), ((1, 2, 3, 4), (5, 7))]:
        x = leaf(torch.randn(*shape, generator=g))
        out = F.adaptive_avg_pool2d(x, (oh, ow))
        dout = torch.randn(out.shape, generator=g)
        out.backward(dout)
        cases[f"adaptive_{shape[2]}x{shape[3]}_to_{oh}x{ow}"] = {
            "kind": "adaptive", "output_h": oh, "output_w": ow, "x": t2j(x), "out": t2j(out), "dout": t2j(dout),
            "dx": t2j(x.grad)}
    return cases


def cross_entropy_cases(g):
    cases = {}
    for ls in (0.0, 0.1, 0.5):
        for red in ("mean", "sum", "none"):
            logits = leaf(torch.randn(7, 5, generator=g) * 3.0)
            target = torch.randint(0, 5, (7,), generator=g)
            loss = F.cross_entropy(logits, target, label_smoothing=ls, reduction=red)
            dout = torch.randn(loss.shape, generator=g) if red == "none" else torch.tensor(1.5)
            loss.backward(dout)
            cases[f"ls{ls}_{red}"] = {"label_smoothing": ls, "reduction": red, "logits": t2j(logits),
                                      "target": t2j(target), "loss": t2j(loss), "dout": t2j(dout),
                                      "dlogits": t2j(logits.grad)}
    return cases


def broadcast_cases(g):
    cases = {}
    for name, op, sa, sb in [("add_nchw_1c11", "add", (2, 3, 4, 5), (1, 3, 1, 1)),
                             ("mul_nchw_c11", "mul", (2, 3, 4, 5), (3, 1, 1)),
                             ("sub_31_14", "sub", (3, 1), (1, 4)),
                             ("div_234_4", "div", (2, 3, 4), (4,)),
                             ("mul_c_nchw", "mul", (3, 1, 1), (2, 3, 2, 2)),
                             ("add_residual", "add", (2, 3, 4, 4), (2, 3, 4, 4))]:
        a = leaf(torch.randn(*sa, generator=g))
        b = leaf(torch.rand(*sb, generator=g) + 0.5 if op == "div" else torch.randn(*sb, generator=g))
        out = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div}[op](a, b)
        dout = torch.randn(out.shape, generator=g)
        out.backward(dout)
        cases[name] = {"op": op, "a": t2j(a), "b": t2j(b), "out": t2j(out), "dout": t2j(dout), "da": t2j(a.grad),
                       "db": t2j(b.grad)}
    return cases


def run_optimizer(make_opt, p0, grads):
    p = p0.clone().requires_grad_(True)
    opt = make_opt([p])
    history = []
    for gr in grads:
        opt.zero_grad()
        p.grad = gr.clone()
        opt.step()
        history.append(t2j(p))
    return history


def optim_cases(g):
    n, steps = 12, 4
    p0 = torch.randn(n, generator=g)
    grads = [torch.randn(n, generator=g) for _ in range(steps)]
    cases = {"p0": t2j(p0), "grads": [t2j(x) for x in grads], "sgd": [], "adam": []}
    sgd_configs = [
        dict(lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False),
        dict(lr=0.001, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False),  # the seed's SGD
        dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01, nesterov=False),
        dict(lr=0.05, momentum=0.8, dampening=0.0, weight_decay=0.001, nesterov=True),
        dict(lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.05, nesterov=False),
    ]
    for cfg in sgd_configs:
        hist = run_optimizer(lambda ps: torch.optim.SGD(ps, foreach=False, **cfg), p0, grads)
        cases["sgd"].append({"config": cfg, "params": hist})
    adam_configs = [
        dict(kind="adam", lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0),
        dict(kind="adam", lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
        dict(kind="adamw", lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01),
        dict(kind="adamw", lr=0.003, betas=(0.85, 0.95), eps=1e-7, weight_decay=0.0),
    ]
    for cfg in adam_configs:
        kw = {k: v for k, v in cfg.items() if k != "kind"}
        cls = torch.optim.AdamW if cfg["kind"] == "adamw" else torch.optim.Adam
        hist = run_optimizer(lambda ps: cls(ps, foreach=False, **kw), p0, grads)
        cases["adam"].append({"config": {**cfg, "beta1": cfg["betas"][0], "beta2": cfg["betas"][1]}, "params": hist})
    return cases


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    torch.set_num_threads(1)
    gens = {}

    def gen(name):
        g = torch.Generator().manual_seed(SEED + len(gens))
        gens[name] = g
        return g

    write("ops_conv2d.json", conv2d_cases(gen("conv2d")))
    write("ops_max_pool2d.json", max_pool2d_cases(gen("max_pool2d")))
    write("ops_linear.json", linear_cases(gen("linear")))
    write("ops_activations.json", activation_cases(gen("activations")))
    write("ops_loss.json", loss_cases(gen("loss")))
    write("ops_optim.json", {"optim": optim_cases(gen("optim"))})
    write("ops_batch_norm.json", batch_norm_cases(gen("batch_norm")))
    write("ops_cnn_activations.json", cnn_activation_cases(gen("cnn_activations")))
    write("ops_pooling.json", pooling_cases(gen("pooling")))
    write("ops_cross_entropy.json", cross_entropy_cases(gen("cross_entropy")))
    write("ops_broadcast.json", broadcast_cases(gen("broadcast")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
