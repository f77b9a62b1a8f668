"""Where the course keeps its files (introduced in Phase 1).

All paths hang off the repository root, so every script works from any current directory.
Other modules read these names at call time (``paths.MODELS_DIR``), which lets the tests
point them at a temporary folder.

    data/MNIST/raw/       the four IDX files (git-ignored)
    models/<name>.pt      the models later phases use: mlp.pt, cnn.pt, lenet.pt (git-ignored),
                          each a copy of the best run on validation so far
    models/runs/          every finished training run: <date-time>_<script>_<label>.pt + .png
    models/results.csv    one row per training run: the results ledger
    visualizations/NN_*.png   plots, prefixed with the number of the script that made them
"""

import errno
import os
from collections.abc import Callable
from pathlib import Path

from common.errors import CourseError

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
MODELS_DIR = REPO_ROOT / "models"
VIS_DIR = REPO_ROOT / "visualizations"
PLAN_FILE = REPO_ROOT / "learning_plan.md"


def ensure_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if needed; a read-only location gets a clear error."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CourseError(f"cannot create folder {display_path(path)} ({err.strerror}); make it "
                          "writable (the previous files are intact)") from err
    return path


def model_path(name: str) -> Path:
    """``models/<name>``, creating ``models/`` on first use."""
    return ensure_dir(MODELS_DIR) / name


def vis_path(name: str) -> Path:
    """``visualizations/<name>``, creating ``visualizations/`` on first use."""
    return ensure_dir(VIS_DIR) / name


def runs_dir() -> Path:
    """``models/runs``: one checkpoint and one curves picture per finished training run."""
    return ensure_dir(MODELS_DIR / "runs")


def results_csv() -> Path:
    """The results ledger, ``models/results.csv`` (one row per training run)."""
    return model_path("results.csv")


def mnist_raw_dir() -> Path:
    """``data/MNIST/raw``: where ``torchvision.datasets.MNIST(download=False)`` looks."""
    return DATA_DIR / "MNIST" / "raw"


def display_path(path: Path) -> str:
    """A path relative to the repository when possible, for short printed lines."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def write_error(path: Path, err: OSError) -> CourseError:
    """One line for a failed write: which file, why, that nothing older was harmed, what to do."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        reason, advice = "the disk is full", "free some space and run again"
    elif isinstance(err, PermissionError) or err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        folder = display_path(Path(path).parent)
        reason, advice = "permission denied", f"make {folder}/ writable and run again"
    else:
        reason, advice = err.strerror or str(err) or type(err).__name__, "run again"
    return CourseError(f"could not write {display_path(path)} ({reason}); the previous files "
                       f"are intact; {advice}")


def write_bytes_safely(path: Path, payload: bytes) -> Path:
    """Write ``payload`` atomically (temporary file + rename); a failure is one CourseError line."""
    from common.idx import atomic_write_bytes  # lazy: paths stays importable without torch

    path = Path(path)
    ensure_dir(path.parent)
    try:
        atomic_write_bytes(path, payload)
    except OSError as err:
        raise write_error(path, err) from err
    return path


def write_via_temporary(path: Path, write: Callable[[Path], object]) -> Path:
    """``write(tmp)`` into a temporary file beside ``path``, then rename it over ``path``.

    For files written by a library (a matplotlib figure): a full disk or a permission problem
    leaves the previous ``path`` untouched and becomes one CourseError line.
    """
    path = Path(path)
    ensure_dir(path.parent)
    tmp = path.with_name(f".{path.stem}.part{path.suffix}")  # same suffix: the format follows it
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as err:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # it was never created (an unwritable folder)
        raise write_error(path, err) from err
    return path
