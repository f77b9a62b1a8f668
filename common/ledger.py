"""The results ledger, ``models/results.csv``: one row per run (introduced in Phase 2).

Every script that measures a model appends what it measured (accuracy, parameters, seconds,
settings), so the learner's own numbers tell the course's story: untrained -> MLP -> tuned MLP
-> CNN -> CNN with augmentation. ``python -m common.progress`` reads it back to fill the results
block of learning_plan.md and to draw ``--plot``.

Accuracies arrive as fractions (0.978) and are stored as percentages with two decimals (97.80),
which is how people read them in a spreadsheet. Each append rewrites the file through a
temporary file and a rename, so a crash mid-write never damages earlier rows.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from common import paths
from common.idx import atomic_write_bytes

COLUMNS = ("date", "script", "step", "model", "params", "epochs", "seconds",
           "val_acc", "test_acc", "seed", "hyperparameters")
# What each step of the story means; the script named first writes it.
STEPS = {
    "untrained": "02_simple_nn.py: the network before any training",
    "mlp": "03_train_model.py with its default settings",
    "mlp-tuned": "03_train_model.py with settings you changed",
    "scratch": "03b_backprop_from_scratch.py: NumPy network, backprop by hand",
    "cnn": "04_improved_model.py: the convolutional network",
    "cnn-augment": "04_improved_model.py --augment",
    "lenet": "04_improved_model.py --arch lenet",
    "mlp-sweep": "03_train_model.py --lr-sweep: one run per learning rate",
    "ablation": "03_train_model.py --ablation: one idea per rung",
    "ladder": "04_improved_model.py --ladder: one rung of the CNN ladder",
    "ensemble": "04_improved_model.py --ladder: the averaged ensemble of CNNs",
    "speedrun": "07_speedrun.py: the fast recipe",
}


def _percent(fraction: float | None) -> str:
    """0.9781 -> "97.81"; None -> "" (not measured)."""
    if fraction is None:
        return ""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"accuracies go into the ledger as fractions in [0, 1], got {fraction}")
    return f"{100 * fraction:.2f}"


def _csv_line(values: list[Any]) -> str:
    """One properly quoted CSV line (the JSON column contains commas and quotes)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def append_result(*, script: str, step: str, model: str, params: int, epochs: int, seconds: float,
                  val_acc: float | None, test_acc: float | None, seed: int | None,
                  hyperparameters: dict) -> Path:
    """Append one run to ``models/results.csv`` (header written on first use); returns the path."""
    if step not in STEPS:
        raise ValueError(f"unknown ledger step {step!r}; use one of {', '.join(STEPS)}")
    path = paths.results_csv()
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    if not existing.strip():
        existing = _csv_line(list(COLUMNS))
    elif not existing.endswith("\n"):
        existing += "\n"  # a learner's hand edit may have dropped the final newline
    row = [datetime.now().strftime("%Y-%m-%d %H:%M"), script, step, model, int(params), int(epochs),
           f"{seconds:.1f}", _percent(val_acc), _percent(test_acc), "" if seed is None else int(seed),
           json.dumps(hyperparameters, sort_keys=True, default=str)]
    atomic_write_bytes(path, (existing + _csv_line(row)).encode("utf-8"))
    return path


def _optional(text: str | None, kind: type) -> Any:
    """``kind(text)``, or None for an empty cell."""
    return kind(text) if text not in (None, "") else None


def _parse_row(row: dict[str, str]) -> dict[str, Any]:
    """Numbers as numbers, settings as a dict (raises ValueError on a garbled row)."""
    try:
        settings = json.loads(row.get("hyperparameters") or "{}")
    except json.JSONDecodeError:
        settings = {}
    return {
        "date": row["date"], "script": row["script"], "step": row["step"], "model": row["model"],
        "params": int(row["params"]), "epochs": int(row["epochs"]), "seconds": float(row["seconds"]),
        "val_acc": _optional(row["val_acc"], float), "test_acc": _optional(row["test_acc"], float),
        "seed": _optional(row["seed"], int), "hyperparameters": settings if isinstance(settings, dict) else {},
    }


def read_results() -> list[dict[str, Any]]:
    """Every run in the ledger, oldest first (accuracies in percent); [] when there is no ledger yet.

    A row a hand edit made unreadable is skipped with a warning rather than hiding all the others.
    """
    path = paths.results_csv()
    if not path.exists():
        return []
    results = []
    with open(path, newline="", encoding="utf-8") as handle:
        for line_number, row in enumerate(csv.DictReader(handle), start=2):
            try:
                results.append(_parse_row(row))
            except (KeyError, TypeError, ValueError):
                print(f"warning: skipped unreadable line {line_number} of {paths.display_path(path)}")
    return results
