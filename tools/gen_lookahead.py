#!/usr/bin/env python3
"""Makes tests/golden/lookahead_steps.safetensors: the airbench recipe's lookahead (the
reference: ../shared/peers/pytorch_airbench.py) on a small net with a BatchNorm layer.

Net (state_dict order): conv (3->4, 3x3, pad 1, bias) -> bn (BatchNorm2d(4, eps=1e-12,
momentum=0.4), weight frozen at 1 as in the recipe) -> ReLU -> flatten -> fc (144->3).
12 steps of SGD (lr 0.05, momentum 0.85, nesterov) on cross-entropy over fixed random
batches of 4 images 3x6x6; every 5 steps decay = 0.95^5 * (step/12)^3,
ema <- lerp(ema, v, 1 - decay), v <- ema for every floating-point state tensor; after the last
step v <- ema.

Holds: init.<name> (the ema's start), pre.<step>.<name> (the state after the optimizer step,
before the lookahead) for steps 5, 10 and 12, post.<step>.<name> (after the lookahead) for
steps 5 and 10, final.<name> (after the closing copy), decay (float64 [13]).
Run from the repo root: /work/venv/bin/python tools/gen_lookahead.py"""
import torch
import torch.nn as nn
from safetensors.torch import save_file


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4, eps=1e-12, momentum=0.4)
        self.bn.weight.requires_grad = False
        self.fc = nn.Linear(144, 3)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.bn(self.conv(x))), 1))


torch.manual_seed(0)
net = Net()
with torch.no_grad():  # start the BN statistics and bias off their defaults
    net.bn.bias.uniform_(-0.5, 0.5)
total, every = 12, 5
xs = torch.randn(total, 4, 3, 6, 6)
ys = torch.randint(0, 3, (total, 4))
opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.05, momentum=0.85, nesterov=True)
decay = 0.95 ** every * (torch.arange(total + 1, dtype=torch.float64) / total) ** 3
ema = {k: v.detach().clone() for k, v in net.state_dict().items()}
out = {f"init.{k}": v.clone() for k, v in net.state_dict().items()}
out["decay"] = decay.clone()
for step in range(1, total + 1):
    opt.zero_grad()
    nn.functional.cross_entropy(net(xs[step - 1]), ys[step - 1]).backward()
    opt.step()
    if step % every == 0 or step == total:
        out.update({f"pre.{step}.{k}": v.detach().clone() for k, v in net.state_dict().items()})
    if step % every == 0:
        d = decay[step].item()
        with torch.no_grad():
            for k, v in net.state_dict().items():
                if v.is_floating_point():
                    ema[k].lerp_(v, 1 - d)
                    v.copy_(ema[k])
        out.update({f"post.{step}.{k}": v.detach().clone() for k, v in net.state_dict().items()})
with torch.no_grad():
    for k, v in net.state_dict().items():
        if v.is_floating_point():
            v.copy_(ema[k])
out.update({f"final.{k}": v.detach().clone() for k, v in net.state_dict().items()})
save_file({k: v.contiguous() for k, v in out.items()}, "tests/golden/lookahead_steps.safetensors",
          metadata={"generator": "tools/gen_lookahead.py", "torch": torch.__version__})
print("wrote tests/golden/lookahead_steps.safetensors with torch", torch.__version__)
