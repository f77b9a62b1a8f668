"""A neural network in plain NumPy, with backpropagation written out by hand (introduced in Phase 3b).

Phase 3 lets ``loss.backward()`` find every gradient. This module does the same work with matrix
products you can read line by line, using the equations of the learning plan's math section:

    forward    z^(l) = W^(l) a^(l-1) + b^(l)     a^(l) = ReLU(z^(l))     y_hat = softmax(z^(L))
    loss       L = -log(y_hat_c)                  (c = the correct digit; averaged over the batch)
    backward   delta^(L) = y_hat - y
               delta^(l) = (W^(l+1))^T delta^(l+1)  (*)  ReLU'(z^(l))
               dL/dW^(l) = delta^(l) (a^(l-1))^T     dL/db^(l) = delta^(l)
    where y is the one-hot correct answer and (*) multiplies element by element (the plan's circle-dot).

A batch is a matrix with ONE ROW PER IMAGE, so the plan's column-vector ``W a + b`` is written
``A @ W.T + b`` here, with ``W`` shaped (out, in) exactly like ``torch.nn.Linear.weight``. That is
why :func:`gradient_check` can hand the very same arrays to PyTorch and compare gradients.

Trained networks are saved as ``.npz`` archives of plain arrays (read with
``np.load(allow_pickle=False)``, so loading a file can never run code).
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from common import data, paths
from common.errors import CourseError
from common.idx import atomic_write_bytes

INPUT_SIZE = data.IMAGE_SIZE * data.IMAGE_SIZE  # 784 pixels per flattened image
FORMAT_VERSION = 1  # bump when the .npz layout changes
AUTOGRAD_TOLERANCE = 1e-7  # hand-written vs PyTorch autograd: both exact, only rounding differs
FINITE_DIFF_TOLERANCE = 1e-5  # vs central differences, which carry O(eps^2) + rounding error


# --- the pieces: activation, softmax, loss -----------------------------------------------------


def relu(z: np.ndarray) -> np.ndarray:
    """ReLU(z) = max(0, z), element by element."""
    return np.maximum(z, 0)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax(z)_i = z_i - log sum_j e^(z_j), computed without overflow.

    Subtracting each row's maximum first changes nothing mathematically (it cancels) but keeps
    every exponent <= 0, so logits of 1e4 give exact answers instead of ``inf / inf = nan``.
    """
    shifted = logits - logits.max(axis=1, keepdims=True)  # (B, 10), largest entry 0
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """softmax(z)_i = e^(z_i) / sum_j e^(z_j): probabilities that sum to 1 per row (stable)."""
    return np.exp(log_softmax(logits))


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean over the batch of L = -log(y_hat_c), taken from the log-softmax (never log(0))."""
    rows = np.arange(len(labels))
    return float(-log_softmax(logits)[rows, labels].mean())


def init_weight(fan_in: int, fan_out: int, init: str, rng: np.random.Generator) -> np.ndarray:
    """A (fan_out, fan_in) weight matrix with He or Xavier (Glorot) scaling.

    He: std = sqrt(2 / fan_in) keeps the signal's size steady through ReLU layers, which zero
    half their inputs. Xavier: std = sqrt(2 / (fan_in + fan_out)), made for tanh-like layers.
    Too small and the signal fades layer by layer; too large and it explodes.
    """
    if init == "he":
        std = np.sqrt(2.0 / fan_in)
    elif init == "xavier":
        std = np.sqrt(2.0 / (fan_in + fan_out))
    else:
        raise CourseError(f"unknown initialization {init!r}; use he or xavier")
    return rng.normal(0.0, std, size=(fan_out, fan_in))


# --- the network --------------------------------------------------------------------------------


class NumpyMLP:
    """784 -> hidden ReLU layers -> 10 logits, with a hand-written backward pass.

    ``weights[l]`` is (out, in) and ``biases[l]`` is (out,), for l = 0 .. number of hidden layers
    (the plan's W^(l+1), b^(l+1)). The arrays are updated in place by :class:`MomentumSGD`.
    """

    def __init__(self, hidden_sizes: tuple[int, ...] = (128,), input_size: int = INPUT_SIZE,
                 num_classes: int = data.NUM_CLASSES, init: str = "he", dtype: str = "float32", seed: int = 0):
        if any(size < 1 for size in hidden_sizes):
            raise CourseError(f"hidden sizes must be positive, got {tuple(hidden_sizes)}")
        self.hidden_sizes = tuple(int(size) for size in hidden_sizes)
        self.layer_sizes = (int(input_size), *self.hidden_sizes, int(num_classes))  # (784, ..., 10)
        self.init, self.dtype = init, np.dtype(dtype)
        rng = np.random.default_rng(seed)
        pairs = zip(self.layer_sizes, self.layer_sizes[1:])
        self.weights = [init_weight(n_in, n_out, init, rng).astype(self.dtype) for n_in, n_out in pairs]
        self.biases = [np.zeros(n_out, dtype=self.dtype) for n_out in self.layer_sizes[1:]]

    def parameters(self) -> list[np.ndarray]:
        """[W1, b1, W2, b2, ...]: the live arrays, in the order backward() returns their gradients."""
        return [array for pair in zip(self.weights, self.biases) for array in pair]

    def parameter_names(self) -> list[str]:
        """["W1", "b1", "W2", "b2", ...]: the plan's names, in the order of ``parameters()``."""
        return [f"{kind}{index + 1}" for index in range(len(self.weights)) for kind in "Wb"]

    def num_parameters(self) -> int:
        return sum(array.size for array in self.parameters())

    def describe(self) -> str:
        """'numpy mlp 784-128-10'."""
        return "numpy mlp " + "-".join(str(size) for size in self.layer_sizes)

    def forward(self, images: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Logits (B, 10) and the activations a^(0) .. a^(L-1) that backward() needs."""
        activations = [images.astype(self.dtype, copy=False)]  # a^(0) = x, (B, 784)
        for weight, bias in zip(self.weights[:-1], self.biases[:-1]):
            z = activations[-1] @ weight.T + bias  # z^(l) = W^(l) a^(l-1) + b^(l), (B, hidden)
            activations.append(relu(z))  # a^(l) = ReLU(z^(l))
        logits = activations[-1] @ self.weights[-1].T + self.biases[-1]  # z^(L), (B, 10)
        return logits, activations

    def backward(self, logits: np.ndarray, activations: list[np.ndarray],
                 labels: np.ndarray) -> list[np.ndarray]:
        """Gradients of the mean cross-entropy, [dW1, db1, dW2, db2, ...], by the chain rule."""
        batch = len(labels)
        delta = softmax(logits)  # y_hat, (B, 10)
        delta[np.arange(batch), labels] -= 1  # delta^(L) = y_hat - y (y one-hot) ...
        delta /= batch  # ... divided by B because the loss is a mean over the batch
        gradients = []
        for layer in range(len(self.weights) - 1, -1, -1):
            a_prev = activations[layer]  # a^(l-1), (B, in)
            grad_w = delta.T @ a_prev  # dL/dW^(l) = delta^(l) (a^(l-1))^T, summed over the batch: (out, in)
            grad_b = delta.sum(axis=0)  # dL/db^(l) = delta^(l), summed over the batch: (out,)
            gradients[:0] = [grad_w, grad_b]
            if layer > 0:  # delta^(l-1) = (W^(l))^T delta^(l) (*) ReLU'(z^(l-1)); ReLU' = 1 where a > 0
                delta = (delta @ self.weights[layer]) * (a_prev > 0)  # (B, in)
        return gradients

    def loss_and_gradients(self, images: np.ndarray, labels: np.ndarray) -> tuple[float, list[np.ndarray], np.ndarray]:
        """One forward and one backward pass: (mean loss, gradients, logits)."""
        logits, activations = self.forward(images)
        return cross_entropy(logits, labels), self.backward(logits, activations, labels), logits

    def predict_logits(self, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Logits (N, 10) computed in chunks, so 10,000 images never need one huge matrix."""
        chunks = [self.forward(images[start : start + batch_size])[0] for start in range(0, len(images), batch_size)]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.layer_sizes[-1]), self.dtype)

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """Probabilities (N, 10): softmax only where probabilities are shown."""
        return softmax(self.predict_logits(images))

    def predict(self, images: np.ndarray) -> np.ndarray:
        """The predicted digit (N,): the class with the largest logit."""
        return self.predict_logits(images).argmax(axis=1)

    def copy_parameters(self) -> list[np.ndarray]:
        return [array.copy() for array in self.parameters()]

    def set_parameters(self, arrays: list[np.ndarray]) -> None:
        """Copy ``arrays`` into the live parameters (in place, so an optimizer keeps working)."""
        for target, source in zip(self.parameters(), arrays, strict=True):
            target[...] = source


# --- learning: momentum SGD, evaluation, the training loop ---------------------------------------


class MomentumSGD:
    """Mini-batch gradient descent with momentum, the same rule as ``torch.optim.SGD(momentum=m)``.

        v <- m * v + g        (a running sum of recent gradients: steady directions build up speed)
        p <- p - lr * v

    With ``momentum=0`` it is the plan's plain rule: theta <- theta - alpha * (1/B) sum grad L_i.
    """

    def __init__(self, parameters: list[np.ndarray], lr: float, momentum: float = 0.9):
        self.parameters, self.lr, self.momentum = parameters, lr, momentum
        self.velocities = [np.zeros_like(param) for param in parameters]

    def step(self, gradients: list[np.ndarray]) -> None:
        for param, grad, velocity in zip(self.parameters, gradients, self.velocities, strict=True):
            velocity *= self.momentum
            velocity += grad
            param -= self.lr * velocity  # in place: the network sees the new values at once


def evaluate(model: NumpyMLP, images: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Mean loss and accuracy (a fraction) on a whole split, without touching the weights."""
    logits = model.predict_logits(images)
    return {"loss": cross_entropy(logits, labels), "accuracy": float((logits.argmax(axis=1) == labels).mean())}


@dataclass
class ScratchResult:
    """What :func:`train` returns; ``history`` has the same keys as Phase 3's ``fit()``."""

    history: list[dict] = field(default_factory=list)
    best_val_acc: float = 0.0
    best_epoch: int = 0
    seconds: float = 0.0
    diverged: bool = False
    batch_losses: list[float] = field(default_factory=list)  # every mini-batch's loss, in order


def train_one_epoch(model: NumpyMLP, optimizer: MomentumSGD, images: np.ndarray, labels: np.ndarray,
                    batch_size: int, rng: np.random.Generator, progress: tqdm | None,
                    batch_losses: list[float]) -> tuple[float, float]:
    """One shuffled pass over the data; returns (mean train loss, train accuracy), nan if it diverged."""
    order = rng.permutation(len(labels))
    total_loss, correct = 0.0, 0
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        loss, gradients, logits = model.loss_and_gradients(images[idx], labels[idx])  # forward + backward
        batch_losses.append(loss)
        if not np.isfinite(loss):
            return float("nan"), 0.0
        optimizer.step(gradients)  # update every W and b
        total_loss += loss * len(idx)
        correct += int((logits.argmax(axis=1) == labels[idx]).sum())
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{loss:.3f}", refresh=False)
    return total_loss / len(labels), correct / len(labels)


def train(model: NumpyMLP, train_images: np.ndarray, train_labels: np.ndarray, val_images: np.ndarray,
          val_labels: np.ndarray, *, num_epochs: int, lr: float, momentum: float = 0.9, batch_size: int = 64,
          seed: int = 0, verbose: bool = True) -> ScratchResult:
    """Mini-batch SGD with validation after each epoch; the model ends with its best-on-validation weights.

    Like Phase 3's ``fit()``, but every step is visible: forward, backward, update. A loss that
    turns into nan/inf (learning rate too high) stops training and sets ``diverged``.
    """
    rng, optimizer = np.random.default_rng(seed), MomentumSGD(model.parameters(), lr, momentum)
    result, best = ScratchResult(), model.copy_parameters()
    steps = -(-len(train_labels) // batch_size)  # batches per epoch, rounded up
    start = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is detected below, not warned about
        for epoch in range(1, num_epochs + 1):
            epoch_start = time.perf_counter()
            with tqdm(total=steps, desc=f"epoch {epoch}/{num_epochs}", unit="batch", leave=False,
                      disable=None if verbose else True) as progress:  # None: a bar only in a terminal
                train_loss, train_acc = train_one_epoch(model, optimizer, train_images, train_labels,
                                                        batch_size, rng, progress, result.batch_losses)
            if not np.isfinite(train_loss):
                result.diverged = True
                if verbose:
                    print(f"epoch {epoch}: the loss became nan/inf (diverged); try a smaller --lr")
                break
            val = evaluate(model, val_images, val_labels)
            result.history.append({"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc,
                                   "val_loss": val["loss"], "val_acc": val["accuracy"], "lr": lr,
                                   "seconds": time.perf_counter() - epoch_start})
            improved = val["accuracy"] > result.best_val_acc
            if improved:
                result.best_val_acc, result.best_epoch, best = val["accuracy"], epoch, model.copy_parameters()
            if verbose:
                print(f"epoch {epoch:>{len(str(num_epochs))}}/{num_epochs} | train loss {train_loss:.4f}  "
                      f"acc {train_acc:7.2%} | val loss {val['loss']:.4f}  acc {val['accuracy']:7.2%} | "
                      f"{result.history[-1]['seconds']:.1f} s" + ("  (best)" if improved else ""))
    model.set_parameters(best)
    result.seconds = time.perf_counter() - start
    return result


# --- data as NumPy arrays --------------------------------------------------------------------------


def to_arrays(split: data.Split) -> tuple[np.ndarray, np.ndarray]:
    """A :class:`data.Split` as (images (N, 784) float32, labels (N,) int64), normalized like Phase 3."""
    images = data.normalize(split.images).reshape(len(split), -1).numpy()  # (N, 784)
    return images, split.labels.numpy()


def noisy_arrays(split: data.Split, noise_std: float, seed: int = 0) -> np.ndarray:
    """The split's images with Gaussian pixel noise (std in [0, 1] pixel units, clipped), normalized, (N, 784)."""
    rng = np.random.default_rng(seed)
    unit = data.to_unit(split.images).numpy()  # (N, 1, 28, 28) in [0, 1]
    noisy = np.clip(unit + rng.normal(0.0, noise_std, size=unit.shape).astype(np.float32), 0.0, 1.0)
    return data.normalize(torch.from_numpy(noisy)).reshape(len(split), -1).numpy()


def copy_into_torch(model: NumpyMLP, torch_model: torch.nn.Module) -> None:
    """Give a PyTorch MLP of the same shape these exact weights (nn.Linear stores W as (out, in) too)."""
    linears = [module for module in torch_model.modules() if isinstance(module, torch.nn.Linear)]
    if [tuple(linear.weight.shape) for linear in linears] != [weight.shape for weight in model.weights]:
        raise CourseError("the PyTorch model's layer sizes differ from the NumPy network's")
    with torch.no_grad():
        for linear, weight, bias in zip(linears, model.weights, model.biases):
            linear.weight.copy_(torch.from_numpy(weight))
            linear.bias.copy_(torch.from_numpy(bias))


# --- saving and loading (.npz: plain arrays, no pickle) ---------------------------------------------


def save_scratch_model(path: Path, model: NumpyMLP, *, hyperparameters: dict, metrics: dict,
                       history: list[dict] | None = None) -> Path:
    """Write the weights, the architecture and a JSON record of the run to an ``.npz``, atomically."""
    info = {"format_version": FORMAT_VERSION, "hidden_sizes": list(model.hidden_sizes),
            "input_size": model.layer_sizes[0], "num_classes": model.layer_sizes[-1], "init": model.init,
            "dtype": model.dtype.name, "hyperparameters": hyperparameters, "metrics": metrics,
            "history": history or []}
    arrays = {f"W{index + 1}": weight for index, weight in enumerate(model.weights)}
    arrays |= {f"b{index + 1}": bias for index, bias in enumerate(model.biases)}
    buffer = io.BytesIO()
    np.savez(buffer, info=np.array(json.dumps(info, default=str)), **arrays)  # info: a plain unicode string
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)


def _read_npz(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """(info, arrays) from an ``.npz``; any damage becomes one CourseError line."""
    fix = f"delete {paths.display_path(path)} and run 03b_backprop_from_scratch.py again"
    try:
        with np.load(path, allow_pickle=False) as archive:  # allow_pickle=False: loading never runs code
            arrays = {name: archive[name] for name in archive.files}
        info = json.loads(str(arrays.pop("info")))
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
        raise CourseError(f"{paths.display_path(path)} is damaged or not a saved NumPy network "
                          f"({type(err).__name__}); {fix}") from err
    if info.get("format_version") != FORMAT_VERSION:
        raise CourseError(f"{paths.display_path(path)} was written by another version of the course; {fix}")
    return info, arrays


def load_scratch_model(path: Path) -> tuple[NumpyMLP, dict]:
    """Rebuild a saved :class:`NumpyMLP`; returns (model, info) where info holds metrics and history."""
    path = Path(path)
    if not path.is_file():
        raise CourseError(f"{paths.display_path(path)} not found; run 03b_backprop_from_scratch.py to create it")
    info, arrays = _read_npz(path)
    model = NumpyMLP(tuple(info["hidden_sizes"]), input_size=info["input_size"], num_classes=info["num_classes"],
                     init=info["init"], dtype=info["dtype"])
    expected = {name: param.shape for name, param in zip(model.parameter_names(), model.parameters())}
    if {name: array.shape for name, array in arrays.items()} != expected:
        raise CourseError(f"{paths.display_path(path)} holds arrays that do not match its architecture; "
                          "delete it and run 03b_backprop_from_scratch.py again")
    model.set_parameters([arrays[name] for name in expected])  # expected is in W1, b1, W2, b2 ... order
    return model, info


# --- is backprop right? Compare with autograd and with finite differences ---------------------------


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
        return self.max_vs_autograd < AUTOGRAD_TOLERANCE and self.max_vs_finite_diff < FINITE_DIFF_TOLERANCE


def relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    """||ours - reference|| / (||ours|| + ||reference||): 0 when equal, ~1 when unrelated, scale-free."""
    denominator = np.linalg.norm(ours) + np.linalg.norm(reference)
    return float(np.linalg.norm(ours - reference) / denominator) if denominator > 0 else 0.0


def autograd_gradients(model: NumpyMLP, images: np.ndarray, labels: np.ndarray) -> tuple[float, list[np.ndarray]]:
    """The same loss built from PyTorch operations on the same arrays; ``backward()`` finds the gradients."""
    params = [torch.tensor(array, requires_grad=True) for array in model.parameters()]
    hidden = torch.from_numpy(images)
    for weight, bias in zip(params[0:-2:2], params[1:-2:2]):
        hidden = torch.relu(torch.nn.functional.linear(hidden, weight, bias))
    logits = torch.nn.functional.linear(hidden, params[-2], params[-1])
    loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(labels))
    loss.backward()
    return loss.item(), [param.grad.numpy() for param in params]


def finite_difference_gradients(model: NumpyMLP, images: np.ndarray, labels: np.ndarray,
                                eps: float = 1e-6) -> list[np.ndarray]:
    """dL/dtheta ~ (L(theta + eps) - L(theta - eps)) / (2 eps), nudging one number at a time (slow: tiny nets only)."""
    gradients = []
    for param in model.parameters():
        grad = np.zeros_like(param)
        for index in np.ndindex(param.shape):
            original = param[index]
            param[index] = original + eps
            loss_plus = cross_entropy(model.forward(images)[0], labels)
            param[index] = original - eps
            loss_minus = cross_entropy(model.forward(images)[0], labels)
            param[index] = original
            grad[index] = (loss_plus - loss_minus) / (2 * eps)
        gradients.append(grad)
    return gradients


def gradient_check(hidden_sizes: tuple[int, ...] = (16, 8), input_size: int = 20, batch_size: int = 8,
                   seed: int = 0) -> GradientCheck:
    """Hand-written gradients of a small float64 network vs PyTorch autograd and finite differences.

    float64 because finite differences divide a tiny loss change by a tiny eps: in float32 the
    rounding noise would swamp the comparison. The network is small because the finite
    differences need two forward passes per parameter.
    """
    rng = np.random.default_rng(seed)
    model = NumpyMLP(hidden_sizes, input_size=input_size, init="he", dtype="float64", seed=seed)
    for bias in model.biases:  # non-zero biases, so their gradients are tested in general position
        bias[...] = rng.normal(0.0, 0.1, size=bias.shape)
    images = rng.normal(size=(batch_size, input_size))  # (B, input_size) float64
    labels = rng.integers(0, model.layer_sizes[-1], size=batch_size)  # (B,)
    loss_numpy, ours, _ = model.loss_and_gradients(images, labels)
    loss_torch, theirs = autograd_gradients(model, images, labels)
    numeric = finite_difference_gradients(model, images, labels)
    rows = [(name, grad.shape, relative_error(grad, auto), relative_error(grad, approx))
            for name, grad, auto, approx in zip(model.parameter_names(), ours, theirs, numeric)]
    return GradientCheck(model.layer_sizes, rows, loss_numpy, loss_torch)
