"""Figures of Phase 6 that need more than one panel: calibration and a single prediction.

Same conventions as :mod:`common.plots` (whose saving helper and palette they reuse): each
function saves a PNG to ``path``, closes the figure unless ``show=True`` and returns ``path``.

* :func:`plot_reliability` - the reliability diagram: accuracy against confidence, per bin;
* :func:`plot_confidence_histograms` - how sure each model is, right answers vs mistakes;
* :func:`plot_confidence_threshold` - accuracy and share of the answers kept above a threshold;
* :func:`plot_filter_pairs`, :func:`plot_conv2_reading` - first-layer filters before and after
  training, and which first-layer maps each second-layer filter reads;
* :func:`plot_saliency` - the digits and each model's saliency maps on one shared scale;
* :func:`plot_prediction` - a photo, the 28 x 28 image the network saw, and its probabilities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from common import plots
from common.interpret import ConfidentSubset, Reliability

plt = plots.plt  # pyplot, imported by common.plots after choosing a headless backend when needed
RIGHT_COLOR, WRONG_COLOR = plots.PALETTE[2], plots.PALETTE[3]


def plot_reliability(results: Mapping[str, Reliability], path: Path, title: str = "",
                     show: bool = False) -> Path:
    """One panel per model: accuracy of each confidence bin next to the diagonal of perfect
    calibration.

    Bars below the diagonal mean over-confidence ("90% sure" but right less often than that).
    Give bins already merged (:func:`common.interpret.merge_sparse_bins`): each bar spans its
    bin and is labelled with how many answers it holds.
    """
    fig, axes = plt.subplots(1, len(results), figsize=(5.2 * len(results), 4.6), squeeze=False)
    for ax, (name, result) in zip(axes[0], results.items()):
        left = result.edges[:-1].numpy()
        widths = (result.edges[1:] - result.edges[:-1]).numpy()
        accuracy, confidence = result.accuracy.numpy(), result.confidence.numpy()
        ax.bar(left, accuracy, width=widths * 0.95, align="edge", color=plots.BASE_COLOR,
               label="accuracy in bin")
        ax.bar(left, confidence - accuracy, bottom=accuracy, width=widths * 0.95, align="edge",
               facecolor="none", edgecolor=WRONG_COLOR, hatch="///", linewidth=1,
               label="gap to the bin's mean confidence")
        ax.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
        for x, w, top, count in zip(left, widths, np.maximum(accuracy, confidence),
                                    result.counts.numpy()):
            inside = top > 0.9  # a full bar: the count goes inside it, in white
            ax.annotate(f"{count:,}", (x + w / 2, top), xytext=(0, -10 if inside else 2),
                        textcoords="offset points", ha="center", fontsize=7,
                        color="white" if inside else "dimgray")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.06)
        ax.legend(loc="upper left", fontsize=8)
        plots._style(ax, f"{name}: ECE {result.ece:.4f} (numbers: answers per bin)",
                     "confidence (top probability)", "accuracy")
    fig.suptitle(title or "Reliability diagram: does 90% sure mean right 90% of the time?\n"
                          "(bins with few answers are merged with their neighbour)", fontsize=12)
    fig.tight_layout()
    return plots._finish(fig, path, show)


def plot_confidence_histograms(confidences: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
                               path: Path, title: str = "", bins: int = 20,
                               show: bool = False) -> Path:
    """One panel per model: ``{name: (confidence (N,), correct (N,) bool)}``, right vs wrong.

    Two outlines side by side, not stacked: on the logarithmic count axis (almost every answer
    sits at ~100%, and the few mistakes would vanish on a linear one) stacked bars would hide
    how many mistakes each bin really holds.
    """
    fig, axes = plt.subplots(1, len(confidences), figsize=(5.2 * len(confidences), 4),
                             squeeze=False)
    for ax, (name, (confidence, correct)) in zip(axes[0], confidences.items()):
        confidence, correct = plots._numpy(confidence), plots._numpy(correct).astype(bool)
        for chosen, color, word, style in ((correct, RIGHT_COLOR, "right", "-"),
                                           (~correct, WRONG_COLOR, "wrong", "--")):
            ax.hist(confidence[chosen], bins=bins, range=(0, 1), log=True, histtype="step",
                    linewidth=2, linestyle=style, color=color,
                    label=f"{word} ({chosen.sum():,})")
        ax.yaxis.set_major_formatter(plots.THOUSANDS)
        ax.legend(loc="upper left", fontsize=8)
        plots._style(ax, name, "confidence (top probability)", "answers (log scale)")
    fig.suptitle(title or "How sure is each model, when it is right and when it is wrong?",
                 fontsize=12)
    fig.tight_layout()
    return plots._finish(fig, path, show)


def plot_confidence_threshold(thresholds: Sequence[float],
                              subsets: Mapping[str, Sequence[ConfidentSubset]], path: Path,
                              show: bool = False) -> Path:
    """Left: accuracy of the answers kept at each threshold; right: the share kept. One per
    model."""
    fig, (acc_ax, kept_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    for index, (name, found) in enumerate(subsets.items()):
        color = plots.PALETTE[index % len(plots.PALETTE)]
        style = plots.LINE_STYLES[index % len(plots.LINE_STYLES)]
        acc_ax.plot(thresholds, [100 * s.accuracy for s in found], marker="o", linestyle=style,
                    color=color, label=name)
        kept_ax.plot(thresholds, [100 * s.kept_fraction for s in found], marker="o",
                     linestyle=style, color=color, label=name)
    plots._style(acc_ax, "Accuracy of the answers kept", "confidence threshold", "accuracy (%)")
    plots._style(kept_ax, "Share of answers kept", "confidence threshold", "answers kept (%)")
    for ax in (acc_ax, kept_ax):
        ax.legend(fontsize=8)
    fig.suptitle("Trusting only confident answers: higher accuracy, fewer answers", fontsize=12)
    fig.tight_layout()
    return plots._finish(fig, path, show)


def plot_filter_pairs(learned: torch.Tensor, untrained: torch.Tensor, path: Path, title: str,
                      show: bool = False) -> Path:
    """First-layer kernels (C, 1, k, k) before and after training, filter #k in the same place."""
    kernels = {"untrained (the same network before training)": plots._numpy(untrained)[:, 0],
               "learned": plots._numpy(learned)[:, 0]}
    limit = max(float(np.abs(k).max()) for k in kernels.values()) or 1.0
    columns = 8
    rows = -(-len(kernels["learned"]) // columns)
    fig = plt.figure(figsize=(13, 0.85 * rows + 1.0))
    outer = fig.add_gridspec(1, 2, wspace=0.08)
    axes = []
    for side, (name, group) in enumerate(kernels.items()):
        inner = outer[side].subgridspec(rows, columns, wspace=0.1, hspace=0.35)
        for index, kernel in enumerate(group):
            ax = fig.add_subplot(inner[index // columns, index % columns])
            image = ax.imshow(kernel, cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set_title(f"#{index}", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
            axes.append(ax)
            if index == 0:
                ax.text(0, -1.6, name, fontsize=10, ha="left", va="bottom")
    fig.colorbar(image, ax=axes, fraction=0.015, pad=0.01, label="weight (red +, blue -)")
    fig.suptitle(title, fontsize=12, y=1.02)
    return plots._finish(fig, path, show)


def plot_conv2_reading(weights: torch.Tensor, path: Path, show: bool = False) -> Path:
    """How strongly each second-layer filter reads each first-layer map (size of its 3x3 kernel).

    Averaging a conv2 filter over its inputs gives noise; this shows what it is made of instead:
    row = conv2 filter, column = conv1 map, colour = the L2 norm of that 3 x 3 slice.
    """
    strength = plots._numpy(weights.detach().float().pow(2).sum(dim=(2, 3)).sqrt())  # (out, in)
    fig, ax = plt.subplots(figsize=(7, 9))
    image = ax.imshow(strength, cmap="viridis", aspect="auto", vmin=0)
    fig.colorbar(image, ax=ax, fraction=0.05, pad=0.03, label="size of the 3x3 kernel (L2 norm)")
    ax.set_xlabel(f"conv1 map read (0-{strength.shape[1] - 1})")
    ax.set_ylabel(f"conv2 filter (0-{strength.shape[0] - 1})")
    ax.set_title("conv2: which conv1 maps each filter reads\n(bright = it weighs that map "
                 "strongly)", fontsize=11)
    return plots._finish(fig, path, show)


def plot_saliency(images: torch.Tensor, maps: Mapping[str, torch.Tensor], path: Path,
                  title: str, show: bool = False) -> Path:
    """Row 1: the digits (N, 28, 28) in grey; one row per model of saliency maps, ONE shared scale.

    The shared scale (its top at the 99.5th percentile, so one hot pixel cannot dim the rest)
    makes the rows comparable: a brighter map is a score more sensitive to those pixels.
    """
    digits = plots._numpy(images)
    rows = [plots._numpy(m) for m in maps.values()]
    top = float(np.percentile(np.concatenate([r.ravel() for r in rows]), 99.5)) or 1.0
    fig, axes = plt.subplots(1 + len(rows), len(digits),
                             figsize=(1.25 * len(digits) + 1.2, 1.4 * (1 + len(rows)) + 0.6),
                             squeeze=False)
    for col, digit in enumerate(digits):
        axes[0, col].imshow(digit, cmap="gray", vmin=0, vmax=1)
        axes[0, col].set_title(f"digit {col}" if len(digits) == 10 else "", fontsize=8)
        for row, (name, values) in enumerate(zip(maps, rows), start=1):
            image = axes[row, col].imshow(values[col], cmap="inferno", vmin=0, vmax=top)
            axes[row, col].set_title(name, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(image, ax=list(axes[1:].flat), fraction=0.02, pad=0.02,
                 label="|d score / d pixel| (shared)")
    fig.suptitle(title, fontsize=11)
    return plots._finish(fig, path, show)


def plot_prediction(original: torch.Tensor, digit: torch.Tensor, probs: torch.Tensor, path: Path,
                    title: str = "", show: bool = False) -> Path:
    """The picture as given (H, W, 3) or (H, W), the 28 x 28 input the network saw, and its 10
    probabilities."""
    fig, (photo_ax, input_ax, bars_ax) = plt.subplots(1, 3, figsize=(12, 3.8),
                                                      gridspec_kw={"width_ratios": [1.2, 1, 1.6]})
    picture = plots._numpy(original)
    photo_ax.imshow(picture, cmap=None if picture.ndim == 3 else "gray", vmin=0, vmax=1)
    photo_ax.set_title("your image", fontsize=11)
    input_ax.imshow(plots._numpy(digit), cmap="gray", vmin=0, vmax=1)
    input_ax.set_title("what the network sees (28 x 28)", fontsize=11)
    for ax in (photo_ax, input_ax):
        ax.set_xticks([])
        ax.set_yticks([])
    values = plots._numpy(probs)
    best = int(values.argmax())
    colors = [plots.HIGHLIGHT_COLOR if d == best else plots.BASE_COLOR for d in range(len(values))]
    bars = bars_ax.bar([str(d) for d in range(len(values))], values, color=colors)
    bars_ax.bar_label(bars, labels=[f"{v:.0%}" if v >= 0.005 else "" for v in values], fontsize=8,
                      padding=2)
    bars_ax.set_ylim(0, 1.1)
    plots._style(bars_ax, f"prediction: {best} ({values[best]:.1%})", "digit", "probability",
                 grid="y")
    if title:
        fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    return plots._finish(fig, path, show)
