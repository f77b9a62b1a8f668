"""What the NumPy network of 03b_backprop_from_scratch.py shares with tests and benchmarks.

The network itself (forward pass, backward pass, update, training loop) is written in
03b_backprop_from_scratch.py, where the learner reads it. This module holds only the plumbing
around it:

  * the MNIST splits as NumPy arrays (and a noisy copy for the robustness experiment);
  * saving and loading a trained network as an ``.npz`` archive of plain arrays (read with
    ``np.load(allow_pickle=False)``, so loading a file can never run code);
  * the machinery that proves a backward pass right: the same loss built from PyTorch operations
    (autograd) and central finite differences, compared with a scale-free relative error.

Any object with ``weights`` (a list of (out, in) arrays), ``biases``, ``parameters()``,
``parameter_names()``, ``layer_sizes`` and ``loss_and_gradients(images, labels)`` can be checked.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common import data, paths
from common.errors import CourseError
from common.idx import atomic_write_bytes

FORMAT_VERSION = 1  # bump when the .npz layout changes
AUTOGRAD_TOLERANCE = 1e-7  # hand-written vs PyTorch autograd: both exact, only rounding differs
FINITE_DIFF_TOLERANCE = 1e-5  # vs central differences, which carry O(eps^2) + rounding error
FINITE_DIFF_EPS = 1e-6  # the nudge of finite differences (float64: rounding stays far below it)
SCRIPT = "03b_backprop_from_scratch.py"


# --- data as NumPy arrays ----------------------------------------------------------------------


def to_arrays(split: data.Split) -> tuple[np.ndarray, np.ndarray]:
    """A Split as (images (N, 784) float32, labels (N,) int64), normalized like Phase 3."""
    images = data.normalize(split.images).reshape(len(split), -1).numpy()  # (N, 784)
    return images, split.labels.numpy()


def noisy_arrays(split: data.Split, noise_std: float, seed: int = 0) -> np.ndarray:
    """The images plus Gaussian pixel noise (std in [0, 1] pixel units, clipped): (N, 784)."""
    rng = np.random.default_rng(seed)
    unit = data.to_unit(split.images).numpy()  # (N, 1, 28, 28) in [0, 1]
    noisy = np.clip(unit + rng.normal(0.0, noise_std, size=unit.shape).astype(np.float32), 0.0, 1.0)
    return data.normalize(torch.from_numpy(noisy)).reshape(len(split), -1).numpy()


def copy_into_torch(model: Any, torch_model: torch.nn.Module) -> None:
    """Give a PyTorch MLP of the same shape these exact weights (nn.Linear's W is (out, in) too)."""
    linears = [module for module in torch_model.modules() if isinstance(module, torch.nn.Linear)]
    if [tuple(linear.weight.shape) for linear in linears] != [w.shape for w in model.weights]:
        raise CourseError("the PyTorch model's layer sizes differ from the NumPy network's")
    with torch.no_grad():
        for linear, weight, bias in zip(linears, model.weights, model.biases):
            linear.weight.copy_(torch.from_numpy(weight))
            linear.bias.copy_(torch.from_numpy(bias))


# --- saving and loading (.npz: plain arrays, no pickle) -----------------------------------------


def array_shapes(layer_sizes: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """{"W1": (h1, 784), "b1": (h1,), ...}: the arrays a network of these layer sizes holds."""
    shapes = {}
    for index, (n_in, n_out) in enumerate(zip(layer_sizes, layer_sizes[1:]), start=1):
        shapes[f"W{index}"], shapes[f"b{index}"] = (n_out, n_in), (n_out,)
    return shapes


def save_scratch_model(path: Path, arrays: dict[str, np.ndarray], info: dict) -> Path:
    """Write the arrays (W1, b1, W2, ...) and a JSON record of the run to an .npz, atomically."""
    record = {"format_version": FORMAT_VERSION, **info}
    buffer = io.BytesIO()
    info = np.array(json.dumps(record, default=str))  # a plain unicode string, no pickle
    np.savez(buffer, info=info, **arrays)
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)


def load_scratch_model(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """(info, arrays) of a saved network; a missing, damaged or foreign file: one CourseError."""
    path = Path(path)
    fix = f"delete {paths.display_path(path)} and run {SCRIPT} again"
    if not path.is_file():
        raise CourseError(f"{paths.display_path(path)} not found; run {SCRIPT} to create it")
    try:
        with np.load(path, allow_pickle=False) as archive:  # no pickle: loading never runs code
            arrays = {name: archive[name] for name in archive.files}
        info = json.loads(str(arrays.pop("info")))
        layer_sizes = (info["input_size"], *info["hidden_sizes"], info["num_classes"])
    except (OSError, ValueError, EOFError, KeyError, TypeError, zipfile.BadZipFile) as err:
        raise CourseError(f"{paths.display_path(path)} is damaged or not a saved NumPy network "
                          f"({type(err).__name__}); {fix}") from err
    if info.get("format_version") != FORMAT_VERSION:
        raise CourseError(f"{paths.display_path(path)} was written by another version of the "
                          f"course; {fix}")
    if {name: array.shape for name, array in arrays.items()} != array_shapes(layer_sizes):
        raise CourseError(f"{paths.display_path(path)} holds arrays that do not match its "
                          f"architecture; {fix}")
    return info, arrays


# --- is backprop right? Compare with autograd and with finite differences -----------------------


@dataclass
class GradientCheck:
    """Per parameter: its name, shape, and the relative error against each reference."""

    layer_sizes: tuple[int, ...]
    rows: list[tuple[str, tuple[int, ...], float, float]]
    loss_numpy: float
    loss_torch: float

    @property
    def max_vs_autograd(self) -> float:
        return max(row[2] for row in self.rows)

    @property
    def max_vs_finite_diff(self) -> float:
        return max(row[3] for row in self.rows)

    @property
    def passed(self) -> bool:
        return (self.max_vs_autograd < AUTOGRAD_TOLERANCE
                and self.max_vs_finite_diff < FINITE_DIFF_TOLERANCE)


def relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    """||ours - reference|| / (||ours|| + ||reference||): 0 when equal, ~1 when unrelated."""
    denominator = np.linalg.norm(ours) + np.linalg.norm(reference)
    return float(np.linalg.norm(ours - reference) / denominator) if denominator > 0 else 0.0


def autograd_gradients(model: Any, images: np.ndarray, labels: np.ndarray) -> tuple[float, list]:
    """The same loss from PyTorch operations on the same arrays; backward() finds the gradients."""
    params = [torch.tensor(array, requires_grad=True) for array in model.parameters()]
    hidden = torch.from_numpy(images)  # (B, in)
    for weight, bias in zip(params[0:-2:2], params[1:-2:2]):
        hidden = torch.relu(torch.nn.functional.linear(hidden, weight, bias))  # (B, out)
    logits = torch.nn.functional.linear(hidden, params[-2], params[-1])  # (B, classes)
    loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(labels))
    loss.backward()
    return loss.item(), [param.grad.numpy() for param in params]


def finite_difference_gradients(loss_of: Callable[[], float], parameters: list[np.ndarray],
                                eps: float = FINITE_DIFF_EPS) -> list[np.ndarray]:
    """dL/dtheta ~ (L(theta + eps) - L(theta - eps)) / (2 eps), one number at a time (tiny nets).

    ``loss_of()`` computes the loss with the parameters as they are at that moment; each array of
    ``parameters`` is nudged in place and restored.
    """
    gradients = []
    for param in parameters:
        grad = np.zeros_like(param)
        for index in np.ndindex(param.shape):
            original = param[index]
            param[index] = original + eps
            loss_plus = loss_of()
            param[index] = original - eps
            loss_minus = loss_of()
            param[index] = original
            grad[index] = (loss_plus - loss_minus) / (2 * eps)
        gradients.append(grad)
    return gradients


def gradient_check(model: Any, images: np.ndarray, labels: np.ndarray) -> GradientCheck:
    """The model's own gradients vs PyTorch autograd and finite differences, on one batch.

    Use float64: finite differences divide a tiny loss change by a tiny eps, and in float32 the
    rounding noise would swamp the comparison. Keep the network small: the finite differences
    need two forward passes per parameter.
    """
    loss_numpy, ours = model.loss_and_gradients(images, labels)[:2]
    loss_torch, theirs = autograd_gradients(model, images, labels)
    numeric = finite_difference_gradients(lambda: model.loss_and_gradients(images, labels)[0],
                                          model.parameters())
    rows = [(name, grad.shape, relative_error(grad, auto), relative_error(grad, approx))
            for name, grad, auto, approx in zip(model.parameter_names(), ours, theirs, numeric)]
    return GradientCheck(tuple(model.layer_sizes), rows, loss_numpy, loss_torch)


def tiny_problem(network: type, layer_sizes: tuple[int, ...], batch_size: int, seed: int,
                 decimals: int | None = None) -> tuple[Any, np.ndarray, np.ndarray]:
    """(model, images (B, in), labels (B,)): a small float64 ``network`` and a random batch.

    The biases are random too, so their gradients are tested in general position. With
    ``decimals``, weights, biases and images are rounded: a learner can redo it by hand.
    """
    model = network(layer_sizes[1:-1], input_size=layer_sizes[0], num_classes=layer_sizes[-1],
                    dtype="float64", seed=seed)
    rng = np.random.default_rng(seed)
    for bias in model.biases:
        bias[...] = rng.normal(0.0, 0.1 if decimals is None else 0.5, size=bias.shape)
    images = rng.normal(size=(batch_size, model.layer_sizes[0]))  # (B, inputs)
    if decimals is not None:
        for param in model.parameters():
            param[...] = param.round(decimals)
        images = images.round(decimals)
    return model, images, rng.integers(0, model.layer_sizes[-1], size=batch_size)


def format_array(array: np.ndarray, decimals: int = 4) -> list[str]:
    """A small matrix as aligned text lines (rows of a batch, one per line), for --explain."""
    values = np.atleast_2d(array)
    cells = [[f"{value:.{decimals}f}" for value in row] for row in values]
    width = max(len(cell) for row in cells for cell in row)
    return ["[" + "  ".join(f"{cell:>{width}}" for cell in row) + "]" for row in cells]


def print_gradient_check(result: GradientCheck, batch_size: int) -> None:
    """The gradient check as a table, one row per parameter, and a verdict line."""
    sizes = "-".join(str(size) for size in result.layer_sizes)
    print(f"gradient check: a {sizes} network in float64, a random batch of {batch_size}; "
          "per parameter")
    print("the relative error ||ours - reference|| / (||ours|| + ||reference||), 0 = identical:")
    print(f"  {'param':<7}{'shape':<11}{'vs autograd':>13}{'vs finite differences':>24}")
    for name, shape, vs_autograd, vs_numeric in result.rows:
        print(f"  {name:<7}{str(shape):<11}{vs_autograd:>13.1e}{vs_numeric:>24.1e}")
    print(f"  loss: NumPy {result.loss_numpy:.12f} | PyTorch {result.loss_torch:.12f}")
    if result.passed:
        print(f"gradient check passed: max {result.max_vs_autograd:.1e} vs autograd "
              f"(< {AUTOGRAD_TOLERANCE:g}), {result.max_vs_finite_diff:.1e} vs finite differences "
              f"(< {FINITE_DIFF_TOLERANCE:g})")
    else:
        print(f"gradient check FAILED: NumpyMLP.backward in {SCRIPT} does not match autograd;")
        print("training below will be wrong")


def print_quantity(label: str, array: np.ndarray, decimals: int = 4) -> None:
    """One quantity of --explain: its name, its shape, then its rows (one per image)."""
    lines = format_array(np.asarray(array, dtype=float), decimals)
    print(f"  {label:<42}{str(np.shape(array)):<8}{lines[0]}")
    for line in lines[1:]:
        print(" " * 52 + line)


def print_explanation(model: Any, trace: dict) -> dict:
    """Print every number of one forward and backward pass of a network with ONE hidden layer.

    ``trace`` holds what the script computed: images, labels, zs, activations, p (softmax),
    loss, deltas and gradients. The same gradients are then computed by autograd and by finite
    differences. Returns ``trace`` plus ``autograd`` and ``passed``.
    """
    (z1, z2), (a0, a1), (delta1, delta2) = trace["zs"], trace["activations"], trace["deltas"]
    (w1, w2), (b1, b2), grads = model.weights, model.biases, trace["gradients"]
    onehot = np.eye(model.layer_sizes[-1])[trace["labels"]]
    n_in, n_hidden, n_out = model.layer_sizes
    print(f"backprop by hand on a {n_in}-{n_hidden}-{n_out} network ({n_in} inputs, {n_hidden} "
          f"hidden ReLU units, {n_out} classes), batch B = {len(a0)}.")
    print(f"Every number comes from NumpyMLP.forward and NumpyMLP.backward in {SCRIPT};")
    print("rows are images. Rounded inputs and weights let you redo it by hand: "
          "docs/backprop_math.md")
    print(f"\nforward{'':<37}shape   values (4 decimals where not exact)")
    for label, array, decimals in (
            ("x = a_0", a0, 1), ("W_1", w1, 1), ("b_1", b1, 1), ("z_1 = a_0 W_1^T + b_1", z1, 2),
            ("a_1 = ReLU(z_1)", a1, 2), ("W_2", w2, 1), ("b_2", b2, 1),
            ("z_2 = a_1 W_2^T + b_2 (the logits)", z2, 3), ("p = softmax(z_2)", trace["p"], 4),
            (f"onehot(y), labels y = {trace['labels'].tolist()}", onehot, 0)):
        print_quantity(label, array, decimals)
    print(f"  loss = mean over the batch of -log p[correct class] = {trace['loss']:.4f}")
    print("\nbackward: the four equations, last layer first")
    for label, array, decimals in (
            ("(1) delta_2 = p - onehot(y)", delta2, 4),
            ("(3) dL/dW_2 = delta_2^T a_1 / B", grads[2], 4),
            ("(4) dL/db_2 = sum of delta_2 rows / B", grads[3], 4),
            ("ReLU'(z_1): 1 where z_1 > 0, else 0", z1 > 0, 0),
            ("(2) delta_1 = (delta_2 W_2) * ReLU'(z_1)", delta1, 4),
            ("(3) dL/dW_1 = delta_1^T a_0 / B", grads[0], 4),
            ("(4) dL/db_1 = sum of delta_1 rows / B", grads[1], 4)):
        print_quantity(label, array, decimals)
    _, autograd = autograd_gradients(model, trace["images"], trace["labels"])
    print("\nthe same gradients from PyTorch autograd (loss.backward()) on the same numbers:")
    for name, grad in zip(model.parameter_names(), autograd):
        print_quantity(f"autograd d{name}", grad)
    check = gradient_check(model, trace["images"], trace["labels"])
    print(f"\n  {'param':<7}{'vs autograd':>13}{'vs finite differences':>24}   (relative error)")
    for name, _, vs_autograd, vs_numeric in check.rows:
        print(f"  {name:<7}{vs_autograd:>13.1e}{vs_numeric:>24.1e}")
    verdict = "passed" if check.passed else "FAILED"
    print(f"{verdict}: the hand-written gradients are autograd's and the finite differences' "
          "(up to rounding)")
    print(f"\ntry next: python {SCRIPT} (the same backward pass learns MNIST)")
    return {**trace, "autograd": autograd, "passed": check.passed}
