"""Phases 3 and 4: Train your network, then improve it by experiment.

What you will see: one line per epoch with training and validation loss and accuracy (the loss
    falls, the accuracy climbs), the findings your own curves show (overfitting, say), and at the
    end the test accuracy, measured once. Every run is kept under models/runs/.
What you will learn: the training loop itself (zero the gradients, forward, loss, backward, step:
    train_one_epoch below is the code that trains this model), evaluation, epochs, batches, the
    learning rate, and why validation and test data are kept apart. Phase 4: what hidden sizes,
    dropout, batch norm, optimizers, schedules and more epochs each buy (--ablation).
New since Phase 2: the network learns. common/training.py fit() runs this file's loop once per
    epoch and adds the safety nets (best weights, schedules, early stopping, divergence, resume).
Run:     python 03_train_model.py                              (Phase 3, the defaults)
         python 03_train_model.py --lr-sweep 0.1 0.01 0.001    (the plan's learning-rate question)
         python 03_train_model.py --ablation                   (Phase 4: one idea at a time)
         python 03_train_model.py --hidden-sizes 256 128 --dropout 0.2 --epochs 15
         Ctrl-C stops cleanly; add --resume to the same command to continue where it stopped.
Expect:  about 97.8% test accuracy with the defaults, in about 20 s on a 2-core CPU;
         --ablation about 2.5 minutes.
Writes:  models/runs/<date-time>_03_<what>.pt and its curves (every run), models/mlp.pt (your best
         MLP on validation), visualizations/03_training_curves.png, a row in models/results.csv
"""

import time
from types import SimpleNamespace as Settings

import torch
from tqdm import tqdm

from common import data, findings, models, paths, plots, progress, runs, shipped, training
from common import device as devices
from common.cli import check, run_main
from common.errors import CourseError

# ----------------------------------------------------------------------------------------------
HIDDEN_SIZES = (128,)  # try (64,), (256,), (256, 128), (512,); more/larger layers -> more capacity
DROPOUT = 0.0          # try 0.0..0.5; higher -> less overfitting, slower to fit
BATCHNORM = False      # try True; normalizes each hidden layer -> steadier, often faster training
OPTIMIZER = "adam"     # try sgd, momentum, adam, adamw; plain sgd needs a larger lr (0.1)
LEARNING_RATE = 1e-3   # try 1e-4..1e-1; too high -> loss diverges, too low -> slow progress
BATCH_SIZE = 64        # try 32..512; smaller -> noisier but more updates per epoch
NUM_EPOCHS = 10        # try 1..30; the plan asks what accuracy 10 epochs reach
SCHEDULER = "none"     # try none, step (lr x0.1 each third), onecycle (warm up, then anneal)
WEIGHT_DECAY = 0.0     # try 0..1e-3; shrinks weights a little each step (with adamw)
AUGMENT = False        # try True; random rotations/shears/scales of each training image
PATIENCE = 0           # try 2..5; stop after this many epochs without a better val accuracy
PRECISION = "auto"     # try fp32, bf16; auto = bfloat16 only for CNNs on CPUs built for it
LR_SWEEP = ()          # try 0.1 0.01 0.001; train once per learning rate, compare on validation
ABLATION = False       # try True; from these defaults to the 98% recipe, one idea per rung
SEED = 0               # any integer; the same seed gives the same result on a CPU
# ----------------------------------------------------------------------------------------------

SCRIPT = "03_train_model.py"
PUBLISHED = "mlp.pt"  # the MLP later phases use: your best finished run on validation
# Phase 4, one idea per rung: each rung keeps everything above it and changes what is listed.
ABLATION_RUNGS = (
    ("Phase-3 defaults", {}),
    ("wider: 512 hidden units", {"hidden_sizes": (512,)}),
    ("+ batch norm", {"batchnorm": True}),
    ("+ dropout 0.2", {"dropout": 0.2}),
    ("+ one-cycle schedule, peak lr 3e-3", {"scheduler_name": "onecycle", "lr": 3e-3}),
    ("half the epochs, batch 128", {"num_epochs": 5, "batch_size": 128}),
)
NOT_HYPERPARAMETERS = ("lr_sweep", "ablation", "resume", "device", "show")


# --- the Phase-3 loop: this is the code that trains the model ---------------------------------


def train_one_epoch(model, train_loader, loss_fn, optimizer, precision=devices.FP32) -> dict:
    """One pass over the training data, one small step per batch; mean loss and accuracy."""
    model.train()  # dropout on; batch norm uses (and updates) each batch's statistics
    total_loss, correct, count = 0.0, 0, 0
    for images, labels in tqdm(train_loader, desc="training", unit="batch", leave=False,
                               disable=None, ncols=80):
        optimizer.zero_grad()  # 1. gradients add up in .grad: clear the previous batch's
        with precision.autocast():  # (bfloat16 only on CPUs built for it; see 07_speedrun.py)
            logits = model(precision.images(images))  # 2. forward: (B, 1, 28, 28) -> (B, 10)
            loss = loss_fn(logits, labels)  # 3. loss: mean cross-entropy over the batch
        loss.backward()  # 4. backward: d loss / d weight, for every weight
        optimizer.step()  # 5. step: every weight moves a little against its gradient
        total_loss += loss.item() * len(labels)  # the batch mean -> the batch sum
        correct += (logits.argmax(dim=1) == labels).sum().item()  # highest score = the guess
        count += len(labels)
    return {"train_loss": total_loss / count, "train_acc": correct / count}


def evaluate(model, loader, loss_fn, precision=devices.FP32) -> dict:
    """The evaluation pass: how well the model does on data it does not learn from."""
    model.eval()  # dropout off; batch norm uses the averages it learned
    total_loss, correct, count = 0.0, 0, 0
    with torch.inference_mode():  # no gradients are recorded: faster, less memory
        for images, labels in loader:
            with precision.autocast():
                logits = model(precision.images(images))
            logits = logits.float()  # (B, 10)
            total_loss += float(loss_fn(logits, labels)) * len(labels)
            correct += int((logits.argmax(dim=1) == labels).sum())
            count += len(labels)
    return {"loss": total_loss / count, "accuracy": correct / count}


# --- one run, and the experiments built from runs ---------------------------------------------


def hyperparameters(settings: Settings) -> dict:
    return {key: value for key, value in vars(settings).items() if key not in NOT_HYPERPARAMETERS}


def train_mlp(splits: data.MnistSplits, device, settings: Settings, resume: bool = False):
    """Build the MLP, its optimizer and schedule, and train it with this file's loop."""
    devices.seed_everything(settings.seed)
    train_loader, val_loader, test_loader = data.make_loaders(
        splits, settings.batch_size, augment=settings.augment, device=device, seed=settings.seed)
    model = models.MLP(settings.hidden_sizes, settings.dropout, settings.batchnorm).to(device)
    precision = devices.choose_precision(settings.precision, device, model)
    devices.announce(device, precision)  # "device: cpu (2 threads), fp32 + channels_last (...)"
    model = precision.prepare(model)
    optimizer = training.make_optimizer(settings.optimizer_name, model.parameters(), settings.lr,
                                        settings.weight_decay)
    scheduler = training.make_scheduler(settings.scheduler_name, optimizer, settings.num_epochs,
                                        len(train_loader), settings.lr)
    options = training.FitOptions(
        num_epochs=settings.num_epochs, scheduler=scheduler, patience=settings.patience or None,
        precision=precision, resume_path=paths.model_path("mlp.resume.pt"), resume=resume,
        hyperparameters=hyperparameters(settings), train_one_epoch=train_one_epoch,
        evaluate=evaluate)
    result = training.fit(model, train_loader, val_loader, optimizer, options)
    return model, test_loader, result


def run_spec(settings: Settings, step: str, label: str | None = None, publish: bool = False):
    """How the run is filed: its ledger step, what changed from the defaults, where it is kept."""
    changed = shipped.changes(SCRIPT, vars(settings))
    return runs.RunSpec(script=SCRIPT, step=step, hyperparameters=hyperparameters(settings),
                        changed=changed,
                        seed=settings.seed, publish_as=PUBLISHED if publish else None,
                        curves_png="03_training_curves.png" if publish else None, label=label)


def sweep_learning_rates(splits, device, settings: Settings) -> dict:
    """Train once per learning rate; compare on validation only (no test set, nothing published)."""
    curves, table = {}, []
    for lr in settings.lr_sweep:
        print(f"\n--- learning rate {lr:g} ---")
        trial = Settings(**{**vars(settings), "lr": lr})
        model, _, result = train_mlp(splits, device, trial)
        runs.finish_run(model, result, None, run_spec(trial, "mlp-sweep", label=f"lr{lr:g}"))
        curves[f"lr {lr:g}" + (" (diverged)" if result.diverged else "")] = [
            100 * record["val_acc"] for record in result.history]
        table.append((lr, result.best_val_acc, result.history[-1]["train_loss"] if result.history
                      else float("nan"), result.status))
    figure = plots.plot_lines(list(range(1, settings.num_epochs + 1)), curves,
                              paths.vis_path("03_lr_sweep.png"), xlabel="epoch",
                              title="Validation accuracy for each learning rate",
                              ylabel="validation accuracy (%)", show=settings.show)
    print(f"\n{'learning rate':>14}{'best val acc':>14}{'last train loss':>17}  result")
    for lr, acc, loss, status in table:
        print(f"{lr:>14g}{acc:>13.2%}{loss:>17.4f}  {status}")
    healthy = [row for row in table if row[3] != "diverged"]
    if healthy:
        best = max(healthy, key=lambda row: row[1])
        print(f"\nbest on validation: lr {best[0]:g}. Train and keep it with: "
              f"python {SCRIPT} --lr {best[0]:g}")
    else:
        print("\nevery learning rate diverged: try smaller ones")
    runs.print_files([figure])
    return {"sweep": {lr: acc for lr, acc, _, _ in table},
            "diverged": [lr for lr, _, _, status in table if status == "diverged"],
            "files": [figure]}


def climb_ablation(splits, device, settings: Settings) -> dict:
    """Phase 4 measured: add one idea per rung, train each rung, compare on validation."""
    rows, rung = [], vars(settings).copy()
    first = "Phase-3 defaults" if not run_spec(settings, "ablation").changed else "your settings"
    for name, change in ((first, {}), *ABLATION_RUNGS[1:]):
        rung.update(change)
        print(f"\n--- rung {len(rows) + 1}/{len(ABLATION_RUNGS)}: {name} ---")
        trial = Settings(**rung)
        model, _, result = train_mlp(splits, device, trial)
        spec = run_spec(trial, "ablation", label=f"rung{len(rows) + 1}")
        runs.finish_run(model, result, None, spec)
        rows.append((name, result.best_val_acc, models.count_parameters(model), result.seconds,
                     result.status))
    print(f"\n{'rung':<38}{'val acc':>9}{'change':>9}{'params':>10}{'seconds':>9}  result")
    for index, (name, acc, params, seconds, status) in enumerate(rows):
        delta = f"{100 * (acc - rows[index - 1][1]):+.2f}" if index else ""
        print(f"{name:<38}{acc:>9.2%}{delta:>9}{params:>10,}{seconds:>9.1f}  {status}")
    figure = plots.plot_errors_per_10k(
        [f"{i + 1}. {name}" for i, (name, *_) in enumerate(rows)], [row[1] for row in rows],
        paths.vis_path("03_ablation.png"), notes=[f"{row[3]:.0f} s" for row in rows],
        title="Phase 4, one idea at a time: validation mistakes per 10,000 digits",
        show=settings.show)
    gains = [(rows[i][1] - rows[i - 1][1], rows[i][0]) for i in range(1, len(rows))]
    gain, winner = max(gains)
    for line in findings.wrap(
            f"finding: the biggest single win was '{winner}' ({100 * gain:+.2f} points of "
            f"validation accuracy); from the first rung to the last: "
            f"{100 * (rows[-1][1] - rows[0][1]):+.2f} "
            f"points, {rows[0][3]:.0f} s -> {rows[-1][3]:.0f} s of training."):
        print(line)
    runs.print_files([figure])
    return {"rungs": rows, "files": [figure], "biggest_win": winner}


def main(hidden_sizes: tuple[int, ...] = HIDDEN_SIZES, dropout: float = DROPOUT,
         batchnorm: bool = BATCHNORM, optimizer_name: str = OPTIMIZER, lr: float = LEARNING_RATE,
         batch_size: int = BATCH_SIZE, num_epochs: int = NUM_EPOCHS,
         scheduler_name: str = SCHEDULER, weight_decay: float = WEIGHT_DECAY,
         augment: bool = AUGMENT, patience: int = PATIENCE, precision: str = PRECISION,
         lr_sweep: tuple[float, ...] = LR_SWEEP, ablation: bool = ABLATION, resume: bool = False,
         seed: int = SEED, device: str = "auto", show: bool = False) -> dict:
    """Train the MLP with the settings above (or sweep learning rates, or climb the ablation)."""
    settings = Settings(**locals())  # every setting in one object, as the flags gave them
    check(num_epochs >= 1, f"--epochs must be at least 1, got {num_epochs}")
    check(lr > 0 and all(rate > 0 for rate in lr_sweep), "learning rates must be positive")
    check(0 <= dropout < 1, f"--dropout must be in [0, 1), got {dropout}")
    check(batch_size >= 1, f"--batch-size must be at least 1, got {batch_size}")
    check(precision in devices.PRECISIONS,
          f"--precision must be one of {', '.join(devices.PRECISIONS)}, got {precision!r}")
    start = time.perf_counter()

    # --- data ---
    splits = data.load_mnist(seed=seed)
    device = devices.pick_device(device, quiet=True)  # printed with its precision when training
    if lr_sweep:
        return sweep_learning_rates(splits, device, settings)
    if ablation:
        return climb_ablation(splits, device, settings)

    # --- model and train (train_one_epoch and evaluate above, once per epoch) ---
    model, test_loader, result = train_mlp(splits, device, settings, resume=resume)
    if result.interrupted:
        return {"interrupted": True}

    # --- what the curves say; test once; keep the run ---
    for line in findings.of_training(result.history, dropout):
        print(line)
    step = "mlp-tuned" if run_spec(settings, "mlp").changed else "mlp"
    report = runs.finish_run(model, result, test_loader, run_spec(settings, step, publish=True),
                             show=show)
    if result.diverged:
        raise CourseError(f"the run diverged (advice above); it is logged as diverged and "
                          f"models/{PUBLISHED} was not changed")
    print(f"summary: {runs.describe(model)} reached {report['test_acc']:.2%} test accuracy in "
          f"{time.perf_counter() - start:.1f} s")
    runs.print_files(report["files"])
    progress.update_plan()
    plots.show_figures(show)
    return {**report, "history": result.history, "diverged": result.diverged, "step": step}


if __name__ == "__main__":
    run_main(main)
