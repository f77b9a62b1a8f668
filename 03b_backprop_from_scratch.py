"""Phase 3b (bonus, between Phases 3 and 4): Backpropagation from scratch in NumPy, checked against autograd.

What you will see: first a gradient check: the gradients written by hand agree with PyTorch's
    autograd to about 1e-16 and with finite differences to about 1e-9. Then a network with no
    PyTorch inside trains epoch by epoch to about 97.7% test accuracy. Three experiments follow,
    each a table and a picture: architectures, learning rates, noisy inputs. Last, the same
    network in PyTorch, started from the very same weights, side by side with the NumPy one.
What you will learn: what loss.backward() computes in Phase 3. The chain rule is four lines of
    matrix algebra (delta = y_hat - y;  delta = W^T delta * ReLU'(z);  dW = delta a^T;  db = delta).
    You will also see why He initialization, why softmax subtracts the maximum, what momentum
    does, and how to prove a gradient right.
New since Phase 3: nothing is done for you. common/scratch.py writes the forward pass, the backward
    pass and the update with NumPy matrix products, one line per equation of the plan's math section.
Run:     python 03b_backprop_from_scratch.py                    (everything)
         python 03b_backprop_from_scratch.py --no-experiments   (check + one network + its PyTorch twin)
         python 03b_backprop_from_scratch.py --hidden-sizes 256 128 --lr 0.01 --epochs 10
         (the PyTorch twin runs on the CPU so the seconds compare fairly; --device auto uses a GPU)
Expect:  "gradient check passed", about 97.7% test accuracy (97.5-97.9% across seeds), about 40 s in
         all on a 2-core CPU (about 70 s while other programs keep it busy); the NumPy network itself
         trains in about 5-10 s.
Writes:  models/scratch_mlp.npz, visualizations/03b_training_curves.png, 03b_architectures.png,
         03b_learning_rates.png, 03b_noise_robustness.png, rows in models/results.csv
"""

import os

if __name__ == "__main__":
    # One CPU thread for NumPy's matrix products (BLAS). This network's matrices are small: a second
    # thread saves little on an idle CPU, but when anything else is busy the threads wait for each
    # other and an epoch takes 5-20x longer. Set before NumPy loads; OPENBLAS_NUM_THREADS=2 overrides.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import math  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

from common import checkpoints, data, evaluation, ledger, models, paths, plots, progress  # noqa: E402
from common import runs, scratch, training  # noqa: E402
from common import device as devices  # noqa: E402
from common.cli import check, run_main  # noqa: E402
from common.errors import CourseError  # noqa: E402

# ----------------------------------------------------------------------------------------------
HIDDEN_SIZES = (128,)  # try (64,), (256,), (128, 64), (256, 128); any number of hidden ReLU layers
INIT = "he"            # he or xavier; he is made for ReLU (try xavier with 5+ layers and compare)
LEARNING_RATE = 0.02   # try 0.001..0.5; momentum makes the real step ~10x larger, so 0.1+ gets unstable
MOMENTUM = 0.9         # try 0.0..0.95; 0 is plain SGD (then try a 10x larger lr)
BATCH_SIZE = 64        # try 16..512; smaller -> more, noisier updates per epoch
NUM_EPOCHS = 8         # try 1..30; 3 epochs already pass 96.5%
EXPERIMENTS = True     # --no-experiments skips the three experiments (a quicker run)
EXPERIMENT_SAMPLES = 20_000  # training images per experiment run (of 54,000): keeps the 9 runs quick
EXPERIMENT_EPOCHS = 4  # epochs per experiment run
ARCHITECTURES = ("64", "128", "128-64", "256-128")  # hidden sizes to compare; "-" separates layers
LR_SWEEP = (0.001, 0.005, 0.02, 0.1, 0.5)  # learning rates to compare (each with MOMENTUM)
NOISE_LEVELS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)  # std of Gaussian noise added to pixels in [0, 1]
COMPARE_TORCH = True   # --no-compare-torch skips the PyTorch twin at the end
SEED = 0               # any integer; the same seed gives the same result
# ----------------------------------------------------------------------------------------------

SCRIPT = "03b_backprop_from_scratch.py"
MODEL_FILE = "scratch_mlp.npz"
SMOOTH_BATCHES = 25  # the learning-rate plot averages the training loss over this many batches
CHANCE_LOSS = math.log(data.NUM_CLASSES)  # ln 10 = 2.30: the loss of a uniform guess over 10 digits


def print_gradient_check(seed: int) -> scratch.GradientCheck:
    """Is backprop right? Compare the hand-written gradients with autograd and with finite differences."""
    result = scratch.gradient_check(seed=seed)
    sizes = "-".join(str(size) for size in result.layer_sizes)
    print(f"gradient check: a {sizes} network in float64 on a random batch; relative error "
          "||ours - reference|| / (||ours|| + ||reference||) per parameter")
    print(f"  {'param':<7}{'shape':<11}{'vs autograd':>13}{'vs finite differences':>24}")
    for name, shape, vs_autograd, vs_numeric in result.rows:
        print(f"  {name:<7}{str(shape):<11}{vs_autograd:>13.1e}{vs_numeric:>24.1e}")
    print(f"  loss: NumPy {result.loss_numpy:.12f} | PyTorch {result.loss_torch:.12f}")
    if result.passed:
        print(f"gradient check passed: max {result.max_vs_autograd:.1e} vs autograd "
              f"(< {scratch.AUTOGRAD_TOLERANCE:g}), "
              f"max {result.max_vs_finite_diff:.1e} vs finite differences (< {scratch.FINITE_DIFF_TOLERANCE:g})")
    else:
        print("gradient check FAILED: the backward pass in common/scratch.py does not match; "
              "training below will be wrong (did you edit NumpyMLP.backward?)")
    return result


def parse_architecture(text: str) -> tuple[int, ...]:
    """'128-64' -> (128, 64)."""
    try:
        sizes = tuple(int(part) for part in text.split("-"))
    except ValueError:
        raise CourseError(f"--architectures takes sizes like 128 or 128-64, got {text!r}") from None
    check(all(size >= 1 for size in sizes), f"layer sizes must be at least 1, got {text!r}")
    return sizes


@dataclass
class Experiment:
    """What every experiment run shares: its data and its fixed settings."""

    train: tuple[np.ndarray, np.ndarray]  # the first EXPERIMENT_SAMPLES training images and labels
    val: tuple[np.ndarray, np.ndarray]
    num_epochs: int
    momentum: float
    batch_size: int
    init: str
    seed: int

    def run(self, hidden_sizes: tuple[int, ...], lr: float,
            what: str) -> tuple[scratch.NumpyMLP, scratch.ScratchResult]:
        """Train one network on the subset, validate it, and log it in the ledger as an experiment."""
        model = scratch.NumpyMLP(hidden_sizes, init=self.init, seed=self.seed)
        result = scratch.train(model, *self.train, *self.val, num_epochs=self.num_epochs, lr=lr,
                               momentum=self.momentum, batch_size=self.batch_size, seed=self.seed, verbose=False)
        ledger.append_result(script=SCRIPT, step="scratch", model=f"{model.describe()} (experiment: {what})",
                             params=model.num_parameters(), epochs=len(result.history), seconds=result.seconds,
                             val_acc=result.best_val_acc if result.history else None, test_acc=None, seed=self.seed,
                             hyperparameters={"experiment": what, "hidden_sizes": list(hidden_sizes), "lr": lr,
                                              "momentum": self.momentum, "batch_size": self.batch_size,
                                              "train_samples": len(self.train[1]), "init": self.init})
        return model, result


def compare_architectures(setup: Experiment, architectures: list[tuple[int, ...]], lr: float,
                          show: bool) -> tuple[dict, dict, list]:
    """Wider and deeper networks on the same data: accuracy, parameters, time."""
    rows, trained = [], {}
    for hidden in tqdm(architectures, desc="architectures", unit="run", leave=False, disable=None):
        model, result = setup.run(hidden, lr, "architectures")
        name = model.describe().removeprefix("numpy mlp ")
        trained[name] = model
        rows.append((name, model.num_parameters(), result.best_val_acc, result.seconds / max(1, len(result.history))))
    print(f"\narchitectures ({len(setup.train[1]):,} training images, {setup.num_epochs} epochs, lr {lr:g}):")
    print(f"  {'layers':<16}{'parameters':>11}{'best val acc':>14}{'s / epoch':>11}")
    for name, params, acc, seconds in rows:
        print(f"  {name:<16}{params:>11,}{acc:>14.2%}{seconds:>11.2f}")
    best = max(range(len(rows)), key=lambda index: rows[index][2])
    figure = plots.plot_bars([f"{name}\n{params / 1000:.0f}k params" for name, params, _, _ in rows],
                             [100 * acc for _, _, acc, _ in rows], paths.vis_path("03b_architectures.png"),
                             title=f"NumPy networks: validation accuracy after {setup.num_epochs} epochs",
                             ylabel="validation accuracy (%)", highlight=best, value_fmt="{:.2f}%", show=show)
    return trained, {name: acc for name, _, acc, _ in rows}, [figure]


def smoothed_losses(batch_losses: list[float], length: int) -> list[float]:
    """Mean loss per block of SMOOTH_BATCHES batches, capped for the plot; nan after a divergence."""
    losses = np.full(length * SMOOTH_BATCHES, np.nan)
    kept = batch_losses[: len(losses)]  # whole blocks only
    losses[: len(kept)] = kept
    with np.errstate(invalid="ignore", over="ignore"):
        blocks = losses.reshape(length, SMOOTH_BATCHES).mean(axis=1)
    return np.minimum(blocks, 2 * CHANCE_LOSS).tolist()  # a diverging loss would squash every other curve


def compare_learning_rates(setup: Experiment, hidden_sizes: tuple[int, ...], rates: tuple[float, ...],
                           show: bool) -> tuple[dict, list]:
    """Too small crawls, too large oscillates or explodes: the training loss batch by batch."""
    results = {lr: setup.run(hidden_sizes, lr, "learning rates")[1]
               for lr in tqdm(rates, desc="learning rates", unit="run", leave=False, disable=None)}
    length = max(len(result.batch_losses) for result in results.values()) // SMOOTH_BATCHES
    print(f"\nlearning rates (momentum {setup.momentum:g}, {len(setup.train[1]):,} training images, "
          f"{setup.num_epochs} epochs):")
    print(f"  {'lr':>8}{'best val acc':>14}{'last train loss':>17}")
    for lr, result in results.items():
        status = "diverged (loss became nan/inf)" if result.diverged else ""
        last = f"{result.history[-1]['train_loss']:.4f}" if result.history else "-"
        print(f"  {lr:>8g}{result.best_val_acc:>14.2%}{last:>17}   {status}".rstrip())
    best = max(results, key=lambda lr: results[lr].best_val_acc)
    print(f"  finding: lr {best:g} did best here; smaller ones crawl, larger ones bounce around or blow up")
    images_seen = [(index + 1) * SMOOTH_BATCHES * setup.batch_size / 1000 for index in range(length)]
    curves = {f"lr {lr:g}" + (" (diverged)" if result.diverged else ""): smoothed_losses(result.batch_losses, length)
              for lr, result in results.items()}
    figure = plots.plot_lines(images_seen, curves, paths.vis_path("03b_learning_rates.png"),
                              title=f"Training loss per learning rate (mean of {SMOOTH_BATCHES} batches, capped)",
                              xlabel="training images seen (thousands)", ylabel="cross-entropy loss",
                              hlines={"chance: ln 10": CHANCE_LOSS}, show=show)
    return {lr: (None if result.diverged else result.best_val_acc) for lr, result in results.items()}, [figure]


def noise_robustness(trained: dict[str, scratch.NumpyMLP], val: data.Split, levels: tuple[float, ...],
                     seed: int, show: bool) -> tuple[dict, list]:
    """Accuracy on validation digits with Gaussian pixel noise; every network sees the same noisy images."""
    table = {name: [] for name in trained}
    for level in tqdm(levels, desc="noise levels", unit="level", leave=False, disable=None):
        images = scratch.noisy_arrays(val, level, seed=seed)  # (N, 784)
        for name, model in trained.items():
            table[name].append(float((model.predict(images) == val.labels.numpy()).mean()))
    width = max(len(name) for name in table) + 2
    print("\nnoise robustness (validation accuracy; noise std in pixel units, pixels in [0, 1]):")
    print("  " + f"{'network':<{width}}" + "".join(f"{level:>8g}" for level in levels))
    for name, accs in table.items():
        print("  " + f"{name:<{width}}" + "".join(f"{acc:>8.1%}" for acc in accs))
    figure = plots.plot_lines(list(levels), {name: [100 * acc for acc in accs] for name, accs in table.items()},
                              paths.vis_path("03b_noise_robustness.png"), title="Accuracy as pixel noise grows",
                              xlabel="noise standard deviation (pixels in [0, 1])", ylabel="validation accuracy (%)",
                              hlines={"chance: 10%": 100 / data.NUM_CLASSES}, show=show)
    return table, [figure]


def pytorch_twin(splits: data.MnistSplits, *, hidden_sizes: tuple[int, ...], init: str, lr: float, momentum: float,
                 batch_size: int, num_epochs: int, seed: int, device: str) -> dict:
    """The same network in PyTorch (Phase 3's MLP and fit()), started from the very same weights."""
    devices.seed_everything(seed)
    threads = torch.get_num_threads()
    devices.configure_threads(1)  # one thread, like the NumPy network: a fair race, and steady on a busy CPU
    device = devices.pick_device(device)
    train_loader, val_loader, test_loader = data.make_loaders(splits, batch_size, device=device, seed=seed)
    model = models.MLP(hidden_sizes=hidden_sizes)
    scratch.copy_into_torch(scratch.NumpyMLP(hidden_sizes, init=init, seed=seed), model)  # same starting weights
    model.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)  # the same rule as MomentumSGD
    try:
        result = training.fit(model, train_loader, val_loader, optimizer=optimizer, num_epochs=num_epochs)
        test = evaluation.evaluate(model, test_loader)
    finally:
        devices.configure_threads(threads)
    return {"test_acc": test["accuracy"], "val_acc": result.best_val_acc,
            "seconds_per_epoch": result.seconds / max(1, len(result.history)), "params": models.count_parameters(model)}


def side_by_side(ours: dict, twin: dict | None) -> None:
    """NumPy vs PyTorch (and Phase 3's saved MLP, when there is one) in one table."""
    print(f"\n{'network':<40}{'test acc':>10}{'val acc':>10}{'s / epoch':>11}{'parameters':>12}")
    rows = [("NumPy, backprop by hand (this script)", ours)]
    rows += [("PyTorch twin: same start, autograd", twin)] if twin else []
    for name, row in rows:
        print(f"{name:<40}{row['test_acc']:>10.2%}{row['val_acc']:>10.2%}{row['seconds_per_epoch']:>11.2f}"
              f"{row['params']:>12,}")
    mlp_path = paths.model_path("mlp.pt")
    if mlp_path.exists():
        try:
            metrics = checkpoints.load_checkpoint(mlp_path)["metrics"]
            print(f"{'reference: models/mlp.pt (Phase 3)':<40}{metrics.get('test_acc', float('nan')):>10.2%}"
                  f"{metrics.get('val_acc', float('nan')):>10.2%}")
        except CourseError as err:
            print(f"(reference models/mlp.pt unreadable: {err})")
    if twin:
        print(f"finding: same network, same start, same update rule: the two engines agree within "
              f"{abs(ours['test_acc'] - twin['test_acc']):.2%} test accuracy (only the batch order differs)")


def finish_main_run(model: scratch.NumpyMLP, result: scratch.ScratchResult, test_split: data.Split,
                    hyperparameters: dict, seed: int, show: bool) -> tuple[dict, list]:
    """Test once, save models/scratch_mlp.npz, draw the curves, log the ledger row; returns (numbers, files)."""
    test = scratch.evaluate(model, *scratch.to_arrays(test_split))
    metrics = {"val_acc": result.best_val_acc, "test_acc": test["accuracy"], "test_loss": test["loss"],
               "best_epoch": result.best_epoch}
    files = [scratch.save_scratch_model(paths.model_path(MODEL_FILE), model, hyperparameters=hyperparameters,
                                        metrics=metrics, history=result.history),
             plots.plot_training_curves(result.history, paths.vis_path("03b_training_curves.png"),
                                        title=f"{model.describe()}: training curves (backprop by hand)", show=show),
             ledger.append_result(script=SCRIPT, step="scratch", model=model.describe(), params=model.num_parameters(),
                                  epochs=len(result.history), seconds=result.seconds, val_acc=result.best_val_acc,
                                  test_acc=test["accuracy"], seed=seed, hyperparameters=hyperparameters)]
    ours = {"test_acc": test["accuracy"], "val_acc": result.best_val_acc, "params": model.num_parameters(),
            "seconds_per_epoch": result.seconds / len(result.history)}
    print(f"\ntest accuracy {test['accuracy']:.2%} (best validation {result.best_val_acc:.2%} at epoch "
          f"{result.best_epoch}) | {result.seconds:.1f} s training, {ours['seconds_per_epoch']:.2f} s per epoch")
    return ours, files


def run_experiments(setup: Experiment, model: scratch.NumpyMLP, architectures: list[tuple[int, ...]], lr: float,
                    rates: tuple[float, ...], val: data.Split, noise_levels: tuple[float, ...],
                    show: bool) -> tuple[dict, list]:
    """Seed 003's three experiments; the noise test also includes the main network."""
    report = {}
    trained, report["architectures"], figures = compare_architectures(setup, architectures, lr, show)
    report["learning_rates"], more = compare_learning_rates(setup, model.hidden_sizes, rates, show)
    networks = {f"{model.describe().removeprefix('numpy mlp ')} (main run)": model,
                **{f"{name} (experiment)": net for name, net in trained.items()}}
    report["noise"], most = noise_robustness(networks, val, noise_levels, setup.seed, show)
    return report, figures + more + most


def main(hidden_sizes: tuple[int, ...] = HIDDEN_SIZES, init: str = INIT, lr: float = LEARNING_RATE,
         momentum: float = MOMENTUM, batch_size: int = BATCH_SIZE, num_epochs: int = NUM_EPOCHS,
         experiments: bool = EXPERIMENTS, experiment_samples: int = EXPERIMENT_SAMPLES,
         experiment_epochs: int = EXPERIMENT_EPOCHS, architectures: tuple[str, ...] = ARCHITECTURES,
         lr_sweep: tuple[float, ...] = LR_SWEEP, noise_levels: tuple[float, ...] = NOISE_LEVELS,
         compare_torch: bool = COMPARE_TORCH, seed: int = SEED, device: str = "cpu", show: bool = False) -> dict:
    """Check backprop, train the NumPy network, run the experiments, and compare with PyTorch."""
    check(num_epochs >= 1 and experiment_epochs >= 1, "--epochs and --experiment-epochs must be at least 1")
    check(lr > 0 and all(rate > 0 for rate in lr_sweep), "learning rates must be positive")
    check(0 <= momentum < 1, f"--momentum must be in [0, 1), got {momentum}")
    check(batch_size >= 1 and experiment_samples >= 1, "--batch-size and --experiment-samples must be at least 1")
    check(len(hidden_sizes) >= 1 and all(size >= 1 for size in hidden_sizes), "--hidden-sizes needs sizes >= 1")
    check(init in ("he", "xavier"), f"--init must be he or xavier, got {init!r}")
    check(all(level >= 0 for level in noise_levels), "--noise-levels must be at least 0")
    hidden_per_run = [parse_architecture(text) for text in architectures]
    start = time.perf_counter()
    gradients = print_gradient_check(seed)

    # --- data ---
    splits = data.load_mnist(seed=seed)
    train_images, train_labels = scratch.to_arrays(splits.train)  # (54000, 784) float32, (54000,)
    val_images, val_labels = scratch.to_arrays(splits.val)
    print(f"\ndata: {len(train_labels):,} training / {len(val_labels):,} validation images as NumPy arrays "
          f"{train_images.shape} {train_images.dtype}")

    # --- model ---
    model = scratch.NumpyMLP(hidden_sizes, init=init, seed=seed)
    shapes = ", ".join(f"{name} {array.shape}" for name, array in zip(model.parameter_names(), model.parameters()))
    print(f"model: {model.describe()}, {model.num_parameters():,} parameters ({shapes}), {init} initialization")

    # --- train ---
    result = scratch.train(model, train_images, train_labels, val_images, val_labels, num_epochs=num_epochs, lr=lr,
                           momentum=momentum, batch_size=batch_size, seed=seed)
    check(bool(result.history), f"training diverged in the first epoch with lr {lr:g}; try --lr {lr / 10:g}")

    # --- results: test once, save, log ---
    hyperparameters = dict(hidden_sizes=list(hidden_sizes), init=init, lr=lr, momentum=momentum,
                           batch_size=batch_size, num_epochs=num_epochs, seed=seed)
    ours, files = finish_main_run(model, result, splits.test, hyperparameters, seed, show)

    # --- experiments (validation only: the test set stays untouched) ---
    report = {}
    if experiments:
        setup = Experiment((train_images[:experiment_samples], train_labels[:experiment_samples]),
                           (val_images, val_labels), experiment_epochs, momentum, batch_size, init, seed)
        report, figures = run_experiments(setup, model, hidden_per_run, lr, lr_sweep, splits.val, noise_levels, show)
        files += figures

    # --- side by side with PyTorch ---
    twin = None
    if compare_torch:
        print(f"\nthe same {model.describe().removeprefix('numpy ')} in PyTorch (common/models.py MLP, fit(), "
              f"torch.optim.SGD momentum {momentum:g}), from the same starting weights, on one CPU thread:")
        twin = pytorch_twin(splits, hidden_sizes=hidden_sizes, init=init, lr=lr, momentum=momentum,
                            batch_size=batch_size, num_epochs=num_epochs, seed=seed, device=device)
    side_by_side(ours, twin)

    print(f"\nsummary: backprop by hand {'matches' if gradients.passed else 'DOES NOT MATCH'} autograd; "
          f"{model.describe()} reached {ours['test_acc']:.2%} test accuracy in {time.perf_counter() - start:.1f} s")
    runs.print_files(files)
    progress.update_plan()
    plots.show_figures(show)
    return {**ours, "seconds": result.seconds, "history": result.history, "diverged": result.diverged,
            "gradient_check": {"vs_autograd": gradients.max_vs_autograd,
                               "vs_finite_differences": gradients.max_vs_finite_diff, "passed": gradients.passed},
            "torch": twin, "files": files, **report}


if __name__ == "__main__":
    run_main(main)
