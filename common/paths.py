"""Where the course keeps its files (introduced in Phase 1).

All paths hang off the repository root, so every script works from any current directory.
Other modules read these names at call time (``paths.MODELS_DIR``), which lets the tests
point them at a temporary folder.

    data/MNIST/raw/       the four IDX files (git-ignored)
    models/<name>.pt      checkpoints the scripts write (git-ignored)
    models/results.csv    one row per training run: the results ledger
    visualizations/NN_*.png   plots, prefixed with the number of the script that made them
"""

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
        raise CourseError(f"cannot create folder {path} ({err.strerror}); make it writable") from err
    return path


def model_path(name: str) -> Path:
    """``models/<name>``, creating ``models/`` on first use."""
    return ensure_dir(MODELS_DIR) / name


def vis_path(name: str) -> Path:
    """``visualizations/<name>``, creating ``visualizations/`` on first use."""
    return ensure_dir(VIS_DIR) / name


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
