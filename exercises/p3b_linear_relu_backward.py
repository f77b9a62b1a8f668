"""03b bonus exercise: the backward pass of one Linear + ReLU layer, in NumPy.

Task: the forward pass is z = x @ w.T + b, y = ReLU(z), with x (B, in), w (out, in), b (out,).
    Given grad_out = dL/dy (B, out), write linear_relu_backward(x, w, b, grad_out) returning
    (grad_x, grad_w, grad_b) = (dL/dx (B, in), dL/dw (out, in), dL/db (out,)).
Why it matters: this is backpropagation through one layer; 03b_backprop_from_scratch.py chains it
    layer after layer (delta = W^T delta * ReLU'(z); dW = delta a^T; db = delta), and it is what
    loss.backward() computes for you in Phase 3. Prove yours with p3b_gradient_check.py.
Belongs to: the bonus between Phases 3 and 4, 03b_backprop_from_scratch.py (backward pass).
Check it: python -m exercises check 03b

Hints (`python -m exercises check 03b --hint` shows the next one):
  1. Recompute z = x @ w.T + b. ReLU passes the gradient only where it was on:
     grad_z = grad_out * (z > 0), shape (B, out).
  2. Each gradient has the shape of its variable: grad_w = grad_z.T @ x is (out, in);
     grad_b sums grad_z over the batch (axis=0): (out,).
  3. grad_x = grad_z @ w: (B, out) @ (out, in) = (B, in).
"""

import numpy as np


def linear_relu_backward(x: np.ndarray, w: np.ndarray, b: np.ndarray,
                         grad_out: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients (grad_x (B, in), grad_w (out, in), grad_b (out,)) of y = ReLU(x @ w.T + b)."""
    raise NotImplementedError("your turn: write linear_relu_backward() in "
                              "exercises/p3b_linear_relu_backward.py")
