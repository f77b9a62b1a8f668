"""Phase 5: Going deeper with a convolutional network (CNN).

What you will see: the plan's CNN walked layer by layer (the image's shape after every layer and
    the parameters of each), one 3x3 convolution computed by hand on a real digit and checked
    against PyTorch's, the CNN training epoch by epoch, its mistakes next to your MLP's from
    Phase 3, and the filters of its first layer with the feature maps they make of one digit.
What you will learn: a convolution slides one small filter over the whole image (a weighted sum
    of each 3x3 patch), pooling halves the image while keeping the strongest signals, and
    together they make several times fewer mistakes than a fully connected network.
    --ladder climbs from the MLP to an ensemble of CNNs, one idea per rung.
New since Phase 4: convolution and pooling layers (common/models.py CNN); the same fit() trains it.
Run:     python 04_improved_model.py                  (the plan's CNN)
         python 04_improved_model.py --augment        (random rotations/shears/scales, more epochs)
         python 04_improved_model.py --arch lenet     (a 21,840-parameter LeNet-style net)
         python 04_improved_model.py --ladder         (MLP -> CNNs -> an ensemble, one idea a rung)
Expect:  about 99.2% test accuracy in about 80 s on a 2-core CPU; --ladder about 7 minutes, its
         ensemble at least 99.5%.
Writes:  models/runs/<date-time>_04_<what>.pt (every run), models/cnn.pt (or lenet.pt: your best
         on validation), visualizations/04_*.png, a row per run in models/results.csv
"""

import time
from types import SimpleNamespace as Settings

import torch
import torch.nn.functional as F

from common import checkpoints, data, evaluation, findings, models, paths, plots, progress, runs
from common import shipped, training
from common import device as devices
from common.cli import check, run_main
from common.errors import CourseError

# ----------------------------------------------------------------------------------------------
ARCH = "cnn"            # cnn (the plan's, 421,642 parameters) or lenet (21,840 parameters)
DROPOUT = 0.25          # try 0.0..0.5; dropout before the last layer
OPTIMIZER = "adam"      # try sgd, momentum, adam, adamw
LEARNING_RATE = 2e-3    # try 1e-4..1e-2; with onecycle this is the peak learning rate
BATCH_SIZE = 128        # try 32..256; larger batches are faster per epoch on a CPU
NUM_EPOCHS = 3          # try 1..15; 2 already passes 99%
AUGMENT_EPOCHS = 10     # try 5..20; epochs used with --augment (distorted images learn slower)
SCHEDULER = "onecycle"  # try none, step, onecycle (warm up, then anneal to ~0: +0.1-0.2%)
AUGMENT = False         # try True; random rotation +-10 deg, shear +-10 deg, scale 0.8-1.2
PATIENCE = 0            # try 2..5; early stopping on validation accuracy (0 = off)
PRECISION = "auto"      # try fp32, bf16; auto = bfloat16 only on CPUs built for it
EXAMPLE_INDEX = 0       # try 0..5999; which validation digit is convolved and mapped
LADDER = False          # try True; MLP -> 1 conv -> 2 conv -> dropout -> augment -> ensemble
LADDER_EPOCHS = 2       # try 1..4; epochs of each CNN rung of the ladder without augmentation
AUGMENT_RUNG_EPOCHS = 4  # try 2..8; epochs of the ladder's augmented CNN (distortions learn slower)
ENSEMBLE_SIZE = 5       # try 3..9; CNNs averaged in the last rung: the one above + fast CNNs
ENSEMBLE_EPOCHS = 6     # try 3..10; epochs of each fast CNN (07_speedrun.py's net) in the ensemble
SEED = 0                # any integer; the same seed gives the same result on a CPU
# ----------------------------------------------------------------------------------------------

SCRIPT = "04_improved_model.py"
NOT_HYPERPARAMETERS = ("ladder", "ladder_epochs", "augment_rung_epochs", "ensemble_size",
                       "ensemble_epochs", "example_index", "resume", "device", "show")
# The Phase-4 MLP recipe (README), the ladder's first rung
MLP_RECIPE = dict(arch="mlp", hidden_sizes=(512,), batchnorm=True, dropout=0.2, lr=3e-3,
                  batch_size=128, num_epochs=5, scheduler_name="onecycle", augment=False)
# The ensemble's other members: 07_speedrun.py's small CNN, 3x cheaper per epoch than the plan's,
# so each can train longer on augmented digits (alone: ~99.3% validation after 6 epochs).
FAST_MEMBER = dict(arch="fastcnn", lr=5e-3, batch_size=256, augment=True)
GALLERY_SIZE = 30  # how many of the ensemble's remaining mistakes the gallery shows


# --- what a convolution computes ---------------------------------------------------------------


def convolve_by_hand(image: torch.Tensor, conv: torch.nn.Conv2d) -> torch.Tensor:
    """conv(image) written out: every output pixel is a weighted sum of one 3x3 patch, plus a bias.

    image: (1, C, H, W). unfold cuts every 3x3 patch into a column of C*3*3 numbers; one matrix
    product then multiplies every patch with every filter at once.
    """
    _, channels, height, width = image.shape
    kernel = conv.kernel_size[0]
    patches = F.unfold(image, kernel, padding=conv.padding[0])  # (1, C*3*3, number of patches)
    filters = conv.weight.reshape(conv.out_channels, channels * kernel * kernel)  # (32, C*3*3)
    sums = filters @ patches[0] + conv.bias[:, None]  # (32, number of patches)
    side_h = height + 2 * conv.padding[0] - kernel + 1  # out = in + 2 * padding - kernel + 1
    side_w = width + 2 * conv.padding[0] - kernel + 1
    return sums.reshape(1, conv.out_channels, side_h, side_w)  # (1, 32, 28, 28)


def one_pixel_by_loops(image: torch.Tensor, conv: torch.nn.Conv2d, row: int, col: int) -> float:
    """The same sum for filter 0 at one output pixel, with plain loops (padding: zeros outside)."""
    padded = F.pad(image[0, 0], [conv.padding[0]] * 4)  # (30, 30): a frame of zeros
    weight, total = conv.weight.detach(), float(conv.bias[0].detach())
    for u in range(conv.kernel_size[0]):
        for v in range(conv.kernel_size[1]):
            total += float(weight[0, 0, u, v]) * float(padded[row + u, col + v])
    return total


def show_convolution(model: torch.nn.Module, image: torch.Tensor) -> float:
    """The hand-written convolution against nn.Conv2d on a real digit; returns the difference."""
    with torch.inference_mode():
        expected = model.conv1(image)  # (1, 32, 28, 28)
        ours = convolve_by_hand(image, model.conv1)
        row, col = image.shape[-2] // 2, image.shape[-1] // 2  # the centre of the digit
        loops = one_pixel_by_loops(image, model.conv1, row, col)
    largest = float((ours - expected).abs().max())
    print(f"\none {model.conv1.kernel_size[0]}x{model.conv1.kernel_size[1]} convolution by hand "
          f"(unfold + one matrix product) vs nn.Conv2d: largest difference {largest:.1e}")
    print(f"filter 0 at pixel ({row}, {col}) with plain loops: {loops:.5f}, "
          f"nn.Conv2d: {float(expected[0, 0, row, col]):.5f}")
    return largest


def walk_shapes(model: torch.nn.Module, image: torch.Tensor) -> list[tuple[str, tuple, int]]:
    """Send one image through every layer in order; print its shape and each layer's parameters."""
    rows, x = [], image  # (1, 1, 28, 28)
    print(f"\n{'layer':<12}{'what':<12}{'output shape':>18}{'parameters':>12}")
    print(f"{'input':<12}{'image':<12}{str(tuple(x.shape[1:])):>18}{'':>12}")
    with torch.inference_mode():
        for name, layer in model.named_children():
            x = layer(x)
            params = models.count_parameters(layer)
            rows.append((name, tuple(x.shape[1:]), params))
            print(f"{name:<12}{type(layer).__name__:<12}{str(tuple(x.shape[1:])):>18}{params:>12,}")
    conv = sum(p for (name, _, p) in rows if name.startswith("conv"))
    total = models.count_parameters(model)
    for line in findings.wrap(f"total {total:,} parameters; the convolution layers hold only "
                              f"{conv:,} ({conv / total:.0%}): one small filter is reused at every "
                              "position of the image, so it needs very few weights."):
        print(line)
    return rows


# --- training one model (the plan's CNN, LeNet, or a rung of the ladder) ------------------------


def hyperparameters(settings: Settings) -> dict:
    return {key: value for key, value in vars(settings).items() if key not in NOT_HYPERPARAMETERS}


def build(settings: Settings, device) -> torch.nn.Module:
    if settings.arch == "mlp":
        return models.MLP(settings.hidden_sizes, settings.dropout, settings.batchnorm).to(device)
    return models.build_model(settings.arch, dropout=settings.dropout).to(device)


def train(splits, device, settings: Settings, resume: bool = False):
    """Seed, batch, build, fit; returns (model, test_loader, fit result)."""
    devices.seed_everything(settings.seed)
    train_loader, val_loader, test_loader = data.make_loaders(
        splits, settings.batch_size, augment=settings.augment, device=device, seed=settings.seed)
    model = build(settings, device)
    precision = devices.choose_precision(settings.precision, device, model)
    devices.announce(device, precision)  # "device: cpu (2 threads), fp32 + channels_last (...)"
    model = precision.prepare(model)
    optimizer = training.make_optimizer(settings.optimizer_name, model.parameters(), settings.lr)
    scheduler = training.make_scheduler(settings.scheduler_name, optimizer, settings.num_epochs,
                                        len(train_loader), settings.lr)
    resume_path = None if settings.ladder else paths.model_path(f"{settings.arch}.resume.pt")
    options = training.FitOptions(
        num_epochs=settings.num_epochs, scheduler=scheduler, patience=settings.patience or None,
        precision=precision, resume=resume, hyperparameters=hyperparameters(settings),
        resume_path=resume_path)
    return model, test_loader, training.fit(model, train_loader, val_loader, optimizer, options)


def run_spec(settings: Settings, step: str, label: str | None = None, publish: bool = False):
    changed = shipped.changes(SCRIPT, vars(settings))
    return runs.RunSpec(script=SCRIPT, step=step, hyperparameters=hyperparameters(settings),
                        changed=changed,
                        seed=settings.seed, label=label,
                        publish_as=f"{settings.arch}.pt" if publish else None,
                        curves_png="04_training_curves.png" if publish else None)


def compare_with_mlp(cnn_report: dict, arch: str, show: bool) -> list:
    """The CNN's test mistakes next to models/mlp.pt's from Phase 3, when it exists."""
    mlp_path = paths.model_path("mlp.pt")
    if not mlp_path.exists():
        print("(no models/mlp.pt yet: run 03_train_model.py to compare the CNN with your MLP)")
        return []
    mlp_model, mlp = checkpoints.load_model(mlp_path)
    mlp_seconds = sum(r["seconds"] for r in mlp["history"]) / max(1, len(mlp["history"]))
    rows = [("mlp (Phase 3)", models.count_parameters(mlp_model), mlp["metrics"]["test_acc"],
             mlp_seconds),
            (f"{arch} (Phase 5)", cnn_report["params"], cnn_report["test_acc"],
             cnn_report["seconds_per_epoch"])]
    print(f"\n{'model':<16}{'parameters':>12}{'test acc':>10}{'s / epoch':>11}{'mistakes':>10}")
    for name, params, acc, seconds in rows:
        mistakes = round((1 - acc) * 10_000)
        print(f"{name:<16}{params:>12,}{acc:>10.2%}{seconds:>11.1f}{mistakes:>10,}")
    errors_mlp, errors_cnn = ((1 - acc) * 10_000 for _, _, acc, _ in rows)
    print(f"finding: the {arch} makes {errors_mlp / max(errors_cnn, 1):.1f}x fewer mistakes on the "
          "10,000 test digits")
    return [plots.plot_errors_per_10k(
        [name for name, *_ in rows], [acc for _, _, acc, _ in rows],
        paths.vis_path("04_mlp_vs_cnn.png"),
        notes=[f"{params:,} params, {seconds:.1f} s/epoch" for _, params, _, seconds in rows],
        title="Test mistakes per 10,000 digits: MLP vs CNN", highlight=1, show=show)]


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


# --- Phase 5 as a ladder, ending in an ensemble --------------------------------------------------


def ladder_rungs(settings: Settings) -> list[tuple[str, dict]]:
    """Each rung's name and settings: one idea added per rung."""
    cnn = dict(arch="cnn", dropout=0.0, num_epochs=settings.ladder_epochs, augment=False,
               batch_size=settings.batch_size, lr=settings.lr, scheduler_name="onecycle")
    return [("MLP (Phase-4 recipe)", MLP_RECIPE),
            ("one conv + pool", {**cnn, "arch": "cnn1"}),
            ("two conv + pool (the plan's CNN)", cnn),
            ("+ dropout", {**cnn, "dropout": settings.dropout}),
            ("+ augmentation", {**cnn, "dropout": settings.dropout, "augment": True,
                                "num_epochs": settings.augment_rung_epochs})]


def average_probabilities(members: list, loader) -> tuple[torch.Tensor, torch.Tensor]:
    """The ensemble's answer: each member's softmax probabilities, averaged; and the labels."""
    probs, labels = 0, None
    for model in members:
        predictions = evaluation.collect_predictions(model, loader)
        probs, labels = probs + predictions.probs / len(members), predictions.labels
    return probs, labels  # (N, 10), (N,)


def train_rung(splits, device, settings: Settings, change: dict, label: str):
    """One rung (or ensemble member): the settings plus ``change``, trained and kept as a run."""
    rung = Settings(**{**vars(settings), "hidden_sizes": (), "batchnorm": False, **change})
    model, _, result = train(splits, device, rung)
    runs.finish_run(model, result, None, run_spec(rung, "ladder", label=label))
    if result.diverged:
        raise CourseError(f"{label} diverged (advice above); the ladder stops here")
    return model, result


def climb_ladder(splits, device, settings: Settings) -> dict:
    """Train every rung on train/validation; the ensemble's test accuracy once, at the very end."""
    rows, start = [], time.perf_counter()
    rungs = ladder_rungs(settings)
    for index, (name, change) in enumerate(rungs, start=1):
        print(f"\n--- rung {index}/{len(rungs) + 1}: {name} ---")
        model, result = train_rung(splits, device, settings, change, f"ladder{index}")
        rows.append((name, result.best_val_acc, models.count_parameters(model), result.seconds))
    members, seconds = [model], rows[-1][3]  # the last rung's CNN is the ensemble's first member
    for member in range(2, settings.ensemble_size + 1):
        print(f"\n--- rung {len(rungs) + 1}/{len(rungs) + 1}: ensemble member "
              f"{member}/{settings.ensemble_size}, a fast CNN (seed {settings.seed + member}) ---")
        change = {**rungs[-1][1], **FAST_MEMBER, "seed": settings.seed + member,
                  "num_epochs": settings.ensemble_epochs}
        model, result = train_rung(splits, device, settings, change, f"member{member}")
        members.append(model)
        seconds += result.seconds
    _, val_loader, test_loader = data.make_loaders(splits, settings.batch_size, device=device)
    probs, labels = average_probabilities(members, val_loader)
    ensemble_val = float((probs.argmax(dim=1) == labels).float().mean())
    rows.append((f"ensemble of {len(members)} augmented CNNs", ensemble_val,
                 sum(models.count_parameters(m) for m in members), seconds))
    return report_ladder(rows, members, test_loader, settings, time.perf_counter() - start)


def report_ladder(rows, members, test_loader, settings: Settings, wall_seconds: float) -> dict:
    """The table, the chart, a finding per rung, the ensemble's test accuracy and its mistakes."""
    print(f"\n{'rung':<36}{'val acc':>9}{'mistakes':>10}{'change':>9}{'params':>11}{'seconds':>9}")
    for index, (name, acc, params, seconds) in enumerate(rows):
        change = f"{round((rows[index - 1][1] - acc) * 10_000):+,}" if index else ""
        print(f"{name:<36}{acc:>9.2%}{round((1 - acc) * 10_000):>10,}{change:>9}{params:>11,}"
              f"{seconds:>9.0f}")
    for index in range(1, len(rows)):
        before, after = ((1 - rows[i][1]) * 10_000 for i in (index - 1, index))
        verdict = f"{before / max(after, 1):.2f}x fewer" if after <= before else "more: no help"
        print("\n".join(findings.wrap(f"finding: {rows[index][0]}: {before:.0f} -> {after:.0f} "
                                      f"validation mistakes per 10,000 ({verdict})")))
    figure = plots.plot_errors_per_10k(
        [name for name, *_ in rows], [acc for _, acc, *_ in rows], paths.vis_path("04_ladder.png"),
        notes=[f"{seconds:.0f} s" for *_, seconds in rows], log_scale=True, highlight=len(rows) - 1,
        title="Phase 5, one idea per rung: validation mistakes per 10,000 digits",
        show=settings.show)
    probs, labels = average_probabilities(members, test_loader)
    preds = probs.argmax(dim=1)
    test_acc = float((preds == labels).float().mean())
    runs.log_result(run_spec(Settings(**{**vars(settings), "arch": "ensemble"}), "ensemble"),
                    model_desc=rows[-1][0], params=rows[-1][2], seconds=rows[-1][3],
                    val_acc=rows[-1][1], test_acc=test_acc)
    wrong = torch.nonzero(preds != labels).flatten()[:GALLERY_SIZE].cpu()
    gallery = plots.plot_image_grid(
        test_loader.images[wrong.to(test_loader.images.device)].cpu(),
        paths.vis_path("04_ensemble_mistakes.png"),
        titles=[f"{int(labels[i])}, said {int(preds[i])}" for i in wrong],
        suptitle="Test digits the ensemble still gets wrong (true, said): would you read them?",
        show=settings.show)
    print(f"\nthe ensemble's test accuracy, measured once: {test_acc:.2%} "
          f"({round((1 - test_acc) * 10_000)} mistakes in 10,000); the ladder took "
          f"{wall_seconds:.0f} s")
    runs.print_files([figure, gallery])
    return {"rungs": rows, "test_acc": test_acc, "files": [figure, gallery]}


# --- the script --------------------------------------------------------------------------------


def main(arch: str = ARCH, dropout: float = DROPOUT, optimizer_name: str = OPTIMIZER,
         lr: float = LEARNING_RATE, batch_size: int = BATCH_SIZE, num_epochs: int = NUM_EPOCHS,
         augment_epochs: int = AUGMENT_EPOCHS, scheduler_name: str = SCHEDULER,
         augment: bool = AUGMENT, patience: int = PATIENCE, precision: str = PRECISION,
         example_index: int = EXAMPLE_INDEX, ladder: bool = LADDER,
         ladder_epochs: int = LADDER_EPOCHS, augment_rung_epochs: int = AUGMENT_RUNG_EPOCHS,
         ensemble_size: int = ENSEMBLE_SIZE,
         ensemble_epochs: int = ENSEMBLE_EPOCHS, resume: bool = False, seed: int = SEED,
         device: str = "auto", show: bool = False) -> dict:
    """Train the CNN (or LeNet, or climb the ladder), test it once, compare it with the MLP."""
    check(arch in ("cnn", "lenet"), f"--arch must be cnn or lenet, got {arch!r}")
    check(min(num_epochs, augment_epochs, ladder_epochs, augment_rung_epochs, ensemble_epochs) >= 1,
          "--epochs and every --*-epochs flag must be at least 1")
    check(ensemble_size >= 1, f"--ensemble-size must be at least 1, got {ensemble_size}")
    check(0 <= dropout < 1, f"--dropout must be in [0, 1), got {dropout}")
    check(precision in devices.PRECISIONS,
          f"--precision must be one of {', '.join(devices.PRECISIONS)}, got {precision!r}")
    settings = Settings(**locals())  # every setting in one object, as the flags gave them
    settings.num_epochs = augment_epochs if augment else num_epochs
    start = time.perf_counter()

    # --- data ---
    splits = data.load_mnist(seed=seed)
    check(0 <= example_index < len(splits.val), f"--example-index must be 0..{len(splits.val) - 1}")
    device = devices.pick_device(device, quiet=True)  # printed with its precision when training
    if ladder:
        return climb_ladder(splits, device, settings)
    digit = data.normalize(splits.val.images[example_index : example_index + 1]).to(device)

    # --- model: its shapes, and what one convolution computes ---
    devices.seed_everything(seed)
    walk_shapes(build(settings, device), digit)
    show_convolution(build(settings, device), digit)

    # --- train ---
    model, test_loader, result = train(splits, device, settings, resume=resume)
    if result.interrupted:
        return {"interrupted": True}
    for line in findings.of_training(result.history, dropout):
        print(line)

    # --- test once, keep the run, compare, look inside ---
    step = "lenet" if arch == "lenet" else ("cnn-augment" if augment else "cnn")
    report = runs.finish_run(model, result, test_loader, run_spec(settings, step, publish=True),
                             show=show)
    if result.diverged:
        raise CourseError(f"the run diverged (advice above); it is logged as diverged and "
                          f"models/{arch}.pt was not changed")
    files = report["files"] + compare_with_mlp(report, arch, show)
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
