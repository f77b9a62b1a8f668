"""The course's training recipes side by side with the pytorch/examples MNIST recipe, in one run.

Three recipes, each in a fresh child process (so its peak memory is its own):
  reference  the pytorch/examples MNIST recipe as that project ships it, written in our own code:
             conv 32@3x3, conv 64@3x3, max-pool, dropout 0.25, fc 9216->128, dropout 0.5, fc 10;
             Adadelta lr 1.0, StepLR gamma 0.7 per epoch, batch 64, torchvision DataLoader with
             per-image transforms, unshuffled (as it runs on a CPU), all 60,000 training images,
             14 epochs;
  04         04_improved_model.py with its defaults: the plan's CNN (dropout 0.25), Adam 2e-3 with
             one-cycle, batch 128, 3 epochs on 54,000 images held in memory, precision "auto"
             (common/device.py: fp32 + channels_last on a CPU without native bfloat16);
  speedrun   07_speedrun.py's final recipe with its defaults.
For each: training seconds until the test accuracy first reaches 99.0% (the test set is read
after every epoch here, as pytorch/examples does; this benchmark measures, it picks nothing),
seconds per epoch, and peak memory (the child's maximum resident set size from
``resource.getrusage``: Python + PyTorch + data + training), each also as a ratio to the reference.

Run:  python -m benchmarks.bench_vs_reference          (every recipe runs all its epochs; the
                                                         reference's 14 take long on a 2-core CPU)
      python -m benchmarks.bench_vs_reference --fast   (each recipe stops at the first epoch that
                                                         reaches 99.0%, the reference after at most
                                                         3 epochs: under 10 minutes on a 2-core CPU)
It prints a markdown table for the README, with the date and the CPU model. Writes nothing.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import platform
import resource
import sys
import time
from datetime import date

import torch
from torch import nn

from common import data, evaluation, models, paths, training
from common import device as devices
from common.cli import check, load_script, run_main

TARGET = 0.99  # the test accuracy whose arrival is timed
RECIPES = ("reference", "04", "speedrun")
REFERENCE_EPOCHS = 14  # as pytorch/examples ships it
FAST_REFERENCE_EPOCHS = 3  # --fast: the reference stops after this many epochs at most
REFERENCE_GAMMA = 0.7
TEST_BATCH = 1000


class ReferenceNet(nn.Module):
    """pytorch/examples' MNIST network: two unpadded 3x3 convolutions, one pool, two dropouts."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)  # (B, 1, 28, 28) -> (B, 32, 26, 26)
        self.conv2 = nn.Conv2d(32, 64, 3)  # -> (B, 64, 24, 24)
        self.pool = nn.MaxPool2d(2)  # -> (B, 64, 12, 12)
        self.dropout1 = nn.Dropout(0.25)
        self.fc1 = nn.Linear(9216, 128)  # 64 * 12 * 12 = 9,216
        self.dropout2 = nn.Dropout(0.5)
        self.fc2 = nn.Linear(128, data.NUM_CLASSES)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv2(torch.relu(self.conv1(images))))
        x = self.dropout1(self.pool(x)).flatten(1)  # (B, 9216)
        x = self.dropout2(torch.relu(self.fc1(x)))  # (B, 128)
        return self.fc2(x)  # (B, 10) logits; cross-entropy = log_softmax + nll_loss, as there


def torchvision_mnist(train: bool, limit: int):
    """torchvision's MNIST, per-image ToTensor + Normalize; its first ``limit`` images if set."""
    from torchvision import datasets, transforms

    transform = transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((data.MNIST_MEAN,), (data.MNIST_STD,))]
    )
    dataset = datasets.MNIST(str(paths.DATA_DIR), train=train, download=False, transform=transform)
    return torch.utils.data.Subset(dataset, range(limit)) if limit else dataset


def build_reference(limit: int):
    """Model, train/test batches, optimizer, per-epoch/per-batch schedulers, precision, epochs."""
    model = ReferenceNet()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=REFERENCE_GAMMA)
    train = torch.utils.data.DataLoader(
        torchvision_mnist(True, limit), batch_size=64
    )  # unshuffled on a CPU
    test = torch.utils.data.DataLoader(torchvision_mnist(False, 0), batch_size=TEST_BATCH)
    return model, train, test, optimizer, scheduler, None, devices.FP32, REFERENCE_EPOCHS


def _subset(split: data.Split, limit: int) -> data.Split:
    return data.Split(split.images[:limit], split.labels[:limit]) if limit else split


def build_04(limit: int):
    """04_improved_model.py's defaults, read from the script itself."""
    script = load_script("04_improved_model.py")
    splits = data.load_mnist(seed=script.SEED)
    model = models.build_model("cnn", dropout=script.DROPOUT)
    precision = devices.choose_precision("auto", "cpu", model)
    precision.prepare(model)
    train = data.BatchLoader(
        _subset(splits.train, limit), script.BATCH_SIZE, shuffle=True, seed=script.SEED
    )
    optimizer = training.make_optimizer(script.OPTIMIZER, model.parameters(), script.LEARNING_RATE)
    scheduler = training.make_scheduler(
        script.SCHEDULER, optimizer, script.NUM_EPOCHS, len(train), script.LEARNING_RATE
    )
    test = data.BatchLoader(splits.test, TEST_BATCH)
    return model, train, test, optimizer, None, scheduler, precision, script.NUM_EPOCHS


def build_speedrun(limit: int):
    """07_speedrun.py's final recipe with its defaults, built by the script's own functions."""
    script = load_script("07_speedrun.py")
    splits = data.load_mnist()
    precision = devices.choose_precision(script.PRECISION, "cpu", models.build_model(script.ARCH))
    recipe = script.final_recipe(
        script.ARCH, script.BATCH_SIZE, script.LEARNING_RATE, script.BETAS, precision
    )
    train = script.make_batches(recipe, _subset(splits.train, limit), precision, script.SEEDS[0])
    model, optimizer, scheduler = script.build(
        recipe, len(train) * script.NUM_EPOCHS, precision, script.SEEDS[0]
    )
    test = data.BatchLoader(splits.test, TEST_BATCH)
    return model, train, test, optimizer, None, scheduler, precision, script.NUM_EPOCHS


BUILDERS = {"reference": build_reference, "04": build_04, "speedrun": build_speedrun}


def train_epoch(
    model: nn.Module, train, optimizer, batch_scheduler, precision: devices.Precision
) -> float:
    """One epoch; returns its seconds."""
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    start = time.perf_counter()
    for images, labels in train:
        optimizer.zero_grad()
        with precision.autocast():
            logits = model(precision.images(images))  # (B, 10)
        loss_fn(logits.float(), labels).backward()
        optimizer.step()
        if batch_scheduler is not None:
            batch_scheduler.step()
    return time.perf_counter() - start


def peak_memory_mb() -> float:
    """This process's peak resident memory in MB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def run_recipe(name: str, fast: bool, limit: int, seed: int = 0) -> dict:
    """Train one recipe: seconds to the target, per epoch, test accuracy per epoch, peak memory."""
    devices.configure_threads()
    devices.seed_everything(seed)
    model, train, test, optimizer, epoch_scheduler, batch_scheduler, precision, num_epochs = (
        BUILDERS[name](limit)
    )
    if fast and name == "reference":
        num_epochs = min(num_epochs, FAST_REFERENCE_EPOCHS)
    seconds, reached, accuracies = [], None, []
    for _ in range(num_epochs):
        seconds.append(train_epoch(model, train, optimizer, batch_scheduler, precision))
        if epoch_scheduler is not None:
            epoch_scheduler.step()
        accuracies.append(evaluation.evaluate(model, test, precision=precision)["accuracy"])
        if reached is None and accuracies[-1] >= TARGET:
            reached = sum(seconds)
            if fast:
                break
    return {
        "recipe": name,
        "seconds_to_target": reached,
        "seconds_per_epoch": sum(seconds) / len(seconds),
        "epochs": len(seconds),
        "test_acc": accuracies[-1],
        "accuracies": accuracies,
        "peak_mb": peak_memory_mb(),
        "precision": precision.label,
    }


def run_in_fresh_process(name: str, fast: bool, limit: int) -> dict:
    """``run_recipe`` in a new Python process, so the peak memory belongs to this recipe alone."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(run_recipe, name, fast, limit).result()


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ratio(value: float | None, reference: float | None) -> str:
    return f" ({value / reference:.2f}x)" if value is not None and reference else ""


def markdown_table(results: list[dict], fast: bool) -> list[str]:
    """The README's table: every number also as a ratio to the reference recipe."""
    ref = results[0]
    mode = (
        f"--fast: stops at 99.0%, reference at most {FAST_REFERENCE_EPOCHS} epochs"
        if fast
        else "every recipe runs all its epochs"
    )
    lines = [
        f"Measured {date.today().isoformat()} on {cpu_model()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__.split('+')[0]}",
        f"({mode}; ratios are to the reference).",
        "",
        "| recipe | precision | to 99.0% test | s/epoch | peak RSS | epochs | test acc |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in results:
        reached = (
            f"{row['seconds_to_target']:.1f} s"
            + _ratio(row["seconds_to_target"], ref["seconds_to_target"])
            if row["seconds_to_target"] is not None
            else f"not in {row['epochs']} epochs"
        )
        lines.append(
            f"| {row['recipe']} | {row['precision']} | {reached} | "
            f"{row['seconds_per_epoch']:.1f}"
            f"{_ratio(row['seconds_per_epoch'], ref['seconds_per_epoch'])} | "
            f"{row['peak_mb']:.0f} MB{_ratio(row['peak_mb'], ref['peak_mb'])} | {row['epochs']} | "
            f"{row['test_acc']:.2%} |"
        )
    return lines


def main(
    fast: bool = False,
    train_images: int = 0,
    recipes: tuple[str, ...] = RECIPES,
    fresh_processes: bool = True,
) -> dict:
    """Run every recipe (each in a fresh process) and print the markdown table."""
    check(set(recipes) <= set(RECIPES), f"--recipes must be among {', '.join(RECIPES)}")
    check(train_images >= 0, "--train-images must be 0 (all) or a positive number")
    data.ensure_mnist()
    results = []
    for name in recipes:
        print(f"running {name} ...", flush=True)
        row = (run_in_fresh_process if fresh_processes else run_recipe)(name, fast, train_images)
        accuracies = " ".join(f"{acc:.2%}" for acc in row["accuracies"][-6:])  # the last 6 epochs
        print(
            f"  {row['epochs']} epochs, {row['seconds_per_epoch']:.1f} s each; "
            f"test acc by epoch{' (last 6)' * (row['epochs'] > 6)}: {accuracies}"
        )
        results.append(row)
    if train_images:
        print(f"(development run: {train_images:,} training images per epoch, not the full set)")
    print()
    table = markdown_table(results, fast)
    print("\n".join(table))
    return {"results": results, "table": table}


if __name__ == "__main__":
    run_main(main)
