"""Checks of the 03b and Phase 4 exercises: gradient check, backward pass, dropout, early stop."""

from __future__ import annotations

import numpy as np
import torch

from exercises._checking import Mistake, close, differ, expect_array, expect_tensor


def _cube_sum(x: np.ndarray) -> float:
    return float((x ** 3).sum())


def _softplus_mix(x: np.ndarray) -> float:
    return float(np.log1p(np.exp(x)).sum() + (x[..., :1] * x[..., -1:]).sum())


def _forward_difference(f, x: np.ndarray, h: float) -> np.ndarray:
    grad, base = np.zeros_like(x), f(x)
    for index in np.ndindex(x.shape):
        old = x[index]
        x[index] = old + h
        grad[index] = (f(x) - base) / h
        x[index] = old
    return grad


def check_numerical_gradient(yours, reference) -> None:
    rng = np.random.default_rng(6)
    cases = [("sum(x**3), x (3, 4)", _cube_sum, rng.normal(size=(3, 4)), 1e-5),
             ("mixed f, x (2, 5)", _softplus_mix, rng.normal(size=(2, 5)), 1e-5),
             ("x = [0.7]", _cube_sum, np.array([0.7]), 1e-4),
             ("an all-zero x", _softplus_mix, np.zeros((2, 3)), 1e-5)]
    for case, f, x, h in cases:
        expected = reference(f, x.copy(), h)
        mine = x.copy()
        actual = expect_array(yours(f, mine, h), x.shape, f"{case}: your gradient")
        if not np.array_equal(mine, x):
            raise Mistake(f"{case}: x was changed: put x[i] back after each probe (old value)")
        if close(actual, expected, atol=1e-7, rtol=1e-6):
            continue
        if close(actual, 2 * expected, atol=1e-6, rtol=1e-5):
            raise Mistake(f"{case}: off by a factor of 2: divide by 2h (x + h and x - h are 2h "
                          "apart)")
        if close(actual, _forward_difference(f, x.copy(), h), atol=1e-9, rtol=1e-7):
            raise Mistake(f"{case}: that is (f(x+h) - f(x)) / h: use the centred (f(x+h) - "
                          "f(x-h)) / 2h")
        raise differ(case, actual, expected)


def _unpack(result, shapes: list[tuple[int, ...]], case: str) -> list[np.ndarray]:
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        raise Mistake(f"{case}: return three arrays: grad_x, grad_w, grad_b")
    names = ("grad_x", "grad_w", "grad_b")
    for name, value, shape in zip(names, result, shapes):
        if isinstance(value, np.ndarray) and name == "grad_b" and value.shape[1:] == shape:
            raise Mistake(f"{case}: grad_b has shape {value.shape}, expected {shape}: sum over the "
                          "batch (axis=0)")
        if isinstance(value, np.ndarray) and value.shape == shape[::-1] and len(shape) == 2:
            raise Mistake(f"{case}: {name} has shape {value.shape}, expected {shape}: transpose it")
    return [expect_array(value, shape, f"{case}: {name}")
            for name, value, shape in zip(names, result, shapes)]


def check_linear_relu_backward(yours, reference) -> None:
    rng = np.random.default_rng(7)

    def case_arrays(batch: int, n_in: int, n_out: int, zero_x: bool = False):
        x = np.zeros((batch, n_in)) if zero_x else rng.normal(size=(batch, n_in))
        return (x, rng.normal(size=(n_out, n_in)), rng.normal(size=n_out),
                rng.normal(size=(batch, n_out)))

    cases = [("(5, 4) -> 3", case_arrays(5, 4, 3)), ("a batch of 1", case_arrays(1, 6, 4)),
             ("(2, 7) -> 6", case_arrays(2, 7, 6)),
             ("all-zero x", case_arrays(3, 4, 5, zero_x=True))]
    for case, (x, w, b, grad_out) in cases:
        expected = reference(x.copy(), w.copy(), b.copy(), grad_out.copy())
        actual = _unpack(yours(x.copy(), w.copy(), b.copy(), grad_out.copy()),
                         [e.shape for e in expected], case)
        if all(close(a, e, atol=1e-8) for a, e in zip(actual, expected)):
            continue
        z = x @ w.T + b  # (B, out)
        unmasked = [grad_out @ w, grad_out.T @ x, grad_out.sum(axis=0)]
        if any(close(a, u, atol=1e-8) and not close(u, e, atol=1e-8)
               for a, u, e in zip(actual, unmasked, expected)):
            raise Mistake(f"{case}: gradient flows where ReLU was off: multiply grad_out by (z > "
                          "0)")
        wrong_mask = grad_out * (grad_out > 0)
        if close(actual[2], wrong_mask.sum(axis=0), atol=1e-8):
            raise Mistake(f"{case}: the ReLU mask comes from the forward pass (z > 0), not from "
                          "grad_out")
        for name, a, e in zip(("grad_x", "grad_w", "grad_b"), actual, expected):
            if not close(a, e, atol=1e-8):
                mask_ok = (z > 0).mean()
                raise differ(f"{case}: {name} (ReLU on for {mask_ok:.0%} of the units)", a, e)


def check_dropout(yours, reference) -> None:
    x = torch.randn(4, 10)
    if not close(expect_tensor(yours(x.clone(), 0.5, training=False), x.shape), x, atol=0, rtol=0):
        raise Mistake("with training=False (evaluation) dropout does nothing: return x unchanged")
    if not close(expect_tensor(yours(x.clone(), 0.0), x.shape), x, atol=0, rtol=0):
        raise Mistake("with p = 0 nothing is dropped: every unit is kept and scaled by 1/(1-0) = 1")
    for p, shape in ((0.3, (200, 500)), (0.5, (3, 5, 7, 40)), (0.2, (1, 5000))):
        x = torch.randn(shape).abs() + 0.5  # no zeros of its own, so zeros mean "dropped"
        original = x.clone()
        out = expect_tensor(yours(x, p), shape, f"p = {p}, shape {shape}: your result")
        if not torch.equal(x, original):
            raise Mistake("you changed x in place: return a new tensor (x * mask / (1 - p))")
        kept = out != 0
        ratio = (out[kept] / x[kept]).mean().item() if kept.any() else 0.0
        if abs(ratio - 1) < 1e-5 and p > 0:
            raise Mistake(f"p = {p}: off by a factor of 1/(1-p): inverted dropout rescales the "
                          "kept units")
        if abs(ratio - (1 - p)) < 1e-5:
            raise Mistake(f"p = {p}: kept units multiplied by (1 - p): DIVIDE them by (1 - p)")
        if not close(out[kept], x[kept] / (1 - p), atol=1e-6):
            raise Mistake(f"p = {p}: kept units should be x / (1 - p) exactly")
        if len(out) > 1 and torch.equal(kept[0], kept[1]):
            raise Mistake(f"p = {p}: every row got the same mask: draw one random number per "
                          "element (torch.rand(x.shape))")
        dropped = 1 - kept.float().mean().item()
        if abs(dropped - (1 - p)) < 0.02 and abs(p - 0.5) > 0.05:
            raise Mistake(f"p = {p}: you dropped {dropped:.0%}, that is 1 - p: keep a unit where "
                          "rand >= p")
        if abs(dropped - p) > 0.03:
            raise Mistake(f"p = {p}: you dropped {dropped:.0%} of the units, expected about "
                          f"{p:.0%}")
    x = torch.ones(100, 100)
    if torch.equal(yours(x, 0.5), yours(x, 0.5)):
        raise Mistake("two calls dropped the same units: draw a fresh random mask each call")


def _stop_previous(history, patience):
    """A typical mistake: count epochs worse than the epoch before instead of the best."""
    worse = 0
    for before, now in zip(history, history[1:]):
        worse = worse + 1 if now <= before else 0
    return worse >= patience


def _stop_ties_improve(history, patience):
    return bool(history) and len(history) - 1 - max(i for i, v in enumerate(history)
                                                    if v == max(history)) >= patience


def _stop_shifted(shift: int):
    def stop(history, patience):
        return bool(history) and len(history) - 1 - history.index(max(history)) >= patience + shift
    return stop


def _stop_lower_is_better(history, patience):
    return bool(history) and len(history) - 1 - history.index(min(history)) >= patience


EARLY_STOP_CASES = [([], 3), ([0.9], 1), ([0.90, 0.91, 0.92], 2), ([0.90, 0.95, 0.94], 2),
                    ([0.90, 0.95, 0.94, 0.93], 2), ([0.90, 0.95, 0.95, 0.95], 2),
                    ([0.90, 0.95, 0.93, 0.94], 2), ([0.95, 0.94, 0.93, 0.92, 0.96], 3),
                    ([0.90, 0.89], 1), ([0.97, 0.91, 0.92, 0.93, 0.94], 3),
                    ([0.90, 0.95, 0.91, 0.92, 0.93, 0.94], 5)]
EARLY_STOP_MISTAKES = (
    (_stop_previous, "compare with the BEST accuracy so far, not with the epoch before"),
    (_stop_ties_improve, "an equal accuracy is not an improvement: use the FIRST best epoch"),
    (_stop_shifted(-1), "you stop one epoch early: stop once the best is `patience` epochs old"),
    (_stop_shifted(+1), "you stop one epoch late: stop once the best is `patience` epochs old"),
    (_stop_lower_is_better, "these are accuracies: higher is better (max, not min as for a loss)"),
)


def check_early_stopping(yours, reference) -> None:
    answers = []
    for history, patience in EARLY_STOP_CASES:
        answer = yours(list(history), patience)
        if not isinstance(answer, (bool, np.bool_)):
            raise Mistake(f"should_stop({history}, {patience}) returned {answer!r}: return True "
                          "or False")
        answers.append(bool(answer))
    expected = [bool(reference(list(history), patience)) for history, patience in EARLY_STOP_CASES]
    if answers == expected:
        return
    for variant, message in EARLY_STOP_MISTAKES:
        if answers == [bool(variant(list(h), p)) for h, p in EARLY_STOP_CASES]:
            raise Mistake(message)
    index = next(i for i, (a, e) in enumerate(zip(answers, expected)) if a != e)
    history, patience = EARLY_STOP_CASES[index]
    raise Mistake(f"should_stop({history}, patience={patience}) gave {answers[index]}, "
                  f"expected {expected[index]}")
