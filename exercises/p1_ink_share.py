"""Phase 1 exercise: the share of ink pixels per digit.

Task: write ink_share_per_digit(images, labels). For each digit 0..9, take the images with that
    label; for each image, the share of its pixels that carry ink (value > 0); return the average
    share per digit as a (10,) float tensor. A digit without images gets 0.0.
Why it matters: 01_explore_mnist.py prints "a 1 uses the least ink": a first feature you can
    compute yourself, and a first taste of selecting data with a boolean mask.
Belongs to: Phase 1, 01_explore_mnist.py (its last finding).
Check it: python -m exercises check 1

Hints (`python -m exercises check 1 --hint` shows the next one):
  1. images > 0 is a boolean tensor (N, 28, 28): True where there is ink. .float() turns True
     into 1.0, so its mean over the last two dimensions is each image's share of ink.
  2. labels == d is a boolean mask (N,): images[labels == d] keeps the images of digit d.
  3. Loop over d in range(10); skip (give 0.0) a digit whose mask has no True value.
  4. torch.tensor(list_of_ten_floats) or torch.stack(...) makes the (10,) result.
"""

import torch


def ink_share_per_digit(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """images (N, H, W) uint8 0..255 and labels (N,) -> (10,) average share of ink pixels."""
    raise NotImplementedError("your turn: write ink_share_per_digit() in exercises/p1_ink_share.py")
