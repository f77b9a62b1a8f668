"""Reference solution of exercises/p1_ink_share.py (try it yourself first)."""

import torch

NUM_CLASSES = 10


def ink_share_per_digit(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """images (N, H, W) uint8 0..255 and labels (N,) -> (10,) average share of ink pixels."""
    ink = (images > 0).float().mean(dim=(1, 2))  # (N,): share of ink in each image
    shares = torch.zeros(NUM_CLASSES)  # (10,)
    for digit in range(NUM_CLASSES):
        mask = labels == digit  # (N,) True for the images of this digit
        if mask.any():
            shares[digit] = ink[mask].mean()
    return shares
