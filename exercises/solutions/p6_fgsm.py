"""Reference solution of exercises/p6_fgsm.py (try it yourself first)."""

import torch
import torch.nn.functional as F
from torch import nn


def fgsm_step(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
              epsilon: float) -> torch.Tensor:
    """images (B, 1, H, W) in [0, 1] -> adversarial images of the same shape, in [0, 1]."""
    pixels = images.clone().requires_grad_(True)  # (B, 1, H, W), tracked by autograd
    loss = F.cross_entropy(model(pixels), labels)  # () how wrong the model is
    (gradient,) = torch.autograd.grad(loss, pixels)  # (B, 1, H, W): d loss / d pixel
    return (images + epsilon * gradient.sign()).clamp(0, 1).detach()  # uphill by epsilon
