"""House rules a program can check: line length, module size, parameters per function.

Every tracked Python file: no line over 100 characters (the course prints nothing wider either),
no module over 400 lines, and no function with more than 8 parameters apart from the phase
scripts' ``main()`` (whose keywords are the script's flags: settings travel as one object).
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

from common import paths

MAX_LINE = 100
MAX_MODULE_LINES = 400
MAX_PARAMETERS = 8


def tracked_python_files() -> list[Path]:
    """The repository's .py files as git knows them (every .py outside .venv without git)."""
    root = paths.REPO_ROOT
    try:
        listed = subprocess.run(["git", "ls-files", "*.py"], cwd=root, capture_output=True,
                                text=True, check=True, timeout=30).stdout.split()
    except (OSError, subprocess.SubprocessError):
        listed = [str(p.relative_to(root)) for p in root.rglob("*.py") if ".venv" not in p.parts]
    return [root / name for name in listed if (root / name).is_file()]


FILES = tracked_python_files()


def test_there_are_files_to_check():
    assert len(FILES) > 30 and any(path.name == "03_train_model.py" for path in FILES)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(paths.REPO_ROOT)))
def test_lines_fit_100_columns(path):
    long = [number for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if len(line) > MAX_LINE]
    assert not long, f"{path.name}: lines {long[:10]} are longer than {MAX_LINE} characters"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(paths.REPO_ROOT)))
def test_modules_stay_under_400_lines(path):
    count = len(path.read_text(encoding="utf-8").splitlines())
    assert count <= MAX_MODULE_LINES, f"{path.name} has {count} lines; split it by concern"


def parameter_count(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    args = function.args
    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
    return len([name for name in names if name not in ("self", "cls")])


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(paths.REPO_ROOT)))
def test_functions_take_at_most_8_parameters(path):
    is_script = path.parent == paths.REPO_ROOT
    tree = ast.parse(path.read_text(encoding="utf-8"))
    too_many = [f"{node.name} ({parameter_count(node)})" for node in ast.walk(tree)
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                and parameter_count(node) > MAX_PARAMETERS
                and not (is_script and node.name == "main" and node.col_offset == 0)]
    assert not too_many, f"{path.name}: {', '.join(too_many)} take more than {MAX_PARAMETERS}"


def test_the_checks_catch_what_they_should(tmp_path):
    source = "def f(a, b, c, d, e, f, g, h, i):\n    pass\n"
    function = ast.parse(source).body[0]
    assert parameter_count(function) == 9
    method = (
        ast.parse("class A:\n    def m(self, a, *rest, **extra):\n        pass\n").body[0].body[0]
    )
    assert parameter_count(method) == 3
