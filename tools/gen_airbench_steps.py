#!/usr/bin/env python3
"""Makes tests/golden/airbench_steps.safetensors: a whole airbench94 recipe run by the peer's own
program (../shared/peers/pytorch_airbench.py, its main() with its argparse flags), short enough for
a CPU test, for the step-for-step check of `gpunet train --recipe airbench94`
(tests/nn/test_recipe_airbench.cpp).

The run: the first 160 training records of the embedded sample (data_batch_1.bin, file order;
written as 5 batch files of 32) and its first 100 test records; --batch-size 32 --epochs 3.3
(5 steps an epoch, ceil(16.5) = 17 steps: lr warmup over int(0.23 * 17) = 3 steps, the decay, the
lookahead at steps 5, 10, 15, the whitening bias frozen for steps 16-17, net <- ema at the end),
--no-augment --no-shuffle, --init from the weights saved here. To keep the fixture and the test
small the net has widths (24, 32, 32) (the peer's Net(widths=...)); the recipe is otherwise the
peer's, unchanged. Its initial weights: torch.manual_seed(0), PyTorch's init with the dirac
group convs, and the whitening of the 160 images (peer's whitening_filters).

Two runs of the same program from the same weights:
  f64: the peer's code with Net in float64 and normalise() giving float64 (its loss still casts
       the logits to float32, as the program does): the reference;
  f32: the peer's program as it is (fp32).
Then the same two runs with --max-steps 16 (f64s16, f32s16: the schedules span the 17 planned
steps; no final ema copy; step 16 ran with the whitening bias frozen).
Saved: init.<name> (float32), f64.<name> (float64), f32.<name> (float32) final state_dicts,
{f64,f32}.losses (per-step summed loss, float64), {f64,f32}.tta (the peer's tta_logits of the
final net on the 100 test images, eval mode). The test measures gpunet's float32 run against f64
with the f32 run's distance to f64 as the allowance.
Run from the repo root with the venv's python: python3 tools/gen_airbench_steps.py"""
import importlib.util, json, os, sys, tempfile
import numpy as np
import torch
from safetensors.torch import save_file

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "peers", "pytorch_airbench.py")
if not os.path.exists(PEER):
    PEER = "/work/shared/peers/pytorch_airbench.py"
spec = importlib.util.spec_from_file_location("pytorch_airbench", PEER)
peer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(peer)

WIDTHS = (24, 32, 32)
BATCH, EPOCHS, N_TRAIN, N_TEST = 32, 3.3, 160, 100
OUT = "tests/golden/airbench_steps.safetensors"

torch.set_num_threads(2)
tmp = tempfile.mkdtemp()
train = np.fromfile("data/cifar10-sample/data_batch_1.bin", dtype=np.uint8).reshape(-1, 3073)[:N_TRAIN]
for i in range(5):
    train[i * 32:(i + 1) * 32].tofile(os.path.join(tmp, f"data_batch_{i + 1}.bin"))
test = np.fromfile("data/cifar10-sample/test_batch.bin", dtype=np.uint8).reshape(-1, 3073)[:N_TEST]
test.tofile(os.path.join(tmp, "test_batch.bin"))

OrigNet, orig_normalise, OrigCE = peer.Net, peer.normalise, torch.nn.CrossEntropyLoss
losses = []


class RecordingCE(OrigCE):
    def forward(self, input, target):
        out = super().forward(input, target)
        losses.append(out.detach().double().sum().item())  # the peer sums these in float32; close enough to record
        return out


class SmallNet(OrigNet):
    def __init__(self):
        super().__init__(widths=WIDTHS)


class SmallNet64(OrigNet):
    def __init__(self):
        super().__init__(widths=WIDTHS)
        self.double()


# Initial weights.
torch.manual_seed(0)
net = SmallNet()
xtr_u8, _ = peer.load_split(tmp, True)
with torch.no_grad():
    net.whiten.weight.copy_(peer.whitening_filters(peer.normalise(xtr_u8)[:5000]))
init = {k: v.detach().clone() for k, v in net.state_dict().items()}
init_path = os.path.join(tmp, "init.safetensors")
save_file({k: v.contiguous() for k, v in init.items()}, init_path)

out = {f"init.{k}": v for k, v in init.items()}
xte_u8, _ = peer.load_split(tmp, False)
RUNS = [("f64", SmallNet64, lambda x: orig_normalise(x).double(), 0), ("f32", SmallNet, orig_normalise, 0),
        ("f64s16", SmallNet64, lambda x: orig_normalise(x).double(), 16), ("f32s16", SmallNet, orig_normalise, 16)]
for tag, net_cls, norm, max_steps in RUNS:
    losses.clear()
    peer.Net, peer.normalise = net_cls, norm
    torch.nn.CrossEntropyLoss = RecordingCE
    final = os.path.join(tmp, f"{tag}.safetensors")
    sys.argv = ["pytorch_airbench.py", "--data", tmp, "--device", "cpu", "--batch-size", str(BATCH), "--epochs",
                str(EPOCHS), "--no-augment", "--no-shuffle", "--init", init_path, "--save", final, "--threads", "2"]
    if max_steps:
        sys.argv += ["--max-steps", str(max_steps)]
    peer.main()
    torch.nn.CrossEntropyLoss = OrigCE
    from safetensors.torch import load_file
    state = load_file(final)
    for k, v in state.items():
        out[f"{tag}.{k}"] = v
    out[f"{tag}.losses"] = torch.tensor(losses, dtype=torch.float64)
    if max_steps:
        continue  # stopped early: no final ema copy, no test
    ev = net_cls()
    ev.load_state_dict(state)
    ev.eval()
    with torch.no_grad():
        out[f"{tag}.tta"] = peer.tta_logits(ev, norm(xte_u8)).detach().clone()
peer.Net, peer.normalise = OrigNet, orig_normalise

meta = {"generator": "tools/gen_airbench_steps.py", "torch": torch.__version__,
        "settings": json.dumps(dict(widths=WIDTHS, batch=BATCH, epochs=EPOCHS, n_train=N_TRAIN, n_test=N_TEST))}
save_file({k: v.contiguous() for k, v in out.items()}, OUT, metadata=meta)
print("wrote", OUT, "with torch", torch.__version__, "steps", len(out["f32.losses"]))
