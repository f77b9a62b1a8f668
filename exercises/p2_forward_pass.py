"""Phase 2 exercise: a 2-layer forward pass with matrix products.

Task: write forward_pass(images, w1, b1, w2, b2): flatten each image to one row of numbers, then
    hidden = ReLU(x @ w1.T + b1) and logits = hidden @ w2.T + b2. The weights are laid out like
    nn.Linear's: w1 (hidden, inputs), b1 (hidden,), w2 (classes, hidden), b2 (classes,).
    Return the logits (B, classes): no softmax. Images may have any size, not only 28 x 28.
Why it matters: this is all an MLP does. 02_simple_nn.py computes exactly this next to PyTorch's
    nn.Linear layers and prints the difference: a rounding error.
Belongs to: Phase 2, 02_simple_nn.py (forward_by_hand).
Check it: python -m exercises check 2

Hints (`python -m exercises check 2 --hint` shows the next one):
  1. images.reshape(len(images), -1) turns (B, 1, H, W) into (B, H*W).
  2. x @ w1.T is (B, inputs) @ (inputs, hidden) = (B, hidden); adding b1 (hidden,) adds it to
     every row.
  3. ReLU is torch.clamp(z, min=0) (or torch.relu); only the hidden layer gets it.
"""

import torch


def forward_pass(images: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor,
                 b2: torch.Tensor) -> torch.Tensor:
    """images (B, 1, H, W) -> logits (B, classes) of a Linear-ReLU-Linear network."""
    raise NotImplementedError("your turn: write forward_pass() in exercises/p2_forward_pass.py")
