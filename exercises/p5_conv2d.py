"""Phase 5 exercise: a 2-D convolution by hand.

Task: write conv2d(images, weight, bias): images (B, C_in, H, W), weight (C_out, C_in, kH, kW),
    bias (C_out,). Slide each filter over every position where it fits (no padding, stride 1):
    out[n, c, i, j] = bias[c] + sum over k, a, b of weight[c, k, a, b] * images[n, k, i + a, j + b].
    Return the feature maps (B, C_out, H - kH + 1, W - kW + 1). Do not call F.conv2d/nn.Conv2d.
Why it matters: this is what every convolution layer of the CNN computes: nine shared weights
    (per input channel) looking at every 3 x 3 patch. 04_improved_model.py computes one by hand
    on a real digit and compares it with nn.Conv2d.
Belongs to: Phase 5, 04_improved_model.py (the convolution by hand).
Check it: python -m exercises check 5

Hints (`python -m exercises check 5 --hint` shows the next one):
  1. The output is (B, C_out, H - kH + 1, W - kW + 1): start with torch.zeros of that shape.
  2. Loop over output positions i, j: patch = images[:, :, i:i + kH, j:j + kW] is
     (B, C_in, kH, kW), the same shape as one filter.
  3. (patch[:, None] * weight[None]).sum(dim=(2, 3, 4)) multiplies every patch with every
     filter and adds up: (B, C_out). Add bias and store it in out[:, :, i, j].
  4. Do not flip the kernel: deep learning's "convolution" is a cross-correlation.
"""

import torch


def conv2d(images: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """images (B, C_in, H, W) -> feature maps (B, C_out, H - kH + 1, W - kW + 1)."""
    raise NotImplementedError("your turn: write conv2d() in exercises/p5_conv2d.py")
