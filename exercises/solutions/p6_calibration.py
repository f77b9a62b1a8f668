"""Reference solution of exercises/p6_calibration.py (try it yourself first)."""

import torch


def expected_calibration_error(confidence: torch.Tensor, correct: torch.Tensor,
                               num_bins: int = 10) -> float:
    """confidence (N,) in [0, 1], correct (N,) bool -> the ECE, a float in [0, 1]."""
    bins = (torch.ceil(confidence * num_bins).long() - 1).clamp(0, num_bins - 1)  # (N,) in 0..n-1
    ece = 0.0
    for b in range(num_bins):
        inside = bins == b  # (N,) the answers in bin b
        if inside.any():
            gap = correct[inside].float().mean() - confidence[inside].float().mean()
            ece += float(gap.abs()) * float(inside.float().mean())  # |gap| x share of answers
    return ece
