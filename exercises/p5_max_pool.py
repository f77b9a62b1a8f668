"""Phase 5 exercise: 2x2 max pooling by hand.

Task: write max_pool2x2(maps): maps (B, C, H, W) -> (B, C, H // 2, W // 2), each output the
    largest of one 2 x 2 block (blocks do not overlap). With an odd H or W the last row or column
    is left out, as nn.MaxPool2d(2) does. Do not call F.max_pool2d or nn.MaxPool2d.
Why it matters: pooling halves each feature map (28 -> 14 -> 7 in the plan's CNN), keeps the
    strongest response, and makes the network less sensitive to small shifts.
Belongs to: Phase 5, 04_improved_model.py (the CNN's pool layers; see the shapes it prints).
Check it: python -m exercises check 5

Hints (`python -m exercises check 5 --hint` shows the next one):
  1. Cut the odd row/column first: maps[:, :, :2 * (H // 2), :2 * (W // 2)].
  2. The four members of each block are maps[:, :, 0::2, 0::2], [..., 0::2, 1::2],
     [..., 1::2, 0::2] and [..., 1::2, 1::2], each (B, C, H // 2, W // 2).
  3. torch.maximum(a, b) is the elementwise max of two tensors. Never start a max from 0: maps can
     be all negative.
"""

import torch


def max_pool2x2(maps: torch.Tensor) -> torch.Tensor:
    """maps (B, C, H, W) -> (B, C, H // 2, W // 2), the max of each 2x2 block."""
    raise NotImplementedError("your turn: write max_pool2x2() in exercises/p5_max_pool.py")
