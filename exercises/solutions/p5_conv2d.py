"""Reference solution of exercises/p5_conv2d.py (try it yourself first)."""

import torch


def conv2d(images: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """images (B, C_in, H, W) -> feature maps (B, C_out, H - kH + 1, W - kW + 1)."""
    batch, _, height, width = images.shape
    out_channels, _, k_h, k_w = weight.shape
    out = torch.zeros(batch, out_channels, height - k_h + 1, width - k_w + 1)
    for i in range(height - k_h + 1):
        for j in range(width - k_w + 1):
            patch = images[:, :, i:i + k_h, j:j + k_w]  # (B, C_in, kH, kW)
            products = patch[:, None] * weight[None]  # (B, C_out, C_in, kH, kW)
            out[:, :, i, j] = products.sum(dim=(2, 3, 4)) + bias  # (B, C_out)
    return out
