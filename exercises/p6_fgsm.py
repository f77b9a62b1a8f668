"""Phase 6 exercise: one FGSM step (the fast gradient sign method).

Task: write fgsm_step(model, images, labels, epsilon): images (B, 1, H, W) are pixels in [0, 1]
    and model(images) gives logits. Compute the cross-entropy loss of the right labels, its
    gradient with respect to the PIXELS, and return images + epsilon * sign(gradient), clamped
    to [0, 1]. Do not change images in place.
Why it matters: every pixel moves by at most epsilon, yet the accuracy can collapse: the network
    does not see digits the way you do. 05_understand_model.py draws accuracy against epsilon.
Belongs to: Phase 6, 05_understand_model.py (adversarial examples).
Check it: python -m exercises check 6

Hints (`python -m exercises check 6 --hint` shows the next one):
  1. pixels = images.clone().requires_grad_(True) asks autograd for d loss / d pixel.
  2. loss = F.cross_entropy(model(pixels), labels); loss.backward(); then pixels.grad holds the
     gradient, shape (B, 1, H, W).
  3. The attack RAISES the loss: add epsilon * pixels.grad.sign(), then .clamp(0, 1) and
     .detach().
"""

import torch
import torch.nn.functional as F  # noqa: F401 - you will need F.cross_entropy
from torch import nn


def fgsm_step(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
              epsilon: float) -> torch.Tensor:
    """images (B, 1, H, W) in [0, 1] -> adversarial images of the same shape, in [0, 1]."""
    raise NotImplementedError("your turn: write fgsm_step() in exercises/p6_fgsm.py")
