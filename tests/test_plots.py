"""Every plot function writes a real, non-empty PNG headless and leaves no figure open."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from common import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

HISTORY = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "train_acc": 1 - 0.1 / e,
            "val_acc": 1 - 0.12 / e} for e in range(1, 4)]

CASES = {
    "curves": lambda p: plots.plot_training_curves(HISTORY, p, title="MLP"),
    "confusion": lambda p: plots.plot_confusion_matrix(torch.eye(10, dtype=torch.long) * 90 + 1, p),
    "confusion_normalized": lambda p: plots.plot_confusion_matrix(np.eye(10) * 90 + 1, p,
                                                                  normalize=True),
    "grid_uint8": lambda p: plots.plot_image_grid(torch.randint(0, 256, (12, 28, 28),
                                                                dtype=torch.uint8), p,
                                                  titles=[f"true 1\npred {i}" for i in range(12)],
                                                  suptitle="s"),
    "grid_float": lambda p: plots.plot_image_grid(torch.randn(3, 1, 28, 28), p, ncols=10,
                                                  cmap="magma"),
    "filters": lambda p: plots.plot_filters(torch.randn(8, 1, 3, 3), p, title="conv1"),
    "filters_multi_input": lambda p: plots.plot_filters(torch.randn(8, 4, 3, 3), p),
    "feature_maps": lambda p: plots.plot_feature_maps(torch.rand(40, 14, 14), p, max_maps=16),
    "bars": lambda p: plots.plot_bars(list("0123456789"), torch.softmax(torch.randn(10), 0), p,
                                      highlight=3, value_fmt="{:.2f}"),
    "bars_label_highlight": lambda p: plots.plot_bars(["a", "b"], [1, 2], p, highlight="b"),
    "grouped_bars": lambda p: plots.plot_grouped_bars(list("012"),
                                                      {"train": [5, 6, 7], "test": [1, 2, 3]}, p,
                                                      value_fmt="{:.0f}"),
    "lines": lambda p: plots.plot_lines([1, 2, 3],
                                        {"lr 0.1": [0.5, 0.7, 0.8], "lr 0.01": [0.4, 0.6, 0.9]}, p,
                                        hlines={"target": 0.97}),
    "lines_plain_hlines": lambda p: plots.plot_lines([1, 2], {"a": [1, 2]}, p, hlines=[1.5]),
    "lines_stopped_early": lambda p: plots.plot_lines([1, 2, 3], {"full": [1, 2, 3],
                                                                  "diverged": [1]}, p),
    "curves_empty": lambda p: plots.plot_training_curves([], p),
    "histogram": lambda p: plots.plot_histogram(torch.rand(500) * 255, p, vline=100.0),
    "histogram_named_lines": lambda p: plots.plot_histogram([0.1, 0.5, 0.9], p,
                                                            vline={"mean": 0.5}),
    "story": lambda p: plots.plot_progress_story(["untrained", "mlp"], [9.8, 97.8],
                                                 ["101,770 params", "20 s"], p),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_plot_writes_a_png_and_closes_its_figure(name, tmp_path):
    target = tmp_path / "nested" / f"{name}.png"  # the folder does not exist yet
    before = len(plt.get_fignums())
    returned = CASES[name](target)
    assert returned == target
    assert target.read_bytes()[:8] == PNG_SIGNATURE
    assert target.stat().st_size > 2000
    assert len(plt.get_fignums()) == before


def test_show_keeps_the_figure_until_show_figures(tmp_path, capsys):
    plots.plot_bars(["a"], [1.0], tmp_path / "kept.png", show=True)
    assert plt.get_fignums(), "a figure drawn with show=True stays open for show_figures"
    plots.show_figures(True)  # headless (Agg): says so and closes everything instead of blocking
    assert not plt.get_fignums()
    plots.show_figures(False)  # no-op


def test_backend_is_non_interactive_in_tests():
    assert plt.get_backend().lower() == "agg"
