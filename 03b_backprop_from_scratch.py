"""Phase 3b (bonus, between Phases 3 and 4): backpropagation from scratch in NumPy.

What you will see: a gradient check (this file's hand-written gradients agree with autograd to
    about 1e-16, with finite differences to about 1e-9); a network with no PyTorch inside
    training to about 97.7% test accuracy; three experiments (architectures, learning rates,
    noisy inputs); the same network in PyTorch, from the very same weights, side by side.
What you will learn: what loss.backward() computes in Phase 3. The chain rule is four lines of
    matrix algebra, written out below next to the code that runs them. You will also see why
    He initialization, why softmax subtracts the maximum, what momentum does, how to prove a
    gradient right, and how too large a learning rate can kill ReLU units for good.
New since Phase 3: nothing is done for you. This file writes the forward pass, the backward
    pass and the update with NumPy matrix products, one line per equation. The page
    docs/backprop_math.md works the same equations once with real numbers: those --explain prints.
Run:     python 03b_backprop_from_scratch.py                    (everything)
         python 03b_backprop_from_scratch.py --explain          (every number of a tiny network)
         python 03b_backprop_from_scratch.py --no-experiments   (check, one network, PyTorch twin)
Expect:  "gradient check passed", about 97.7% test accuracy (97.5-97.9% across seeds); about 25 s
         on a 2-core CPU in all, of which the NumPy network's own training is about 10 s.
Writes:  models/scratch_mlp.npz, visualizations/03b_training_curves.png, 03b_architectures.png,
         03b_learning_rates.png, 03b_noise_robustness.png, rows in models/results.csv
"""

import os

if __name__ == "__main__":
    # One CPU thread for NumPy's matrix products: these are small, and on a busy CPU two threads
    # wait for each other (5-20x slower). Set before NumPy loads; OPENBLAS_NUM_THREADS=2 overrides.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import textwrap  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field, replace  # noqa: E402

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from common import data, plots, progress, runs, scratch, training  # noqa: E402
from common import scratch_experiments as experiment  # noqa: E402
from common.cli import check, run_main  # noqa: E402
from common.errors import CourseError  # noqa: E402

# ----------------------------------------------------------------------------------------------
HIDDEN_SIZES = (128,)  # try (64,), (256,), (128, 64), (256, 128); any number of hidden ReLU layers
INIT = "he"            # he or xavier; he is made for ReLU (try xavier with 5+ layers and compare)
LEARNING_RATE = 0.02   # try 0.001..0.5; with momentum 0.9 the real step is ~10x larger
MOMENTUM = 0.9         # try 0.0..0.95; 0 is plain SGD (then try a 10x larger lr)
BATCH_SIZE = 64        # try 16..512; smaller -> more, noisier updates per epoch
NUM_EPOCHS = 8         # try 1..30; 3 epochs already pass 96.5%
EXPLAIN = False        # --explain prints every number of backprop on a 3-2-2 network, then stops
EXPERIMENTS = True     # --no-experiments skips the three experiments (a quicker run)
EXPERIMENT_SAMPLES = 20_000  # training images per experiment run (of 54,000): keeps 9 runs quick
EXPERIMENT_EPOCHS = 4  # epochs per experiment run
ARCHITECTURES = ("64", "128", "128-64", "256-128")  # hidden sizes to compare; "-" separates layers
LR_SWEEP = (0.001, 0.005, 0.02, 0.1, 0.5)  # learning rates to compare (each with MOMENTUM)
NOISE_LEVELS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)  # std of Gaussian noise added to pixels in [0, 1]
COMPARE_TORCH = True   # --no-compare-torch skips the PyTorch twin at the end
SEED = 0               # any integer; the same seed gives the same result
# ----------------------------------------------------------------------------------------------

INPUT_SIZE = data.IMAGE_SIZE * data.IMAGE_SIZE  # 784 pixels per flattened image
CHECK_SIZES = (20, 16, 8, 10)  # the gradient check: 20 inputs -> 16 -> 8 -> 10 classes, float64
CHECK_BATCH = 8  # images in the gradient check's batch
EXPLAIN_SIZES = (3, 2, 2)  # --explain: 3 inputs -> 2 hidden ReLU units -> 2 classes
EXPLAIN_BATCH = 2  # --explain: two images, so the mean over the batch shows
EXPLAIN_DECIMALS = 1  # --explain rounds inputs and weights to 1 decimal: easy to redo by hand

# The notation (rows are images, as in PyTorch; B = images in the batch; L = the last layer):
#   forward    z_l = a_{l-1} W_l^T + b_l       a_l = ReLU(z_l)       a_0 = x (the pixels)
#              p = softmax(z_L)                loss = mean over the batch of -log p[correct digit]
#   backward   (1)  delta_L  = p - onehot(y)                                    (B, 10)
#              (2)  delta_l  = (delta_{l+1} W_{l+1}) * ReLU'(z_l)               (B, n_l)
#              (3)  dL/dW_l  = delta_l^T a_{l-1} / B                            (n_l, n_{l-1})
#              (4)  dL/db_l  = (sum of the rows of delta_l) / B                 (n_l,)
#   delta_l is d(loss of one image)/dz_l, * multiplies element by element, ReLU'(z) is 1 where
#   z > 0 and 0 elsewhere, and W_l is (n_l, n_{l-1}) = (out, in), like torch.nn.Linear.weight.


# --- the pieces: activation, softmax, loss, initialization ------------------------------------


def relu(z: np.ndarray) -> np.ndarray:
    """ReLU(z) = max(0, z), element by element."""
    return np.maximum(z, 0)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax(z)_i = z_i - log sum_j e^(z_j), without overflow: subtracting each row's
    maximum changes nothing (it cancels) but keeps every exponent <= 0, so logits of 1e4 give
    exact answers instead of inf / inf = nan."""
    shifted = logits - logits.max(axis=1, keepdims=True)  # (B, 10), largest entry 0
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """p = softmax(z): probabilities that sum to 1 per row."""
    return np.exp(log_softmax(logits))


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean over the batch of -log p[correct digit], from the log-softmax (never log(0))."""
    return float(-log_softmax(logits)[np.arange(len(labels)), labels].mean())


def init_weight(fan_in: int, fan_out: int, init: str, rng: np.random.Generator) -> np.ndarray:
    """A (fan_out, fan_in) matrix. He: std sqrt(2 / fan_in) keeps the signal's size steady
    through ReLU layers (they zero half their inputs). Xavier: std sqrt(2 / (fan_in + fan_out)),
    made for tanh. Too small and the signal fades layer by layer; too large, it explodes."""
    if init not in ("he", "xavier"):
        raise CourseError(f"unknown initialization {init!r}; use he or xavier")
    std = np.sqrt(2.0 / fan_in) if init == "he" else np.sqrt(2.0 / (fan_in + fan_out))
    return rng.normal(0.0, std, size=(fan_out, fan_in))


# --- the network: forward and backward --------------------------------------------------------


class NumpyMLP:
    """784 -> hidden ReLU layers -> 10 logits; weights[0] is W_1 (n_1, 784), biases[0] is b_1."""

    def __init__(self, hidden_sizes: tuple[int, ...] = (128,), input_size: int = INPUT_SIZE,
                 num_classes: int = data.NUM_CLASSES, init: str = "he", dtype: str = "float32",
                 seed: int = 0):
        self.hidden_sizes, self.init = tuple(int(size) for size in hidden_sizes), init
        self.layer_sizes = (int(input_size), *self.hidden_sizes, int(num_classes))  # (784, ..., 10)
        self.dtype, rng = np.dtype(dtype), np.random.default_rng(seed)
        pairs = zip(self.layer_sizes, self.layer_sizes[1:])
        self.weights = [init_weight(n_in, n_out, init, rng).astype(self.dtype)
                        for n_in, n_out in pairs]
        self.biases = [np.zeros(n_out, dtype=self.dtype) for n_out in self.layer_sizes[1:]]

    def forward(self, images: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """([z_1 .. z_L], [a_0 .. a_{L-1}]): each layer's z and input. z_L (B, 10): the logits."""
        activations, zs = [images.astype(self.dtype, copy=False)], []  # a_0 = x, (B, 784)
        for weight, bias in zip(self.weights, self.biases):
            zs.append(activations[-1] @ weight.T + bias)  # z_l = a_{l-1} W_l^T + b_l, (B, n_l)
            if len(zs) < len(self.weights):
                activations.append(relu(zs[-1]))  # a_l = ReLU(z_l); the last layer has no ReLU
        return zs, activations

    def backward(self, zs: list[np.ndarray], activations: list[np.ndarray],
                 labels: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The four equations: ([dW_1, db_1, dW_2, db_2, ...], [delta_1 .. delta_L])."""
        batch = len(labels)  # B
        delta = softmax(zs[-1])  # p, (B, 10)
        delta[np.arange(batch), labels] -= 1  # (1) delta_L = p - onehot(y), (B, 10)
        gradients, deltas = [], [delta]
        for k in reversed(range(len(self.weights))):  # weights[k] is W_l for l = k + 1, last first
            grad_w = delta.T @ activations[k] / batch  # (3) delta_l^T a_{l-1} / B, (n_l, n_{l-1})
            grad_b = delta.sum(axis=0) / batch  # (4) sum of the rows of delta_l / B, (n_l,)
            gradients[:0] = [grad_w, grad_b]
            if k > 0:  # (2) delta_{l-1} = (delta_l W_l) * ReLU'(z_{l-1}), (B, n_{l-1})
                delta = (delta @ self.weights[k]) * (zs[k - 1] > 0)
                deltas.insert(0, delta)
        return gradients, deltas

    def loss_and_gradients(self, images: np.ndarray, labels: np.ndarray) -> tuple[float, list]:
        """One forward and one backward pass: (mean loss, [dW_1, db_1, ...])."""
        zs, activations = self.forward(images)
        return cross_entropy(zs[-1], labels), self.backward(zs, activations, labels)[0]

    def predict(self, images: np.ndarray) -> np.ndarray:
        """The predicted digit (N,): the class with the largest logit."""
        return self.forward(images)[0][-1].argmax(axis=1)

    def parameters(self) -> list[np.ndarray]:
        """[W_1, b_1, W_2, b_2, ...]: the live arrays, in the order of backward()'s gradients."""
        return [array for pair in zip(self.weights, self.biases) for array in pair]

    def parameter_names(self) -> list[str]:
        return [f"{kind}{index + 1}" for index in range(len(self.weights)) for kind in "Wb"]

    def num_parameters(self) -> int:
        return sum(array.size for array in self.parameters())

    def describe(self) -> str:
        return "numpy mlp " + "-".join(str(size) for size in self.layer_sizes)


# --- learning: the update rule and the training loop ------------------------------------------


class MomentumSGD:
    """The rule of torch.optim.SGD(momentum=m), per parameter: v <- m v + g;  W <- W - lr v.
    v is a running sum of recent gradients: directions that stay steady build up speed."""

    def __init__(self, parameters: list[np.ndarray], lr: float, momentum: float):
        self.parameters, self.lr, self.momentum = parameters, lr, momentum
        self.velocities = [np.zeros_like(param) for param in parameters]

    def step(self, gradients: list[np.ndarray]) -> None:
        for param, grad, velocity in zip(self.parameters, gradients, self.velocities, strict=True):
            velocity *= self.momentum
            velocity += grad
            param -= self.lr * velocity  # in place: the network sees the new values at once


@dataclass
class Settings:  # the hyperparameters train() needs
    num_epochs: int
    lr: float
    momentum: float
    batch_size: int
    seed: int


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)  # the same keys as Phase 3's fit()
    best_val_acc: float = 0.0
    best_epoch: int = 0
    seconds: float = 0.0
    diverged: bool = False
    batch_losses: list[float] = field(default_factory=list)  # every mini-batch's loss, in order


def evaluate(model: NumpyMLP, images: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Mean loss and accuracy (a fraction) on a whole split; the weights are not touched."""
    logits = model.forward(images)[0][-1]  # z_L, (N, 10)
    accuracy = float((logits.argmax(axis=1) == labels).mean())
    return {"loss": cross_entropy(logits, labels), "accuracy": accuracy}


def train_one_epoch(model: NumpyMLP, optimizer: MomentumSGD, train_set: tuple, batch_size: int,
                    rng: np.random.Generator, bar: tqdm, losses: list) -> tuple[float, float]:
    """One shuffled pass over the data: (mean train loss, train accuracy); nan if it diverged."""
    images, labels = train_set  # (N, 784), (N,)
    order = rng.permutation(len(labels))
    total_loss, correct = 0.0, 0
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        zs, activations = model.forward(images[batch])  # forward: z_l and a_l of every layer
        loss = cross_entropy(zs[-1], labels[batch])  # mean of -log p[correct digit]
        gradients, _ = model.backward(zs, activations, labels[batch])  # backward: (1)-(4)
        losses.append(loss)
        if not np.isfinite(loss):
            return float("nan"), 0.0
        optimizer.step(gradients)  # update every W and b
        total_loss += loss * len(batch)
        correct += int((zs[-1].argmax(axis=1) == labels[batch]).sum())
        bar.update(1)
    return total_loss / len(labels), correct / len(labels)


def train(model: NumpyMLP, train_set: tuple, val_set: tuple, settings: Settings,
          verbose: bool = True) -> TrainResult:
    """Mini-batch SGD, validating after each epoch; the model ends with its best-on-validation
    weights. A loss that becomes nan/inf (learning rate too high) stops it: ``diverged``."""
    rng = np.random.default_rng(settings.seed)
    optimizer = MomentumSGD(model.parameters(), settings.lr, settings.momentum)
    result, best = TrainResult(), [param.copy() for param in model.parameters()]
    steps = -(-len(train_set[1]) // settings.batch_size)  # batches per epoch, rounded up
    start = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is detected, not warned about
        for epoch in range(1, settings.num_epochs + 1):
            epoch_start = time.perf_counter()
            with tqdm(total=steps, desc=f"epoch {epoch}/{settings.num_epochs}", unit="batch",
                      leave=False, disable=None if verbose else True) as bar:  # a bar in a terminal
                train_loss, train_acc = train_one_epoch(model, optimizer, train_set,
                                                        settings.batch_size, rng, bar,
                                                        result.batch_losses)
            if not np.isfinite(train_loss):
                result.diverged = True
                if verbose:
                    print(f"epoch {epoch}: the loss became nan/inf (diverged); try a smaller --lr")
                break
            val = evaluate(model, *val_set)
            record = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc,
                      "val_loss": val["loss"], "val_acc": val["accuracy"], "lr": settings.lr,
                      "seconds": time.perf_counter() - epoch_start}
            result.history.append(record)
            improved = val["accuracy"] > result.best_val_acc
            if improved:
                result.best_val_acc, result.best_epoch = val["accuracy"], epoch
                best = [param.copy() for param in model.parameters()]
            if verbose:
                print(training.format_epoch_line(record, settings.num_epochs, improved))
    for param, kept in zip(model.parameters(), best):
        param[...] = kept  # in place: back to the best-on-validation weights
    result.seconds = time.perf_counter() - start
    return result


# --- is backprop right? --------------------------------------------------------------------------


def explain_backprop(seed: int) -> dict:
    """--explain: every number of one forward and backward pass of a 3-2-2 network."""
    model, images, labels = scratch.tiny_problem(NumpyMLP, EXPLAIN_SIZES, EXPLAIN_BATCH, seed,
                                                 EXPLAIN_DECIMALS)
    zs, activations = model.forward(images)  # the very code that trains on MNIST below
    gradients, deltas = model.backward(zs, activations, labels)
    trace = dict(images=images, labels=labels, zs=zs, activations=activations, p=softmax(zs[-1]),
                 loss=cross_entropy(zs[-1], labels), deltas=deltas, gradients=gradients)
    return scratch.print_explanation(model, trace)


# --- the lesson ----------------------------------------------------------------------------------


def main(hidden_sizes: tuple[int, ...] = HIDDEN_SIZES, init: str = INIT, lr: float = LEARNING_RATE,
         momentum: float = MOMENTUM, batch_size: int = BATCH_SIZE, num_epochs: int = NUM_EPOCHS,
         explain: bool = EXPLAIN, experiments: bool = EXPERIMENTS,
         experiment_samples: int = EXPERIMENT_SAMPLES, experiment_epochs: int = EXPERIMENT_EPOCHS,
         architectures: tuple[str, ...] = ARCHITECTURES, lr_sweep: tuple[float, ...] = LR_SWEEP,
         noise_levels: tuple[float, ...] = NOISE_LEVELS, compare_torch: bool = COMPARE_TORCH,
         seed: int = SEED, device: str = "cpu", show: bool = False) -> dict:
    """Check backprop, train the NumPy network, run the experiments, and compare with PyTorch."""
    check(min(num_epochs, experiment_epochs, batch_size, experiment_samples) >= 1,
          "--epochs, --experiment-epochs, --batch-size and --experiment-samples must be >= 1")
    check(lr > 0 and all(rate > 0 for rate in lr_sweep), "learning rates must be positive")
    check(0 <= momentum < 1, f"--momentum must be in [0, 1), got {momentum}")
    check(len(hidden_sizes) >= 1 and min(hidden_sizes) >= 1, "--hidden-sizes needs sizes >= 1")
    check(init in ("he", "xavier"), f"--init must be he or xavier, got {init!r}")
    check(all(level >= 0 for level in noise_levels), "--noise-levels must be at least 0")
    hidden_per_run = [experiment.parse_architecture(text) for text in architectures]
    if explain:
        return explain_backprop(seed)
    start = time.perf_counter()
    gradients = scratch.gradient_check(*scratch.tiny_problem(NumpyMLP, CHECK_SIZES, CHECK_BATCH,
                                                             seed))  # this file's backward pass
    scratch.print_gradient_check(gradients, CHECK_BATCH)

    # --- data ---
    splits = data.load_mnist(seed=seed)
    train_set, val_set = scratch.to_arrays(splits.train), scratch.to_arrays(splits.val)
    print(f"\ndata: {len(train_set[1]):,} training / {len(val_set[1]):,} validation images as "
          f"NumPy arrays {train_set[0].shape} {train_set[0].dtype}")  # (N, 784) images, (N,) labels

    # --- model ---
    model = NumpyMLP(hidden_sizes, init=init, seed=seed)
    shapes = ", ".join(f"W{index} {weight.shape}" for index, weight in enumerate(model.weights, 1))
    print(textwrap.fill(f"model: {model.describe()}, {model.num_parameters():,} parameters, {init} "
                        f"init, weights {shapes}", width=100, subsequent_indent="  "))

    # --- train ---
    settings = Settings(num_epochs, lr, momentum, batch_size, seed)
    result = train(model, train_set, val_set, settings)
    check(bool(result.history), f"training diverged in epoch 1 (lr {lr:g}); try --lr {lr / 10:g}")

    # --- results: test once, save, log ---
    test = evaluate(model, *scratch.to_arrays(splits.test))
    hyperparameters = dict(hidden_sizes=list(hidden_sizes), init=init, lr=lr, momentum=momentum,
                           batch_size=batch_size, num_epochs=num_epochs, seed=seed)
    files = experiment.save_main_run(model, result, test, hyperparameters, show)
    per_epoch = result.seconds / len(result.history)
    ours = {"test_acc": test["accuracy"], "val_acc": result.best_val_acc,
            "params": model.num_parameters(), "seconds_per_epoch": per_epoch}
    ours["dead_units"], units = experiment.dead_units(model, val_set[0])
    print(f"\ntest accuracy {test['accuracy']:.2%} (best validation {result.best_val_acc:.2%} at "
          f"epoch {result.best_epoch}) | {result.seconds:.1f} s, {per_epoch:.2f} s per epoch")
    print(f"dead hidden units (output 0 for every validation digit): {ours['dead_units']} of "
          f"{units}")

    # --- experiments (validation only: the test set stays untouched) ---
    report = {}
    if experiments:
        subset = (train_set[0][:experiment_samples], train_set[1][:experiment_samples])

        def train_network(sizes: tuple[int, ...], rate: float) -> tuple[NumpyMLP, TrainResult]:
            network = NumpyMLP(sizes, init=init, seed=seed)
            short = replace(settings, num_epochs=experiment_epochs, lr=rate)
            return network, train(network, subset, val_set, short, verbose=False)

        shared = dict(momentum=momentum, batch_size=batch_size, num_epochs=experiment_epochs,
                      train_samples=len(subset[1]), init=init)
        setup = experiment.Experiment(train_network, val_set, splits.val, shared, seed, show)
        report, figures = experiment.run_experiments(setup, model, hidden_per_run, lr, lr_sweep,
                                                     noise_levels)
        files += figures

    # --- side by side with PyTorch: the same start, trained by common/models.py's MLP and fit() ---
    twin = None
    if compare_torch:
        start_weights = NumpyMLP(hidden_sizes, init=init, seed=seed)
        twin = experiment.pytorch_twin(splits, start_weights, settings, device)
    experiment.side_by_side(ours, twin)

    print(f"\nsummary: backprop by hand {'matches' if gradients.passed else 'DOES NOT MATCH'} "
          f"autograd; {model.describe()}: {ours['test_acc']:.2%} test accuracy")
    print(f"         ({time.perf_counter() - start:.0f} s in all)")
    runs.print_files(files)
    print("\ntry next:")
    print("  --explain                  every number of backprop on a 3-2-2 network: redo one")
    print("  --lr 0.5 --no-experiments  the dead-unit count jumps; the loss sits near ln 10 = 2.30")
    print("  --momentum 0 --lr 0.2      plain SGD, a 10x larger step: the same accuracy?")
    print("  --hidden-sizes 128 128 128 128 128 --init xavier   does a deep network still learn?")
    progress.update_plan()
    plots.show_figures(show)
    checked = {"vs_autograd": gradients.max_vs_autograd, "passed": gradients.passed,
               "vs_finite_differences": gradients.max_vs_finite_diff}
    return {**ours, "seconds": result.seconds, "history": result.history, "gradient_check": checked,
            "diverged": result.diverged, "torch": twin, "files": files, **report}


if __name__ == "__main__":
    run_main(main)
