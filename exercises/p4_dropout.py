"""Phase 4 exercise: inverted dropout.

Task: write dropout(x, p, training): while training, set each entry of x to 0 with probability
    p (a fresh random choice per entry and per call, torch.rand) and divide the kept entries by
    (1 - p). In evaluation (training=False) return x unchanged. Do not change x in place, and do
    not call nn.Dropout or F.dropout.
Why it matters: dividing by (1 - p) keeps each unit's average output the same, so the network
    needs no change between training and evaluation. `03_train_model.py --dropout 0.2` and the
    CNN of 04_improved_model.py use exactly this (nn.Dropout).
Belongs to: Phase 4, 03_train_model.py --dropout (regularization).
Check it: python -m exercises check 4

Hints (`python -m exercises check 4 --hint` shows the next one):
  1. torch.rand(x.shape) draws one number in [0, 1) per entry; (that >= p) keeps each entry
     with probability 1 - p.
  2. mask.float() is 1.0 where kept and 0.0 where dropped: x * mask drops.
  3. Then divide by (1 - p) ("inverted" dropout). In evaluation, return x as it is.
"""

import torch


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """x (any shape) -> x with a share p of its entries zeroed and the rest scaled by 1/(1-p)."""
    raise NotImplementedError("your turn: write dropout() in exercises/p4_dropout.py")
