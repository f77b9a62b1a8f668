"""Reference solution of exercises/p3b_linear_relu_backward.py (try it yourself first)."""

import numpy as np


def linear_relu_backward(x: np.ndarray, w: np.ndarray, b: np.ndarray,
                         grad_out: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients (grad_x (B, in), grad_w (out, in), grad_b (out,)) of y = ReLU(x @ w.T + b)."""
    z = x @ w.T + b  # (B, out): the forward pass again
    grad_z = grad_out * (z > 0)  # (B, out): ReLU' is 1 where z > 0, else 0
    grad_w = grad_z.T @ x  # (out, in): summed over the batch
    grad_b = grad_z.sum(axis=0)  # (out,)
    grad_x = grad_z @ w  # (B, in): passed on to the layer below
    return grad_x, grad_w, grad_b
