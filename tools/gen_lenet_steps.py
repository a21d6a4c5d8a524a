#!/usr/bin/env python3
"""Makes tests/golden/lenet_sgd_steps.safetensors: the seed's LeNet (torch.manual_seed(0)),
20 SGD steps (lr 0.001, momentum 0.9, batch 4) and 20 Adam steps on the first 80 training
records of the embedded sample in file order, normalised as the seed does. Holds the initial
weights (init.*), the weights after the SGD steps (sgd.*) and the Adam steps (adam.*), and
the per-step losses. Run from the repo root: python3 tools/gen_lenet_steps.py"""
import os, sys
import numpy as np
import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "shared", "peers"))
try:
    from pytorch_seed import Net
except ImportError:  # the seed's Net, copied
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(3, 6, 5); self.pool = torch.nn.MaxPool2d(2, 2)
            self.conv2 = torch.nn.Conv2d(6, 16, 5); self.fc1 = torch.nn.Linear(400, 120)
            self.fc2 = torch.nn.Linear(120, 84); self.fc3 = torch.nn.Linear(84, 10)
        def forward(self, x):
            F = torch.nn.functional
            x = self.pool(F.relu(self.conv1(x))); x = self.pool(F.relu(self.conv2(x)))
            x = torch.flatten(x, 1); x = F.relu(self.fc1(x)); x = F.relu(self.fc2(x))
            return self.fc3(x)

torch.manual_seed(0)
raw = np.fromfile("data/cifar10-sample/data_batch_1.bin", dtype=np.uint8).reshape(-1, 3073)[:80]
labels = torch.from_numpy(raw[:, 0].astype(np.int64))
images = torch.from_numpy(raw[:, 1:].reshape(-1, 3, 32, 32).copy()).float().div_(255.0).sub_(0.5).div_(0.5)

net = Net()
init = {k: v.detach().clone() for k, v in net.state_dict().items()}
out = {f"init.{k}": v for k, v in init.items()}

def run(opt_fn, prefix):
    net.load_state_dict(init)
    opt = opt_fn(net.parameters())
    crit = torch.nn.CrossEntropyLoss()
    losses = []
    for s in range(20):
        x, y = images[4 * s:4 * s + 4], labels[4 * s:4 * s + 4]
        opt.zero_grad()
        loss = crit(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    for k, v in net.state_dict().items():
        out[f"{prefix}.{k}"] = v.detach().clone()
    out[f"{prefix}.losses"] = torch.tensor(losses, dtype=torch.float32)

run(lambda p: torch.optim.SGD(p, lr=0.001, momentum=0.9), "sgd")
run(lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, weight_decay=5e-4, nesterov=True), "sgdn")
run(lambda p: torch.optim.Adam(p, lr=0.001), "adam")
save_file({k: v.contiguous() for k, v in out.items()}, "tests/golden/lenet_sgd_steps.safetensors",
          metadata={"generator": "tools/gen_lenet_steps.py", "torch": torch.__version__})
print("wrote tests/golden/lenet_sgd_steps.safetensors with torch", torch.__version__)
