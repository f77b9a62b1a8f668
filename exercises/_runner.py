"""Run the checks: each file in a child process with a time limit, every problem as one line.

The parent never imports your code. A child process (started with ``spawn``, so it shares
nothing) loads your file and the reference, runs the check, and sends back a status and a
one-line reason. Whatever your code prints is dropped. If an exercise does not answer within the
time limit, or takes Python down, that child is stopped, the exercise gets its one-line reason,
and a fresh child checks the rest.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from exercises import _registry as registry
from exercises._checking import Mistake

TIME_LIMIT = 20.0      # seconds one exercise may take (loading your file included)
STARTUP_LIMIT = 120.0  # seconds a child may take to start (it imports torch once)
PRINT_LIMIT = 10_000   # characters of your prints kept in memory (then dropped: never shown)
MESSAGE_WIDTH = 96     # a reason is printed indented by 4 columns, in at most 100


@dataclass(frozen=True)
class Result:
    """The outcome of one exercise: 'passed', 'not yet', 'wrong' or 'error', and why."""

    name: str
    status: str
    message: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"


class LoadError(Exception):
    """Your file could not be loaded (syntax error, missing import, missing function)."""

    def __init__(self, message: str, status: str = "error"):
        super().__init__(message[:MESSAGE_WIDTH])
        self.status = status


def display(path: Path) -> str:
    """A path relative to the repository when possible (exercises/p2_softmax.py)."""
    from common import paths

    path = Path(path).resolve()
    try:
        return str(path.relative_to(paths.REPO_ROOT))
    except ValueError:
        return f"{path.parent.name}/{path.name}"  # a copy elsewhere: keep the line short


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def _advice(err: BaseException) -> str:
    """A pointer for the crashes beginners meet most."""
    text = str(err)
    if "shapes cannot be multiplied" in text or "size of tensor a" in text:
        return " (check .shape; W is (out, in): W.T)"
    if isinstance(err, IndexError):
        return " (an index past the end)"
    return ""


def describe_crash(err: BaseException, source: Path) -> str:
    """One line for an exception: your file and line when it came from your code."""
    source = Path(source).resolve()
    frames = [frame for frame in traceback.extract_tb(err.__traceback__)
              if Path(frame.filename).resolve() == source]
    if isinstance(err, SystemExit):
        return "your code called exit(): return the result instead"
    if frames:
        where = f"{display(source)} line {frames[-1].lineno}: "
        name, advice = type(err).__name__, _advice(err)
        detail = _first_line(err)[len(name) + 2:]
        room = MESSAGE_WIDTH - len(where + name + advice) - 2
        if detail and room >= 20:
            name += ": " + (detail if len(detail) <= room else detail[: room - 3] + "...")
        if len(where + name + advice) > MESSAGE_WIDTH:
            advice = ""  # the file, the line and the error matter most
        return (where + name + advice)[:MESSAGE_WIDTH]
    return (f"the checker could not use your result ({_first_line(err)}): check the type and shape "
            "you return")


def load_function(path: Path, function: str, module_name: str):
    """``function`` from the Python file ``path``; a LoadError with one line when that fails."""
    if not path.is_file():
        raise LoadError(f"{display(path)} is missing: get it back with git checkout "
                        f"{display(path)}")
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as err:
        raise LoadError(f"{display(path)} line {err.lineno}: syntax error ({err.msg}): "
                        "fix that line") from None
    except ImportError as err:
        where = describe_crash(err, path).split(":")[0]
        missing = f"cannot import {err.name!r}" if err.name else _first_line(err)
        raise LoadError(f"{where}: {missing} (use torch and numpy)"[:MESSAGE_WIDTH]) from None
    except NotImplementedError as err:
        raise LoadError(str(err) or "your turn", status="not yet") from None
    except BaseException as err:  # noqa: BLE001 - anything your file does while loading
        raise LoadError(describe_crash(err, path)) from None
    found = getattr(module, function, None)
    if not callable(found):
        raise LoadError(f"{display(path)} has no function {function}(): keep its name as given")
    return found


def _resolve_check(exercise: registry.Exercise):
    module_name, function = exercise.check.split(":")
    module = importlib.import_module(f"exercises.{module_name}")
    return getattr(module, function)


def check_function(exercise: registry.Exercise, yours, reference,
                   source: Path | None = None) -> Result:
    """Run ``exercise``'s check on the function ``yours`` (in this process) and classify it."""
    import numpy as np
    import torch

    source = Path(source or yours.__code__.co_filename)
    torch.manual_seed(0)
    np.random.seed(0)
    try:
        _resolve_check(exercise)(yours, reference)
    except Mistake as err:
        return Result(exercise.name, "wrong", str(err))
    except NotImplementedError as err:
        return Result(exercise.name, "not yet", str(err) or "your turn")
    except BaseException as err:  # noqa: BLE001 - any crash of your code becomes one line
        if isinstance(err, KeyboardInterrupt):
            raise
        return Result(exercise.name, "error", describe_crash(err, source))
    return Result(exercise.name, "passed")


def check_file(exercise: registry.Exercise, folder: Path | None = None,
               solutions: bool = False) -> Result:
    """Load your file (or the reference solution) and check it, in this process."""
    path = registry.file_of(exercise, registry.SOLUTIONS_DIR if solutions else folder)
    reference_path = registry.file_of(exercise, registry.SOLUTIONS_DIR)
    try:
        reference = load_function(reference_path, exercise.function, f"_solution_{exercise.name}")
        yours = load_function(path, exercise.function, f"_exercise_{exercise.name}")
    except LoadError as err:
        return Result(exercise.name, err.status, str(err))
    return check_function(exercise, yours, reference, path)


class _Dropped:
    """Stands in for stdout/stderr: keeps the first few thousand characters, drops the rest."""

    def __init__(self):
        self.kept, self.size = [], 0

    def write(self, text: str) -> int:
        if self.size < PRINT_LIMIT:
            self.kept.append(text[: PRINT_LIMIT - self.size])
        self.size += len(text)
        return len(text)

    def flush(self) -> None:
        pass


def _worker(conn, names: list[str], folder: str | None, solutions: bool) -> None:
    """Child process: check each exercise in turn and send ('start', name) / ('done', ...)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # prints from C code or os.write go nowhere too
    os.dup2(devnull, 2)
    sys.stdout = sys.stderr = _Dropped()
    sys.dont_write_bytecode = True  # loading your file must not write exercises/__pycache__
    import torch

    torch.set_num_threads(1)  # the checks are tiny; one thread is fastest on a busy machine
    for name in names:
        conn.send(("start", name))
        result = check_file(registry.BY_NAME[name], Path(folder) if folder else None, solutions)
        conn.send(("done", result.name, result.status, result.message))
    conn.close()


def _stopped(proc, name: str, time_limit: float, timed_out: bool) -> Result:
    if timed_out:
        return Result(name, "error", f"no answer within {time_limit:g} s: is there a loop that "
                                     "never ends (or a very slow one)?")
    return Result(name, "error", f"the check stopped without an answer (exit code "
                                 f"{proc.exitcode}): does your code end or crash Python?")


def run_checks(exercises: list[registry.Exercise], folder: Path | None = None,
               solutions: bool = False, time_limit: float = TIME_LIMIT) -> list[Result]:
    """Check ``exercises`` in child processes; one Result each, in the same order."""
    context = multiprocessing.get_context("spawn")
    results: dict[str, Result] = {}
    todo = [exercise.name for exercise in exercises]
    while todo:
        receiver, sender = context.Pipe(duplex=False)
        proc = context.Process(target=_worker, daemon=True,
                               args=(sender, list(todo), folder and str(folder), solutions))
        proc.start()
        sender.close()
        current, limit, timed_out = None, STARTUP_LIMIT, False
        while todo:
            if not receiver.poll(limit):
                timed_out = True  # no answer in time
                break
            try:
                message = receiver.recv()
            except (EOFError, OSError):
                break  # the child ended without answering
            if message[0] == "start":
                current, limit = message[1], time_limit
            else:
                results[message[1]] = Result(*message[1:])
                todo.remove(message[1])
                current = None
        proc.join(timeout=0 if timed_out else 5)
        proc.kill()
        proc.join()
        receiver.close()
        if todo:  # the child stopped (or was stopped) before the end
            name = current or todo[0]
            limit = time_limit if current else STARTUP_LIMIT
            results[name] = _stopped(proc, name, limit, timed_out)
            todo.remove(name)
    return [results[exercise.name] for exercise in exercises]

