"""Unit tests of the precision choice (common/device.py) and evaluation under a Precision.

The machine's real CPU is never assumed: the CPU flags and PyTorch's oneDNN check are faked,
so every branch (native bfloat16 present, absent, undetectable; CUDA; MPS) runs everywhere.
"""

from __future__ import annotations

import pytest
import torch

from common import device, evaluation, models
from common.errors import CourseError


@pytest.fixture
def native_bf16(monkeypatch):
    """A CPU with AMX that PyTorch can use."""
    monkeypatch.setattr(
        device, "_cpu_flags", lambda: frozenset({"avx2", "amx_bf16", "avx512_bf16"})
    )
    monkeypatch.setattr(device, "_torch_bf16_check", lambda: True)


@pytest.fixture
def no_native_bf16(monkeypatch):
    """An AVX2 CPU like the course's AMD EPYC."""
    monkeypatch.setattr(device, "_cpu_flags", lambda: frozenset({"avx2", "fma"}))
    monkeypatch.setattr(device, "_torch_bf16_check", lambda: False)


def test_auto_on_native_bf16_cpu_is_bf16_channels_last_for_conv_only(native_bf16):
    cnn = device.choose_precision("auto", "cpu", models.CNN())
    assert (cnn.name, cnn.channels_last) == ("bf16", True)
    assert device.device_line("cpu", cnn).endswith("bfloat16 + channels_last on AMX")
    mlp = device.choose_precision("auto", "cpu", models.MLP())
    assert (mlp.name, mlp.channels_last) == ("fp32", False)


def test_auto_without_native_bf16_is_fp32_channels_last(no_native_bf16, capsys):
    precision = device.choose_precision("auto", torch.device("cpu"), models.FastCNN())
    assert (precision.name, precision.channels_last) == ("fp32", True)
    line = device.device_line("cpu", precision)
    threads = torch.get_num_threads()
    assert (
        line == f"device: cpu ({threads} thread{'s' * (threads != 1)}), "
        "fp32 + channels_last (this CPU has no native bfloat16)"
    )
    assert capsys.readouterr().out == ""  # auto never warns


def test_flags_without_torch_support_and_no_cpuinfo_mean_fp32(monkeypatch):
    monkeypatch.setattr(device, "_cpu_flags", lambda: frozenset({"avx512_bf16"}))
    monkeypatch.setattr(device, "_torch_bf16_check", lambda: False)
    native, why = device.cpu_native_bf16()
    assert not native and "cannot use it" in why
    monkeypatch.setattr(device, "_cpu_flags", lambda: None)  # macOS / Windows: no /proc/cpuinfo
    monkeypatch.setattr(device, "_torch_bf16_check", lambda: True)  # oneDNN alone is not enough
    assert device.cpu_native_bf16()[0] is False
    assert device.choose_precision("auto", "cpu", models.CNN()).name == "fp32"


def test_cpu_flags_are_read_from_cpuinfo(tmp_path, monkeypatch):
    fake = tmp_path / "cpuinfo"
    fake.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512_bf16\n")
    monkeypatch.setattr(device, "CPUINFO", str(fake))
    device._cpu_flags.cache_clear()
    try:
        assert "avx512_bf16" in device._cpu_flags()
        monkeypatch.setattr(device, "CPUINFO", str(tmp_path / "absent"))
        device._cpu_flags.cache_clear()
        assert device._cpu_flags() is None
    finally:
        device._cpu_flags.cache_clear()


def test_fp32_forced_is_plain_pytorch(native_bf16):
    precision = device.choose_precision("fp32", "cpu", models.CNN())
    assert precision == device.Precision("fp32", False, "asked for", "cpu")
    assert isinstance(precision.autocast(), type(device.FP32.autocast()))


def test_bf16_forced_without_native_support_warns_in_one_line(no_native_bf16, capsys):
    precision = device.choose_precision("bf16", "cpu", models.CNN())
    assert precision.name == "bf16"
    out = capsys.readouterr().out.strip()
    assert out.startswith("warning:") and "slow" in out and "x slower than fp32" in out
    assert "\n" not in out and len(out) <= 100


def test_fp16_on_cpu_and_unknown_names_are_refused():
    with pytest.raises(CourseError, match="fp16 runs only on a CUDA GPU"):
        device.choose_precision("fp16", "cpu", models.CNN())
    with pytest.raises(CourseError, match="unknown precision"):
        device.choose_precision("int8", "cpu", models.CNN())


def test_gpu_branches_faked(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    cuda = device.choose_precision("auto", torch.device("cuda"), models.CNN())
    assert (cuda.name, cuda.device_type) == ("bf16", "cuda")
    assert device.choose_precision("fp16", torch.device("cuda"), models.CNN()).name == "fp16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    assert device.choose_precision("auto", torch.device("cuda"), models.CNN()).name == "fp32"
    with pytest.raises(CourseError, match="does not support bfloat16"):
        device.choose_precision("bf16", torch.device("cuda"), models.CNN())
    assert device.choose_precision("auto", torch.device("mps"), models.CNN()).name == "fp32"
    with pytest.raises(CourseError, match="MPS"):
        device.choose_precision("fp16", torch.device("mps"), models.CNN())


def test_autocast_keeps_weights_fp32_and_grad_scaler_only_for_fp16():
    model = models.FastCNN()
    precision = device.Precision("bf16", True, "asked for", "cpu")
    precision.prepare(model)
    images = precision.images(torch.randn(4, 1, 28, 28))
    assert images.is_contiguous(memory_format=torch.channels_last)
    with precision.autocast():
        logits = model(images)
    assert logits.dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert not precision.grad_scaler().is_enabled()


def test_channels_last_gives_the_same_logits_as_contiguous():
    torch.manual_seed(0)
    model = models.CNN().eval()
    images = torch.randn(8, 1, 28, 28)
    with torch.inference_mode():
        plain = model(images)
        fast = device.Precision("fp32", True).prepare(model)(
            images.contiguous(memory_format=torch.channels_last)
        )
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-5)


def _trained_tiny_model_and_batches():
    """A tiny conv net trained a few steps on two easy classes, and 128 images to evaluate."""
    torch.manual_seed(0)
    labels = torch.arange(128) % 2
    images = torch.randn(128, 1, 28, 28)
    images[labels == 1, :, :14] += 0.5  # class 1: a brighter top half
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, kernel_size=4, stride=4),
        torch.nn.ReLU(),  # (B, 4, 7, 7)
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 7 * 7, 2),
    )  # (B, 2) logits
    optimizer = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(25):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
    return model, [(images[i : i + 32], labels[i : i + 32]) for i in range(0, 128, 32)]


def test_evaluate_under_a_precision_matches_fp32():
    model, batches = _trained_tiny_model_and_batches()
    plain = evaluation.evaluate(model, batches)
    assert plain["accuracy"] > 0.8  # the tiny model learned something worth comparing
    for precision in (device.Precision("fp32", True), device.Precision("bf16", True)):
        other = evaluation.evaluate(model, batches, precision=precision)
        assert abs(other["accuracy"] - plain["accuracy"]) <= 2 / 128  # at most two images differ
        assert other["loss"] == pytest.approx(plain["loss"], rel=0.05, abs=0.02)
    predictions = evaluation.collect_predictions(
        model, batches, precision=device.Precision("bf16", True)
    )
    assert predictions.probs.dtype == torch.float32
    assert torch.allclose(predictions.probs.sum(dim=1), torch.ones(128), atol=1e-5)


def test_speedrun_main_on_synthetic_data(synthetic_mnist, capsys):
    from common.cli import load_script

    speedrun = load_script("07_speedrun.py")
    report = speedrun.main(
        ladder_images=128, warmup_batches=0, batch_size=128, num_epochs=1, seeds=(0, 1)
    )
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 100
    measured = [row for row in report["rows"] if row["recipe"] is not None]
    assert len(report["rows"]) == 9 and len(measured) >= 8  # bf16 is skipped where the CPU lacks it
    assert all(row["seconds_per_epoch"] > 0 and 0 <= row["val_acc"] <= 1 for row in measured)
    assert "finding: the biggest single win was" in out and "tutorial recipe" in out
    assert len(report["final"]) == 2 and 0 <= report["test_acc"] <= 1
    assert all(path.is_file() for path in report["files"])


def test_bench_vs_reference_code_paths_on_synthetic_data(synthetic_mnist, capsys):
    from benchmarks import bench_vs_reference as bench

    report = bench.main(fast=True, train_images=128, fresh_processes=False)
    assert [row["recipe"] for row in report["results"]] == list(bench.RECIPES)
    assert all(row["peak_mb"] > 0 and row["epochs"] >= 1 for row in report["results"])
    assert report["table"][3].startswith("| recipe |")
    assert len(report["table"]) == 5 + len(bench.RECIPES)
    assert report["results"][0]["epochs"] <= bench.FAST_REFERENCE_EPOCHS
    assert max(len(line) for line in capsys.readouterr().out.splitlines()) <= 100
