"""Every run in the ledger, as a table or as overlaid validation curves (introduced in Phase 4).

    python -m common.progress --runs                 one line per run: date, script, what changed
                                                     from the defaults, status, validation
                                                     accuracy, parameters, seconds, checkpoint
    python -m common.progress --compare              the validation curves of every run of the
                                                     latest script, in one picture
    python -m common.progress --compare 3 7 lr-0.01  runs by number (from --runs) or by part of
                                                     their name

Everything comes from ``models/results.csv`` (rows written by an older course version have no
run name or history: they are listed, but have no curve to draw) and from what is on disk in
``models/runs/`` (a checkpoint deleted by hand shows as "missing").
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from common import ledger, paths
from common.errors import CourseError

Rows = list[dict[str, Any]]
PUBLISHED = ("mlp.pt", "cnn.pt", "lenet.pt")  # the models later phases load
WHAT_WIDTH = 25
DEFAULT_CURVES = 8  # --compare without names draws at most this many (the latest) runs
HEADER = (f"{'#':>4}  {'date':<11}  {'script':<7}{'changed from defaults':<{WHAT_WIDTH}} "
          f"{'status':<10}{'val acc':>8}{'params':>10}{'seconds':>8}  checkpoint")


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return " ".join(_value_text(item) for item in value)
    return str(value)


def _label(row: dict[str, Any]) -> str:
    """The label part of a run's name (``<stamp>_<script stem>_<label>``), or ""."""
    prefix_length = len("YYYYmmdd-HHMMSS_") + len(Path(row["script"]).stem) + 1
    return row["run"][prefix_length:] if row["run"] else ""


def what_changed(row: dict[str, Any]) -> str:
    """'lr 0.01, dropout 0.2', 'defaults', a custom label, or (older rows) the model."""
    from common.runs import RunSpec, run_label  # lazy: runs imports torch

    changed = ", ".join(f"{key.removeprefix('num_').replace('_', '-')} {_value_text(value)}"
                        for key, value in row["changed"].items())
    if not row["run"]:
        return row["model"]
    label = _label(row)
    derived = run_label(RunSpec(row["script"], row["step"], {}, row["changed"], 0))
    custom = label != derived and not label.startswith(f"{derived}-")
    if custom:
        return f"{label}: {changed}" if changed else label
    return changed or "defaults"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def checkpoint_state(row: dict[str, Any]) -> str:
    """"kept", "missing" (deleted by hand) or "-" (the run saved none: diverged, not a run)."""
    if not row["checkpoint"]:
        return "-"
    return "kept" if (Path(paths.MODELS_DIR) / row["checkpoint"]).is_file() else "missing"


def run_line(number: int, row: dict[str, Any]) -> str:
    """One run as one line of at most 100 columns, under :data:`HEADER`."""
    val = f"{row['val_acc']:.2f}%" if row["val_acc"] is not None else "-"
    status = row["status"] or "-"
    script = row["script"].split("_")[0]
    return (f"{number:>4}  {row['date'][5:]:<11}  {script:<7}"
            f"{_cut(what_changed(row), WHAT_WIDTH - 1):<{WHAT_WIDTH}} {status:<10}{val:>8}"
            f"{row['params']:>10,}{row['seconds']:>8.0f}  {checkpoint_state(row)}")


def published_states(rows: Rows) -> dict[str, str]:
    """Which run each of models/mlp.pt, cnn.pt, lenet.pt is; a file that is absent is left out.

    {"mlp.pt": "run #3, 20261122-031500_03_train_model_mlp (validation 97.65%)", ...}
    """
    from common.runs import published_run  # lazy: needs torch to read the checkpoints

    numbers = {row["run"]: index for index, row in enumerate(rows, start=1) if row["run"]}
    states = {}
    for name in PUBLISHED:
        current = published_run(name)
        if current is None:
            continue
        if not current["readable"]:
            states[name] = "unreadable (a better run replaces it; the old file is kept)"
            continue
        val = f" (validation {current['val_acc']:.2%})" if current["val_acc"] is not None else ""
        if current["run"] in numbers:
            states[name] = f"run #{numbers[current['run']]}, {current['run']}{val}"
        else:
            states[name] = f"a model from an older course version{val}"
    return states


def print_runs(rows: Rows) -> None:
    """The --runs listing."""
    if not rows:
        raise CourseError("no runs in models/results.csv yet: "
                          "train one with python 03_train_model.py")
    print(f"your runs ({paths.display_path(paths.results_csv())}; files in "
          f"{paths.display_path(Path(paths.MODELS_DIR) / 'runs')}/):")
    print(HEADER)
    for number, row in enumerate(rows, start=1):
        print(run_line(number, row))
    print("\nthe models later phases load (each your best run on validation so far):")
    states = published_states(rows)
    for name in PUBLISHED:
        print(f"  models/{name:<9} {states.get(name, 'not trained yet')}")
    print("\ncompare validation curves: python -m common.progress --compare [NUMBER or NAME ...]")


# --- --compare ---------------------------------------------------------------------------------


def choose_runs(rows: Rows, chosen: tuple[str, ...]) -> list[tuple[int, dict[str, Any]]]:
    """The runs named by number or by part of their name; default: the latest script's runs."""
    numbered = list(enumerate(rows, start=1))
    if not chosen:
        with_history = [(number, row) for number, row in numbered if row["history"]]
        if not with_history:
            raise CourseError("no run with per-epoch history in models/results.csv yet: "
                              "train one with python 03_train_model.py")
        script = with_history[-1][1]["script"]
        return [(n, row) for n, row in with_history if row["script"] == script][-DEFAULT_CURVES:]
    picked = []
    for token in chosen:
        if token.lstrip("#").isdigit():
            number = int(token.lstrip("#"))
            if not 1 <= number <= len(rows):
                raise CourseError(f"there is no run #{number}: python -m common.progress --runs "
                                  f"lists runs 1..{len(rows)}")
            matches = [(number, rows[number - 1])]
        else:
            matches = [(n, row) for n, row in numbered if token in row["run"]]
            if not matches:
                raise CourseError(f"no run name contains {token!r}: python -m common.progress "
                                  "--runs lists them")
        picked += [match for match in matches if match not in picked]
    return picked


def _drawable(picked: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, dict[str, Any]]]:
    """The runs with a curve to draw; says which ones have none."""
    for number, row in picked:
        if not row["history"]:
            why = ("it diverged before its first epoch ended" if row["status"] == "diverged"
                   else "it has no per-epoch history (not a training run, or an older course "
                   "version)")
            print(f"run #{number} is left out: {why}")
    drawable = [(number, row) for number, row in picked if row["history"]]
    if not drawable:
        raise CourseError("none of these runs has a validation curve to draw")
    return drawable


def _error_percent(record: dict) -> float:
    accuracy = record.get("val_acc")
    if accuracy is None or not math.isfinite(accuracy):
        return 100.0
    return max(100.0 * (1.0 - accuracy), 0.01)  # 100% accuracy would be off a log scale


def plot_comparison(picked: list[tuple[int, dict[str, Any]]], path: Path,
                    show: bool = False) -> Path:
    """Validation accuracy per epoch, one line per run, on a log scale of the error.

    Up is better; each gridline step up halves (or more) the mistakes, so 97% vs 98% is as
    visible as 50% vs 90%. A diverged run is dashed, ends in an X, and says so in the legend.
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    from common import plots  # lazy: the listing needs no matplotlib

    fig, ax = plots.plt.subplots(figsize=(9, 5))
    errors_seen = []
    for index, (number, row) in enumerate(picked):
        epochs = [record.get("epoch", i + 1) for i, record in enumerate(row["history"])]
        errors = [_error_percent(record) for record in row["history"]]
        errors_seen += errors
        color = plots.PALETTE[index % len(plots.PALETTE)]
        diverged = row["status"] == "diverged"
        best = f"{row['val_acc']:.2f}%" if row["val_acc"] is not None else "-"
        label = f"#{number} {row['script'].split('_')[0]} {_cut(what_changed(row), 34)}: {best}"
        ax.plot(epochs, errors, "--" if diverged else "o-", color=color, markersize=3,
                label=label + (" DIVERGED" if diverged else ""))
        if diverged:
            ax.plot(epochs[-1:], errors[-1:], "X", color=color, markersize=11)
            ax.annotate(f"#{number} diverged", (epochs[-1], errors[-1]), xytext=(8, 0),
                        textcoords="offset points", va="center", fontsize=9, color=color)
    ax.set_yscale("log")
    ax.invert_yaxis()  # small error at the top: up is better
    candidates = (0.2, 0.5, 1, 2, 3, 5, 10, 20, 50, 90)
    low, high = min(errors_seen), max(errors_seen)
    ticks = [tick for tick in candidates if low / 1.5 <= tick <= high * 1.5] or [low]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda error, _: f"{100 - error:g}%"))
    ax.xaxis.get_major_locator().set_params(integer=True)
    plots._style(ax, "Validation accuracy per epoch (higher is better)", "epoch",
                 "validation accuracy (log scale of errors)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return paths.write_via_temporary(path, lambda tmp: plots._finish(fig, tmp, show))


def compare(rows: Rows, chosen: tuple[str, ...] = (), show: bool = False) -> Path:
    """The --compare picture and a short table of the runs in it; returns the PNG's path."""
    picked = _drawable(choose_runs(rows, chosen))
    print(HEADER)
    for number, row in picked:
        print(run_line(number, row))
    finished = [(number, row) for number, row in picked if ledger.usable(row)]
    if finished:
        number, row = max(finished, key=lambda item: item[1]["val_acc"])
        print(f"\nbest on validation: run #{number}, {row['val_acc']:.2f}% "
              f"({_cut(what_changed(row), 50)})")
    return plot_comparison(picked, paths.vis_path("progress_compare.png"), show=show)
