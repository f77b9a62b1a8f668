"""Unit tests of flags-from-main() (common/cli.py) and device/seed helpers (common/device.py)."""

from __future__ import annotations

import random

import pytest
import torch

from common import cli, device
from common.errors import CourseError


def example_main(num_epochs: int = 3, lr: float = 1e-3, hidden_sizes: tuple[int, ...] = (128,),
                 augment: bool = False, optimizer: str = "adam", limit: int | None = None) -> dict:
    """A stand-in for a phase script's main()."""
    return dict(num_epochs=num_epochs, lr=lr, hidden_sizes=hidden_sizes, augment=augment,
                optimizer=optimizer, limit=limit)


def test_defaults_come_from_the_signature():
    assert cli.run_main(example_main, []) == example_main()


def test_flags_aliases_tuples_and_booleans():
    got = cli.run_main(
        example_main,
        [
            "--epochs",
            "2",
            "--lr",
            "0.1",
            "--hidden-sizes",
            "256",
            "128",
            "--augment",
            "--optimizer",
            "sgd",
            "--limit",
            "50",
        ],
    )
    assert got == dict(
        num_epochs=2, lr=0.1, hidden_sizes=(256, 128), augment=True, optimizer="sgd", limit=50
    )
    assert cli.run_main(example_main, ["--num-epochs", "4", "--no-augment"])["num_epochs"] == 4


def test_bad_flag_value_is_one_line_not_a_traceback(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.run_main(example_main, ["--epochs", "many"])
    assert exit_info.value.code == 2
    assert "invalid int value: 'many'" in capsys.readouterr().err


def test_course_error_becomes_one_line(capsys):
    def failing_main(num_epochs: int = 1) -> None:
        cli.check(num_epochs > 1, "--epochs must be more than 1")

    with pytest.raises(SystemExit) as exit_info:
        cli.run_main(failing_main, [])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.strip() == "error: --epochs must be more than 1"


def test_positional_arguments_for_file_lists():
    def predict_main(*images: str, top: int = 3) -> tuple:
        return images, top

    assert cli.run_main(predict_main, ["a.png", "b.jpg", "--top", "2"]) == (("a.png", "b.jpg"), 2)


def test_pick_device_cpu_and_errors():
    assert device.pick_device("cpu") == torch.device("cpu")
    assert device.pick_device("auto").type in {"cpu", "cuda", "mps"}
    with pytest.raises(CourseError, match="unknown device"):
        device.pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(CourseError, match="no CUDA GPU"):
            device.pick_device("cuda")


def test_pick_device_prints_the_device_line_once_unless_quiet(capsys):
    device._announce.cache_clear()
    device.pick_device("cpu", quiet=True)
    assert capsys.readouterr().out == ""
    device.pick_device("cpu")
    device.pick_device("cpu")
    assert capsys.readouterr().out == device.device_line("cpu") + "\n"
    precision = device.Precision("fp32", True, "this CPU has no native bfloat16")
    line = device.announce("cpu", precision)
    assert capsys.readouterr().out == line + "\n"
    assert line.endswith(", fp32 + channels_last (this CPU has no native bfloat16)")


def test_seed_everything_repeats_random_draws():
    device.seed_everything(7)
    first = (random.random(), torch.rand(3))
    device.seed_everything(7)
    second = (random.random(), torch.rand(3))
    assert first[0] == second[0] and torch.equal(first[1], second[1])


def test_configure_threads_is_sensible():
    before = torch.get_num_threads()
    try:
        assert device.configure_threads(1) == 1 and torch.get_num_threads() == 1
        assert device.configure_threads() >= 1
    finally:
        torch.set_num_threads(before)


def test_help_of_every_script_shows_the_constants_comments(capsys):
    from common import paths

    scripts = sorted(p.name for p in paths.REPO_ROOT.glob("[0-9][0-9]*_*.py")) + ["predict.py"]
    for name in scripts:
        main = cli.load_script(name).main
        with pytest.raises(SystemExit):
            cli.run_main(main, ["--help"])
        assert "usage:" in capsys.readouterr().out, name
    comments = cli.constant_comments(cli.load_script("03_train_model.py").main)
    assert comments["lr"].startswith("try 1e-4..1e-1") and comments["num_epochs"].startswith(
        "try 1..30"
    )
