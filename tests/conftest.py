"""Shared fixtures: every test runs offline, on CPU, in a temporary course folder.

``course_dirs`` points data/, models/, visualizations/ and learning_plan.md at a temporary
folder. ``synthetic_mnist`` writes small, learnable MNIST-shaped IDX files there (each digit
class is a distinct stroke pattern plus noise and jitter) and registers their MD5s, so the real
loading code runs unchanged. ``real_mnist`` skips a test when the real MNIST is absent, and
fails it instead under CI (CI=true), where the data is provisioned.
"""

from __future__ import annotations

import os
import types
from pathlib import Path

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")

from common import data, paths  # noqa: E402
from common.idx import md5_of, write_idx  # noqa: E402

REAL_DATA_DIR = paths.DATA_DIR


def make_synthetic_images(labels: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """uint8 (N, 28, 28) images where class c draws a bar at an angle and position set by c."""
    gen = torch.Generator().manual_seed(seed)
    n = len(labels)
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    angle = labels.float() * (torch.pi / 10)  # each class its own stroke direction
    offset = (labels.float() - 4.5) * 1.2  # and its own distance from the centre
    jitter = torch.randn(n, 2, generator=gen) * 0.7
    cy, cx = 14 + jitter[:, 0], 14 + jitter[:, 1]
    # distance of each pixel from the class's line through the (jittered) centre
    dist = (
        (xs - cx[:, None, None]) * torch.sin(angle)[:, None, None]
        - (ys - cy[:, None, None]) * torch.cos(angle)[:, None, None]
        - offset[:, None, None]
    ).abs()
    radial = ((xs - cx[:, None, None]) ** 2 + (ys - cy[:, None, None]) ** 2).sqrt()
    ink = torch.clamp(2.0 - dist, 0, 1) * (radial < 10)
    noise = torch.rand(n, 28, 28, generator=gen) * 0.15
    return (torch.clamp(ink + noise * ink.gt(0), 0, 1) * 255).round().to(torch.uint8)


def write_synthetic_mnist(
    raw_dir: Path, num_train: int = 600, num_test: int = 200
) -> dict[str, str]:
    """Write the four IDX files (balanced classes); returns their MD5s by file name."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    train_labels = torch.arange(num_train) % 10
    test_labels = torch.arange(num_test) % 10
    files = {
        "train-images-idx3-ubyte": make_synthetic_images(train_labels, seed=1),
        "train-labels-idx1-ubyte": train_labels.to(torch.uint8),
        "t10k-images-idx3-ubyte": make_synthetic_images(test_labels, seed=2),
        "t10k-labels-idx1-ubyte": test_labels.to(torch.uint8),
    }
    for name, values in files.items():
        write_idx(raw_dir / name, values)
    return {name: md5_of(raw_dir / name) for name in files}


@pytest.fixture
def course_dirs(tmp_path, monkeypatch):
    """Point every course path at ``tmp_path``; returns a namespace with the four paths."""
    dirs = types.SimpleNamespace(
        data=tmp_path / "data", models=tmp_path / "models", vis=tmp_path / "visualizations",
        plan=tmp_path / "learning_plan.md",
    )
    monkeypatch.setattr(paths, "DATA_DIR", dirs.data)
    monkeypatch.setattr(paths, "MODELS_DIR", dirs.models)
    monkeypatch.setattr(paths, "VIS_DIR", dirs.vis)
    monkeypatch.setattr(paths, "PLAN_FILE", dirs.plan)
    return dirs


@pytest.fixture
def synthetic_mnist(course_dirs, monkeypatch):
    """Small synthetic MNIST in the temporary data folder, accepted by ``ensure_mnist``."""
    md5s = write_synthetic_mnist(course_dirs.data / "MNIST" / "raw")
    monkeypatch.setattr(data, "EXPECTED_MD5", md5s)
    return course_dirs


def real_mnist_present() -> bool:
    raw = REAL_DATA_DIR / "MNIST" / "raw"
    return raw.is_dir() and not data.invalid_files(raw)


@pytest.fixture
def real_mnist(course_dirs, monkeypatch):
    """The real, verified MNIST (outputs still go to a temporary folder).

    Skips when the data is absent; under CI (CI=true) a missing dataset is a failure, because
    CI provisions it and the accuracy gates must run there.
    """
    if not real_mnist_present():
        message = "real MNIST not in data/MNIST/raw (run `python -m common.data` to provision it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but " + message)
        pytest.skip(message)
    monkeypatch.setattr(paths, "DATA_DIR", REAL_DATA_DIR)
    return course_dirs
