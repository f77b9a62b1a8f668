"""Reference solution of exercises/p2_softmax.py (try it yourself first)."""

import torch


def softmax(logits: torch.Tensor) -> torch.Tensor:
    """logits (B, C) -> probabilities (B, C), each row summing to 1."""
    shifted = logits - logits.amax(dim=1, keepdim=True)  # (B, C), largest entry of each row is 0
    exps = torch.exp(shifted)  # (B, C), all in (0, 1]
    return exps / exps.sum(dim=1, keepdim=True)  # (B, C) / (B, 1)
