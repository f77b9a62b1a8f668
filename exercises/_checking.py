"""What every check uses: the Mistake it raises, and type, shape and value comparisons.

A check is ``check(yours, reference)``: it calls both functions on the same random and edge-case
inputs and raises :class:`Mistake` with one line a beginner can act on when they differ. Typical
mistakes are recognised by their symptom (rows that do not sum to 1, a factor of 1/(1-p), ...)
before the generic "values differ" message.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


class Mistake(Exception):
    """Your function gave a wrong answer; the message says what looks wrong and what to try."""


def shape_text(shape: Sequence[int]) -> str:
    """(4, 10) as text, also for a single dimension: (7,)."""
    return str(tuple(int(size) for size in shape))


def expect_tensor(value, shape: Sequence[int], what: str = "your result") -> torch.Tensor:
    """``value`` if it is a tensor of ``shape``; otherwise a Mistake that names type or shape."""
    if isinstance(value, tuple) and len(value) == 1 and isinstance(value[0], torch.Tensor):
        raise Mistake(f"{what} is a tuple with one tensor inside: return the tensor itself")
    if not isinstance(value, torch.Tensor):
        raise Mistake(f"{what} is a {type(value).__name__}: return a torch.Tensor of shape "
                      f"{shape_text(shape)}")
    if tuple(value.shape) != tuple(shape):
        raise Mistake(f"{what} has shape {shape_text(value.shape)}, expected {shape_text(shape)}")
    if not value.is_floating_point():
        raise Mistake(f"{what} has dtype {value.dtype}: return floating-point numbers (.float())")
    return value.detach()


def expect_array(value, shape: Sequence[int], what: str = "your result") -> np.ndarray:
    """``value`` if it is a NumPy array of ``shape``; otherwise a Mistake (03b is NumPy)."""
    if isinstance(value, torch.Tensor):
        raise Mistake(f"{what} is a torch.Tensor: this exercise is NumPy, return a np.ndarray")
    if not isinstance(value, np.ndarray):
        raise Mistake(f"{what} is a {type(value).__name__}: return a np.ndarray of shape "
                      f"{shape_text(shape)}")
    if value.shape != tuple(shape):
        raise Mistake(f"{what} has shape {shape_text(value.shape)}, expected {shape_text(shape)}")
    return value


def expect_number(value, what: str = "your result") -> float:
    """A Python number (or a one-element tensor/array) as float; otherwise a Mistake."""
    if isinstance(value, bool):
        raise Mistake(f"{what} is True/False: return a number")
    if isinstance(value, (torch.Tensor, np.ndarray)):
        if value.size == 0 if isinstance(value, np.ndarray) else value.numel() != 1:
            raise Mistake(f"{what} has shape {shape_text(value.shape)}: return one number "
                          "(average over the batch?)")
        return float(value.item())
    if not isinstance(value, (int, float, np.number)):
        raise Mistake(f"{what} is a {type(value).__name__}: return a number")
    return float(value)


def _double(value) -> torch.Tensor:
    """A tensor, array or number as a float64 tensor, for comparisons."""
    return torch.as_tensor(np.asarray(value) if isinstance(value, np.ndarray) else value).double()


def close(actual, expected, atol: float = 1e-5, rtol: float = 1e-4) -> bool:
    """Same values up to rounding (tensors or arrays; NaN never equals anything)."""
    return bool(torch.allclose(_double(actual), _double(expected), atol=atol, rtol=rtol))


def largest_difference(actual, expected) -> float:
    """The largest absolute difference, for the generic 'values differ' message."""
    return float((_double(actual) - _double(expected)).abs().max())


def not_finite(value) -> bool:
    """True when any value is inf or NaN (a sign of an unstable formula)."""
    return not bool(torch.isfinite(_double(value)).all())


def differ(case: str, actual, expected) -> Mistake:
    """The generic message when no typical mistake explains a difference."""
    return Mistake(f"{case}: your values differ from the reference by up to "
                   f"{largest_difference(actual, expected):.3g}; compare step by step with the "
                   "hints")
