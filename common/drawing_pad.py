"""A small matplotlib window to draw a digit with the mouse and watch the prediction change (Phase
6).

``python predict.py --draw`` opens it. Drawing is dark ink on a white sheet, like pen on paper,
so the drawing goes through exactly the same preprocessing as a photo (``common.digit_preprocess``):
what the network sees is shown next to the sheet, and the probability bars update while you draw.
Keys: ``c`` clears the sheet, ``q`` closes the window.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import matplotlib
import numpy as np
import torch

from common import plots
from common.errors import CourseError

plt = plots.plt
SHEET_SIZE = 200        # pixels of the drawing sheet
# pen radius in sheet pixels: strokes about as thick, relative to the digit, as MNIST's
PEN_RADIUS = 9.0
REFRESH_SECONDS = 0.15  # while drawing, predict at most this often (the network takes a few ms)

# (gray sheet (H, W) in [0, 1]) -> (28 x 28 input, probabilities (10,)); raises CourseError when
# blank
Classifier = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def draw_segment(sheet: np.ndarray, start: tuple[float, float], end: tuple[float, float],
                 radius: float = PEN_RADIUS) -> None:
    """Ink a round-tipped stroke from ``start`` to ``end`` ((x, y) in pixels) into ``sheet``, in
    place.

    Pixels within ``radius`` of the segment become black (0), with a one-pixel soft edge.
    """
    ys, xs = np.mgrid[0 : sheet.shape[0], 0 : sheet.shape[1]]
    (x0, y0), (x1, y1) = start, end
    dx, dy = x1 - x0, y1 - y0
    along = np.clip(((xs - x0) * dx + (ys - y0) * dy) / max(dx * dx + dy * dy, 1e-9), 0, 1)
    distance = np.hypot(xs - (x0 + along * dx), ys - (y0 + along * dy))
    ink = np.clip(radius + 0.5 - distance, 0, 1)  # 1 inside the pen, fading to 0 over one pixel
    np.minimum(sheet, 1 - ink, out=sheet)


class DrawingPad:
    """The sheet, the network's 28 x 28 view and the probability bars, wired to mouse events."""

    def __init__(self, classify: Classifier, title: str = "Draw a digit"):
        self.classify = classify
        self.sheet = np.ones((SHEET_SIZE, SHEET_SIZE))
        self.last_point: tuple[float, float] | None = None
        self.last_refresh = 0.0
        self.fig, (self.sheet_ax, self.input_ax, self.bars_ax) = plt.subplots(
            1, 3, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1.2, 1, 1.4]})
        self.sheet_image = self.sheet_ax.imshow(self.sheet, cmap="gray", vmin=0, vmax=1)
        self.input_image = self.input_ax.imshow(np.zeros((28, 28)), cmap="gray", vmin=0, vmax=1)
        self.bars = self.bars_ax.bar(
            [str(d) for d in range(10)], np.zeros(10), color=plots.BASE_COLOR
        )
        self.bars_ax.set_ylim(0, 1)
        for ax, name in (
            (self.sheet_ax, "draw here (c: clear)"),
            (self.input_ax, "what the network sees"),
        ):
            ax.set_title(name, fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
        self.fig.suptitle(title, fontsize=12)
        self.show_result(None)
        for event, handler in (
            ("button_press_event", self.on_press),
            ("motion_notify_event", self.on_move),
            ("button_release_event", self.on_release),
            ("key_press_event", self.on_key),
        ):
            self.fig.canvas.mpl_connect(event, handler)

    def show_result(self, result: tuple[torch.Tensor, torch.Tensor] | None) -> None:
        """Update the 28 x 28 view and the bars (``None``: nothing drawn yet)."""
        digit, probs = result if result is not None else (torch.zeros(28, 28), torch.zeros(10))
        self.input_image.set_data(digit.numpy())
        best = int(probs.argmax())
        for d, bar in enumerate(self.bars):
            bar.set_height(float(probs[d]))
            bar.set_color(
                plots.HIGHLIGHT_COLOR if result is not None and d == best else plots.BASE_COLOR
            )
        self.bars_ax.set_title(
            (
                f"prediction: {best} ({float(probs[best]):.0%})"
                if result is not None
                else "draw a digit with the mouse"
            ),
            fontsize=10,
        )
        self.fig.canvas.draw_idle()

    def refresh(self) -> None:
        """Run the classifier on the sheet as it is now."""
        self.last_refresh = time.perf_counter()
        self.sheet_image.set_data(self.sheet)
        try:
            self.show_result(self.classify(torch.from_numpy(self.sheet).float()))
        except CourseError:  # a blank or almost blank sheet
            self.show_result(None)

    def on_press(self, event) -> None:
        if event.inaxes is self.sheet_ax and event.xdata is not None:
            self.last_point = (event.xdata, event.ydata)
            draw_segment(self.sheet, self.last_point, self.last_point)
            self.refresh()

    def on_move(self, event) -> None:
        if self.last_point is None or event.inaxes is not self.sheet_ax or event.xdata is None:
            return
        point = (event.xdata, event.ydata)
        draw_segment(self.sheet, self.last_point, point)
        self.last_point = point
        if time.perf_counter() - self.last_refresh > REFRESH_SECONDS:
            self.refresh()
        else:
            self.sheet_image.set_data(self.sheet)
            self.fig.canvas.draw_idle()

    def on_release(self, event) -> None:
        if self.last_point is not None:
            self.last_point = None
            self.refresh()

    def on_key(self, event) -> None:
        if event.key == "c":
            self.sheet[:] = 1.0
            self.refresh()


def open_drawing_pad(classify: Classifier, title: str = "Draw a digit") -> DrawingPad:
    """Open the pad and block until its window is closed; a clear error when there is no display."""
    if matplotlib.get_backend().lower() in ("agg", "pdf", "svg", "ps", "cairo", "template"):
        raise CourseError(
            "--draw needs a window, but no display is available here (no $DISPLAY); "
            "run it on a desktop, or save a photo of your digit and pass its file name"
        )
    pad = DrawingPad(classify, title)
    plt.show()
    return pad
