"""The list of exercises, which phase each belongs to, and which ones you have passed.

Passes are recorded in ``models/exercises.json`` (git-ignored, next to your results ledger) with
a fingerprint of your file, so ``python -m exercises`` can tell "done" from "edited since it
passed". Each pass also ticks the exercise's box in learning_plan.md (the "Your turn" blocks).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from common import paths
from common.errors import CourseError

EXERCISES_DIR = Path(__file__).resolve().parent
SOLUTIONS_DIR = EXERCISES_DIR / "solutions"
RECORD_NAME = "exercises.json"
PHASES = ("1", "2", "3", "3b", "4", "5", "6")


@dataclass(frozen=True)
class Exercise:
    """One exercise: the file you edit, the function in it, and the check that grades it."""

    name: str      # file stem, e.g. "p1_ink_share" (exercises/p1_ink_share.py)
    phase: str     # "1".."6" or "3b"
    function: str  # the function you write in that file
    title: str     # what it is, in a few words
    check: str     # "module:function" in exercises/, called as check(yours, reference)

    @property
    def label(self) -> str:
        """The checkbox text in learning_plan.md (and what you type to open the file)."""
        return f"exercises/{self.name}.py"

    @property
    def phase_title(self) -> str:
        return "03b bonus" if self.phase == "3b" else f"Phase {self.phase}"


_C13, _C3B4, _C56 = "_checks_p1_p3", "_checks_p3b_p4", "_checks_p5_p6"
EXERCISES = (
    Exercise("p1_ink_share", "1", "ink_share_per_digit", "the share of ink pixels per digit",
             f"{_C13}:check_ink_share"),
    Exercise("p2_forward_pass", "2", "forward_pass", "a 2-layer forward pass with matrix products",
             f"{_C13}:check_forward_pass"),
    Exercise("p2_softmax", "2", "softmax", "softmax, safe for large logits",
             f"{_C13}:check_softmax"),
    Exercise("p3_cross_entropy", "3", "cross_entropy", "the cross-entropy loss by hand",
             f"{_C13}:check_cross_entropy"),
    Exercise("p3_training_step", "3", "training_step", "one training step",
             f"{_C13}:check_training_step"),
    Exercise("p3b_gradient_check", "3b", "numerical_gradient", "a finite-difference gradient",
             f"{_C3B4}:check_numerical_gradient"),
    Exercise("p3b_linear_relu_backward", "3b", "linear_relu_backward",
             "the backward pass of Linear + ReLU (NumPy)", f"{_C3B4}:check_linear_relu_backward"),
    Exercise("p4_dropout", "4", "dropout", "inverted dropout", f"{_C3B4}:check_dropout"),
    Exercise("p4_early_stopping", "4", "should_stop", "an early-stopping rule",
             f"{_C3B4}:check_early_stopping"),
    Exercise("p5_conv2d", "5", "conv2d", "a 2-D convolution by hand", f"{_C56}:check_conv2d"),
    Exercise("p5_max_pool", "5", "max_pool2x2", "2x2 max pooling by hand",
             f"{_C56}:check_max_pool"),
    Exercise("p5_output_size", "5", "conv_output_size", "the output-size formula",
             f"{_C56}:check_output_size"),
    Exercise("p6_calibration", "6", "expected_calibration_error", "the expected calibration error",
             f"{_C56}:check_calibration"),
    Exercise("p6_fgsm", "6", "fgsm_step", "one FGSM step", f"{_C56}:check_fgsm"),
)
BY_NAME = {exercise.name: exercise for exercise in EXERCISES}


def normalize_phase(text: str) -> str:
    """'3', 'p3', 'P3', '03' -> '3'; '03b', '3b', 'p3b' -> '3b'; anything else is a CourseError."""
    phase = text.strip().lower().removeprefix("phase").removeprefix("p").lstrip("0")
    if phase not in PHASES:
        raise CourseError(f"no phase {text!r}: choose from {', '.join(PHASES)} (e.g. 3, p3, 03b)")
    return phase


def select(phases: tuple[str, ...] = ()) -> list[Exercise]:
    """The exercises of the given phases (all of them when none is given), in course order."""
    wanted = {normalize_phase(phase) for phase in phases}
    return [exercise for exercise in EXERCISES if not wanted or exercise.phase in wanted]


def file_of(exercise: Exercise, folder: Path | None = None) -> Path:
    """Your file of ``exercise`` (in ``folder``, default exercises/)."""
    return (folder or EXERCISES_DIR) / f"{exercise.name}.py"


def fingerprint(path: Path) -> str | None:
    """A short hash of a file's bytes (None when it is missing)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def record_path() -> Path:
    return Path(paths.MODELS_DIR) / RECORD_NAME


def read_record() -> dict:
    """{"passed": {name: fingerprint}, "hints": {name: hints shown}}; empty when unreadable."""
    try:
        record = json.loads(record_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"passed": {}, "hints": {}}
    if not isinstance(record, dict):
        return {"passed": {}, "hints": {}}
    return {key: dict(record.get(key) or {}) for key in ("passed", "hints")}


def write_record(record: dict) -> None:
    """Save the record atomically; a read-only folder only costs a warning."""
    from common.idx import atomic_write_bytes  # lazy: listing the exercises needs no torch

    try:
        atomic_write_bytes(paths.model_path(RECORD_NAME), json.dumps(record, indent=1).encode())
    except (OSError, CourseError) as err:
        print(f"warning: could not save your exercise progress ({err})")


def status(exercise: Exercise, record: dict, folder: Path | None = None) -> str:
    """'done', 'edited since it passed' or 'not yet'."""
    passed = record["passed"].get(exercise.name)
    if passed is None:
        return "not yet"
    return "done" if passed == fingerprint(file_of(exercise, folder)) else "edited since it passed"


def summary_lines(folder: Path | None = None) -> list[str]:
    """Your exercises, one line per phase (for ``python -m common.progress``)."""
    record = read_record()
    done = {e.name for e in EXERCISES if status(e, record, folder) == "done"}
    lines = [f"exercises: {len(done)} of {len(EXERCISES)} done (python -m exercises check)"]
    for phase in PHASES:
        marks = [f"[{'x' if e.name in done else ' '}] {e.name}"
                 for e in EXERCISES if e.phase == phase]
        title = "03b bonus" if phase == "3b" else f"Phase {phase}"
        lines.append(f"  {title + ':':<11}" + "  ".join(marks))
    return lines
