"""The results ledger, ``models/results.csv``: one row per run (introduced in Phase 2).

Every script that measures a model appends what it measured (accuracy, parameters, seconds,
settings), so the learner's own numbers tell the course's story: untrained -> MLP -> tuned MLP
-> CNN -> CNN with augmentation. ``python -m common.progress`` reads it back to fill the results
block of learning_plan.md, to draw ``--plot``, to list every run (``--runs``) and to overlay
their validation curves (``--compare``).

Accuracies arrive as fractions (0.978) and are stored as percentages with two decimals (97.80),
which is how people read them in a spreadsheet. A training run also records its name (the
name of its checkpoint in ``models/runs/``), its status (finished, early-stop, diverged), what
it changed from the script's defaults and its per-epoch history (fractions, as ``fit()`` keeps
them). Rows written by an older course version lack those columns and read back with empty
values. Each append rewrites the file through a temporary file and a rename, under a lock
file, so a crash mid-write never damages earlier rows and two runs never drop each other's row.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from common import paths

OLD_COLUMNS = ("date", "script", "step", "model", "params", "epochs", "seconds",
               "val_acc", "test_acc", "seed", "hyperparameters")
COLUMNS = OLD_COLUMNS + ("run", "status", "changed", "checkpoint", "history")
STATUSES = ("finished", "early-stop", "diverged")
# What each step of the story means; the script named first writes it.
STEPS = {
    "untrained": "02_simple_nn.py: the network before any training",
    "mlp": "03_train_model.py with its default settings",
    "mlp-tuned": "03_train_model.py with settings you changed",
    "mlp-sweep": "03_train_model.py --lr-sweep: one run per learning rate",
    "ablation": "03_train_model.py --ablation: one idea added per rung",
    "scratch": "03b_backprop_from_scratch.py: NumPy network, backprop by hand",
    "cnn": "04_improved_model.py: the convolutional network",
    "cnn-augment": "04_improved_model.py --augment",
    "lenet": "04_improved_model.py --arch lenet",
    "ladder": "04_improved_model.py --ladder: MLP -> CNNs, one idea per rung",
    "ensemble": "04_improved_model.py --ladder: several CNNs voting together",
    "speedrun": "07_speedrun.py: the fastest route to 99%",
}
HISTORY_KEYS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")
LOCK_WAIT_SECONDS = 10.0   # how long an append waits for another run's append to finish
LOCK_STALE_SECONDS = 60.0  # a lock file older than this was left by a crash and is ignored


@dataclass
class LedgerRow:
    """One row: what a script measured. Accuracies are fractions in [0, 1] (or None)."""

    script: str
    step: str
    model: str
    params: int
    epochs: int
    seconds: float
    val_acc: float | None
    test_acc: float | None
    seed: int | None
    hyperparameters: dict
    run: str = ""                     # the run's name ("" for a measurement that is not a run)
    status: str = "finished"
    changed: dict = field(default_factory=dict)     # settings that differ from the defaults
    checkpoint: str = ""              # its checkpoint, relative to models/ ("" when none)
    history: list = field(default_factory=list)     # one dict per epoch, as fit() keeps it


def _percent(fraction: float | None) -> str:
    """0.9781 -> "97.81"; None -> "" (not measured)."""
    if fraction is None:
        return ""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"accuracies go into the ledger as fractions in [0, 1], got {fraction}")
    return f"{100 * fraction:.2f}"


def _compact(value: Any) -> Any:
    """A history number rounded for the CSV; nan/inf become None (JSON has no nan)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if not math.isfinite(value):
        return None
    return value if isinstance(value, int) else float(f"{value:.5g}")


def compact_history(history: list[dict] | None) -> list[dict]:
    """The per-epoch records, only the keys a curve needs, numbers rounded to 5 digits."""
    return [{key: _compact(record[key]) for key in HISTORY_KEYS if key in record}
            for record in history or []]


def _csv_line(values: list[Any]) -> str:
    """One properly quoted CSV line (the JSON columns contain commas and quotes)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def _as_json(value: Any, sort_keys: bool = True) -> str:
    return json.dumps(value, sort_keys=sort_keys, default=str)


def _cells(row: LedgerRow) -> list[Any]:
    if row.step not in STEPS:
        raise ValueError(f"unknown ledger step {row.step!r}; use one of {', '.join(STEPS)}")
    if row.status not in STATUSES:
        raise ValueError(f"unknown run status {row.status!r}; use one of {', '.join(STATUSES)}")
    return [datetime.now().strftime("%Y-%m-%d %H:%M"), row.script, row.step, row.model,
            int(row.params), int(row.epochs), f"{row.seconds:.1f}", _percent(row.val_acc),
            _percent(row.test_acc), "" if row.seed is None else int(row.seed),
            _as_json(row.hyperparameters), row.run, row.status,
            _as_json(row.changed, sort_keys=False),  # in the script's order, as the run's name
            row.checkpoint, json.dumps(compact_history(row.history))]


def _with_current_header(existing: str) -> str:
    """The ledger text with a header for today's columns (an older ledger's header is extended)."""
    if not existing.strip():
        return _csv_line(list(COLUMNS))
    if not existing.endswith("\n"):
        existing += "\n"  # a learner's hand edit may have dropped the final newline
    header, _, body = existing.partition("\n")
    columns = tuple(next(csv.reader([header]), []))
    if columns != COLUMNS and columns == COLUMNS[: len(columns)]:
        return _csv_line(list(COLUMNS)) + body  # older rows simply have the new cells empty
    return existing


@contextmanager
def _locked(path: Path):
    """Hold ``.<name>.lock`` beside ``path`` while reading and rewriting it (another run waits)."""
    lock = path.with_name(f".{path.name}.lock")
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    handle = None
    while handle is None:
        try:
            handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                stale = time.time() - lock.stat().st_mtime > LOCK_STALE_SECONDS
            except FileNotFoundError:
                continue
            if stale or time.monotonic() > deadline:
                lock.unlink(missing_ok=True)
            else:
                time.sleep(0.05)
        except OSError as err:  # an unwritable models/ or a full disk
            raise paths.write_error(path, err) from err
    try:
        yield
    finally:
        os.close(handle)
        lock.unlink(missing_ok=True)


def append_result(row: LedgerRow | None = None, /, **fields: Any) -> Path:
    """Append one row to ``models/results.csv`` (header written on first use); returns the path.

    Either a :class:`LedgerRow`, or its fields as keywords:
    ``append_result(script=..., step=..., model=..., params=..., ..., hyperparameters={})``.
    """
    row = row if row is not None else LedgerRow(**fields)
    line = _csv_line(_cells(row))
    path = paths.results_csv()
    with _locked(path):
        existing = path.read_text(encoding="utf-8") if path.exists() else ""
        paths.write_bytes_safely(path, (_with_current_header(existing) + line).encode("utf-8"))
    return path


def _optional(text: str | None, kind: type) -> Any:
    """``kind(text)``, or None for an empty cell."""
    return kind(text) if text not in (None, "") else None


def _json(text: str | None, kind: type) -> Any:
    """A JSON cell of type ``kind``; empty, damaged or mistyped cells give ``kind()``."""
    try:
        value = json.loads(text or "null")
    except json.JSONDecodeError:
        return kind()
    return value if isinstance(value, kind) else kind()


def _parse_row(row: dict[str, str]) -> dict[str, Any]:
    """Numbers as numbers, settings as dicts (raises ValueError on a garbled row)."""
    if None in row:  # more cells than the header has columns
        raise ValueError("extra cells")
    return {
        "date": row["date"], "script": row["script"], "step": row["step"], "model": row["model"],
        "params": int(row["params"]), "epochs": int(row["epochs"]),
        "seconds": float(row["seconds"]), "val_acc": _optional(row["val_acc"], float),
        "test_acc": _optional(row["test_acc"], float), "seed": _optional(row["seed"], int),
        "hyperparameters": _json(row.get("hyperparameters"), dict),
        "run": row.get("run") or "", "status": row.get("status") or "",
        "changed": _json(row.get("changed"), dict), "checkpoint": row.get("checkpoint") or "",
        "history": _json(row.get("history"), list),
    }


def read_results() -> list[dict[str, Any]]:
    """Every row in the ledger, oldest first (accuracies in percent); [] when there is none.

    A row a hand edit made unreadable is skipped with a warning rather than hiding all others.
    A row from an older course version has ``run``, ``status`` and ``checkpoint`` "" and an
    empty ``changed`` and ``history``.
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
                shown = paths.display_path(path)
                print(f"warning: skipped unreadable line {line_number} of {shown}")
    return results


def usable(row: dict[str, Any]) -> bool:
    """A row that may be chosen as a result: measured on validation and not diverged."""
    return row["val_acc"] is not None and row["status"] != "diverged"


def best_by_validation(rows: list[dict[str, Any]], steps: tuple[str, ...] | None = None, *,
                       script: str | None = None, tested: bool = False) -> dict[str, Any] | None:
    """The row with the highest validation accuracy among ``steps`` (and ``script``), or None.

    The test accuracy never takes part in the choice; ``tested=True`` only restricts it to rows
    that measured one (finished models, not sweep or ablation runs). On a tie the earlier run wins.
    """
    candidates = [row for row in rows if usable(row)
                  and (steps is None or row["step"] in steps)
                  and (script is None or row["script"] == script)
                  and (not tested or row["test_acc"] is not None)]
    return max(candidates, key=lambda row: row["val_acc"], default=None)
