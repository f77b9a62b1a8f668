"""Phase 3 exercise: one training step.

Task: write training_step(model, images, labels, loss_fn, optimizer): one step of gradient
    descent on one batch. Clear the old gradients, compute the logits and the loss, compute the
    gradients, update the weights; return the loss of this batch as a Python float.
Why it matters: these five lines are all of training. 03_train_model.py runs them once per
    batch, 844 times per epoch; everything else (epochs, validation, checkpoints) is bookkeeping.
Belongs to: Phase 3, 03_train_model.py (its training loop).
Check it: python -m exercises check 3

Hints (`python -m exercises check 3 --hint` shows the next one):
  1. The order: optimizer.zero_grad(), logits = model(images), loss = loss_fn(logits, labels),
     loss.backward(), optimizer.step().
  2. Without zero_grad(), backward() ADDS to the gradients of the previous batches.
  3. loss.item() is the loss as a Python float.
"""

import torch
from torch import nn


def training_step(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, loss_fn: nn.Module,
                  optimizer: torch.optim.Optimizer) -> float:
    """One gradient-descent step on (images (B, ...), labels (B,)); returns the batch loss."""
    raise NotImplementedError("your turn: write training_step() in exercises/p3_training_step.py")
