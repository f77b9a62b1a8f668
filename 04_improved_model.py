"""Phase 5: Going deeper with a convolutional network (CNN).

What you will see: the plan's CNN (two 3x3 convolution + pooling stages, then a small classifier)
    training epoch by epoch; its test accuracy next to your MLP's from Phase 3 (accuracy,
    parameters, seconds per epoch); the 32 filters its first layer learned; and the 32 feature
    maps those filters produce for one digit.
What you will learn: convolutions reuse one small filter across the whole image, pooling shrinks
    the image while keeping the strongest signals, and together they make several times fewer
    mistakes than a fully connected network. Surprise: the plan's CNN has MORE parameters than
    the MLP (421,642 vs 101,770), but its two convolution layers hold only 18,816 of them; 95%
    sit in the first fully connected layer. Sharing filters is what makes convolutions cheap.
New since Phase 4: convolution and pooling layers (common/models.py CNN); the same fit() trains it.
Run:     python 04_improved_model.py                  (the plan's CNN)
         python 04_improved_model.py --augment        (random rotations/shears/scales: more epochs, higher accuracy)
         python 04_improved_model.py --arch lenet     (a 21,840-parameter LeNet-style net, seed 004)
Expect:  about 99.2% test accuracy in about 60 s on a 2-core CPU (--augment: about 99.5%, several minutes).
Writes:  models/cnn.pt (or models/lenet.pt), visualizations/04_training_curves.png, 04_mlp_vs_cnn.png,
         04_conv1_filters.png, 04_feature_maps.png, a row in models/results.csv
"""

import time

import torch

from common import checkpoints, data, models, paths, plots, progress, runs, training
from common import device as devices
from common.cli import check, run_main

# ----------------------------------------------------------------------------------------------
ARCH = "cnn"           # cnn (the plan's, 421,642 parameters) or lenet (seed 004's, 21,840 parameters)
DROPOUT = 0.25         # try 0.0..0.5; dropout before the last layer
OPTIMIZER = "adam"     # try sgd, momentum, adam, adamw
LEARNING_RATE = 2e-3   # try 1e-4..1e-2; with onecycle this is the peak learning rate
BATCH_SIZE = 128       # try 32..256; larger batches are faster per epoch on a CPU
NUM_EPOCHS = 3         # try 1..15; 2 already passes 99%
AUGMENT_EPOCHS = 10    # epochs used with --augment (distorted images need longer to learn)
SCHEDULER = "onecycle" # try none, step, onecycle (warm up, then anneal to ~0: a cheap extra 0.1-0.2%)
AUGMENT = False        # try True; random rotation +-10 deg, shear +-10 deg, scale 0.8-1.2 per image
PATIENCE = 0           # try 2..5; early stopping on validation accuracy (0 = off)
EXAMPLE_INDEX = 0      # which validation digit shows the feature maps
SEED = 0               # any integer; the same seed gives the same result on a CPU
# ----------------------------------------------------------------------------------------------


def compare_with_mlp(cnn_report: dict, arch: str, show: bool) -> list:
    """Print and plot the CNN next to models/mlp.pt from Phase 3, when it exists."""
    mlp_path = paths.model_path("mlp.pt")
    if not mlp_path.exists():
        print("(no models/mlp.pt yet: run 03_train_model.py to compare the CNN with your MLP)")
        return []
    mlp_model, mlp = checkpoints.load_model(mlp_path)
    mlp_seconds = sum(r["seconds"] for r in mlp["history"]) / max(1, len(mlp["history"]))
    mlp_params = models.count_parameters(mlp_model)
    rows = [("mlp (Phase 3)", mlp_params, mlp["metrics"]["test_acc"], mlp_seconds),
            (f"{arch} (Phase 5)", cnn_report["params"], cnn_report["test_acc"], cnn_report["seconds_per_epoch"])]
    print(f"\n{'model':<16}{'parameters':>12}{'test acc':>10}{'s / epoch':>11}{'test errors':>13}")
    for name, params, acc, seconds in rows:
        print(f"{name:<16}{params:>12,}{acc:>10.2%}{seconds:>11.1f}{round((1 - acc) * 10_000):>13,}")
    errors_mlp, errors_cnn = (1 - rows[0][2]) * 10_000, (1 - rows[1][2]) * 10_000
    print(f"finding: the {arch} makes {errors_mlp / max(errors_cnn, 1):.1f}x fewer mistakes on the 10,000 test digits")
    labels = [f"{name}\n{params:,} params\n{seconds:.1f} s/epoch" for name, params, _, seconds in rows]
    return [plots.plot_bars(labels, [100 * acc for _, _, acc, _ in rows], paths.vis_path("04_mlp_vs_cnn.png"),
                            title="Test accuracy: MLP vs CNN", ylabel="test accuracy (%)", value_fmt="{:.2f}%",
                            highlight=1, show=show)]


def show_what_conv1_learned(model: torch.nn.Module, image: torch.Tensor, label: int,
                            show: bool) -> list:
    """Each first-layer filter next to the feature map it makes of one digit (after ReLU)."""
    from common import image_plots  # the figure lives with the other many-image figures

    with torch.inference_mode():
        pixels = data.normalize(image).to(next(model.parameters()).device)  # (1, 1, 28, 28)
        maps = torch.relu(model.conv1(pixels))[0]  # (C, H, W)
    channels = model.conv1.out_channels
    note = ("bright = the filter matched there; some filters answer the background, not the ink. "
            "The frame at the border is the zero padding: 0 is brighter than the normalized "
            f"black background ({-data.MNIST_MEAN / data.MNIST_STD:.2f}), a fake edge.")
    return [image_plots.plot_filters_and_maps(
        model.conv1.weight.detach().cpu(), maps.cpu(),
        paths.vis_path("04_conv1_filters_and_maps.png"),
        title=f"The {channels} first-layer filters and what each makes of a {label}",
        note=note, show=show)]


def main(arch: str = ARCH, dropout: float = DROPOUT, optimizer: str = OPTIMIZER, lr: float = LEARNING_RATE,
         batch_size: int = BATCH_SIZE, num_epochs: int = NUM_EPOCHS, augment_epochs: int = AUGMENT_EPOCHS,
         scheduler: str = SCHEDULER, augment: bool = AUGMENT, patience: int = PATIENCE,
         example_index: int = EXAMPLE_INDEX, resume: bool = False, seed: int = SEED, device: str = "auto",
         show: bool = False) -> dict:
    """Train the CNN (or LeNet), test it once, and compare it with the Phase-3 MLP."""
    check(arch in ("cnn", "lenet"), f"--arch must be cnn or lenet, got {arch!r}")
    check(num_epochs >= 1 and augment_epochs >= 1, "--epochs and --augment-epochs must be at least 1")
    check(0 <= dropout < 1, f"--dropout must be in [0, 1), got {dropout}")
    start = time.perf_counter()
    epochs = augment_epochs if augment else num_epochs

    # --- data ---
    splits = data.load_mnist(seed=seed)
    device = devices.pick_device(device)
    devices.seed_everything(seed)
    train_loader, val_loader, test_loader = data.make_loaders(splits, batch_size, augment=augment, device=device, seed=seed)

    # --- model ---
    model = models.build_model(arch, dropout=dropout).to(device)
    print(model)
    conv_params = sum(models.count_parameters(m) for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    print(f"{models.count_parameters(model):,} parameters, of which the convolution layers hold {conv_params:,}")

    # --- train ---
    hyperparameters = dict(arch=arch, dropout=dropout, optimizer=optimizer, lr=lr, batch_size=batch_size,
                           num_epochs=epochs, scheduler=scheduler, augment=augment, patience=patience, seed=seed)
    opt = training.make_optimizer(optimizer, model.parameters(), lr)
    sched = training.make_scheduler(scheduler, opt, epochs, len(train_loader), lr)
    checkpoint_name = f"{arch}.pt"
    result = training.fit(model, train_loader, val_loader, optimizer=opt, num_epochs=epochs, scheduler=sched,
                          patience=patience or None, checkpoint_path=paths.model_path(checkpoint_name),
                          resume=resume, hyperparameters=hyperparameters)
    if result.interrupted:
        print("stopped. Continue with the same command plus --resume.")
        return {"interrupted": True}

    # --- test once, save, compare, look inside ---
    step = "lenet" if arch == "lenet" else ("cnn-augment" if augment else "cnn")
    report = runs.finish_run(model, result, test_loader, checkpoint_name=checkpoint_name, script="04_improved_model.py",
                             step=step, hyperparameters=hyperparameters, seed=seed,
                             curves_png="04_training_curves.png", show=show)
    files = report["files"] + compare_with_mlp(report, arch, show)
    check(0 <= example_index < len(splits.val), f"--example-index must be 0..{len(splits.val) - 1}")
    files += show_what_conv1_learned(model, splits.val.images[example_index : example_index + 1],
                                     int(splits.val.labels[example_index]), show)
    print(f"summary: {runs.describe(model)} reached {report['test_acc']:.2%} test accuracy in "
          f"{time.perf_counter() - start:.1f} s")
    runs.print_files(files)
    progress.update_plan()
    plots.show_figures(show)
    return {**report, "files": files, "history": result.history, "step": step}


if __name__ == "__main__":
    run_main(main)
