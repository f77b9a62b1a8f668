"""Where the learner stands: ticks learning_plan.md and says what to run next (introduced in Phase 1).

Each phase has a checkpoint the course can verify from what the scripts left behind (a picture,
a checkpoint's metrics, a row in the results ledger). Every phase script ends with
:func:`update_plan`, which ticks the checkbox of each phase whose checkpoint is met and refreshes
the results block between ``<!-- results:start -->`` and ``<!-- results:end -->`` with the
learner's best numbers. It never unticks a box, never touches any other text (the learner's
notes are theirs), and writes through a temporary file and a rename, so the plan is never left
half-written.

    python -m common.progress           where you stand and what to run next
    python -m common.progress --plot    your own results as one picture: visualizations/progress_story.png
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import ledger, paths
from common.cli import run_main
from common.errors import CourseError
from common.idx import atomic_write_bytes

START_MARKER = "<!-- results:start -->"
END_MARKER = "<!-- results:end -->"
Rows = list[dict[str, Any]]


def _vis_exists(name: str) -> Callable[[Rows], bool]:
    """A check that passes once ``visualizations/<name>`` (a glob pattern) exists."""
    return lambda rows: any(Path(paths.VIS_DIR).glob(name))


def _ledger_has(*, step: str | None = None, script: str | None = None, column: str = "test_acc",
                at_least: float = 0.0) -> Callable[[Rows], bool]:
    """A check that passes once a ledger row matches ``step``/``script`` with ``column`` >= ``at_least`` (%)."""
    def check(rows: Rows) -> bool:
        return any((step is None or row["step"] == step) and (script is None or row["script"] == script)
                   and (row[column] or 0.0) >= at_least for row in rows)
    return check


def _read_metrics(path: Path) -> dict:
    """The ``metrics`` dict of a checkpoint; {} when it is missing or unreadable."""
    from common.checkpoints import load_checkpoint  # lazy: the status report starts fast without torch

    try:
        return load_checkpoint(path, map_location="cpu").get("metrics") or {}
    except CourseError:
        return {}


def _checkpoint_reaches(name: str, test_acc: float) -> Callable[[Rows], bool]:
    """A check that passes once ``models/<name>`` exists with test accuracy >= ``test_acc`` (fraction).

    Test accuracy, because that is the number the plan quotes (~97-98% MLP, >99% CNN); MNIST's
    validation split here happens to be a little harder than its test set.
    """
    def check(rows: Rows) -> bool:
        path = Path(paths.MODELS_DIR) / name
        try:
            return path.exists() and float(_read_metrics(path).get("test_acc") or 0.0) >= test_acc
        except Exception:  # a damaged checkpoint only means "not yet"; never break a script's ending
            return False
    return check


@dataclass(frozen=True)
class Checkpoint:
    """One checkbox of the Progress Tracker and how the course knows it is earned."""

    label: str                        # the checkbox text in learning_plan.md, matched exactly
    done_when: str                    # the checkpoint, in words
    run: str                          # what to run to reach it
    is_met: Callable[[Rows], bool]    # given the ledger rows
    bonus: bool = False


CHECKPOINTS = (
    Checkpoint("Phase 1: Understanding the Basics", "visualizations/01_samples_per_digit.png exists",
               "python 01_explore_mnist.py", _vis_exists("01_samples_per_digit.png")),
    Checkpoint("Phase 2: Your First Neural Network", "the ledger has the untrained baseline",
               "python 02_simple_nn.py", _ledger_has(step="untrained")),
    Checkpoint("Phase 3: Training & Optimization", "models/mlp.pt reaches >= 97% test accuracy",
               "python 03_train_model.py", _checkpoint_reaches("mlp.pt", 0.97)),
    Checkpoint("Phase 4: Improving Performance", "an MLP run reaches >= 98.0% test accuracy",
               "python 03_train_model.py --hidden-sizes 512 --batchnorm --dropout 0.2 --batch-size 128 --epochs 5 --scheduler onecycle --lr 0.003",
               _ledger_has(script="03_train_model.py", column="test_acc", at_least=98.0)),
    Checkpoint("Phase 5: Going Deeper with CNNs", "models/cnn.pt reaches >= 99% test accuracy",
               "python 04_improved_model.py", _checkpoint_reaches("cnn.pt", 0.99)),
    Checkpoint("Phase 6: Understanding What You Built", "visualizations/05_confusion_matrix.png exists",
               "python 05_understand_model.py", _vis_exists("05_confusion_matrix.png")),
    Checkpoint("Bonus: backprop from scratch (03b_backprop_from_scratch.py)",
               "the NumPy network reaches >= 97% test accuracy", "python 03b_backprop_from_scratch.py",
               _ledger_has(step="scratch", at_least=97.0), bonus=True),
    Checkpoint("Bonus: watch the network think (06_watch_network.py)",
               "visualizations/06_network_dashboard.png exists", "python 06_watch_network.py",
               _vis_exists("06_network_dashboard.png"), bonus=True),
    Checkpoint("Bonus: your own digit (predict.py)", "a visualizations/predict_*.png exists",
               "python predict.py my_digit.jpg --save   (a photo of a digit you wrote)",
               _vis_exists("predict_*.png"), bonus=True),
)

# The results block: which ledger steps count as each phase's result.
RESULT_ROWS = (
    ("Phase 2: untrained baseline", ("untrained",)),
    ("Phase 3: first trained MLP", ("mlp",)),
    ("Phase 4: best fully connected net", ("mlp", "mlp-tuned")),
    ("Phase 5: best CNN", ("cnn", "cnn-augment", "lenet")),
    ("Bonus: NumPy net from scratch", ("scratch",)),
)


def met_checkpoints(rows: Rows | None = None) -> list[Checkpoint]:
    """The checkpoints whose conditions hold right now (reads the ledger unless ``rows`` is given)."""
    rows = ledger.read_results() if rows is None else rows
    return [checkpoint for checkpoint in CHECKPOINTS if checkpoint.is_met(rows)]


def _best(rows: Rows, steps: tuple[str, ...]) -> dict[str, Any] | None:
    """The row of ``steps`` with the highest test accuracy (validation breaks ties / stands in)."""
    candidates = [row for row in rows if row["step"] in steps and (row["test_acc"] or row["val_acc"])]
    return max(candidates, key=lambda row: (row["test_acc"] or 0.0, row["val_acc"] or 0.0), default=None)


def results_table(rows: Rows) -> list[str]:
    """The markdown lines of the results block: phase / best result / model / date."""
    lines = ["_Filled in by the scripts from models/results.csv; edits between the markers are replaced._", "",
             "| Phase | Best result | Model | Date |", "|---|---|---|---|"]
    for title, steps in RESULT_ROWS:
        row = _best(rows, steps)
        if row is None:
            lines.append(f"| {title} | not run yet | | |")
            continue
        shown = [f"{name} {row[key]:.2f}%" for name, key in (("test", "test_acc"), ("val", "val_acc"))
                 if row[key] is not None]
        lines.append(f"| {title} | {', '.join(shown)} | {row['model']} ({row['params']:,} parameters, "
                     f"{row['seconds']:.0f} s) | {row['date']} |")
    return lines


_CHECKBOX = re.compile(r"^(\s*[-*+]\s+\[)([ xX])(\]\s+)(.*)$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
_RULE = re.compile(r"^\s*(-{3,}|\*{3,}|_{3,})\s*$")


def _fenced(lines: list[str]) -> list[bool]:
    """For each line, whether it sits inside (or on) a ``` code fence, where nothing is touched."""
    inside, flags = False, []
    for line in lines:
        fence = line.lstrip().startswith(("```", "~~~"))
        flags.append(inside or fence)
        inside = inside != fence
    return flags


def _tick(lines: list[str], labels: set[str]) -> list[str]:
    """Tick, in place, each unticked checkbox line whose text starts with one of ``labels``; returns them."""
    ticked = []
    for index, (line, fenced) in enumerate(zip(lines, _fenced(lines))):
        match = _CHECKBOX.match(line.rstrip("\r\n"))
        if fenced or not match or match.group(2) != " ":
            continue
        text = match.group(4)
        label = next((label for label in labels if text == label or text.startswith(label + " ")), None)
        if label is not None:
            lines[index] = line.replace("[ ]", "[x]", 1)
            ticked.append(label)
    return ticked


def _tracker_end(lines: list[str]) -> int:
    """Where a fresh results block goes: the end of the Progress Tracker section (or of the file)."""
    start, level = None, 0
    for index, (line, fenced) in enumerate(zip(lines, _fenced(lines))):
        heading = None if fenced else _HEADING.match(line.rstrip("\r\n"))
        if heading and start is None and "progress tracker" in heading.group(2).lower():
            start, level = index, len(heading.group(1))
        elif heading and start is not None and len(heading.group(1)) <= level:
            end = index
            while end - 1 > start and (not lines[end - 1].strip() or _RULE.match(lines[end - 1])):
                end -= 1
            return end
    return len(lines)


def _with_results(text: str, block: list[str], newline: str) -> str | None:
    """``text`` with its results block refreshed (or added); None when the markers are unpaired."""
    starts, ends = text.count(START_MARKER), text.count(END_MARKER)
    if starts == ends == 1 and text.index(START_MARKER) < text.index(END_MARKER):
        head, rest = text.split(START_MARKER)
        _, tail = rest.split(END_MARKER)
        return head + START_MARKER + newline + newline.join(block) + newline + END_MARKER + tail
    if starts or ends:
        return None
    lines = text.splitlines(keepends=True)
    at = _tracker_end(lines)
    if lines and at == len(lines) and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += newline
    before = [""] if at > 0 and lines[at - 1].strip() else []
    after = [""] if at < len(lines) and lines[at].strip() else []
    fresh = before + [START_MARKER, *block, END_MARKER] + after
    return "".join(lines[:at] + [line + newline for line in fresh] + lines[at:])


def update_plan() -> list[str]:
    """Tick every phase whose checkpoint is met and refresh the results block; returns the newly ticked labels.

    A no-op when learning_plan.md does not exist. Prints one line per newly ticked box, and a
    warning (leaving the file untouched) when the results markers are unpaired or it cannot be written.
    """
    plan = Path(paths.PLAN_FILE)
    if not plan.exists():
        return []
    original = plan.read_bytes().decode("utf-8", errors="surrogateescape")
    newline = "\r\n" if "\r\n" in original else "\n"
    rows = ledger.read_results()
    lines = original.splitlines(keepends=True)
    ticked = _tick(lines, {checkpoint.label for checkpoint in met_checkpoints(rows)})
    updated = _with_results("".join(lines), results_table(rows), newline)
    if updated is None:
        print(f"warning: {paths.display_path(plan)} has a '{START_MARKER}' or '{END_MARKER}' without its pair; "
              "left it unchanged (restore both markers to get your results filled in)")
        return []
    if updated != original:
        try:
            atomic_write_bytes(plan, updated.encode("utf-8", errors="surrogateescape"))
        except OSError as err:
            print(f"warning: could not update {paths.display_path(plan)} ({err}); your results are safe in "
                  f"{paths.display_path(paths.results_csv())}")
            return []
    for label in ticked:
        print(f"progress: ticked '{label}' in {paths.display_path(plan)}")
    return ticked


def tick_labels(labels: list[str]) -> list[str]:
    """Tick the unticked checkbox lines of learning_plan.md that start with one of ``labels``.

    For boxes earned outside the phase scripts (a passed exercise: ``python -m exercises check``).
    Like :func:`update_plan` it never unticks, touches nothing else and writes atomically.
    """
    plan = Path(paths.PLAN_FILE)
    if not labels or not plan.exists():
        return []
    original = plan.read_bytes().decode("utf-8", errors="surrogateescape")
    lines = original.splitlines(keepends=True)
    ticked = _tick(lines, set(labels))
    if ticked:
        try:
            atomic_write_bytes(plan, "".join(lines).encode("utf-8", errors="surrogateescape"))
        except OSError as err:
            print(f"warning: could not tick {paths.display_path(plan)} ({err})")
            return []
    for label in ticked:
        print(f"progress: ticked '{label}' in {paths.display_path(plan)}")
    return ticked


def plot_story(rows: Rows, show: bool = False) -> Path:
    """Your best test accuracy per step, in the order the course builds them (Nielsen's arc, your numbers)."""
    from common import plots  # lazy: the plain status report needs no matplotlib

    order = (("untrained", "untrained"), ("mlp", "MLP"), ("mlp-tuned", "tuned MLP"), ("cnn", "CNN"),
             ("cnn-augment", "CNN + augment"), ("scratch", "from scratch\n(NumPy)"), ("lenet", "LeNet"))
    best = [(name, _best([row for row in rows if row["test_acc"] is not None], (step,))) for step, name in order]
    best = [(name, row) for name, row in best if row is not None]
    if not best:
        raise CourseError("no test results in models/results.csv yet: run python 02_simple_nn.py first")
    return plots.plot_progress_story([name for name, _ in best], [row["test_acc"] for _, row in best],
                                     [f"{row['params']:,} params\n{row['seconds']:.0f} s" for _, row in best],
                                     paths.vis_path("progress_story.png"), show=show)


def main(plot: bool = False, show: bool = False) -> dict:
    """Sync learning_plan.md, print each checkpoint's state and the next command to run."""
    update_plan()
    rows = ledger.read_results()
    done = {checkpoint.label for checkpoint in met_checkpoints(rows)}
    width = max(len(checkpoint.label) for checkpoint in CHECKPOINTS)
    for checkpoint in CHECKPOINTS:
        mark = "x" if checkpoint.label in done else " "
        print(f"[{mark}] {checkpoint.label:<{width}}  {checkpoint.done_when}")
    upcoming = next((c for c in CHECKPOINTS if not c.bonus and c.label not in done), None)
    if upcoming is None:
        print("\nall six phases done. Bonus steps still open:" if len(done) < len(CHECKPOINTS)
              else "\nevery phase and bonus done: see the plan's Next steps")
        for checkpoint in CHECKPOINTS:
            if checkpoint.label not in done:
                print(f"  {checkpoint.run}")
    else:
        print(f"\nnext: {upcoming.label}\n  run: {upcoming.run}")
    print(f"\nyour best results ({paths.display_path(paths.results_csv())}):")
    print("\n".join(results_table(rows)[2:]))
    from exercises import summary_lines  # your exercises (python -m exercises check ticks them)
    print("\n" + "\n".join(summary_lines()))
    files = [plot_story(rows, show=show)] if plot else []
    if files:
        print(f"\nfiles written:\n  {paths.display_path(files[0])}")
        from common import plots
        plots.show_figures(show)
    return {"done": [c.label for c in CHECKPOINTS if c.label in done],
            "next": upcoming.label if upcoming else None, "files": files}


if __name__ == "__main__":
    run_main(main)
