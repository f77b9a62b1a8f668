"""Every picture the course draws, in one consistent style (introduced in Phase 1).

Scripts never call matplotlib themselves: they hand numbers to these functions, which save a
PNG (parents created, dpi 110, tight bounding box) and return its path. A window opens only when
``show=True``, and then only once, at the end of a script, through :func:`show_figures`. On a
machine without a display (a server, CI, a container) the non-interactive Agg backend is
chosen before pyplot is imported, so nothing ever tries to open a window there.

Colours come from the Okabe-Ito palette, which stays distinguishable for colour-blind readers.
Inputs may be lists, NumPy arrays or torch tensors (on any device).
"""

from __future__ import annotations

import math
import os
import sys
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

_HAS_DISPLAY = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
if sys.platform.startswith("linux") and not _HAS_DISPLAY:
    matplotlib.use("Agg")  # headless: must happen before pyplot is imported

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

DPI = 110
# Okabe-Ito: blue, orange, bluish green, vermillion, sky blue, reddish purple, yellow, black.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000")
BASE_COLOR, HIGHLIGHT_COLOR = PALETTE[0], PALETTE[1]
LABEL_WIDTH = 16  # characters per line of a bar label before it wraps
LINE_STYLES = ("-", "--", ":", "-.")  # a second cue besides colour for curves that overlap
THOUSANDS = FuncFormatter(lambda value, _: f"{value:,.0f}")  # 3,000,000 instead of "3.0" and "1e6"


def _numpy(values: Any) -> np.ndarray:
    """A float NumPy array from a list, an array or a torch tensor (any device, any dtype)."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().float().numpy()
    return np.asarray(values, dtype=float)


def _finish(fig: plt.Figure, path: Path, show: bool) -> Path:
    """Save ``fig`` to ``path`` (creating its folder); close it unless it is to be shown later."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight", facecolor="white")
    if not show:
        plt.close(fig)
    return path


def _grid(count: int, ncols: int, cell: float = 1.1) -> tuple[plt.Figure, np.ndarray]:
    """A figure with enough small square axes for ``count`` images, axis lines hidden."""
    ncols = max(1, min(ncols, count))
    nrows = math.ceil(count / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(cell * ncols, cell * nrows * 1.15),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes.ravel()


def _style(ax: plt.Axes, title: str = "", xlabel: str = "", ylabel: str = "",
           grid: str = "both") -> None:
    """The shared look: title, axis labels, a light grid behind the data, no top/right frame."""
    ax.set_title(title, fontsize=11)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, axis=grid)
    ax.set_axisbelow(True)
    ax.spines[["top", "right"]].set_visible(False)


def plot_training_curves(history: Sequence[Mapping[str, float]], path: Path, title: str = "",
                         show: bool = False) -> Path:
    """Loss and accuracy per epoch, train vs validation (Phase 3): the gap between them is
    overfitting."""
    epochs = [row["epoch"] for row in history]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for split, color in (("train", PALETTE[0]), ("val", PALETTE[1])):
        name = "training" if split == "train" else "validation"
        loss_ax.plot(epochs, [row[f"{split}_loss"] for row in history], "o-", color=color,
                     label=name)
        acc_ax.plot(epochs, [100 * row[f"{split}_acc"] for row in history], "o-", color=color,
                    label=name)
    best = max(history, key=lambda row: row["val_acc"], default=None)
    if best is not None:  # the label points inwards, so it is never cut at the figure's edge
        late = best["epoch"] > (epochs[0] + epochs[-1]) / 2
        acc_ax.annotate(f"best validation {100 * best['val_acc']:.2f}%",
                        (best["epoch"], 100 * best["val_acc"]), xytext=(-12 if late else 12, -28),
                        textcoords="offset points", ha="right" if late else "left", fontsize=9,
                        arrowprops={"arrowstyle": "->", "color": "gray"})
    _style(loss_ax, "Loss (lower is better)", "epoch", "cross-entropy loss")
    _style(acc_ax, "Accuracy (higher is better)", "epoch", "accuracy (%)")
    for ax in (loss_ax, acc_ax):
        ax.legend(loc="best")
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(title or "Training curves", fontsize=13)
    fig.tight_layout()
    return _finish(fig, path, show)


def plot_confusion_matrix(cm: Any, path: Path, normalize: bool = False, title: str = "",
                          show: bool = False) -> Path:
    """Rows are the true digit, columns the prediction (Phase 6): off-diagonal cells are mistakes.

    ``normalize`` shows each row in percent of that digit's images with the diagonal (the right
    answers, ~99%) left blank, so the colour scale is spent on the mistakes.
    """
    counts = _numpy(cm)
    values = counts
    if normalize:
        values = 100 * counts / np.clip(counts.sum(axis=1, keepdims=True), 1, None)
        values = np.where(np.eye(len(values), dtype=bool), np.nan, values)  # (10, 10)
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    image = ax.imshow(values, cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04,
                 label="% of the true digit's images (diagonal left out)" if normalize else
                 "images")
    threshold = np.nanmax(values) / 2 if np.isfinite(values).any() else 0
    for (row, col), value in np.ndenumerate(values):
        if normalize and row == col:
            right = 100 * counts[row, col] / max(counts[row].sum(), 1)
            ax.text(col, row, f"{right:.1f}\nright", ha="center", va="center", fontsize=6.5,
                    color="dimgray")
            continue
        text = f"{value:.1f}" if normalize else f"{int(round(value))}"
        ax.text(col, row, text, ha="center", va="center", fontsize=8,
                color="white" if value > threshold else "black")
    ticks = range(values.shape[0])
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(title or "Confusion matrix", fontsize=12)
    return _finish(fig, path, show)


def plot_image_grid(images: Any, path: Path, titles: Sequence[str] | None = None, ncols: int = 10,
                    suptitle: str = "", cmap: str = "gray", show: bool = False) -> Path:
    """Small images in a grid (Phase 1 onwards), all on one shared grey scale so they compare
    fairly."""
    pictures = _numpy(images)
    pictures = pictures.reshape(len(pictures), *pictures.shape[-2:])  # (N, H, W)
    fig, axes = _grid(len(pictures), ncols)
    vmin, vmax = float(pictures.min()), float(pictures.max())
    for index, (ax, picture) in enumerate(zip(axes, pictures)):
        ax.imshow(picture, cmap=cmap, vmin=vmin, vmax=vmax if vmax > vmin else vmin + 1)
        if titles is not None and index < len(titles):
            ax.set_title(titles[index], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=12)
    fig.tight_layout()
    return _finish(fig, path, show)


def plot_filters(weights: Any, path: Path, title: str = "", show: bool = False) -> Path:
    """Convolution kernels (Phase 5): red weights excite, blue weights inhibit, white is zero."""
    kernels = _numpy(weights)  # (C_out, C_in, k, k)
    kernels = kernels[:, 0] if kernels.shape[1] == 1 else kernels.mean(axis=1)  # (C_out, k, k)
    fig, axes = _grid(len(kernels), ncols=8, cell=1.0)
    limit = float(np.abs(kernels).max()) or 1.0  # symmetric, so zero is always white
    for index, (ax, kernel) in enumerate(zip(axes, kernels)):
        image = ax.imshow(kernel, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(f"#{index}", fontsize=8)
    fig.colorbar(image, ax=list(axes), fraction=0.02, pad=0.02, label="weight")
    fig.suptitle(title or f"{len(kernels)} learned filters", fontsize=12)
    return _finish(fig, path, show)


def plot_feature_maps(maps: Any, path: Path, title: str = "", max_maps: int = 32,
                      show: bool = False, note: str = "") -> Path:
    """What each channel of a layer makes of one image (Phase 5), on ONE shared colour scale.

    A shared scale (with its colour bar) lets maps be compared: a dim map really is weak, not
    just stretched. ``note`` is printed under the panels (what bright means, the border).
    """
    channels = _numpy(maps)[:max_maps]  # (C, H, W)
    fig, axes = _grid(len(channels), ncols=8, cell=1.2)
    low, high = float(min(channels.min(), 0)), float(channels.max())
    for index, (ax, channel) in enumerate(zip(axes, channels)):
        image = ax.imshow(channel, cmap="viridis", vmin=low, vmax=high if high > low else low + 1)
        ax.set_title(f"map #{index}", fontsize=8)
    fig.suptitle(title or f"{len(channels)} feature maps", fontsize=12)
    fig.tight_layout(rect=(0, 0.05 if note else 0, 0.9, 1))
    fig.colorbar(image, ax=list(axes), fraction=0.02, pad=0.02, label="activation (shared scale)")
    if note:
        fig.text(0.45, 0.01, note, ha="center", va="bottom", fontsize=8.5, wrap=True)
    return _finish(fig, path, show)


def _label_bars(ax: plt.Axes, bars: Any, values: np.ndarray, value_fmt: str | None) -> None:
    """Write each bar's value just above it."""
    if value_fmt:
        ax.bar_label(bars, labels=[value_fmt.format(v) for v in values], fontsize=8, padding=2)


def plot_bars(labels: Sequence[str], values: Any, path: Path, title: str = "", ylabel: str = "",
              highlight: int | str | None = None, value_fmt: str = "{:.1f}",
              show: bool = False) -> Path:
    """One bar per label with its value written on top; ``highlight`` (index or label) stands
    out."""
    heights = _numpy(values)
    labels = [str(label) for label in labels]
    named = isinstance(highlight, str) and str(highlight) in labels
    target = labels.index(str(highlight)) if named else highlight
    colors = [HIGHLIGHT_COLOR if index == target else BASE_COLOR for index in range(len(labels))]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * len(labels)), 4))
    bars = ax.bar(labels, heights, color=colors)
    _label_bars(ax, bars, heights, value_fmt)
    ax.margins(y=0.12)
    _style(ax, title, "", ylabel, grid="y")
    return _finish(fig, path, show)


def plot_errors_per_10k(names: Sequence[str], accuracies: Any, path: Path, *, title: str = "",
                        notes: Sequence[str] | None = None, log_scale: bool = False,
                        highlight: int | None = None, show: bool = False) -> Path:
    """Mistakes per 10,000 digits, one bar per model (``accuracies`` are fractions in [0, 1]).

    97.79% and 99.24% look equal on a 0-100% axis; as 221 against 76 mistakes the difference is
    plain. ``log_scale`` makes every halving of the errors the same step (for a long ladder).
    """
    errors = np.clip((1.0 - _numpy(accuracies)) * 10_000, 0.5 if log_scale else 0.0, None)
    names = [textwrap.fill(str(name), LABEL_WIDTH) for name in names]  # long names: 2-3 lines
    labels = [name if not notes else f"{name}\n{note}" for name, note in zip(names, notes or names)]
    colors = [HIGHLIGHT_COLOR if index == highlight else BASE_COLOR for index in range(len(labels))]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.5 * len(labels)), 4.5))
    bars = ax.bar(labels, errors, color=colors)
    ax.bar_label(bars, labels=[f"{round(e):,}" for e in errors], fontsize=8, padding=2)
    if log_scale:
        ax.set_yscale("log")
        plain = FuncFormatter(lambda y, _: f"{y:,.0f}")  # 200, not 2 x 10^2
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain)
    ax.margins(y=0.15)
    ax.tick_params(axis="x", labelsize=8)
    scale = " (log scale)" if log_scale else ""
    _style(ax, title, "", f"mistakes per 10,000 digits{scale}", grid="y")
    return _finish(fig, path, show)


def plot_grouped_bars(labels: Sequence[str], series: Mapping[str, Sequence[float]], path: Path,
                      title: str = "",
                      ylabel: str = "", value_fmt: str | None = None, show: bool = False) -> Path:
    """Side-by-side bars per label, one colour per series (e.g. class counts per split, MLP vs
    CNN)."""
    labels = [str(label) for label in labels]
    positions = np.arange(len(labels))
    width = 0.8 / max(1, len(series))
    fig, ax = plt.subplots(figsize=(max(7.0, 0.6 * len(labels) * len(series) ** 0.5), 4))
    for index, (name, values) in enumerate(series.items()):
        heights = _numpy(values)
        offset = (index - (len(series) - 1) / 2) * width
        bars = ax.bar(positions + offset, heights, width, label=name,
                      color=PALETTE[index % len(PALETTE)])
        _label_bars(ax, bars, heights, value_fmt)
    ax.set_xticks(positions, labels)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.margins(y=0.08)
    _style(ax, title, "", ylabel, grid="y")
    return _finish(fig, path, show)


def plot_lines(x: Sequence[float], series: Mapping[str, Sequence[float]], path: Path,
               title: str = "", xlabel: str = "", ylabel: str = "",
               hlines: Mapping[str, float] | Sequence[float] | None = None,
               show: bool = False) -> Path:
    """Several curves over the same x (learning-rate sweeps, robustness); ``hlines`` mark reference
    levels."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    xs = _numpy(x)
    for index, (name, values) in enumerate(series.items()):
        ys = _numpy(values)  # a run stopped early (diverged, early stopping) has fewer points
        ax.plot(xs[: len(ys)], ys[: len(xs)], marker="o", markersize=3,
                linestyle=LINE_STYLES[index // len(PALETTE) % len(LINE_STYLES)],
                color=PALETTE[index % len(PALETTE)], label=name)
    references = (hlines.items() if isinstance(hlines, Mapping)
                  else ((None, y) for y in (hlines or ())))
    for name, y in references:  # named in the legend: a label on the line can sit under a curve
        ax.axhline(y, color="gray", linestyle="--", linewidth=1, label=name)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    _style(ax, title, xlabel, ylabel)
    return _finish(fig, path, show)


def plot_histogram(values: Any, path: Path, title: str = "", xlabel: str = "", bins: int = 50,
                   vline: float | Mapping[str, float] | None = None, log_scale: bool = False,
                   show: bool = False) -> Path:
    """The spread of many numbers (pixel values, confidences); ``vline`` marks a value such as the
    mean.

    ``log_scale`` puts the counts on a logarithmic axis, so a few huge bars (the black
    background) do not flatten everything else to nothing.
    """
    numbers = _numpy(values).ravel()
    fig, ax = plt.subplots(figsize=(7.5, 4))
    ax.hist(numbers, bins=bins, color=BASE_COLOR, edgecolor="white", linewidth=0.4, log=log_scale)
    ax.yaxis.set_major_formatter(THOUSANDS)
    markers = vline.items() if isinstance(vline, Mapping) else ([] if vline is None else
                                                                [(f"{vline:.3g}", vline)])
    for index, (name, x) in enumerate(markers):
        ax.axvline(x, color=PALETTE[(index + 1) % len(PALETTE)], linestyle="--", label=name)
    if markers:
        ax.legend()
    _style(ax, title, xlabel, "count (log scale)" if log_scale else "count")
    return _finish(fig, path, show)


def plot_progress_story(steps: Sequence[str], test_accs: Sequence[float], notes: Sequence[str],
                        path: Path,
                        title: str = "", show: bool = False) -> Path:
    """The course's arc in one picture (``python -m common.progress --plot``): accuracy, and error
    on a log scale.

    ``test_accs`` are percentages; ``notes`` go under each step (parameters, seconds). The right
    panel
    shows the test error, where each improvement that looks small as accuracy becomes a visible
    halving.
    """
    accs = _numpy(test_accs)
    labels = [f"{step}\n{note}" for step, note in zip(steps, notes)]
    colors = [PALETTE[index % len(PALETTE)] for index in range(len(steps))]
    fig, (acc_ax, err_ax) = plt.subplots(1, 2, figsize=(max(12.0, 2.6 * len(steps)), 4.8))
    _label_bars(acc_ax, acc_ax.bar(labels, accs, color=colors), accs, "{:.2f}%")
    acc_ax.set_ylim(0, 105)
    errors = np.clip(100 - accs, 0.01, None)
    _label_bars(err_ax, err_ax.bar(labels, errors, color=colors), errors, "{:.2f}%")
    err_ax.set_yscale("log")
    _style(acc_ax, "Test accuracy", "", "accuracy (%)", grid="y")
    _style(err_ax, "Test error (log scale): every halving is real progress", "", "error (%)",
           grid="y")
    for ax in (acc_ax, err_ax):
        ax.tick_params(axis="x", labelsize=8)
    fig.suptitle(title or "Your progress, from your own results ledger", fontsize=13)
    fig.tight_layout()
    return _finish(fig, path, show)


def show_figures(show: bool) -> None:
    """Open every figure still in memory, once, at the end of a script (``--show``)."""
    if not show:
        return
    if matplotlib.get_backend().lower() == "agg":
        print("no display available: the figures were saved but cannot be shown here")
        plt.close("all")
        return
    plt.show()


# Added by the 03b lesson: plot_lines gives series 1 and 4 two oranges and 0 and 4 two blues; here
# every series has its own colour, marker and dash, so curves that touch or overlap stay apart.
DISTINCT_STYLES = (("#0072B2", "o", "-"), ("#D55E00", "s", "--"), ("#009E73", "^", "-."),
                   ("#CC79A7", "D", ":"), ("#000000", "v", "-"), ("#E69F00", "P", "--"),
                   ("#56B4E9", "X", "-."))


def plot_distinct_lines(x: Sequence[float], series: Mapping[str, Sequence[float]], path: Path, *,
                        title: str = "", xlabel: str = "", ylabel: str = "",
                        hlines: Mapping[str, float] | None = None, show: bool = False) -> Path:
    """Like :func:`plot_lines`, but no two series share a colour, marker or dash (up to 7 series).

    The legend sits outside the axes, on the right, so it never hides a curve; a reference line's
    label sits at its right end, above the line.
    """
    fig, ax = plt.subplots(figsize=(8.5, 4.5))
    xs = _numpy(x)
    every = max(1, len(xs) // 12)  # at most ~12 markers per curve, so dense curves stay readable
    for index, (name, values) in enumerate(series.items()):
        color, marker, dash = DISTINCT_STYLES[index % len(DISTINCT_STYLES)]
        ys = _numpy(values)  # a run stopped early (diverged, early stopping) has fewer points
        ax.plot(xs[: len(ys)], ys[: len(xs)], linestyle=dash, marker=marker, markersize=5,
                markevery=every, color=color, linewidth=1.6, label=name)
    for name, y in (hlines or {}).items():
        ax.axhline(y, color="gray", linestyle="--", linewidth=1)
        ax.annotate(name, (1.0, y), xycoords=("axes fraction", "data"), xytext=(-2, 3),
                    textcoords="offset points", ha="right", va="bottom", fontsize=8,
                    color="dimgray")
    if series:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9)
    _style(ax, title, xlabel, ylabel)
    return _finish(fig, path, show)
