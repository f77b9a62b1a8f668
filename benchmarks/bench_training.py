"""Speed of the course's training on this machine: the numbers the README reports.

Measures (training time only, medians over --repeats runs):
  1. 03_train_model.py with its defaults (the MLP): seconds and test accuracy;
  2. the Phase-4 recipe the README gives: seconds and test accuracy;
  3. 04_improved_model.py's CNN for 2 epochs: seconds and test accuracy;
  4. how much of a CNN epoch goes to batch assembly and augmentation;
  5. one MLP epoch through torchvision.datasets.MNIST + DataLoader with per-image transforms,
     next to the same epoch through common.data.BatchLoader, and the ratio.

Run:  python -m benchmarks.bench_training [--repeats 3]   (from the repository root; needs the real
      MNIST; about 5 minutes on a 2-core CPU)
Outputs go to a temporary folder: your models/ and visualizations/ are left alone.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from common import data, models, paths, training
from common import device as devices
from common.cli import load_script, run_main

PHASE4_RECIPE = dict(hidden_sizes=(512,), batchnorm=True, dropout=0.2, batch_size=128, num_epochs=5,
                     scheduler_name="onecycle", lr=3e-3)  # the README's recipe


def median_of(repeats: int, run) -> dict:
    """Run ``run()`` ``repeats`` times; the median of every number it returns."""
    results = [run() for _ in range(repeats)]
    return {key: statistics.median(r[key] for r in results) for key in results[0]}


def time_script(filename: str, **settings) -> dict:
    """Training seconds and test accuracy of a phase script's main() with ``settings``."""
    report = load_script(filename).main(**settings)
    return {"seconds": report["seconds"], "test_acc": report["test_acc"]}


def loader_share_of_cnn_epoch(splits: data.MnistSplits) -> dict:
    """Seconds to assemble (and augment) one epoch of batches vs one full CNN training epoch."""
    loader = data.BatchLoader(splits.train, 128, shuffle=True, augment=True)
    start = time.perf_counter()
    for _ in loader:
        pass
    batches = time.perf_counter() - start
    model = models.CNN()
    optimizer = training.make_optimizer("adam", model.parameters(), 1e-3)
    result = training.fit(model, loader, data.BatchLoader(splits.val, 1000), optimizer,
                          training.FitOptions(num_epochs=1))
    return {
        "batch_seconds": batches,
        "epoch_seconds": result.seconds,
        "share": batches / result.seconds,
    }


def mlp_epoch_seconds(batches, model: nn.Module) -> float:
    """One plain training epoch (Adam, cross-entropy) over an iterable of (images, labels)."""
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for images, labels in batches:
        optimizer.zero_grad()
        loss_fn(model(images), labels).backward()
        optimizer.step()
    return time.perf_counter() - start


def torchvision_vs_in_memory(splits: data.MnistSplits) -> dict:
    """The same MLP epoch fed by torchvision's per-image DataLoader and by BatchLoader."""
    from torchvision import datasets, transforms

    transform = transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((data.MNIST_MEAN,), (data.MNIST_STD,))]
    )
    dataset = datasets.MNIST(str(paths.DATA_DIR), train=True, download=False, transform=transform)
    subset = torch.utils.data.Subset(dataset, range(len(splits.train)))  # same number of images
    slow = mlp_epoch_seconds(
        torch.utils.data.DataLoader(subset, batch_size=64, shuffle=True), models.MLP()
    )
    fast = mlp_epoch_seconds(data.BatchLoader(splits.train, 64, shuffle=True), models.MLP())
    return {"torchvision_seconds": slow, "in_memory_seconds": fast, "ratio": slow / fast}


def main(repeats: int = 3, quick: bool = False) -> dict:
    """Run every measurement and print one table of medians."""
    devices.configure_threads()
    data.ensure_mnist()
    splits = data.load_mnist()
    with tempfile.TemporaryDirectory() as tmp:
        paths.MODELS_DIR, paths.VIS_DIR = (
            Path(tmp) / "models",
            Path(tmp) / "visualizations",
        )  # keep yours untouched
        paths.PLAN_FILE = Path(tmp) / "learning_plan.md"
        rows = {
            "03 defaults (MLP)": median_of(
                repeats, lambda: time_script("03_train_model.py", device="cpu")
            ),
            "Phase-4 recipe (MLP)": median_of(
                repeats, lambda: time_script("03_train_model.py", device="cpu", **PHASE4_RECIPE)
            ),
            "04 CNN, 2 epochs": median_of(
                1 if quick else repeats,
                lambda: time_script("04_improved_model.py", device="cpu", num_epochs=2),
            ),
        }
    loader = median_of(repeats, lambda: loader_share_of_cnn_epoch(splits))
    feeding = median_of(repeats, lambda: torchvision_vs_in_memory(splits))
    print(
        f"\nmedians of {repeats} runs on {torch.get_num_threads()} CPU threads (training time only)"
    )
    print(f"{'run':<24}{'seconds':>9}{'test acc':>10}")
    for name, row in rows.items():
        print(f"{name:<24}{row['seconds']:>9.1f}{row['test_acc']:>10.2%}")
    print(
        f"batch assembly + augmentation: {loader['batch_seconds']:.2f} s of a "
        f"{loader['epoch_seconds']:.1f} s CNN epoch ({loader['share']:.1%})"
    )
    print(
        f"MLP epoch: torchvision DataLoader {feeding['torchvision_seconds']:.1f} s vs in-memory "
        f"BatchLoader {feeding['in_memory_seconds']:.1f} s ({feeding['ratio']:.1f}x faster)"
    )
    return {"rows": rows, "loader": loader, "feeding": feeding}


if __name__ == "__main__":
    run_main(main)
