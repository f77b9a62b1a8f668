"""Reference solution of exercises/p3_training_step.py (try it yourself first)."""

import torch
from torch import nn


def training_step(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, loss_fn: nn.Module,
                  optimizer: torch.optim.Optimizer) -> float:
    """One gradient-descent step on (images (B, ...), labels (B,)); returns the batch loss."""
    optimizer.zero_grad()  # forget the previous batch's gradients
    logits = model(images)  # (B, classes)
    loss = loss_fn(logits, labels)  # () mean over the batch
    loss.backward()  # d loss / d every weight, into each parameter's .grad
    optimizer.step()  # move every weight a little downhill
    return loss.item()
