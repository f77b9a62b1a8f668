"""The exercises' checks are real: every solution passes, every untouched stub is "not yet".

Everything here runs in this process through the checking functions (fast). Typical mistakes are
in test_exercises_mistakes.py; the child-process path (time limit, crashes, syntax errors, the
command line) is tested in test_exercises_cli.py.
"""

from __future__ import annotations

import pytest

from common.errors import CourseError
from exercises import _registry as registry
from exercises import _runner

EXERCISES = registry.EXERCISES
REFERENCE = {e.name: _runner.load_function(registry.file_of(e, registry.SOLUTIONS_DIR), e.function,
                                           f"_test_reference_{e.name}") for e in EXERCISES}


def run(name: str, function) -> _runner.Result:
    return _runner.check_function(registry.BY_NAME[name], function, REFERENCE[name])


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.name)
def test_the_reference_solution_passes(exercise):
    result = run(exercise.name, REFERENCE[exercise.name])
    assert result.status == "passed", result.message


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.name)
def test_the_untouched_stub_is_not_yet(exercise):
    stub = _runner.load_function(registry.file_of(exercise), exercise.function,
                                 f"_stub_{exercise.name}")
    result = run(exercise.name, stub)
    assert result.status == "not yet"
    assert result.message.startswith("your turn: write ") and exercise.label in result.message


def test_at_least_nine_exercises_cover_every_phase_and_sort_by_phase():
    assert len(EXERCISES) >= 9
    assert {e.phase for e in EXERCISES} == set(registry.PHASES)
    names = [e.name for e in EXERCISES]
    assert names == sorted(names)
    assert [registry.PHASES.index(e.phase) for e in EXERCISES] == sorted(
        registry.PHASES.index(e.phase) for e in EXERCISES)


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.name)
def test_each_file_explains_itself_and_has_numbered_hints(exercise):
    from exercises.__main__ import hints_of

    text = registry.file_of(exercise).read_text(encoding="utf-8")
    for part in ("Task:", "Why it matters:", "Belongs to:", "Check it: python -m exercises check"):
        assert part in text
    assert ("03b" if exercise.phase == "3b" else f"Phase {exercise.phase}") in text
    assert 'NotImplementedError("your turn: ' in text
    assert len(hints_of(exercise)) >= 2
    assert (registry.SOLUTIONS_DIR / f"{exercise.name}.py").is_file()


@pytest.mark.parametrize("text, phase", [("3", "3"), ("p3", "3"), ("P3", "3"), ("03", "3"),
                                         ("03b", "3b"), ("3b", "3b"), ("p3b", "3b")])
def test_phase_spellings(text, phase):
    assert registry.normalize_phase(text) == phase


def test_an_unknown_phase_is_one_clear_line():
    with pytest.raises(CourseError, match="no phase '7'"):
        registry.select(("7",))


def test_passes_tick_the_plan_and_the_record_tells_done_from_edited(course_dirs, tmp_path, capsys):
    from common import paths, progress
    from exercises.__main__ import record_results

    plan = (paths.REPO_ROOT / "learning_plan.md").read_text(encoding="utf-8")
    course_dirs.plan.write_text(plan, encoding="utf-8")
    folder = tmp_path / "mine"
    folder.mkdir()
    for exercise in EXERCISES:
        (folder / f"{exercise.name}.py").write_bytes(registry.file_of(exercise).read_bytes())
    record = registry.read_record()
    results = [_runner.Result("p2_softmax", "passed"), _runner.Result("p1_ink_share", "wrong")]
    record_results(results, record, folder)
    registry.write_record(record)
    ticked = course_dirs.plan.read_text(encoding="utf-8")
    assert ticked == plan.replace("- [ ] exercises/p2_softmax.py", "- [x] exercises/p2_softmax.py")
    assert "ticked 'exercises/p2_softmax.py'" in capsys.readouterr().out
    record = registry.read_record()
    softmax, ink = registry.BY_NAME["p2_softmax"], registry.BY_NAME["p1_ink_share"]
    assert registry.status(softmax, record, folder) == "done"
    assert registry.status(ink, record, folder) == "not yet"
    assert "[x] p2_softmax" in "\n".join(registry.summary_lines(folder))
    (folder / "p2_softmax.py").write_text("# changed\n", encoding="utf-8")
    assert registry.status(softmax, registry.read_record(), folder) == "edited since it passed"
    assert progress.tick_labels(["exercises/p2_softmax.py"]) == []  # never twice, never unticked


def test_hints_come_one_at_a_time(course_dirs, capsys):
    from exercises.__main__ import hints_of, show_hint

    exercise = registry.BY_NAME["p2_softmax"]
    record = {"passed": {}, "hints": {}}
    for number in range(1, len(hints_of(exercise)) + 1):
        show_hint(exercise, record, None)
        assert f"hint {number} of " in capsys.readouterr().out
    show_hint(exercise, record, None)
    assert "no more hints" in capsys.readouterr().out
