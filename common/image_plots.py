"""Figures made of many small images, each with its own job (Phases 1 and 5).

Same conventions as :mod:`common.plots` (whose helpers they reuse): each function saves a PNG
to ``path``, closes the figure unless ``show=True`` and returns ``path``.

* :func:`plot_filters_and_maps` - each first-layer filter next to the feature map it makes;
* :func:`plot_mean_digits` - the average image of each digit, and the difference of two.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from common import plots


def plot_filters_and_maps(weights: Any, maps: Any, path: Path, title: str = "",
                          show: bool = False, note: str = "") -> Path:
    """Each first-layer filter next to the feature map it makes of one digit (Phase 5).

    ``weights`` (C, 1, k, k) and ``maps`` (C, H, W): filter #k on the left of map #k, each kind
    on one shared colour scale with its own colour bar.
    """
    kernels, channels = plots._numpy(weights)[:, 0], plots._numpy(maps)  # (C, k, k), (C, H, W)
    pairs_per_row = 4
    rows = math.ceil(len(kernels) / pairs_per_row)
    size = (2.3 * 2 * pairs_per_row * 0.62, 1.45 * rows + 0.8)
    fig, axes = plots.plt.subplots(rows, 2 * pairs_per_row, figsize=size, squeeze=False)
    limit = float(np.abs(kernels).max()) or 1.0
    high = float(channels.max()) or 1.0
    for ax in axes.flat:
        ax.axis("off")
    for index, (kernel, channel) in enumerate(zip(kernels, channels)):
        row, slot = divmod(index, pairs_per_row)
        weight_image = axes[row, 2 * slot].imshow(kernel, cmap="RdBu_r", vmin=-limit, vmax=limit)
        map_image = axes[row, 2 * slot + 1].imshow(channel, cmap="viridis", vmin=0, vmax=high)
        axes[row, 2 * slot].set_title(f"filter #{index}", fontsize=7.5)
        axes[row, 2 * slot + 1].set_title(f"map #{index}", fontsize=7.5)
    fig.suptitle(title or "Filters and their feature maps", fontsize=12)
    fig.tight_layout(rect=(0, 0.05 if note else 0, 0.86, 1))
    fig.colorbar(weight_image, cax=fig.add_axes((0.89, 0.56, 0.015, 0.32)),
                 label="filter weight (red +, blue -)")
    fig.colorbar(map_image, cax=fig.add_axes((0.89, 0.14, 0.015, 0.32)),
                 label="map activation after ReLU")
    if note:
        fig.text(0.45, 0.005, note, ha="center", va="bottom", fontsize=8.5, wrap=True)
    return plots._finish(fig, path, show)


def plot_mean_digits(mean_images: Any, pair: tuple[int, int], path: Path,
                     show: bool = False) -> Path:
    """The average image of each digit (two rows of five), and ``pair[1]`` minus ``pair[0]``.

    The difference map answers "which pixels tell these two apart?": red where the second digit
    has more ink on average, blue where the first has.
    """
    means = plots._numpy(mean_images)  # (10, 28, 28) in [0, 1]
    first, second = pair
    fig = plots.plt.figure(figsize=(12.5, 5.2))
    grid = fig.add_gridspec(2, 7, width_ratios=[1] * 5 + [0.45, 2.2], wspace=0.08, hspace=0.25)
    for digit, picture in enumerate(means):
        ax = fig.add_subplot(grid[digit // 5, digit % 5])
        shown = ax.imshow(picture, cmap="magma", vmin=0, vmax=float(means.max()))
        ax.set_title(f"average {digit}", fontsize=10)
        ax.axis("off")
    diff_ax = fig.add_subplot(grid[:, 6])
    difference = means[second] - means[first]
    limit = float(np.abs(difference).max()) or 1.0
    diff_image = diff_ax.imshow(difference, cmap="RdBu_r", vmin=-limit, vmax=limit)
    article = {8: "an"}  # "an 8", "a 0"
    diff_ax.set_title(f"average {second} minus average {first}\nred: more ink in "
                      f"{article.get(second, 'a')} {second}, blue: more in "
                      f"{article.get(first, 'a')} {first}", fontsize=10)
    diff_ax.axis("off")
    fig.colorbar(shown, ax=fig.axes[:10], fraction=0.02, pad=0.01, label="mean pixel (0-1)")
    fig.colorbar(diff_image, ax=diff_ax, fraction=0.046, pad=0.03, label="difference (0-1 scale)")
    fig.suptitle("The average image of each digit, and what separates two of them", fontsize=12)
    return plots._finish(fig, path, show)
