#!/usr/bin/env python3
"""Makes tests/golden/airbench_full_steps.safetensors: the airbench94 recipe at its full widths
(64/256/256) and batch 128, run by the peer's own program (../shared/peers/pytorch_airbench.py,
its main() with its argparse flags), for the step-for-step check of issue 13
(tests/nn/test_recipe_airbench_full.cpp).

Data: the embedded sample (data/cifar10-sample: 2,000 real CIFAR-10 training records, the first
200 of each class in file order), tiled 25 times to 50,000 records so that the plan is the one of
the full training set (steps_per_epoch = 50000 // 128 = 390). With --no-shuffle only the first
1,536 records are ever trained on, all of them sample records: the fixture needs no dataset and
the test always runs. Test split: the sample's first 200 test records (the peer's final test of
run b; not checked).

Initial weights (derived, not stored, except the whitening): the peer's Net (names, shapes, its
BN and bias defaults), with every conv and the head drawn from PyTorch's default init
distribution U(-1/sqrt(fan_in), 1/sqrt(fan_in)) by the formula u(k, i) of
tools/gen_resnet18_fixture.py (k = the tensor's index in the state_dict) instead of torch's RNG,
then torch.nn.init.dirac_ on the first C_in filters of each group conv (the peer's dirac_conv);
whiten.weight = the peer's whitening_filters of the first 5,000 normalised training images
(stored: init.whiten.weight). tests/nn/test_recipe_airbench_full.cpp builds the same weights.

Runs, each with --batch-size 128 --no-augment --no-shuffle --init (the weights above):
  a: 10 steps of the full planned run (--epochs 9.9: 3,861 steps; --max-steps 10)
  b: the whole run of --epochs 0.03 = ceil(390 * 0.03) = 12 steps: warmup over int(0.23 * 12) = 2
     steps, the decay, lookahead at steps 5 (decay 0.056) and 10 (0.448), net <- ema at the end
  c: run b stopped at --max-steps 5 (the mutation checks' short run; its lookahead included)
Each run is made in float64 (the reference: the peer's Net in float64, normalise() in float64,
and its loss in float64 too: the logits' .float() cast is kept at float64) and as an ensemble of
ENSEMBLE float32 runs of the peer's program as it is, run k from the initial weights with every
floating-point element moved one ulp up or down at random (generator seed 1000 + k).

The measure, per floating-point state tensor (weights and BN statistics): the rms error of the
final state against the float64 run's, relative to the rms of the float64 update (final - init).
allowance = max(MULTIPLE x the ensemble's worst, FLOOR). Tensors the float64 run leaves exactly
unchanged (whiten.weight, the frozen BN weights) must be unchanged, bit for bit.

To keep the fixture small (< 7 MB), tensors of more than SUBSET_ABOVE elements are measured on
every SUBSET_EVERY-th output filter (rows 0, 4, 8, ... of dim 0, whole filters), here and in the
test alike. Saved, per run R: R.delta.<name> (float32: the float64 update on the measured rows),
R.allow.<name> (float64 [1]), R.nbt.<name> (the float64 run's num_batches_tracked).

Run from the repo root with the venv's python: python3 tools/gen_airbench_full_steps.py
[--ensemble N] [--work DIR [--members K,...]] (see --help; the float64 runs at full width are
slow on the CPU: --work with --members lets several processes share the ensemble)."""
import argparse, importlib.util, json, math, os, sys, tempfile, time
import numpy as np
import torch
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_resnet18_fixture import u  # noqa: E402  (the formula tests/support/formula.h mirrors)

PEER = os.path.join(HERE, "..", "..", "shared", "peers", "pytorch_airbench.py")
if not os.path.exists(PEER):
    PEER = "/work/shared/peers/pytorch_airbench.py"
spec = importlib.util.spec_from_file_location("pytorch_airbench", PEER)
peer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(peer)

BATCH, TILES, N_TEST = 128, 25, 200
ENSEMBLE, MULTIPLE, FLOOR = 8, 3.0, 1e-6
SUBSET_ABOVE, SUBSET_EVERY = 100_000, 4
RUNS = {"a": ["--epochs", "9.9", "--max-steps", "10"], "b": ["--epochs", "0.03"],
        "c": ["--epochs", "0.03", "--max-steps", "5"]}
OUT = "tests/golden/airbench_full_steps.safetensors"


class F64Logits(torch.Tensor):
    """The float64 run's logits: the program's out.float() keeps them float64 (a float64 loss)."""

    def float(self, *args, **kwargs):
        return self


OrigNet, orig_normalise = peer.Net, peer.normalise


class Net64(OrigNet):
    def __init__(self):
        super().__init__()
        self.double()

    def forward(self, x):
        return super().forward(x).as_subclass(F64Logits)


def measured(name, t):
    return t[::SUBSET_EVERY] if t.numel() > SUBSET_ABOVE else t


def initial_weights(xtr_u8):
    sd = OrigNet().state_dict()
    init = {}
    for k, (name, t) in enumerate(sd.items()):
        v = t.detach().clone()
        if name.endswith("conv1.weight") or name.endswith("conv2.weight") or name == "head.weight":
            v = (u(k, t.numel()) / math.sqrt(t[0].numel())).to(torch.float32).reshape(t.shape)
            if name.startswith("group"):
                torch.nn.init.dirac_(v[:t.shape[1]])
        elif name == "whiten.weight":
            v = peer.whitening_filters(orig_normalise(xtr_u8[:5000]))
        init[name] = v.contiguous()
    return init


def perturb(init, seed):
    """Every floating-point element moved one ulp up or down at random."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in init.items():
        if v.is_floating_point():
            up = torch.rand(v.shape, generator=g) < 0.5
            out[k] = torch.where(up, torch.nextafter(v, torch.full_like(v, float("inf"))),
                                 torch.nextafter(v, torch.full_like(v, float("-inf"))))
        else:
            out[k] = v.clone()
    return out


def run_peer(data_dir, init_path, run, f64, out_path):
    peer.Net, peer.normalise = (Net64, lambda x: orig_normalise(x).double()) if f64 else (OrigNet, orig_normalise)
    sys.argv = ["pytorch_airbench.py", "--data", data_dir, "--device", "cpu", "--batch-size", str(BATCH),
                "--no-augment", "--no-shuffle", "--no-tta", "--init", init_path, "--save", out_path,
                "--threads", "2"] + RUNS[run]
    try:
        peer.main()
    finally:
        peer.Net, peer.normalise = OrigNet, orig_normalise
    return load_file(out_path)


def rel_rms(final, ref, init):
    num = (final.double() - ref.double()).pow(2).mean().sqrt().item()
    den = (ref.double() - init.double()).pow(2).mean().sqrt().item()
    return num / den


def cached(path, make):
    """The state_dict at `path`, made by make(path) unless a previous call left it there."""
    if not os.path.exists(path):
        make(path + ".part.safetensors")
        os.replace(path + ".part.safetensors", path)
    return load_file(path)


def main():
    ap = argparse.ArgumentParser(description="tests/golden/airbench_full_steps.safetensors from the peer")
    ap.add_argument("--work", default="", help="keep the data files and every run's final state here and reuse "
                    "those already there (default: a new temporary folder)")
    ap.add_argument("--ensemble", type=int, default=ENSEMBLE)
    ap.add_argument("--members", default="", help="only make these ensemble members' float32 runs (e.g. 0,1) into "
                    "--work and stop: parallel calls share the work; a last call without it writes the fixture")
    ap.add_argument("--runs", default=",".join(RUNS), help="the runs to make and write (default: all)")
    a = ap.parse_args()
    runs = [r for r in a.runs.split(",") if r]
    if not runs or any(r not in RUNS for r in runs):
        ap.error(f"--runs {a.runs!r}: choose among {','.join(RUNS)}")
    torch.set_num_threads(2)
    tmp = a.work or tempfile.mkdtemp()
    os.makedirs(tmp, exist_ok=True)
    sample = os.path.join(HERE, "..", "data", "cifar10-sample")
    if not os.path.exists(os.path.join(tmp, "test_batch.bin")):
        train = np.concatenate([np.fromfile(os.path.join(sample, f"data_batch_{i}.bin"), dtype=np.uint8)
                                for i in range(1, 6)]).reshape(-1, 3073)
        tiled = np.concatenate([train] * TILES)
        for i in range(5):
            tiled[i * 10000:(i + 1) * 10000].tofile(os.path.join(tmp, f"data_batch_{i + 1}.bin"))
        test = np.fromfile(os.path.join(sample, "test_batch.bin"), dtype=np.uint8).reshape(-1, 3073)[:N_TEST]
        test.tofile(os.path.join(tmp, "test_batch.bin"))

    def make_init(path):
        xtr_u8, _ = peer.load_split(tmp, True)
        save_file(initial_weights(xtr_u8), path)

    init_path = os.path.join(tmp, "init.safetensors")
    init = cached(init_path, make_init)

    def member(k, run):
        def make(path):
            p_path = os.path.join(tmp, f"perturbed{k}.safetensors")
            save_file(perturb(init, 1000 + k), p_path)
            t0 = time.time()
            run_peer(tmp, p_path, run, False, path)
            print(f"run {run}: float32 member {k} in {time.time() - t0:.0f} s", flush=True)
        return cached(os.path.join(tmp, f"m{k}.{run}.safetensors"), make)

    if a.members:
        for k in [int(v) for v in a.members.split(",")]:
            for run in runs:
                member(k, run)
        return

    out = {"init.whiten.weight": init["whiten.weight"]}
    refs, names = {}, {}
    for run in runs:
        t0 = time.time()
        ref = refs[run] = cached(os.path.join(tmp, f"{run}64.safetensors"),
                                 lambda path: run_peer(tmp, init_path, run, True, path))
        print(f"run {run}: float64 in {time.time() - t0:.0f} s", flush=True)
        names[run] = []
        for n, v in ref.items():
            if not v.is_floating_point():
                out[f"{run}.nbt.{n}"] = v.contiguous()
            elif torch.equal(v, init[n].double()):
                pass  # unchanged (frozen): the test requires gpunet's to be unchanged, bit for bit
            else:
                names[run].append(n)
                out[f"{run}.delta.{n}"] = measured(n, v - init[n].double()).to(torch.float32).contiguous()
    worst = {run: {n: 0.0 for n in names[run]} for run in runs}
    worst_full = {run: {n: 0.0 for n in names[run]} for run in runs}
    for k in range(a.ensemble):
        for run in runs:
            fin, ref = member(k, run), refs[run]
            for n in names[run]:
                e = rel_rms(measured(n, fin[n]), measured(n, ref[n]), measured(n, init[n]))
                worst[run][n] = max(worst[run][n], e)
                worst_full[run][n] = max(worst_full[run][n], rel_rms(fin[n], ref[n], init[n]))
    for run in runs:
        for n in names[run]:
            out[f"{run}.allow.{n}"] = torch.tensor([max(MULTIPLE * worst[run][n], FLOOR)], dtype=torch.float64)
            print(f"  {run} {n:28s} ensemble worst {worst[run][n]:.3e} (whole tensor {worst_full[run][n]:.3e})")
    summary = {run: {n: [worst[run][n], worst_full[run][n]] for n in names[run]} for run in runs}
    meta = {"generator": "tools/gen_airbench_full_steps.py", "torch": torch.__version__,
            "settings": json.dumps(dict(batch=BATCH, tiles=TILES, runs={r: RUNS[r] for r in runs}, ensemble=a.ensemble,
                                        multiple=MULTIPLE, floor=FLOOR, subset_above=SUBSET_ABOVE,
                                        subset_every=SUBSET_EVERY)),
            "ensemble_worst": json.dumps(summary)}
    tmp_out = OUT + ".tmp"
    save_file(out, tmp_out, metadata=meta)
    os.replace(tmp_out, OUT)
    print(f"wrote {OUT} with an ensemble of {a.ensemble}, torch {torch.__version__} "
          f"({os.path.getsize(OUT) / 1e6:.1f} MB)")

if __name__ == "__main__":
    main()
