"""03b bonus exercise: a finite-difference gradient, the way to prove backprop right.

Task: write numerical_gradient(f, x, h): f takes a NumPy array x and returns one number. Return
    an array shaped like x whose entry i is (f(x with x[i] + h) - f(x with x[i] - h)) / (2h), the
    centred difference. Leave x as you found it.
Why it matters: 03b_backprop_from_scratch.py opens with a gradient check: hand-written gradients
    are compared with this slow but simple estimate (and with autograd). A gradient that
    passes it is right; that is how every backward pass is tested.
Belongs to: the bonus between Phases 3 and 4, 03b_backprop_from_scratch.py (gradient check).
Check it: python -m exercises check 03b

Hints (`python -m exercises check 03b --hint` shows the next one):
  1. np.zeros_like(x) for the result; for index in np.ndindex(x.shape): visits every entry of
     an array of any shape.
  2. old = x[index]; x[index] = old + h; up = f(x); x[index] = old - h; down = f(x);
     x[index] = old (put it back!).
  3. The centred difference divides by 2h: the two probes are 2h apart. Its error shrinks like
     h^2, the one-sided (f(x+h) - f(x)) / h only like h.
"""

import numpy as np


def numerical_gradient(f, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """d f / d x estimated by centred differences; x (any shape, float64) -> array shaped like x."""
    raise NotImplementedError("your turn: write numerical_gradient() in "
                              "exercises/p3b_gradient_check.py")
