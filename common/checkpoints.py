"""Saving and loading trained models as self-describing checkpoints (introduced in Phase 3).

A checkpoint is a plain dict, so it can be read back with ``torch.load(weights_only=True)``,
which refuses to run code hidden in a file (an ordinary pickle can run anything):

    model_name       "mlp" | "cnn" | "lenet"       which class to rebuild
    model_kwargs     {"hidden_sizes": [128], ...}  its constructor arguments (``model.config``)
    state_dict       the learned weights and biases
    hyperparameters  how it was trained (lr, batch_size, optimizer, ...)
    metrics          fractions in [0, 1]: {"val_acc": 0.981, "val_loss": 0.07, "test_acc": ...}
    history          one dict per epoch (see ``common.training.fit``)
    versions         torch, torchvision and Python that wrote it
    date             ISO 8601 time of writing

Files are written atomically (a temporary file renamed into place), so an interrupted save
never leaves a broken checkpoint. ``save_training_state`` / ``load_training_state`` keep the
bigger state a resumed run needs (``models/<name>.resume.pt``, Phase 4's ``--resume``).
"""

from __future__ import annotations

import datetime
import io
import numbers
import pickle
import platform
from pathlib import Path

import torch
from torch import nn

from common import models, paths
from common.errors import CourseError

REQUIRED_KEYS = ("model_name", "model_kwargs", "state_dict")

# Which script writes each checkpoint, for the "not found" message.
MADE_BY = {
    "mlp.pt": "python 03_train_model.py",
    "cnn.pt": "python 04_improved_model.py",
    "lenet.pt": "python 04_improved_model.py --arch lenet",
}


def versions() -> dict[str, str]:
    """The software that wrote a file: a checkpoint that misbehaves can say where it came from."""
    try:
        import torchvision

        torchvision_version = torchvision.__version__
    except ImportError:
        torchvision_version = "not installed"
    # str(): torch's version string is a str subclass that weights_only loading would refuse
    return {"torch": str(torch.__version__), "torchvision": str(torchvision_version),
            "python": platform.python_version()}


def plain(value: object) -> object:
    """``value`` with tuples -> lists, paths/devices -> str, numpy numbers -> Python numbers.

    ``weights_only=True`` loads only tensors, numbers, strings, None and lists/dicts of them;
    converting when saving means a checkpoint always loads back.
    """
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if value is None or type(value) in (bool, int, float, str) or isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (str, Path, torch.device, torch.dtype)):  # incl. torch's version string
        return str(value)
    if isinstance(value, numbers.Number):  # numpy scalars
        return value.item() if hasattr(value, "item") else float(value)
    raise TypeError(f"cannot store a {type(value).__name__} in a checkpoint: {value!r}")


def write_atomically(path: Path, payload: dict) -> Path:
    """``torch.save`` into memory, then write the bytes atomically (never a half-written file).

    A full disk or an unwritable folder is one CourseError line naming the file; the file that
    was there before is left as it was.
    """
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return paths.write_bytes_safely(path, buffer.getvalue())


def save_checkpoint(path: Path, model: nn.Module, *, hyperparameters: dict, metrics: dict,
                    history: list[dict] | None = None, extra: dict | None = None) -> Path:
    """Write ``model`` with all it takes to rebuild, judge and reproduce it; returns ``path``."""
    checkpoint = {
        "model_name": model.name,
        "model_kwargs": plain(model.config),
        "state_dict": {key: value.detach().cpu() for key, value in model.state_dict().items()},
        "hyperparameters": plain(hyperparameters),
        "metrics": plain(metrics),
        "history": plain(history or []),
        "versions": versions(),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    checkpoint.update(plain(extra or {}))
    return write_atomically(path, checkpoint)


def _missing_message(path: Path) -> str:
    maker = MADE_BY.get(path.name)
    how = (f"run `{maker}` first to train and save it" if maker
           else "train and save a model there first")
    return f"{paths.display_path(path)} not found; {how}"


def read_safely(path: Path, map_location: torch.device | str = "cpu",
                what: str = "checkpoint") -> object:
    """``torch.load(weights_only=True)``; a damaged or unsafe file is a one-line CourseError."""
    shown = paths.display_path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if "unsupported global" in str(err).lower():  # a pickled class, e.g. torch.save(model)
            raise CourseError(f"{shown} holds Python objects, not a course {what}; it is not "
                              "loaded because that could run code (weights_only=True). "
                              "Delete it and train again") from err
        reason = "not a PyTorch file"
    except (RuntimeError, EOFError, ValueError, OSError) as err:
        reason = _first_line(err)
    raise CourseError(f"{shown} is damaged or truncated ({reason}); delete it and train again")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:120] if text else f"{type(err).__name__}: the file ends too early"


def load_checkpoint(path: Path, map_location: torch.device | str = "cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`, checking that it is one."""
    path = Path(path)
    if not path.is_file():
        raise CourseError(_missing_message(path))
    checkpoint = read_safely(path, map_location)
    if not isinstance(checkpoint, dict) or not all(key in checkpoint for key in REQUIRED_KEYS):
        raise CourseError(f"{paths.display_path(path)} is not a course checkpoint (no "
                          "model_name/model_kwargs/state_dict; a bare state_dict?); delete it "
                          "and train again")
    return checkpoint


def describe(checkpoint: dict) -> str:
    """'cnn(dropout=0.5)': what a checkpoint holds."""
    return models.describe_model(checkpoint["model_name"], checkpoint["model_kwargs"])


def _article(name: str) -> str:
    return "an" if name == "mlp" else "a"  # "an em-el-pee", "a cnn", "a lenet"


def _copy_weights(model: nn.Module, checkpoint: dict, path: Path) -> None:
    """Copy a checkpoint's weights into ``model``; another architecture is a CourseError."""
    held = describe(checkpoint)
    wanted = models.describe_model(model.name, model.config)
    if checkpoint["model_name"] != model.name or plain(model.config) != checkpoint["model_kwargs"]:
        raise CourseError(f"{paths.display_path(path)} holds "
                          f"{_article(checkpoint['model_name'])} {held}, "
                          f"not {_article(model.name)} {wanted}")
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as err:
        raise CourseError(f"{paths.display_path(path)}'s weights do not fit {held} "
                          f"({_first_line(err)}); delete it and train again") from err


def load_model(path: Path, device: torch.device | str = "cpu", *, expect: str | None = None
               ) -> tuple[nn.Module, dict]:
    """Rebuild the saved model on ``device`` in eval mode; returns ``(model, checkpoint)``.

    ``expect`` ("mlp", "cnn", "lenet") makes loading the wrong kind of model a clear error.
    """
    path = Path(path)
    checkpoint = load_checkpoint(path)  # on the CPU first; the model moves to ``device`` at the end
    name = checkpoint["model_name"]
    if expect is not None and name != expect:
        raise CourseError(f"{paths.display_path(path)} holds {_article(name)} "
                          f"{describe(checkpoint)}, "
                          f"not {_article(expect)} {expect}")
    try:
        model = models.build_model(name, **checkpoint["model_kwargs"])
    except (CourseError, TypeError) as err:
        raise CourseError(f"{paths.display_path(path)} describes a model this course cannot "
                          f"build ({err})") from err
    _copy_weights(model, checkpoint, path)
    return model.to(device).eval(), checkpoint


def load_into(model: nn.Module, path: Path) -> dict:
    """Load a checkpoint's weights into an existing ``model`` (same class and settings).

    Returns the checkpoint.
    """
    path = Path(path)
    checkpoint = load_checkpoint(path)
    _copy_weights(model, checkpoint, path)
    return checkpoint


def resume_path_for(checkpoint_path: Path) -> Path:
    """``models/mlp.pt`` -> ``models/mlp.resume.pt``: where an interrupted run keeps its state."""
    checkpoint_path = Path(checkpoint_path)
    return checkpoint_path.with_name(f"{checkpoint_path.stem}.resume.pt")


def save_training_state(path: Path, state: dict) -> Path:
    """Write a resumable training state (tensors, numbers, strings, lists, dicts) atomically."""
    return write_atomically(path, state)


def load_training_state(path: Path, map_location: torch.device | str = "cpu") -> dict:
    """Read what :func:`save_training_state` wrote; a missing or damaged file is a CourseError."""
    path = Path(path)
    if not path.is_file():
        raise CourseError(f"no saved training state {paths.display_path(path)} to resume from; "
                          "run without --resume to start training from the beginning")
    state = read_safely(path, map_location, what="training state")
    if not isinstance(state, dict) or "epoch" not in state:
        raise CourseError(f"{paths.display_path(path)} is not a saved training state; "
                          "run without --resume to start again")
    return state
