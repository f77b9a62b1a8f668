"""Phase 3 exercise: the cross-entropy loss by hand.

Task: write cross_entropy(logits, labels): logits (B, C) and labels (B,) of class indices ->
    the mean over the batch of -log(probability of the right class), as a scalar tensor. It must
    stay finite for huge logits such as 1000 or -1000 (so no log(softmax(...))). Do not call
    F.cross_entropy or nn.CrossEntropyLoss: the check compares with them.
Why it matters: 03_train_model.py's loss_fn = nn.CrossEntropyLoss() computes exactly this; it is
    the one number training pushes down.
Belongs to: Phase 3, 03_train_model.py (loss_fn).
Check it: python -m exercises check 3

Hints (`python -m exercises check 3 --hint` shows the next one):
  1. log of softmax, written safely: log_probs = logits - torch.logsumexp(logits, dim=1,
     keepdim=True), shape (B, C).
  2. Row i needs the entry of column labels[i]: log_probs[torch.arange(len(labels)), labels] is
     (B,).
  3. The loss is the MINUS of their mean: one number for the whole batch.
"""

import torch


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """logits (B, C), labels (B,) -> the mean cross-entropy, a scalar tensor."""
    raise NotImplementedError("your turn: write cross_entropy() in exercises/p3_cross_entropy.py")
