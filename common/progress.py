"""Where the learner stands: ticks learning_plan.md and says what to run next (Phase 1).

Each phase has a checkpoint the course can verify from what the scripts left behind (a picture,
a checkpoint's metrics, a row in the results ledger). Every phase script ends with
:func:`update_plan`, which ticks the checkbox of each phase whose checkpoint is met and refreshes
the results block between ``<!-- results:start -->`` and ``<!-- results:end -->`` with the
learner's best numbers. It never unticks a box, never touches any other text (the learner's
notes are theirs), and writes through a temporary file and a rename, so the plan is never left
half-written.

Every choice here uses VALIDATION accuracy: the best run of a phase, the Phase 3-5 checkpoints,
the runs in the story picture. A run's test accuracy is only reported beside it.

    python -m common.progress            where you stand and what to run next
    python -m common.progress --plot     your results as one picture: progress_story.png
    python -m common.progress --runs     every run you made (see common/run_history.py)
    python -m common.progress --compare [RUN ...]   their validation curves in one picture
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import ledger, paths, run_history
from common.cli import run_main
from common.errors import CourseError

START_MARKER = "<!-- results:start -->"
END_MARKER = "<!-- results:end -->"
Rows = list[dict[str, Any]]
# Validation accuracy (%) each checkpoint asks for. The validation images (6,000 taken from the
# training set) are a little harder than the test set: the defaults score about 0.3 points lower
# on validation than on test. Measured: see learning_plan.md and the report of issue 11.
PHASE3_VAL = 97.0   # models/mlp.pt; 03's defaults reached 97.35-97.60% (3 seeds)
PHASE4_VAL = 97.7   # any 03 run; the Phase-4 recipe reached 97.83-98.13%, the defaults stay below
PHASE5_VAL = 98.5   # models/cnn.pt; the plan's CNN reached 98.92% in its 3 epochs
PHASE4_RECIPE = ("python 03_train_model.py --hidden-sizes 512 --batchnorm --dropout 0.2 "
                 "--batch-size 128 --epochs 5 --scheduler onecycle --lr 0.003")


def _vis_exists(name: str) -> Callable[[Rows], bool]:
    """A check that passes once ``visualizations/<name>`` (a glob pattern) exists."""
    return lambda rows: any(Path(paths.VIS_DIR).glob(name))


def _ledger_has(*, step: str | None = None, script: str | None = None, column: str = "val_acc",
                at_least: float = 0.0) -> Callable[[Rows], bool]:
    """A check passing once a ledger row of ``step``/``script`` has ``column`` >= ``at_least`` (%).

    Diverged runs never count.
    """
    def check(rows: Rows) -> bool:
        return any((step is None or row["step"] == step)
                   and (script is None or row["script"] == script)
                   and row["status"] != "diverged" and (row[column] or 0.0) >= at_least
                   for row in rows)
    return check


def _read_metrics(path: Path) -> dict:
    """The ``metrics`` dict of a checkpoint; {} when it is missing or unreadable."""
    from common.checkpoints import load_checkpoint  # lazy: the status report starts without torch

    try:
        return load_checkpoint(path, map_location="cpu").get("metrics") or {}
    except CourseError:
        return {}


def _checkpoint_reaches(name: str, val_percent: float) -> Callable[[Rows], bool]:
    """A check passing once ``models/<name>`` exists with validation accuracy >= ``val_percent``."""
    def check(rows: Rows) -> bool:
        path = Path(paths.MODELS_DIR) / name
        try:
            val_acc = float(_read_metrics(path).get("val_acc") or 0.0) if path.exists() else 0.0
        except Exception:  # a damaged checkpoint only means "not yet"; never break a script
            return False
        return 100 * val_acc >= val_percent - 1e-9
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
    Checkpoint("Phase 1: Understanding the Basics",
               "visualizations/01_samples_per_digit.png exists",
               "python 01_explore_mnist.py", _vis_exists("01_samples_per_digit.png")),
    Checkpoint("Phase 2: Your First Neural Network", "the ledger has the untrained baseline",
               "python 02_simple_nn.py", _ledger_has(step="untrained")),
    Checkpoint("Phase 3: Training & Optimization",
               f"models/mlp.pt reaches >= {PHASE3_VAL}% validation accuracy",
               "python 03_train_model.py", _checkpoint_reaches("mlp.pt", PHASE3_VAL)),
    Checkpoint("Phase 4: Improving Performance",
               f"an MLP run reaches >= {PHASE4_VAL}% validation accuracy", PHASE4_RECIPE,
               _ledger_has(script="03_train_model.py", at_least=PHASE4_VAL)),
    Checkpoint("Phase 5: Going Deeper with CNNs",
               f"models/cnn.pt reaches >= {PHASE5_VAL}% validation accuracy",
               "python 04_improved_model.py", _checkpoint_reaches("cnn.pt", PHASE5_VAL)),
    Checkpoint("Phase 6: Understanding What You Built",
               "visualizations/05_confusion_matrix.png exists",
               "python 05_understand_model.py", _vis_exists("05_confusion_matrix.png")),
    Checkpoint("Bonus: backprop from scratch (03b_backprop_from_scratch.py)",
               "the NumPy network reaches >= 97% test accuracy",
               "python 03b_backprop_from_scratch.py",
               _ledger_has(step="scratch", column="test_acc", at_least=97.0), bonus=True),
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
    ("Phase 4: best fully connected net", ("mlp", "mlp-tuned", "mlp-sweep", "ablation")),
    ("Phase 5: best CNN", ("cnn", "cnn-augment", "lenet", "ladder", "ensemble")),
    ("Bonus: NumPy net from scratch", ("scratch",)),
)


def met_checkpoints(rows: Rows | None = None) -> list[Checkpoint]:
    """The checkpoints whose conditions hold now (reads the ledger unless ``rows`` is given)."""
    rows = ledger.read_results() if rows is None else rows
    return [checkpoint for checkpoint in CHECKPOINTS if checkpoint.is_met(rows)]


def results_table(rows: Rows, published: dict[str, str] | None = None) -> list[str]:
    """The markdown lines of the results block: phase / best run on validation / model / date.

    Then which run each model later phases load is: ``published`` maps "mlp.pt" to a description
    such as "run #3, 20261122-031500_03_train_model_mlp" (missing: not trained yet).
    """
    lines = ["_Filled in by the scripts from models/results.csv (each phase's best run on "
             "validation); edits between the markers are replaced._", "",
             "| Phase | Best result | Model | Date |", "|---|---|---|---|"]
    for title, steps in RESULT_ROWS:
        row = ledger.best_by_validation(rows, steps)
        if row is None:
            lines.append(f"| {title} | not run yet | | |")
            continue
        shown = [f"{name} {row[key]:.2f}%" for name, key in (("val", "val_acc"),
                                                             ("test", "test_acc"))
                 if row[key] is not None]
        lines.append(f"| {title} | {', '.join(shown)} | {row['model']} ({row['params']:,} "
                     f"parameters, {row['seconds']:.0f} s) | {row['date']} |")
    lines += ["", "The models later phases load, each your best run on validation so far:", ""]
    for name in run_history.PUBLISHED:
        lines.append(f"- `models/{name}`: {(published or {}).get(name, 'not trained yet')}")
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
    """Tick, in place, each unticked checkbox starting with one of ``labels``; returns them."""
    ticked = []
    for index, (line, fenced) in enumerate(zip(lines, _fenced(lines))):
        match = _CHECKBOX.match(line.rstrip("\r\n"))
        if fenced or not match or match.group(2) != " ":
            continue
        text = match.group(4)
        label = next((label for label in labels
                      if text == label or text.startswith(label + " ")), None)
        if label is not None:
            lines[index] = line.replace("[ ]", "[x]", 1)
            ticked.append(label)
    return ticked


def _tracker_end(lines: list[str]) -> int:
    """Where a fresh results block goes: the end of the Progress Tracker section (or the file)."""
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
    """Tick each phase whose checkpoint is met, refresh the results block; returns the new ticks.

    A no-op when learning_plan.md does not exist. Prints one line per newly ticked box, and a
    warning (leaving the file untouched) when the results markers are unpaired. A plan that
    cannot be written (full disk, no permission) is one CourseError line; the file stays as it was.
    """
    plan = Path(paths.PLAN_FILE)
    if not plan.exists():
        return []
    original = plan.read_bytes().decode("utf-8", errors="surrogateescape")
    newline = "\r\n" if "\r\n" in original else "\n"
    rows = ledger.read_results()
    lines = original.splitlines(keepends=True)
    ticked = _tick(lines, {checkpoint.label for checkpoint in met_checkpoints(rows)})
    block = results_table(rows, run_history.published_states(rows))
    updated = _with_results("".join(lines), block, newline)
    if updated is None:
        print(f"warning: {paths.display_path(plan)} has a '{START_MARKER}' or '{END_MARKER}' "
              "without its pair; left it unchanged (restore both markers to get your results)")
        return []
    if updated != original:
        paths.write_bytes_safely(plan, updated.encode("utf-8", errors="surrogateescape"))
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
        paths.write_bytes_safely(plan, "".join(lines).encode("utf-8", errors="surrogateescape"))
    for label in ticked:
        print(f"progress: ticked '{label}' in {paths.display_path(plan)}")
    return ticked


STORY = (("untrained", "untrained"), ("mlp", "MLP"), ("mlp-tuned", "tuned MLP"), ("cnn", "CNN"),
         ("cnn-augment", "CNN + augment"), ("scratch", "from scratch\n(NumPy)"), ("lenet", "LeNet"),
         ("ensemble", "ensemble"), ("speedrun", "speedrun"))


def plot_story(rows: Rows, show: bool = False) -> Path:
    """Each step's best run on validation, in the order the course builds them (Nielsen's arc).

    The bars show the test accuracy each chosen run reported at its end; the test set never
    chooses which run is shown.
    """
    from common import plots  # lazy: the plain status report needs no matplotlib

    best = [(name, ledger.best_by_validation(rows, (step,), tested=True)) for step, name in STORY]
    best = [(name, row) for name, row in best if row is not None]
    if not best:
        raise CourseError("no test results in models/results.csv yet: run python 02_simple_nn.py")
    notes = [f"val {row['val_acc']:.2f}%\n{row['params']:,} params\n{row['seconds']:.0f} s"
             for _, row in best]
    return paths.write_via_temporary(
        paths.vis_path("progress_story.png"), lambda tmp: plots.plot_progress_story(
            [name for name, _ in best], [row["test_acc"] for _, row in best], notes, tmp,
            show=show))


def main(*chosen: str, plot: bool = False, runs: bool = False, compare: bool = False,
         show: bool = False) -> dict:
    """Sync learning_plan.md, print each checkpoint's state and the next command to run.

    ``--runs`` lists every run instead; ``--compare [RUN ...]`` draws their validation curves.
    """
    if chosen and not compare:
        raise CourseError("run numbers or names go with --compare, e.g. "
                          "python -m common.progress --compare 3 5")
    if runs or compare:
        return _history(ledger.read_results(), chosen, runs=runs, compare=compare, show=show)
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
    print("\n".join(results_table(rows, run_history.published_states(rows))[2:]))
    from exercises import summary_lines  # your exercises (python -m exercises check ticks them)
    print("\n" + "\n".join(summary_lines()))
    files = [plot_story(rows, show=show)] if plot else []
    if files:
        print(f"\nfiles written:\n  {paths.display_path(files[0])}")
        from common import plots
        plots.show_figures(show)
    return {"done": [c.label for c in CHECKPOINTS if c.label in done],
            "next": upcoming.label if upcoming else None, "files": files}


def _history(rows: Rows, chosen: tuple[str, ...], *, runs: bool, compare: bool,
             show: bool) -> dict:
    """``--runs`` and ``--compare``: the run listing and the compared curves."""
    files = []
    if runs:
        run_history.print_runs(rows)
    if compare:
        files.append(run_history.compare(rows, chosen, show=show))
        print(f"\nfiles written:\n  {paths.display_path(files[0])}")
        from common import plots
        plots.show_figures(show)
    return {"runs": len(rows), "files": files}


if __name__ == "__main__":
    run_main(main)
