"""The exercise checker as a learner meets it: child processes, broken files, the command line.

Broken files (tests/exercise_cases/) each get a one-line reason while the other exercises are
still checked, and checking never changes the learner's folder. The command line exits 1 on the
untouched stubs and 0 on the reference solutions.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from common import paths
from exercises import _registry as registry
from exercises import _runner

CASES = Path(__file__).parent / "exercise_cases"
BROKEN = {  # exercise -> (broken file, status, words in its one-line reason)
    "p1_ink_share": ("syntax_error", "error", "p1_ink_share.py line 6: syntax error"),
    "p2_softmax": (
        "missing_import",
        "error",
        "line 3: cannot import 'tensorflow_lite' (use torch and numpy)",
    ),
    "p3_cross_entropy": ("wrong_type", "wrong", "your loss is a list: return a number"),
    "p4_early_stopping": ("prints_a_lot", "passed", ""),
    "p5_output_size": ("crashes", "error", "p5_output_size.py line 6: ZeroDivisionError"),
    "p6_calibration": ("calls_exit", "error", "your code called exit()"),
    "p6_fgsm": ("loops_forever", "error", "no answer within 5 s: is there a loop that never ends"),
}


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() if path.is_file() else b"<dir>"
            for path in sorted(folder.rglob("*"))}


def test_each_broken_file_gets_one_line_and_the_others_are_still_checked(tmp_path):
    folder = tmp_path / "exercises"
    folder.mkdir()
    for exercise in registry.EXERCISES:
        shutil.copy(registry.file_of(exercise), folder)
    right = registry.file_of(registry.BY_NAME["p2_forward_pass"], registry.SOLUTIONS_DIR)
    shutil.copy(right, folder)
    for name, (case, _, _) in BROKEN.items():
        shutil.copy(CASES / f"{case}.py.txt", folder / f"{name}.py")
    before = snapshot(folder)
    chosen = [e for e in registry.EXERCISES if e.name in BROKEN or e.name in ("p2_forward_pass",
                                                                           "p3_training_step")]
    results = {r.name: r for r in _runner.run_checks(chosen, folder=folder, time_limit=5)}
    for name, (case, status, words) in BROKEN.items():
        result = results[name]
        assert (result.status, case) == (status, case), result.message
        assert words in result.message and "\n" not in result.message
        assert "Traceback" not in result.message and len(result.message) <= 96
    assert results["p2_forward_pass"].passed  # a right file among broken ones still passes
    assert results["p3_training_step"].status == "not yet"
    assert snapshot(folder) == before  # nothing written, no __pycache__


def run_cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "exercises", *args], cwd=root, capture_output=True,
                          text=True, timeout=300)


def course_copy(tmp_path: Path) -> Path:
    """common/ and exercises/ in a fresh folder: the command writes its record there, not here."""
    root = tmp_path / "course"
    for part in ("common", "exercises"):
        shutil.copytree(paths.REPO_ROOT / part, root / part,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_the_command_line_exits_1_on_the_stubs_and_0_on_the_solutions(tmp_path):
    root = course_copy(tmp_path)
    stubs = run_cli(root, "check")
    assert stubs.returncode == 1, stubs.stderr
    count = len(registry.EXERCISES)
    assert stubs.stdout.count("\n  not yet ") == count and f"0 of {count} pass" in stubs.stdout
    solutions = run_cli(root, "check", "--solutions")
    assert solutions.returncode == 0, solutions.stdout + solutions.stderr
    assert f"{count} of {count} pass" in solutions.stdout
    for output in (stubs.stdout, solutions.stdout):
        assert max(len(line) for line in output.splitlines()) <= 100
        assert "Traceback" not in output


def test_the_list_and_a_wrong_phase(tmp_path):
    root = course_copy(tmp_path)
    listing = run_cli(root)
    assert listing.returncode == 0
    assert all(f"{e.name}.py" in listing.stdout for e in registry.EXERCISES)
    wrong = run_cli(root, "check", "9")
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == ("error: no phase '9': choose from 1, 2, 3, 3b, 4, 5, 6 "
                                    "(e.g. 3, p3, 03b)")
