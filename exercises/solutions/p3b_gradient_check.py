"""Reference solution of exercises/p3b_gradient_check.py (try it yourself first)."""

import numpy as np


def numerical_gradient(f, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """d f / d x estimated by centred differences; x (any shape, float64) -> array shaped like x."""
    grad = np.zeros_like(x)  # same shape as x
    for index in np.ndindex(x.shape):
        old = x[index]
        x[index] = old + h
        up = f(x)
        x[index] = old - h
        down = f(x)
        x[index] = old  # leave x as it was
        grad[index] = (up - down) / (2 * h)
    return grad
