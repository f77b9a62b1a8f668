"""Bonus: a speedrun. Make training fast, one change at a time.

What you will see: a ladder of training recipes. The first is the one most tutorials use (the
    plan's CNN fed image by image by torchvision's DataLoader, batch 64); each rung above it
    changes ONE thing. For every rung: seconds per epoch, the speed-up so far, and validation
    accuracy after the same number of training images. Then the final recipe is trained in full
    and tested once, and a chart shows the ladder.
What you will learn: where the time of a training run goes on a CPU, and which changes buy it
    back: data held as tensors in memory, larger batches (fewer, bigger matrix products), a
    one-cycle learning rate (the same accuracy in fewer steps), a smaller network, the
    channels_last memory format (faster convolution kernels), and bfloat16 arithmetic on CPUs
    that have it in hardware (common/device.py detects it; elsewhere it is several times SLOWER,
    so that rung says "not supported here" instead of running).
New since Phase 5: nothing new to learn about networks: the same pieces, arranged for speed.
    The training loop is written out below, with a precision (common/device.py Precision).
Run:     python 07_speedrun.py                      (the ladder, then the final recipe once)
         python 07_speedrun.py --seeds 0 1 2        (the final recipe over three seeds: the median)
         python 07_speedrun.py --no-ladder          (only the final recipe)
Expect:  on a 2-core CPU: the tutorial recipe ~35 s per epoch, the final recipe ~5 s per epoch;
         the final recipe reaches about 99.2% test accuracy in about 10 s of training.
         About 90 s in all (each rung is timed on 12,800 images and extrapolated to an epoch).
Writes:  visualizations/07_speedrun.png
"""

import dataclasses
import statistics
import time

import torch
from torch import nn
from tqdm import tqdm

from common import data, evaluation, models, paths, plots, runs, training
from common import device as devices
from common.cli import check, run_main

# ----------------------------------------------------------------------------------------------
LADDER_IMAGES = (
    12_800  # try 6_400..54_000; training images each rung is timed on (then extrapolated)
)
WARMUP_BATCHES = (
    3  # try 1..10; batches each rung trains before its clock starts (first calls are slow)
)
TUTORIAL_LR = 1e-3  # try 1e-4..1e-2; Adam's usual learning rate, kept fixed on the lower rungs
ARCH = "fastcnn"  # try cnn, fastcnn, lenet; the final recipe's network
BATCH_SIZE = 512  # try 128..1024; the final recipe's batch size
LEARNING_RATE = 1.5e-2  # try 2e-3..2e-2; the one-cycle schedule's peak learning rate
BETAS = (
    0.7,
    0.9,
)  # try (0.9, 0.999) (Adam's default); shorter memories adapt faster in a short run
NUM_EPOCHS = 2  # try 1..4; the final recipe's epochs
SEEDS = (0,)  # try (0, 1, 2); one final run per seed, the median is reported
PRECISION = "auto"  # try auto, fp32, bf16; auto = bf16 only where the CPU has it natively
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Everything that decides how fast an epoch runs. Each rung changes one field."""

    loader: str = "torchvision"  # or "memory" (common.data.BatchLoader)
    batch_size: int = 64
    schedule: str = "none"  # "none" (fixed lr) or "onecycle"
    lr: float = TUTORIAL_LR
    betas: tuple[float, float] = (0.9, 0.999)  # Adam's default running averages
    arch: str = "cnn"
    channels_last: bool = False
    bf16: bool = False
    prenormalized: bool = False  # images normalized once up front instead of in every batch


@dataclasses.dataclass
class Setup:
    """What every rung shares: the data, the device, how many images a rung trains on."""

    splits: data.MnistSplits
    device: torch.device
    num_images: int
    warmup_batches: int
    native_bf16: bool
    bf16_reason: str


def ladder_steps(final: Recipe) -> list[tuple[str, str, dict]]:
    """(short name, what changed, the one field it changes) for every rung up to ``final``."""
    arch, batch_size, lr, betas = final.arch, final.batch_size, final.lr, final.betas
    return [
        ("in\nmemory", "data as tensors in memory (BatchLoader)", {"loader": "memory"}),
        (f"batch\n{batch_size}", f"batch {batch_size} (was 64)", {"batch_size": batch_size}),
        ("one-\ncycle", f"one-cycle schedule, peak lr {lr:g}", {"schedule": "onecycle", "lr": lr}),
        ("betas", f"Adam betas {betas[0]:g}/{betas[1]:g} (was 0.9/0.999)", {"betas": tuple(betas)}),
        ("small\nnet", f"smaller net ({arch})", {"arch": arch}),
        ("channels\nlast", "channels_last memory format", {"channels_last": True}),
        ("bf16", "bfloat16 autocast", {"bf16": True}),
        ("normal-\nized\nonce", "images normalized once, not per batch", {"prenormalized": True}),
    ]


def tutorial_loader(split: data.Split, batch_size: int, seed: int) -> torch.utils.data.DataLoader:
    """torchvision's MNIST dataset + DataLoader: each image becomes a PIL image, then a tensor."""
    from torchvision import datasets, transforms

    transform = transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((data.MNIST_MEAN,), (data.MNIST_STD,))]
    )
    dataset = datasets.MNIST(str(paths.DATA_DIR), train=True, download=False, transform=transform)
    dataset.data, dataset.targets = split.images, split.labels  # the split every rung trains on
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed)
    )


class NormalizedBatches:
    """Mini-batches from images normalized (and laid out) once: each batch is only an index."""

    def __init__(self, split: data.Split, batch_size: int, precision: devices.Precision, seed: int):
        images = data.normalize(split.images)  # (N, 1, 28, 28) float: 170 MB for 54,000 images
        self.images = precision.images(images)
        self.labels = split.labels
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return (len(self.labels) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        order = torch.randperm(len(self.labels), generator=self.generator)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            yield self.images[idx], self.labels[idx]


def make_batches(recipe: Recipe, split: data.Split, precision: devices.Precision, seed: int):
    if recipe.loader == "torchvision":
        return tutorial_loader(split, recipe.batch_size, seed)
    if recipe.prenormalized:
        return NormalizedBatches(split, recipe.batch_size, precision, seed)
    return data.BatchLoader(split, recipe.batch_size, shuffle=True, seed=seed)


def recipe_precision(recipe: Recipe, device: torch.device) -> devices.Precision:
    name = "bf16" if recipe.bf16 else "fp32"
    return devices.Precision(name, recipe.channels_last, "recipe", device.type)


def train_steps(
    model: nn.Module,
    batches,
    optimizer: torch.optim.Optimizer,
    scheduler,
    precision: devices.Precision,
    max_batches: int,
    warmup_batches: int = 0,
) -> float:
    """Train on up to ``max_batches`` batches; returns the seconds after ``warmup_batches``."""
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    start = time.perf_counter()
    for batch, (images, labels) in enumerate(batches):
        if batch == max_batches:
            break
        if batch == warmup_batches:
            start = time.perf_counter()  # the clock starts once the first (slower) calls are done
        images = precision.images(images)  # (B, 1, 28, 28), in the recipe's memory format
        optimizer.zero_grad()
        with precision.autocast():
            logits = model(images)  # (B, 10), bfloat16 under bf16 autocast
        loss = loss_fn(logits.float(), labels)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return time.perf_counter() - start


def build(recipe: Recipe, num_batches: int, precision: devices.Precision, seed: int):
    """The recipe's model, Adam optimizer and (one-cycle) schedule over ``num_batches`` steps."""
    devices.seed_everything(seed)
    model = precision.prepare(models.build_model(recipe.arch, dropout=0.0))
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr, betas=recipe.betas)
    scheduler = None
    if recipe.schedule == "onecycle":  # warm up to lr, then anneal to ~0; betas stay as chosen
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=recipe.lr, total_steps=num_batches, cycle_momentum=False
        )
    return model, optimizer, scheduler


def final_recipe(arch: str, batch_size: int, lr: float, betas: tuple, precision) -> Recipe:
    """Every rung's change at once, with the precision common/device.py chose for this machine."""
    every_change = dict(loader="memory", schedule="onecycle", prenormalized=True, arch=arch)
    return Recipe(
        batch_size=batch_size,
        lr=lr,
        betas=tuple(betas),
        bf16=precision.name == "bf16",
        channels_last=precision.channels_last,
        **every_change,
    )


def measure_rung(recipe: Recipe, setup: Setup, seed: int) -> dict:
    """Train on ``setup.num_images`` images: seconds per epoch (extrapolated), val accuracy."""
    precision = recipe_precision(recipe, setup.device)
    num_images = min(setup.num_images, len(setup.splits.train))
    num_batches = -(-num_images // recipe.batch_size)  # rounded up
    check(num_batches > setup.warmup_batches, "--ladder-images must cover more than the warm-up")
    model, optimizer, scheduler = build(recipe, num_batches, precision, seed)
    batches = make_batches(recipe, setup.splits.train, precision, seed)
    seconds = train_steps(
        model, batches, optimizer, scheduler, precision, num_batches, setup.warmup_batches
    )
    timed_images = (num_batches - setup.warmup_batches) * recipe.batch_size
    val_loader = data.BatchLoader(setup.splits.val, 1000)
    val_acc = evaluation.evaluate(model, val_loader, precision=precision)["accuracy"]
    return {
        "seconds_per_epoch": seconds * len(setup.splits.train) / timed_images,
        "val_acc": val_acc,
    }


def climb_ladder(setup: Setup, final: Recipe, seed: int) -> list[dict]:
    """Measure the tutorial recipe, then each rung; a rung this machine cannot run is reported."""
    recipe = Recipe()
    rows = [
        {
            "short": "tutorial",
            "change": "tutorial: plan's CNN, DataLoader, batch 64",
            "recipe": recipe,
        }
    ]
    for short, change, fields in ladder_steps(final):
        if fields.get("bf16") and not setup.native_bf16:
            note = f"{setup.bf16_reason} (common/device.py), so bfloat16 would be slower"
            rows.append({"short": short, "change": change, "recipe": None, "note": note})
            continue
        recipe = dataclasses.replace(recipe, **fields)
        rows.append({"short": short, "change": change, "recipe": recipe})
    for row in tqdm(
        [row for row in rows if row["recipe"] is not None], desc="ladder", unit="rung", leave=False
    ):
        row.update(measure_rung(row["recipe"], setup, seed))
    return rows


def print_ladder(rows: list[dict], num_images: int) -> dict:
    """The ladder as a table; returns the rung with the biggest single speed-up."""
    print(f"\n{'rung':<5}{'what changed':<48}{'s/epoch':>9}{'speed-up':>10}{'val acc':>9}")
    base, previous, biggest, skipped = rows[0]["seconds_per_epoch"], None, {"gain": 0.0}, []
    for number, row in enumerate(rows):
        if row["recipe"] is None:
            print(f"{number:<5}{row['change']:<48}  skipped: not supported here")
            skipped.append(f"rung {number} skipped: {row['note']}")
            continue
        seconds = row["seconds_per_epoch"]
        if previous is not None and previous / seconds > biggest["gain"]:
            biggest = {"gain": previous / seconds, "change": row["change"]}
        print(
            f"{number:<5}{row['change']:<48}{seconds:>9.1f}{base / seconds:>9.1f}x"
            f"{row['val_acc']:>9.2%}"
        )
        previous = seconds
    print(
        f"(each rung: trained from scratch on {num_images:,} images, timed, "
        "extrapolated to an epoch;"
    )
    print(" val acc is measured after those images)")
    for line in skipped:
        print(line)
    return biggest


def run_final(
    recipe: Recipe, setup: Setup, num_epochs: int, precision: devices.Precision, seed: int
) -> dict:
    """Train the final recipe for ``num_epochs`` full epochs (clock on training only), test once."""
    batches = make_batches(recipe, setup.splits.train, precision, seed)
    model, optimizer, scheduler = build(recipe, len(batches) * num_epochs, precision, seed)
    val_loader = data.BatchLoader(setup.splits.val, 1000)
    seconds, val_acc = 0.0, 0.0
    for epoch in range(1, num_epochs + 1):
        seconds += train_steps(model, batches, optimizer, scheduler, precision, len(batches))
        val_acc = evaluation.evaluate(model, val_loader, precision=precision)["accuracy"]
        print(
            f"seed {seed} epoch {epoch}/{num_epochs}  val acc {val_acc:6.2%}  "
            f"{seconds:5.1f} s of training"
        )
    test_acc = evaluation.evaluate(
        model, data.BatchLoader(setup.splits.test, 1000), precision=precision
    )["accuracy"]
    return {
        "seed": seed,
        "seconds": seconds,
        "val_acc": val_acc,
        "test_acc": test_acc,
        "model": model,
    }


def main(
    ladder_images: int = LADDER_IMAGES,
    warmup_batches: int = WARMUP_BATCHES,
    arch: str = ARCH,
    batch_size: int = BATCH_SIZE,
    lr: float = LEARNING_RATE,
    betas: tuple[float, ...] = BETAS,
    num_epochs: int = NUM_EPOCHS,
    seeds: tuple[int, ...] = SEEDS,
    precision: str = PRECISION,
    ladder: bool = True,
    show: bool = False,
) -> dict:
    """Climb the ladder of speed-ups, then train and test the final recipe."""
    check(ladder_images >= 1 and warmup_batches >= 0, "--ladder-images >= 1, --warmup-batches >= 0")
    check(
        batch_size >= 1 and num_epochs >= 1 and lr > 0, "--batch-size, --epochs, --lr must be > 0"
    )
    check(len(seeds) >= 1, "--seeds needs at least one seed")
    check(
        len(betas) == 2 and all(0 <= beta < 1 for beta in betas), "--betas: two numbers in [0, 1)"
    )
    check(arch in models.MODELS and arch != "mlp", f"--arch must be a conv net, got {arch!r}")
    start = time.perf_counter()

    # --- data ---
    splits = data.load_mnist()
    device = devices.pick_device("cpu", quiet=True)  # a CPU lesson: GPUs have other bottlenecks
    devices.configure_threads()
    final_precision = devices.choose_precision(precision, device, models.build_model(arch))
    devices.announce(device, final_precision)
    native, reason = devices.cpu_native_bf16()
    setup = Setup(splits, device, ladder_images, warmup_batches, native, reason)

    # --- model ---
    final = final_recipe(arch, batch_size, lr, betas, final_precision)
    params = models.count_parameters(models.build_model(arch))
    print(f"final recipe: {arch} ({params:,} parameters), batch {batch_size}, {num_epochs} epochs,")
    print(
        f"  Adam (betas {betas[0]:g}/{betas[1]:g}) with a one-cycle schedule peaking at lr {lr:g}"
    )

    # --- train ---
    files, rows = [], []
    if ladder:
        rows = climb_ladder(setup, final, seeds[0])
        biggest = print_ladder(rows, ladder_images)
        measured = [row for row in rows if row["recipe"] is not None]
        files.append(
            plots.plot_bars(
                [f"{row['short']}\n{row['val_acc']:.1%}" for row in measured],
                [row["seconds_per_epoch"] for row in measured],
                paths.vis_path("07_speedrun.png"),
                title="Seconds per training epoch, one change per rung (under each: val accuracy)",
                ylabel=f"seconds per epoch ({len(splits.train):,} images)",
                highlight=len(measured) - 1,
                show=show,
            )
        )
        overall = rows[0]["seconds_per_epoch"] / measured[-1]["seconds_per_epoch"]
        print(
            f"finding: the biggest single win was '{biggest['change']}' "
            f"({biggest['gain']:.1f}x faster)"
        )
        print(f"  all rungs together: {overall:.1f}x faster per epoch than the tutorial recipe")

    print(
        f"\nfinal recipe, {num_epochs} full epochs per seed "
        "(validation watched; test measured once per seed):"
    )
    results = [run_final(final, setup, num_epochs, final_precision, seed) for seed in seeds]
    test_acc = statistics.median(result["test_acc"] for result in results)
    seconds = statistics.median(result["seconds"] for result in results)
    print(
        f"summary: {runs.describe(results[0]['model'])} reached {test_acc:.2%} test accuracy "
        f"(median of {len(seeds)} seed{'s' * (len(seeds) > 1)}) in {seconds:.1f} s of training"
    )
    print(f"({time.perf_counter() - start:.0f} s in all, ladder included)")
    if files:
        runs.print_files(files)
    plots.show_figures(show)
    final_runs = [{key: value for key, value in r.items() if key != "model"} for r in results]
    return {
        "rows": rows,
        "final": final_runs,
        "test_acc": test_acc,
        "seconds": seconds,
        "files": files,
    }


if __name__ == "__main__":
    run_main(main)
