"""List the exercises, or check them: python -m exercises [check [PHASE ...]] [--hint].

    python -m exercises                      every exercise and whether it is done yet
    python -m exercises check                check all your files in exercises/
    python -m exercises check 3 03b          only Phase 3 and the 03b bonus (also p3, 3b)
    python -m exercises check 2 --hint       ... and show the next hint of the first failing one
    python -m exercises check --solutions    check the reference solutions in exercises/solutions/

Exit status 0 only when every exercise checked passes.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from common.cli import run_main
from common.errors import CourseError
from exercises import _registry as registry

# ----------------------------------------------------------------------------------------------
HINT = False        # --hint: also show the next hint of the first exercise that does not pass
SOLUTIONS = False   # --solutions: check exercises/solutions/ instead of your files
TIME_LIMIT = 20.0   # try 5..120; seconds one exercise may take before it counts as stuck
# ----------------------------------------------------------------------------------------------

WIDTH = 100  # no printed line is wider
SHOWN = {"passed": "passed", "not yet": "not yet", "wrong": "WRONG", "error": "ERROR"}


def clip(line: str) -> str:
    """``line`` cut to WIDTH columns (messages are written to fit; this is the safety net)."""
    return line if len(line) <= WIDTH else line[: WIDTH - 3] + "..."


def hints_of(exercise: registry.Exercise, folder: Path | None = None) -> list[str]:
    """The numbered hints in the exercise's docstring (your file, else the original in git)."""
    path = registry.file_of(exercise, folder)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    block = text.split("Hints", 1)[1].split('"""', 1)[0] if "Hints" in text else ""
    hints = re.split(r"^\s*\d+\.\s+", block, flags=re.M)[1:]
    return [" ".join(hint.split()) for hint in hints]


def show_hint(exercise: registry.Exercise, record: dict, folder: Path | None) -> None:
    """Print the next hint of ``exercise`` and count it as shown."""
    hints = hints_of(exercise, folder)
    shown = int(record["hints"].get(exercise.name, 0))
    if shown >= len(hints):
        print(clip(f"\nno more hints for {exercise.label}: compare with "
                   f"exercises/solutions/{exercise.name}.py"))
        return
    print(f"\nhint {shown + 1} of {len(hints)} for {exercise.label}:")
    for line in textwrap.wrap(hints[shown], WIDTH - 2):
        print(f"  {line}")
    record["hints"][exercise.name] = shown + 1


def list_exercises(folder: Path | None = None) -> dict:
    """Print every exercise with its status; returns {name: status}."""
    record = registry.read_record()
    statuses = {e.name: registry.status(e, record, folder) for e in registry.EXERCISES}
    print("exercises: edit the file in exercises/, then run python -m exercises check PHASE\n")
    print(f"  {'phase':<11}{'status':<9}{'file':<29}what you write")
    for exercise in registry.EXERCISES:
        mark = "edited" if statuses[exercise.name].startswith("edited") else statuses[exercise.name]
        file = f"{exercise.name}.py"
        print(clip(f"  {exercise.phase_title:<11}{mark:<9}{file:<29}{exercise.title}"))
    done = sum(status == "done" for status in statuses.values())
    print(f"\n{done} of {len(statuses)} done ('edited': changed since it passed, check it again)")
    return statuses


def record_results(results, record: dict, folder: Path | None) -> None:
    """Remember passes (with a fingerprint of your file) and tick them in learning_plan.md."""
    from common import progress

    for result in results:
        exercise = registry.BY_NAME[result.name]
        if result.passed:
            record["passed"][result.name] = registry.fingerprint(registry.file_of(exercise, folder))
        else:
            record["passed"].pop(result.name, None)
    progress.tick_labels([registry.BY_NAME[r.name].label for r in results if r.passed])


def check(phases: tuple[str, ...], hint: bool, solutions: bool, time_limit: float,
          folder: Path | None = None) -> dict:
    """Check the exercises of ``phases`` (all when empty); prints one block per exercise."""
    from exercises import _runner

    exercises = registry.select(phases)
    where = "exercises/solutions/ (the reference)" if solutions else "exercises/ (your files)"
    print(clip(f"checking {len(exercises)} exercise(s) in {where}, {time_limit:g} s limit each"))
    results = _runner.run_checks(exercises, folder, solutions, time_limit)
    for exercise, result in zip(exercises, results):
        print(clip(f"  {SHOWN[result.status]:<9}{exercise.label:<40}{exercise.phase_title}"))
        if result.message:
            print(clip(f"    {result.message}"))
    passed = sum(result.passed for result in results)
    print(f"\n{passed} of {len(results)} pass")
    failing = [e for e, r in zip(exercises, results) if not r.passed]
    record = registry.read_record()
    if failing and not solutions:
        first = failing[0]
        print(clip(f"next: open {first.label}; python -m exercises check {first.phase} --hint "
                   "shows a hint"))
        if hint:
            show_hint(first, record, folder)
    if not solutions:
        record_results(results, record, folder)
        registry.write_record(record)
    return {"results": results, "passed": passed, "checked": len(results),
            "ok": passed == len(results)}


def main(*command: str, hint: bool = HINT, solutions: bool = SOLUTIONS,
         time_limit: float = TIME_LIMIT) -> dict:
    """`python -m exercises` lists the exercises; `python -m exercises check [PHASE ...]` checks."""
    words = [word.lower() for word in command]
    if words[:1] == ["check"] or ((hint or solutions) and not words):
        if time_limit <= 0:
            raise CourseError(f"--time-limit must be positive, got {time_limit}")
        return check(tuple(words[1:]), hint, solutions, time_limit)
    if words in ([], ["list"]):
        return {"statuses": list_exercises(), "ok": True}
    raise CourseError(f"unknown command {' '.join(command)[:20]!r}: try python -m exercises check "
                      "[PHASE ...]")


if __name__ == "__main__":
    raise SystemExit(0 if run_main(main)["ok"] else 1)
