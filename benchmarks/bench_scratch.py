"""Speed of the from-scratch lesson (03b_backprop_from_scratch.py) on this machine.

Measures (medians over --repeats runs):
  1. the whole lesson with its defaults, wall-clock: gradient check, main training, the three
     experiments, the PyTorch twin, the plots (the "under 2 minutes" promise);
  2. its test accuracy (the ">= 97%" promise) and the NumPy vs PyTorch seconds per epoch;
  3. one NumPy training epoch at several batch sizes: per-batch Python overhead vs matrix work.

Run:  python -m benchmarks.bench_scratch [--repeats 3]   (from the repository root; needs the real
      MNIST; about 2 minutes per repeat on a 2-core CPU)
Outputs go to a temporary folder: your models/, visualizations/ and ledger are left alone.
NumPy's BLAS runs on one thread here, as in the lesson (OPENBLAS_NUM_THREADS=2 to compare):
with every core in use, two busy programs on two cores slow each other down many times over.
"""

from __future__ import annotations

import os

if __name__ == "__main__":
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # what the lesson does when run as a script

import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from common import data, paths, scratch  # noqa: E402
from common.cli import load_script, run_main  # noqa: E402

BATCH_SIZES = (32, 64, 128, 256)
SCRIPT = "03b_backprop_from_scratch.py"


def time_lesson() -> dict:
    """One full run of the lesson with its defaults."""
    start = time.perf_counter()
    report = load_script(SCRIPT).main()
    return {"total_seconds": time.perf_counter() - start, "test_acc": report["test_acc"],
            "numpy_epoch": report["seconds_per_epoch"],
            "torch_epoch": report["torch"]["seconds_per_epoch"],
            "max_vs_autograd": report["gradient_check"]["vs_autograd"]}


def numpy_epoch_seconds(splits: data.MnistSplits, batch_size: int) -> float:
    """Seconds for one training epoch of the default 784-128-10 NumPy network (the lesson's own)."""
    lesson = load_script(SCRIPT)
    model = lesson.NumpyMLP(lesson.HIDDEN_SIZES)
    settings = lesson.Settings(num_epochs=1, lr=lesson.LEARNING_RATE, momentum=lesson.MOMENTUM,
                               batch_size=batch_size, seed=0)
    result = lesson.train(model, scratch.to_arrays(splits.train), scratch.to_arrays(splits.val),
                          settings, verbose=False)
    return result.history[0]["seconds"]


def main(repeats: int = 3) -> dict:
    """Run every measurement and print one table of medians."""
    data.ensure_mnist()
    splits = data.load_mnist()
    with tempfile.TemporaryDirectory() as tmp:
        # keep your models/, visualizations/ and plan untouched
        paths.MODELS_DIR, paths.VIS_DIR = Path(tmp) / "models", Path(tmp) / "visualizations"
        paths.PLAN_FILE = Path(tmp) / "learning_plan.md"
        runs = [time_lesson() for _ in range(repeats)]
    lesson = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    epochs = {size: statistics.median(numpy_epoch_seconds(splits, size) for _ in range(repeats))
              for size in BATCH_SIZES}
    print(f"\nmedians of {repeats} runs")
    print(f"whole lesson (defaults): {lesson['total_seconds']:.1f} s, "
          f"test accuracy {lesson['test_acc']:.2%}, "
          f"gradient check {lesson['max_vs_autograd']:.1e} vs autograd")
    print(f"seconds per epoch, 784-128-10, batch 64: NumPy {lesson['numpy_epoch']:.2f} | "
          f"PyTorch {lesson['torch_epoch']:.2f}")
    print(f"{'batch size':>10}{'NumPy s / epoch':>17}")
    for size, seconds in epochs.items():
        print(f"{size:>10}{seconds:>17.2f}")
    return {"lesson": lesson, "numpy_epoch_by_batch": epochs}


if __name__ == "__main__":
    run_main(main)
