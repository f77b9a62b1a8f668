"""Command-line flags generated from a script's ``main()`` signature (introduced in Phase 1).

Every phase script ends with ``run_main(main)``. Each keyword argument of ``main()`` becomes a
flag with the same default (``num_epochs=5`` -> ``--num-epochs 5``, also ``--epochs 5``), so a
quick experiment or a test needs no file edit. Booleans get ``--flag/--no-flag``; tuples take
several values (``--hidden-sizes 256 128``). Mistakes a learner can fix are raised as
:class:`~common.errors.CourseError` and printed as one line instead of a traceback.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import re
import sys
import textwrap
import typing
from collections.abc import Callable
from typing import Any

from common.errors import CourseError

# Short spellings for the course vocabulary: the plan says "epochs", the code says num_epochs.
ALIASES = {"num_epochs": ["--epochs"], "lr": ["--learning-rate"], "optimizer_name": ["--optimizer"],
           "scheduler_name": ["--scheduler"]}


def _element_type(param: inspect.Parameter) -> type:
    """The type of one value of a tuple/list flag, from its default or its annotation."""
    if param.default:
        return type(param.default[0])
    args = typing.get_args(param.annotation) if not isinstance(param.annotation, str) else ()
    return args[0] if args and isinstance(args[0], type) else str


def _scalar_type(param: inspect.Parameter) -> Callable[[str], Any]:
    """int/float/str for a flag; ``None`` defaults read their annotation string (``float | None``).
    """
    if param.default is not None:
        return type(param.default)
    text = str(param.annotation)
    for name, kind in (("int", int), ("float", float)):
        if name in text:
            return kind
    return str


def constant_comments(main: Callable[..., Any]) -> dict[str, str]:
    """Each keyword of ``main`` mapped to the trailing comment of the constant it defaults to.

    ``LEARNING_RATE = 1e-3  # try 1e-4..1e-1`` and ``lr: float = LEARNING_RATE`` make the help of
    ``--lr`` say "try 1e-4..1e-1": the hyperparameter block documents the flags too.
    """
    try:
        module_source = inspect.getsource(sys.modules[main.__module__])
        function = ast.parse(textwrap.dedent(inspect.getsource(main))).body[0]
    except (OSError, TypeError, SyntaxError, KeyError):
        return {}
    comments = {}
    for line in module_source.splitlines():
        found = re.match(r"^([A-Z][A-Z0-9_]*)\s*=.*?#\s*(.+)$", line)
        if found:
            comments[found.group(1)] = found.group(2).strip()
    args = function.args
    with_defaults = args.args[len(args.args) - len(args.defaults):] + args.kwonlyargs
    return {
        arg.arg: comments[default.id]
        for arg, default in zip(with_defaults, args.defaults + args.kw_defaults)
        if isinstance(default, ast.Name) and default.id in comments
    }


def build_parser(main: Callable[..., Any]) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with one flag per keyword argument of ``main``."""
    module_doc = sys.modules[main.__module__].__doc__ or ""
    parser = argparse.ArgumentParser(
        description=module_doc.strip().split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    comments = constant_comments(main)
    for name, param in inspect.signature(main).parameters.items():
        if param.default is inspect.Parameter.empty:
            parser.add_argument(name, nargs="*" if param.kind is param.VAR_POSITIONAL else None)
            continue
        flags = [f"--{name.replace('_', '-')}"] + ALIASES.get(name, [])
        default = param.default
        text = comments.get(name, "").replace("%", "%%")  # argparse formats help with %
        if isinstance(default, bool):
            parser.add_argument(
                *flags, dest=name, default=default, action=argparse.BooleanOptionalAction, help=text
            )
        elif isinstance(default, (tuple, list)):
            parser.add_argument(
                *flags, dest=name, default=default, nargs="*", type=_element_type(param), help=text
            )
        else:
            parser.add_argument(
                *flags, dest=name, default=default, type=_scalar_type(param), help=text
            )
    return parser


def run_main(main: Callable[..., Any], argv: list[str] | None = None) -> Any:
    """Parse flags for ``main``, call it, and turn learner-fixable errors into one line."""
    args = vars(build_parser(main).parse_args(argv))
    for name, value in args.items():
        if isinstance(value, list):
            args[name] = tuple(value)
    positional = [args.pop(name) for name, param in inspect.signature(main).parameters.items()
                  if param.kind is param.VAR_POSITIONAL]
    try:
        return main(*(positional[0] if positional else ()), **args)
    except CourseError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        print(
            "\ninterrupted: nothing half-written was kept; run the script again to start over.",
            file=sys.stderr,
        )
        raise SystemExit(130) from None


def check(condition: bool, message: str) -> None:
    """Raise a :class:`CourseError` with ``message`` unless ``condition`` holds (flag validation).
    """
    if not condition:
        raise CourseError(message)


def load_script(filename: str):
    """Import a phase script (``"03_train_model.py"``) as a module, for tests and benchmarks.

    Its name starts with a digit, so a plain ``import`` cannot load it; its ``main()`` then runs
    like from the command line, without the ``__main__`` guard firing.
    """
    import importlib.util

    from common import paths

    path = paths.REPO_ROOT / filename
    spec = importlib.util.spec_from_file_location(path.stem.replace("-", "_"), path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # so dataclasses and pickling inside the script can find it
    spec.loader.exec_module(module)
    return module
