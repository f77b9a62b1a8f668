"""Phase 2 exercise: softmax, safe for large logits.

Task: write softmax(logits): logits (B, C), one row of C scores per image -> probabilities
    (B, C): exp of each score divided by the sum of the exps of its row. Every row must sum to 1,
    also for huge logits such as 1000 (exp(1000) is inf in float32). Do not call torch.softmax.
Why it matters: 02_simple_nn.py turns the network's ten logits into the probabilities it shows;
    the same trick (subtract the max) keeps 03b's NumPy network from overflowing.
Belongs to: Phase 2, 02_simple_nn.py (softmax at the end of the forward pass by hand).
Check it: python -m exercises check 2

Hints (`python -m exercises check 2 --hint` shows the next one):
  1. torch.exp(logits) then divide by the row sums: logits.sum(dim=1, keepdim=True) keeps the
     shape (B, 1) so the division lines up with every row.
  2. softmax(x) == softmax(x - m) for any number m per row: subtracting the row's max makes the
     largest exponent exp(0) = 1, so nothing overflows.
  3. logits.amax(dim=1, keepdim=True) is each row's max, shape (B, 1).
"""

import torch


def softmax(logits: torch.Tensor) -> torch.Tensor:
    """logits (B, C) -> probabilities (B, C), each row summing to 1."""
    raise NotImplementedError("your turn: write softmax() in exercises/p2_softmax.py")
