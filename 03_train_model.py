"""Phases 3 and 4: Train your network, then improve it by experiment.

What you will see: one line per epoch with training and validation loss and accuracy (the loss
    falls, the accuracy climbs), a progress bar inside each epoch, and at the end the test
    accuracy, measured once. The training curves are saved as a picture.
What you will learn: loss functions, gradient descent (the optimizer), backpropagation (done for
    you by loss.backward()), epochs, batches, the learning rate, and why validation and test
    data are kept apart. Phase 4: how hidden sizes, dropout, batch norm, optimizers, learning
    rate, batch size, epochs and augmentation change the result.
New since Phase 2: the network learns. common/training.py fit() runs the loop
    (forward -> loss -> backward -> step) and keeps the best weights on validation.
Run:     python 03_train_model.py                              (Phase 3, the defaults)
         python 03_train_model.py --lr-sweep 0.1 0.01 0.001    (the plan's learning-rate question)
         python 03_train_model.py --hidden-sizes 256 128 --dropout 0.2 --epochs 15   (Phase 4 ideas)
         Ctrl-C stops cleanly; add --resume to the same command to continue where it stopped.
Expect:  about 97.8% test accuracy with the defaults, about 15 s of training on a 2-core CPU.
Writes:  models/mlp.pt, visualizations/03_training_curves.png (or 03_lr_sweep.png),
         a row per run in models/results.csv
"""

import time

from common import data, models, paths, plots, progress, runs, training
from common import device as devices
from common.cli import changed_settings, check, run_main

# ----------------------------------------------------------------------------------------------
HIDDEN_SIZES = (128,)  # try (64,), (256,), (256, 128), (512, 256, 128); more/larger layers -> more capacity
DROPOUT = 0.0          # try 0.0..0.5; higher -> less overfitting, slower to fit
BATCHNORM = False      # try True; normalizes each hidden layer -> steadier, often faster training
OPTIMIZER = "adam"     # try sgd, momentum, adam, adamw; plain sgd needs a larger lr (0.1)
LEARNING_RATE = 1e-3   # try 1e-4..1e-1; too high -> loss diverges, too low -> slow progress
BATCH_SIZE = 64        # try 32..512; smaller -> noisier but more updates per epoch
NUM_EPOCHS = 10        # try 1..30; the plan asks what accuracy 10 epochs reach
SCHEDULER = "none"     # try none, step (lr x0.1 every third of training), onecycle (warm up then anneal)
WEIGHT_DECAY = 0.0     # try 0..1e-3; shrinks weights a little each step (with adamw)
AUGMENT = False        # try True; random rotations/shears/scales of each training image
PATIENCE = 0           # try 2..5; stop after this many epochs without a better validation accuracy (0 = off)
LR_SWEEP = ()          # e.g. (0.1, 0.01, 0.001): train once per learning rate and compare (no model saved)
SEED = 0               # any integer; the same seed gives the same result on a CPU
# ----------------------------------------------------------------------------------------------

CHECKPOINT = "mlp.pt"


def train_mlp(splits: data.MnistSplits, device, *, hidden_sizes, dropout, batchnorm, optimizer, lr, batch_size,
              num_epochs, scheduler, weight_decay, augment, patience, seed, checkpoint_path=None, resume=False,
              hyperparameters=None):
    """Build the MLP, its optimizer and scheduler, and fit it; returns (model, loaders, fit result)."""
    devices.seed_everything(seed)
    train_loader, val_loader, test_loader = data.make_loaders(splits, batch_size, augment=augment, device=device, seed=seed)
    model = models.MLP(hidden_sizes=hidden_sizes, dropout=dropout, batchnorm=batchnorm).to(device)
    opt = training.make_optimizer(optimizer, model.parameters(), lr, weight_decay=weight_decay)
    sched = training.make_scheduler(scheduler, opt, num_epochs, len(train_loader), lr)
    result = training.fit(model, train_loader, val_loader, optimizer=opt, num_epochs=num_epochs, scheduler=sched,
                          patience=patience or None, checkpoint_path=checkpoint_path, resume=resume,
                          hyperparameters=hyperparameters)
    return model, test_loader, result


def sweep_learning_rates(splits, device, rates: tuple[float, ...], settings: dict, show: bool) -> dict:
    """Train once per learning rate on train/validation only, and plot the validation curves."""
    curves, table = {}, []
    for lr in rates:
        print(f"\n--- learning rate {lr:g} ---")
        model, _, result = train_mlp(splits, device, lr=lr, **settings)
        curves[f"lr {lr:g}"] = [100 * record["val_acc"] for record in result.history]
        table.append((lr, result.best_val_acc, result.history[-1]["train_loss"], result.diverged))
    figure = plots.plot_lines(list(range(1, settings["num_epochs"] + 1)), curves, paths.vis_path("03_lr_sweep.png"),
                              title="Validation accuracy for each learning rate", xlabel="epoch",
                              ylabel="validation accuracy (%)", show=show)
    print(f"\n{'learning rate':>14}{'best val acc':>14}{'last train loss':>17}")
    for lr, acc, loss, diverged in table:
        print(f"{lr:>14g}{acc:>13.2%}{loss:>17.4f}" + ("   diverged" if diverged else ""))
    best = max(table, key=lambda row: row[1])
    print(f"\nbest learning rate: {best[0]:g}. Train and save it with: python 03_train_model.py --lr {best[0]:g}")
    runs.print_files([figure])
    return {"sweep": {lr: acc for lr, acc, _, _ in table}, "files": [figure]}


def main(hidden_sizes: tuple[int, ...] = HIDDEN_SIZES, dropout: float = DROPOUT, batchnorm: bool = BATCHNORM,
         optimizer: str = OPTIMIZER, lr: float = LEARNING_RATE, batch_size: int = BATCH_SIZE,
         num_epochs: int = NUM_EPOCHS, scheduler: str = SCHEDULER, weight_decay: float = WEIGHT_DECAY,
         augment: bool = AUGMENT, patience: int = PATIENCE, lr_sweep: tuple[float, ...] = LR_SWEEP,
         resume: bool = False, seed: int = SEED, device: str = "auto", show: bool = False) -> dict:
    """Train the MLP with the settings above (or sweep learning rates) and report the result."""
    check(num_epochs >= 1, f"--epochs must be at least 1, got {num_epochs}")
    check(lr > 0 and all(rate > 0 for rate in lr_sweep), "learning rates must be positive")
    check(0 <= dropout < 1, f"--dropout must be in [0, 1), got {dropout}")
    check(batch_size >= 1, f"--batch-size must be at least 1, got {batch_size}")
    start = time.perf_counter()

    # --- data ---
    splits = data.load_mnist(seed=seed)
    device = devices.pick_device(device)
    settings = dict(hidden_sizes=hidden_sizes, dropout=dropout, batchnorm=batchnorm, optimizer=optimizer,
                    batch_size=batch_size, num_epochs=num_epochs, scheduler=scheduler, weight_decay=weight_decay,
                    augment=augment, patience=patience, seed=seed)
    if lr_sweep:
        return sweep_learning_rates(splits, device, lr_sweep, settings, show)

    # --- model and train ---
    hyperparameters = {**settings, "lr": lr, "hidden_sizes": list(hidden_sizes)}
    model, test_loader, result = train_mlp(splits, device, lr=lr, checkpoint_path=paths.model_path(CHECKPOINT),
                                           resume=resume, hyperparameters=hyperparameters, **settings)
    if result.interrupted:
        print("stopped. Continue with the same command plus --resume.")
        return {"interrupted": True}

    # --- test once, save, report ---
    changed = changed_settings(main, {**settings, "lr": lr})
    step = "mlp-tuned" if changed else "mlp"
    report = runs.finish_run(model, result, test_loader, checkpoint_name=CHECKPOINT, script="03_train_model.py",
                             step=step, hyperparameters=hyperparameters, seed=seed,
                             curves_png="03_training_curves.png", show=show)
    print(f"summary: {runs.describe(model)} reached {report['test_acc']:.2%} test accuracy in "
          f"{time.perf_counter() - start:.1f} s")
    runs.print_files(report["files"])
    progress.update_plan()
    plots.show_figures(show)
    return {**report, "history": result.history, "diverged": result.diverged, "step": step}


if __name__ == "__main__":
    run_main(main)
