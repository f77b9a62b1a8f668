"""Reference solution of exercises/p4_dropout.py (try it yourself first)."""

import torch


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """x (any shape) -> x with a share p of its entries zeroed and the rest scaled by 1/(1-p)."""
    if not training or p == 0:
        return x
    keep = (torch.rand(x.shape) >= p).float()  # same shape as x: 1.0 kept, 0.0 dropped
    return x * keep / (1 - p)  # inverted: the expected value of each entry stays x
