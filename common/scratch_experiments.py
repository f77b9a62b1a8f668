"""Experiments and the PyTorch twin of 03b_backprop_from_scratch.py (bookkeeping, not the lesson).

The lesson script trains its NumPy network; this module runs the three experiments around it
(architectures, learning rates, noisy inputs), prints their tables and findings, draws their
figures, logs each run in the ledger, and trains the same network in PyTorch for comparison.
Every choice here uses VALIDATION accuracy; the test set is left to the main run.

The networks come from the script through :attr:`Experiment.train_network`, so the code that
trains them is the script's own forward pass, backward pass and update.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from common import checkpoints, data, evaluation, ledger, models, paths, plots, scratch, training
from common import device as devices
from common.errors import CourseError

SCRIPT = scratch.SCRIPT
MODEL_FILE = "scratch_mlp.npz"  # models/scratch_mlp.npz: the main run's network
SMOOTH_BATCHES = 25  # the learning-rate plot averages the training loss over this many batches
CHANCE_LOSS = math.log(data.NUM_CLASSES)  # ln 10 = 2.30: the loss of a uniform guess over 10 digits
STUCK_LOSS = 0.9 * CHANCE_LOSS  # a last training loss above this learned (almost) nothing
EARLY_BATCHES = 10  # the findings report the highest loss of a run's first 10 batches


@dataclass
class Experiment:
    """What every experiment run shares: how to train a network, the data, the settings to log."""

    train_network: Callable[[tuple, float], tuple[Any, Any]]  # (sizes, lr) -> (model, result)
    val: tuple[np.ndarray, np.ndarray]  # validation images (N, 784) and labels (N,)
    val_split: data.Split  # the same digits as a Split, for the noisy copies
    hyperparameters: dict  # what every run shares (momentum, batch size, epochs, ...): the ledger
    seed: int
    show: bool = False

    @property
    def summary(self) -> str:
        samples, epochs = self.hyperparameters["train_samples"], self.hyperparameters["num_epochs"]
        return f"{samples:,} training images, {epochs} epochs"

    def run(self, hidden_sizes: tuple[int, ...], lr: float, what: str) -> tuple[Any, Any]:
        """Train one network, validate it, and log it in the ledger as an experiment."""
        model, result = self.train_network(hidden_sizes, lr)
        settings = {"experiment": what, "hidden_sizes": list(hidden_sizes), "lr": lr,
                    **self.hyperparameters}
        name = f"{model.describe()} (experiment: {what})"
        ledger.append_result(script=SCRIPT, step="scratch", model=name,
                             params=model.num_parameters(), epochs=len(result.history),
                             seconds=result.seconds, test_acc=None, seed=self.seed,
                             val_acc=result.best_val_acc if result.history else None,
                             hyperparameters=settings)
        return model, result


def dead_units(model: Any, images: np.ndarray) -> tuple[int, int]:
    """(dead, total) hidden ReLU units; a dead unit outputs 0 for EVERY image given.

    Its gradient is then 0 for every image too (ReLU'(z) = 0 where z <= 0), so no update can
    bring it back: the network has lost it for good.
    """
    zs, _ = model.forward(images)
    hidden = np.concatenate([z > 0 for z in zs[:-1]], axis=1)  # (N, all hidden units): fired?
    return int((~hidden.any(axis=0)).sum()), hidden.shape[1]


def compare_architectures(setup: Experiment, architectures: list[tuple[int, ...]],
                          lr: float) -> tuple[dict, dict, list]:
    """Wider and deeper networks on the same data: mistakes, parameters, time."""
    rows, trained = [], {}
    for hidden in tqdm(architectures, desc="architectures", unit="run", leave=False, disable=None):
        model, result = setup.run(hidden, lr, "architectures")
        name = model.describe().removeprefix("numpy mlp ")
        trained[name] = model
        rows.append((name, model.num_parameters(), result.best_val_acc,
                     result.seconds / max(1, len(result.history))))
    print(f"\narchitectures ({setup.summary}, lr {lr:g}):")
    print(f"  {'layers':<16}{'parameters':>11}{'best val acc':>14}{'mistakes / 10k':>16}"
          f"{'s / epoch':>11}")
    for name, params, acc, seconds in rows:
        mistakes = round((1 - acc) * 10_000)
        print(f"  {name:<16}{params:>11,}{acc:>14.2%}{mistakes:>16,}{seconds:>11.2f}")
    best = max(range(len(rows)), key=lambda index: rows[index][2])
    figure = plots.plot_errors_per_10k(
        [name for name, *_ in rows], [acc for _, _, acc, _ in rows],
        paths.vis_path("03b_architectures.png"),
        title=f"NumPy networks: validation mistakes per 10,000 digits ({setup.summary})",
        notes=[f"{params / 1000:.0f}k params" for _, params, _, _ in rows], highlight=best,
        show=setup.show)
    return trained, {name: acc for name, _, acc, _ in rows}, [figure]


def smoothed_losses(batch_losses: list[float], length: int) -> list[float]:
    """Mean loss per block of SMOOTH_BATCHES batches, capped for the plot; nan after divergence."""
    losses = np.full(length * SMOOTH_BATCHES, np.nan)
    kept = batch_losses[: len(losses)]  # whole blocks only
    losses[: len(kept)] = kept
    with np.errstate(invalid="ignore", over="ignore"):
        blocks = losses.reshape(length, SMOOTH_BATCHES).mean(axis=1)
    return np.minimum(blocks, 2 * CHANCE_LOSS).tolist()  # a diverging loss would squash the rest


@dataclass
class RateOutcome:
    """One learning rate's run, reduced to what its table row and findings need."""

    lr: float
    best_val_acc: float
    last_train_loss: float  # nan when it diverged
    diverged: bool
    dead: int  # hidden units that never fire on the validation digits
    total: int
    top_answer: int  # the digit it answers most often on validation ...
    top_share: float  # ... and for what fraction of the digits
    early_peak: float = float("nan")  # the highest loss of its first EARLY_BATCHES batches

    @property
    def stuck(self) -> bool:
        return not self.diverged and self.last_train_loss > STUCK_LOSS


def rate_outcome(lr: float, model: Any, result: Any, val: tuple) -> RateOutcome:
    """Measure one trained network: dead units and its most common answer on validation."""
    dead, total = dead_units(model, val[0])
    answers = np.bincount(model.predict(val[0]), minlength=data.NUM_CLASSES)
    ok = result.history and not result.diverged
    last = result.history[-1]["train_loss"] if ok else float("nan")
    early = [loss for loss in result.batch_losses[:EARLY_BATCHES] if np.isfinite(loss)]
    return RateOutcome(lr, result.best_val_acc, last, result.diverged, dead, total,
                       int(answers.argmax()), float(answers.max() / max(1, answers.sum())),
                       max(early, default=float("nan")))


def learning_rate_findings(outcomes: list[RateOutcome], num_val: int) -> list[str]:
    """What the sweep shows, computed from its numbers (every line fits 100 columns)."""
    best = max(outcomes, key=lambda outcome: outcome.best_val_acc)
    slowest = min(outcomes, key=lambda outcome: outcome.lr)
    lines = [f"  finding: lr {best.lr:g} did best ({best.best_val_acc:.2%} validation accuracy)"]
    if slowest.lr < best.lr:
        lines.append(f"  finding: lr {slowest.lr:g} is too small: {slowest.best_val_acc:.2%}, "
                     "still learning when the epochs ran out")
    for outcome in outcomes:
        if outcome.diverged:
            lines.append(f"  finding: lr {outcome.lr:g} blew up: the loss became nan/inf")
        elif outcome.dead and outcome.lr > best.lr and not outcome.stuck:
            lines.append(f"  finding: lr {outcome.lr:g} already lost {outcome.dead} of its "
                         f"{outcome.total} hidden units (dead) and reached "
                         f"{outcome.best_val_acc:.2%}")
        elif outcome.stuck:
            text = (f"lr {outcome.lr:g} did not blow up (no nan/inf) but learned nothing: its "
                    f"last training loss, {outcome.last_train_loss:.2f}, is about ln 10 = "
                    f"{CHANCE_LOSS:.2f}, the loss of a uniform guess. {outcome.dead} of its "
                    f"{outcome.total} hidden units are dead: they output 0 for all {num_val:,} "
                    "validation digits, so their gradient is 0 and no update can revive them. "
                    f"With its hidden layer (almost) silent it answers {outcome.top_answer} for "
                    f"{outcome.top_share:.0%} of the digits.")
            if outcome.early_peak > CHANCE_LOSS:
                text += (f" Its loss jumped to {outcome.early_peak:.1f} within {EARLY_BATCHES} "
                         "batches: those first huge steps pushed the units' z below 0 for every "
                         "digit.")
            lines += textwrap.wrap(text, width=100, initial_indent="  finding: ",
                                   subsequent_indent=" " * 11)
    return lines


def compare_learning_rates(setup: Experiment, hidden_sizes: tuple[int, ...],
                           rates: tuple[float, ...]) -> tuple[dict, list, list[RateOutcome]]:
    """Too small crawls; too large kills ReLU units or explodes: the loss batch by batch."""
    results, outcomes = {}, []
    for lr in tqdm(rates, desc="learning rates", unit="run", leave=False, disable=None):
        model, results[lr] = setup.run(hidden_sizes, lr, "learning rates")
        outcomes.append(rate_outcome(lr, model, results[lr], setup.val))
    print(f"\nlearning rates (momentum {setup.hyperparameters['momentum']:g}, {setup.summary}); "
          "dead = hidden ReLU units")
    print("that output 0 for every validation digit:")
    print(f"  {'lr':>8}{'best val acc':>14}{'last train loss':>17}{'dead units':>14}   result")
    for outcome in outcomes:
        status = "diverged (nan/inf)" if outcome.diverged else ""
        status = "stuck at chance" if outcome.stuck else status
        dead = f"{outcome.dead}/{outcome.total}"
        print(f"  {outcome.lr:>8g}{outcome.best_val_acc:>14.2%}{outcome.last_train_loss:>17.4f}"
              f"{dead:>14}   {status}".rstrip())
    print("\n".join(learning_rate_findings(outcomes, len(setup.val[1]))))
    length = max(len(result.batch_losses) for result in results.values()) // SMOOTH_BATCHES
    batch_size = setup.hyperparameters["batch_size"]
    images_seen = [(index + 1) * SMOOTH_BATCHES * batch_size / 1000 for index in range(length)]
    curves = {}
    for outcome in outcomes:
        note = " (diverged)" if outcome.diverged else " (stuck)" if outcome.stuck else ""
        losses = results[outcome.lr].batch_losses
        curves[f"lr {outcome.lr:g}{note}"] = smoothed_losses(losses, length)
    figure = plots.plot_distinct_lines(
        images_seen, curves, paths.vis_path("03b_learning_rates.png"),
        title=f"Training loss per learning rate (mean of {SMOOTH_BATCHES} batches, "
              "capped at 2 ln 10)",
        xlabel="training images seen (thousands)", ylabel="cross-entropy loss",
        hlines={"chance: ln 10 = 2.30": CHANCE_LOSS}, show=setup.show)
    report = {item.lr: None if item.diverged else item.best_val_acc for item in outcomes}
    return report, [figure], outcomes


def noise_robustness(setup: Experiment, trained: dict, levels: tuple) -> tuple[dict, list]:
    """Validation accuracy under Gaussian pixel noise; every network sees the same noisy images."""
    table = {name: [] for name in trained}
    labels = setup.val_split.labels.numpy()
    for level in tqdm(levels, desc="noise levels", unit="level", leave=False, disable=None):
        images = scratch.noisy_arrays(setup.val_split, level, seed=setup.seed)  # (N, 784)
        for name, model in trained.items():
            table[name].append(float((model.predict(images) == labels).mean()))
    width = max(len(name) for name in table) + 2
    print("\nnoise robustness (validation accuracy; noise std in pixel units, pixels in [0, 1]):")
    print("  " + f"{'network':<{width}}" + "".join(f"{level:>8g}" for level in levels))
    for name, accs in table.items():
        print("  " + f"{name:<{width}}" + "".join(f"{acc:>8.1%}" for acc in accs))
    figure = plots.plot_distinct_lines(
        list(levels), {name: [100 * acc for acc in accs] for name, accs in table.items()},
        paths.vis_path("03b_noise_robustness.png"),
        title="Validation accuracy as pixel noise grows (a guess would score 10%)",
        xlabel="noise standard deviation (pixels in [0, 1])", ylabel="validation accuracy (%)",
        show=setup.show)
    return table, [figure]


def run_experiments(setup: Experiment, model: Any, architectures: list[tuple[int, ...]], lr: float,
                    rates: tuple[float, ...], noise_levels: tuple[float, ...]) -> tuple[dict, list]:
    """The three experiments; the noise test also includes the main network."""
    report = {}
    trained, report["architectures"], figures = compare_architectures(setup, architectures, lr)
    report["learning_rates"], more, report["rate_outcomes"] = compare_learning_rates(
        setup, model.hidden_sizes, rates)
    networks = {f"{model.describe().removeprefix('numpy mlp ')} (main run)": model,
                **{f"{name} (experiment)": net for name, net in trained.items()}}
    report["noise"], most = noise_robustness(setup, networks, noise_levels)
    return report, figures + more + most


def pytorch_twin(splits: data.MnistSplits, start: Any, settings: Any, device: str) -> dict:
    """The same network in PyTorch (Phase 3's MLP and fit()), started from the very same weights.

    ``start`` is an untrained NumPy network; ``settings`` has num_epochs, lr, momentum,
    batch_size and seed.
    """
    print(f"\nthe same {start.describe().removeprefix('numpy ')} in PyTorch (common/models.py MLP, "
          f"fit(), SGD momentum {settings.momentum:g}),")
    print("from the same starting weights, on one CPU thread:")
    devices.seed_everything(settings.seed)
    threads = torch.get_num_threads()
    devices.configure_threads(1)  # one thread like the NumPy network: a fair race, steady when busy
    device = devices.pick_device(device)
    train_loader, val_loader, test_loader = data.make_loaders(splits, settings.batch_size,
                                                              device=device, seed=settings.seed)
    model = models.MLP(hidden_sizes=start.hidden_sizes)
    scratch.copy_into_torch(start, model)  # the same starting weights
    model.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum)
    try:
        result = training.fit(model, train_loader, val_loader, optimizer,
                              training.FitOptions(num_epochs=settings.num_epochs))
        test = evaluation.evaluate(model, test_loader)
    finally:
        devices.configure_threads(threads)
    return {"test_acc": test["accuracy"], "val_acc": result.best_val_acc,
            "seconds_per_epoch": result.seconds / max(1, len(result.history)),
            "params": models.count_parameters(model)}


def side_by_side(ours: dict, twin: dict | None) -> None:
    """NumPy vs PyTorch (and Phase 3's saved MLP, when there is one) in one table."""
    print(f"\n{'network':<40}{'test acc':>10}{'val acc':>10}{'s / epoch':>11}{'parameters':>12}")
    rows = [("NumPy, backprop by hand (this script)", ours)]
    rows += [("PyTorch twin: same start, autograd", twin)] if twin else []
    for name, row in rows:
        print(f"{name:<40}{row['test_acc']:>10.2%}{row['val_acc']:>10.2%}"
              f"{row['seconds_per_epoch']:>11.2f}{row['params']:>12,}")
    mlp_path = paths.model_path("mlp.pt")
    if mlp_path.exists():
        try:
            metrics = checkpoints.load_checkpoint(mlp_path)["metrics"]
            nan = float("nan")
            print(f"{'reference: models/mlp.pt (Phase 3)':<40}{metrics.get('test_acc', nan):>10.2%}"
                  f"{metrics.get('val_acc', nan):>10.2%}")
        except CourseError as err:
            print(f"(reference models/mlp.pt unreadable: {err})"[:100])
    if twin:
        gap = abs(ours["test_acc"] - twin["test_acc"])
        print(f"finding: same network, start and update rule: the two engines agree within "
              f"{gap:.2%}")
        print("         test accuracy (only the order of the batches differs)")


def parse_architecture(text: str) -> tuple[int, ...]:
    """'128-64' -> (128, 64)."""
    try:
        sizes = tuple(int(part) for part in text.split("-"))
    except ValueError:
        raise CourseError(f"--architectures takes sizes like 128 or 128-64, got {text!r}") from None
    if not all(size >= 1 for size in sizes):
        raise CourseError(f"layer sizes must be at least 1, got {text!r}")
    return sizes


def save_main_run(model: Any, result: Any, test: dict, hyperparameters: dict, show: bool) -> list:
    """Save models/scratch_mlp.npz, draw the training curves, log the ledger row: the files."""
    metrics = {"val_acc": result.best_val_acc, "test_acc": test["accuracy"],
               "test_loss": test["loss"], "best_epoch": result.best_epoch}
    info = {"hidden_sizes": list(model.hidden_sizes), "input_size": model.layer_sizes[0],
            "num_classes": model.layer_sizes[-1], "init": model.init, "dtype": model.dtype.name,
            "hyperparameters": hyperparameters, "metrics": metrics, "history": result.history}
    arrays = dict(zip(model.parameter_names(), model.parameters()))
    title = f"{model.describe()}: training curves (backprop by hand)"
    return [scratch.save_scratch_model(paths.model_path(MODEL_FILE), arrays, info),
            plots.plot_training_curves(result.history, paths.vis_path("03b_training_curves.png"),
                                       title=title, show=show),
            ledger.append_result(script=SCRIPT, step="scratch", model=model.describe(),
                                 params=model.num_parameters(), epochs=len(result.history),
                                 seconds=result.seconds, val_acc=result.best_val_acc,
                                 test_acc=test["accuracy"], seed=hyperparameters["seed"],
                                 hyperparameters=hyperparameters)]
