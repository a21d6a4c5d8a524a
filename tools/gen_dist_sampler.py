#!/usr/bin/env python3
"""Prints torch DistributedSampler's index split (shuffle=False, drop_last=True) for the cases
tests/dist/test_sampler.cpp checks, as the C++ table pasted there. Run with the venv's python."""
import torch
from torch.utils.data.distributed import DistributedSampler

print(f"// torch {torch.__version__}: DistributedSampler(range(n), N, r, shuffle=False, drop_last=True)")
for n, N in [(10, 2), (7, 2), (9, 4), (5, 5), (11, 3)]:
    for r in range(N):
        s = list(DistributedSampler(range(n), num_replicas=N, rank=r, shuffle=False, drop_last=True))
        print(f"    {{{n}, {N}, {r}, {{{', '.join(map(str, s))}}}}},")
