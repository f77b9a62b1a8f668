"""Every line a script prints fits a 100-column terminal (each script's main() on synthetic data).

Progress bars are split at carriage returns too, so a tqdm bar counts as the lines it draws.
"""

from __future__ import annotations

import pytest
import torch

from common import checkpoints, models, paths
from common.cli import load_script

WIDTH = 100


def _tiny_checkpoints() -> None:
    """Untrained CNN, MLP (784-128-10) and the 784-128-64-10 MLP where the later scripts look."""
    torch.manual_seed(0)
    for name, model in (("cnn.pt", models.CNN()), ("mlp.pt", models.MLP())):
        checkpoints.save_checkpoint(paths.model_path(name), model, hyperparameters={},
                                    metrics={"test_acc": 0.5})


def _photo_folder(tmp_path) -> str:
    from PIL import Image

    folder = tmp_path / "my_digits"
    folder.mkdir()
    for digit in (3, 7):
        pixels = torch.full((64, 48), 230, dtype=torch.uint8)
        pixels[12:52, 20 + digit : 26 + digit] = 20  # a dark stroke on light paper
        Image.fromarray(pixels.numpy()).save(folder / f"a_rather_long_file_name_{digit}.png")
    return "my_digits"  # relative to the working folder, as a learner would type it


RUNS = {
    "01_explore_mnist.py": lambda tmp: {"samples_per_digit": 2},
    "02_simple_nn.py": lambda tmp: {},
    "03_train_model.py": lambda tmp: {"num_epochs": 1, "device": "cpu"},
    "03b_backprop_from_scratch.py": lambda tmp: {
        "hidden_sizes": (16,), "num_epochs": 1, "experiment_samples": 200, "experiment_epochs": 1,
        "architectures": ("16",), "lr_sweep": (0.05,), "noise_levels": (0.0, 0.3)},
    "04_improved_model.py": lambda tmp: {"num_epochs": 1, "device": "cpu"},
    "05_understand_model.py": lambda tmp: {
        "robustness_samples": 20, "epsilons": (0.0, 0.1), "noise_levels": (0.0, 0.5),
        "angles": (0, 30), "gallery_size": 4, "max_maps": 2, "saliency_samples": 2},
    "06_watch_network.py": lambda tmp: {"checkpoint": "models/cnn.pt", "count": 2},
    "07_speedrun.py": lambda tmp: {"ladder_images": 128, "warmup_batches": 0, "batch_size": 128,
                                   "num_epochs": 1, "seeds": (0,)},
    "predict.py": lambda tmp: {"images": (_photo_folder(tmp),)},
}


def _cases() -> list:
    return [pytest.param(script, id=script) for script in sorted(RUNS)]


def wide_lines(text: str) -> list[str]:
    """Lines (split at newlines and carriage returns) wider than the terminal."""
    lines = text.replace("\r", "\n").splitlines()
    return [line for line in lines if len(line) > WIDTH]


def test_wide_lines_splits_progress_bars():
    assert wide_lines("a" * 100 + "\r" + "b" * 101 + "\nok") == ["b" * 101]


@pytest.mark.parametrize("script", _cases())
def test_every_printed_line_fits_100_columns(script, synthetic_mnist, tmp_path, capsys,
                                             monkeypatch):
    if not (paths.REPO_ROOT / script).is_file():
        pytest.skip(f"{script} does not exist on this branch")
    _tiny_checkpoints()
    settings = RUNS[script](tmp_path)
    images = settings.pop("images", ())
    module = load_script(script)
    # the outputs live in a temporary folder: printed relative to it, as a learner's would be
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path.resolve())
    monkeypatch.chdir(tmp_path)
    module.main(*images, **settings)
    captured = capsys.readouterr()
    assert wide_lines(captured.out + "\n" + captured.err) == []
