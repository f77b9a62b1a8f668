"""Figures of Phase 6 that need more than one panel: calibration and a single prediction.

Same conventions as :mod:`common.plots` (whose saving helper and palette they reuse): each
function saves a PNG to ``path``, closes the figure unless ``show=True`` and returns ``path``.

* :func:`plot_reliability` - the reliability diagram: accuracy against confidence, per bin;
* :func:`plot_confidence_histograms` - how sure each model is, right answers vs mistakes;
* :func:`plot_prediction` - a photo, the 28 x 28 image the network saw, and its probabilities.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from common import plots
from common.interpret import Reliability

plt = plots.plt  # pyplot, imported by common.plots after choosing a headless backend when needed
RIGHT_COLOR, WRONG_COLOR = plots.PALETTE[2], plots.PALETTE[3]


def plot_reliability(results: Mapping[str, Reliability], path: Path, title: str = "", show: bool = False) -> Path:
    """One panel per model: accuracy of each confidence bin next to the diagonal of perfect calibration.

    Bars below the diagonal mean over-confidence ("90% sure" but right less often than that).
    """
    fig, axes = plt.subplots(1, len(results), figsize=(5.2 * len(results), 4.6), squeeze=False)
    for ax, (name, result) in zip(axes[0], results.items()):
        width = float(result.edges[1] - result.edges[0])
        centres = (result.edges[:-1] + width / 2).numpy()
        filled = (result.counts > 0).numpy()
        accuracy, confidence = result.accuracy.numpy(), result.confidence.numpy()
        ax.bar(centres[filled], accuracy[filled], width=width * 0.9, color=plots.BASE_COLOR, label="accuracy in bin")
        ax.bar(centres[filled], (confidence - accuracy)[filled], bottom=accuracy[filled], width=width * 0.9,
               facecolor="none", edgecolor=WRONG_COLOR, hatch="///", linewidth=1,
               label="gap to the bin's mean confidence")
        ax.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
        tops = np.maximum(accuracy, confidence)
        for x, top, count in zip(centres[filled], tops[filled], result.counts.numpy()[filled]):
            ax.annotate(f"{count:,}", (x, min(top, 0.97)), xytext=(0, 2), textcoords="offset points",
                        ha="center", fontsize=7, color="dimgray")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.06)
        ax.legend(loc="upper left", fontsize=8)
        plots._style(ax, f"{name}: ECE {result.ece:.4f} (numbers: answers per bin)",
                     "confidence (top probability)", "accuracy")
    fig.suptitle(title or "Reliability diagram: does 90% sure mean right 90% of the time?", fontsize=12)
    fig.tight_layout()
    return plots._finish(fig, path, show)


def plot_confidence_histograms(confidences: Mapping[str, tuple[torch.Tensor, torch.Tensor]], path: Path,
                               title: str = "", bins: int = 20, show: bool = False) -> Path:
    """One panel per model: ``{name: (confidence (N,), correct (N,) bool)}``, right and wrong stacked.

    The count axis is logarithmic: almost every answer sits at ~100%, and the few mistakes
    would be invisible on a linear axis.
    """
    fig, axes = plt.subplots(1, len(confidences), figsize=(5.2 * len(confidences), 4), squeeze=False)
    for ax, (name, (confidence, correct)) in zip(axes[0], confidences.items()):
        confidence, correct = plots._numpy(confidence), plots._numpy(correct).astype(bool)
        ax.hist([confidence[correct], confidence[~correct]], bins=bins, range=(0, 1), stacked=True, log=True,
                color=[RIGHT_COLOR, WRONG_COLOR], label=[f"right ({correct.sum():,})", f"wrong ({(~correct).sum():,})"])
        ax.legend(loc="upper left", fontsize=8)
        plots._style(ax, name, "confidence (top probability)", "answers (log scale)")
    fig.suptitle(title or "How sure is each model? Mistakes are mostly the unsure answers", fontsize=12)
    fig.tight_layout()
    return plots._finish(fig, path, show)


def plot_prediction(original: torch.Tensor, digit: torch.Tensor, probs: torch.Tensor, path: Path,
                    title: str = "", show: bool = False) -> Path:
    """The picture as given (H, W, 3) or (H, W), the 28 x 28 input the network saw, and its 10 probabilities."""
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
    bars_ax.bar_label(bars, labels=[f"{v:.0%}" if v >= 0.005 else "" for v in values], fontsize=8, padding=2)
    bars_ax.set_ylim(0, 1.1)
    plots._style(bars_ax, f"prediction: {best} ({values[best]:.1%})", "digit", "probability", grid="y")
    if title:
        fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    return plots._finish(fig, path, show)
