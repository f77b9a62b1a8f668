"""Turn any photo or scan of one handwritten digit into the 28 x 28 image MNIST would have made
(Phase 6).

A network trained on MNIST has only ever seen digits prepared in one exact way: bright ink on a
black background, the digit scaled so its longer side is 20 pixels, pasted into a 28 x 28 field
so that its centre of mass sits at pixel (14, 14). A phone photo of dark ink on white paper is
none of that, and shrinking it to 28 x 28 as it is gives the network something it has never
seen. :func:`prepare_digit` repeats the MNIST recipe step by step:

    1. grayscale in [0, 1]                       (:func:`read_image`: PNG/JPEG, colour or grey)
    2. polarity from the border: paper is what the border shows; invert so the ink is bright
    3. flatten uneven lighting, then threshold away paper texture and noise
    4. crop to the ink's bounding box (specks far from the digit are left out)
    5. scale the longer side to 20 px, keeping the aspect ratio (box-filtered, so antialiased)
    6. paste into 28 x 28 so the centre of mass lands on pixel (14, 14)

The result is a [0, 1] image like ``data.to_unit(...)`` gives for MNIST; ``data.normalize``
turns it into model input exactly as in training. :func:`plain_resize` is the naive pipeline,
kept so ``benchmarks/bench_own_digits.py`` can show what each step is worth.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from common import data
from common.errors import CourseError

DIGIT_BOX = 20          # MNIST scaled every digit so its longer side is 20 px ...
CENTER_OF_MASS = 14.0   # ... and moved it so its centre of mass is pixel (14, 14) (measured: 14.00)
MIN_SIDE = 8            # smaller images cannot hold a readable digit
MAX_SIDE = 1024         # big photos are shrunk first: 20 px of output never needs more
MIN_CONTRAST = 0.08     # ink must differ from the paper by at least ~20 of 255 grey levels
INK_THRESHOLD = 0.1     # after scaling paper -> 0 and ink -> 1, darker pixels are paper texture
NOISE_SIGMAS = 5.0      # ... and so is anything within 5 standard deviations of the paper's noise
BACKGROUND_CELLS = 16   # lighting is estimated on a 16 x 16 grid of the image ...
BACKGROUND_WINDOW = 5   # ... as the faintest level within 5 x 5 cells (wider than any pen stroke)
BORDER_FRACTION = 0.05  # the outer 5% of each side is taken to be paper


@dataclass
class LoadedImage:
    """One picture as read from disk: ``rgb`` (H, W, 3) for display and ``gray`` (H, W), both in [0,
    1]."""

    name: str
    rgb: torch.Tensor
    gray: torch.Tensor


def _open_pil(source: str | Path | BinaryIO, name: str) -> Image.Image:
    """Open with Pillow, upright (phone photos store their rotation in EXIF), fully decoded."""
    try:
        with Image.open(source) as img:
            # JPEGs decode straight at a smaller size: much faster
            img.draft("RGB", (MAX_SIDE, MAX_SIDE))
            img = ImageOps.exif_transpose(img)
            img.load()
            return img
    except FileNotFoundError:
        raise CourseError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise CourseError(f"{name} is a folder; pass it on its own to predict every image "
                          "in it") from None
    except PermissionError:
        raise CourseError(f"{name} cannot be read: permission denied") from None
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as err:
        raise CourseError(f"{name} is not an image Pillow can read ({type(err).__name__}); "
                          "save it as PNG or JPEG") from None


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1] from any Pillow mode: 16-bit grey, palette, transparency."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit, 32-bit or floating-point grey
        grey = np.asarray(img, dtype=np.float32)
        full_scale = 1.0 if grey.max() <= 1 else 255.0 if grey.max() <= 255 else 65535.0
        return np.repeat(np.clip(grey / full_scale, 0, 1)[:, :, None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
        alpha = rgba[:, :, 3:]
        # Strokes drawn on a transparent sheet: put them on a backing that contrasts with their
        # colour.
        ink_brightness = (rgba[:, :, :3].mean(2, keepdims=True) * alpha).sum() / max(alpha.sum(),
                                                                                     1e-6)
        backing = 0.0 if ink_brightness > 0.5 else 1.0
        return rgba[:, :, :3] * alpha + backing * (1 - alpha)
    return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0


def read_image(source: str | Path | BinaryIO, name: str | None = None) -> LoadedImage:
    """Read a PNG/JPEG/... of any size, colour or grey; big photos are shrunk to ``MAX_SIDE``.

    Every problem a learner can fix (missing file, not an image, too small) is a one-line
    :class:`CourseError` that names the file.
    """
    name = name or str(source)
    img = _open_pil(source, name)
    if min(img.size) < MIN_SIDE:
        raise CourseError(f"{name} is only {img.size[0]}x{img.size[1]} pixels; "
                          f"a digit needs at least {MIN_SIDE}x{MIN_SIDE}")
    if max(img.size) > MAX_SIDE:
        img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.BOX)
    rgb = torch.from_numpy(np.ascontiguousarray(_to_rgb_array(img)))  # (H, W, 3)
    gray = rgb @ torch.tensor([0.299, 0.587, 0.114])  # (H, W): the ITU-R 601 luma weights
    return LoadedImage(name=name, rgb=rgb, gray=gray)


def image_files(arguments: list[str | Path]) -> list[Path]:
    """Expand folders into the (sorted, non-hidden) files inside them; files pass through."""
    files: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.is_file() and not
                                p.name.startswith(".")))
        else:
            files.append(path)
    return files


def _border(gray: torch.Tensor) -> torch.Tensor:
    """The pixels of the outer ``BORDER_FRACTION`` ring, where there is paper and (almost) no
    ink."""
    width = max(1, round(min(gray.shape) * BORDER_FRACTION))
    return torch.cat([gray[:width].flatten(), gray[-width:].flatten(),
                      gray[:, :width].flatten(), gray[:, -width:].flatten()])


def ink_is_dark(gray: torch.Tensor) -> bool:
    """True when the ink is darker than the paper (pen on paper), False for chalk-on-board / MNIST.

    The border gives the paper's level. The ink is whatever departs from it most: compare how
    far the darkest and the brightest spots (after a 3 x 3 blur, so one hot pixel cannot
    decide) lie below and above the paper.
    """
    paper = _border(gray).median()
    blurred = F.avg_pool2d(gray[None, None], 3, stride=1) if min(gray.shape) >= 3 else gray[None,
                                                                                            None]
    return bool(paper - blurred.min() > blurred.max() - paper)


def _flatten_lighting(ink: torch.Tensor) -> torch.Tensor:
    """Subtract a smooth estimate of the paper's level so shadows and vignetting are not ink.

    The paper level is the faintest value within a window of several grid cells, which is wider
    than any pen stroke, then smoothed and stretched back to full size.
    """
    h, w = ink.shape
    cells = (min(BACKGROUND_CELLS, h), min(BACKGROUND_CELLS, w))
    faintest = -F.adaptive_max_pool2d(-ink[None, None], cells)  # (1, 1, 16, 16) per-cell minimum
    faintest = -F.max_pool2d(-faintest, BACKGROUND_WINDOW, stride=1, padding=BACKGROUND_WINDOW // 2)
    smooth = F.avg_pool2d(F.pad(faintest, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    return ink - F.interpolate(smooth, size=(h, w), mode="bilinear", align_corners=False)[0, 0]


def _ink_map(gray: torch.Tensor, name: str) -> torch.Tensor:
    """Ink in [0, 1] on a 0 background: polarity, lighting, contrast and threshold (steps 2-3)."""
    ink = 1.0 - gray if ink_is_dark(gray) else gray.clone()
    ink = _flatten_lighting(ink)
    border = _border(ink)
    paper = border.median()
    noise = 1.4826 * (border - paper).abs().median()  # robust standard deviation of the paper
    peak = F.avg_pool2d(ink[None, None], 3, stride=1).max() if min(ink.shape) >= 3 else ink.max()
    contrast = float(peak - paper)
    if contrast < MIN_CONTRAST:
        raise CourseError(f"{name} looks blank: nothing on it differs from the paper "
                          f"(contrast {contrast:.2f}); photograph a darker or bigger digit")
    ink = ((ink - paper) / contrast).clamp(0, 1)
    threshold = max(INK_THRESHOLD, NOISE_SIGMAS * float(noise) / contrast)
    ink = torch.where(ink >= threshold, ink, torch.zeros_like(ink))
    if not bool((ink > 0).any()):
        raise CourseError(f"{name} is too noisy: no ink stands out from the grain of the paper; "
                          "take the photo in better light")
    return ink


def _main_run(profile: torch.Tensor, max_gap: int) -> tuple[int, int]:
    """The stretch of non-empty rows (or columns) holding the most ink; gaps up to ``max_gap`` are
    bridged.

    A dust speck or a pen mark far from the digit forms its own stretch and is left out.
    """
    best, best_mass = (0, len(profile)), -1.0
    start, last, mass = None, None, 0.0
    for i, value in enumerate(profile.tolist() + [0.0] * (max_gap + 1)):
        if value > 0:
            if start is None:
                start, mass = i, 0.0
            last, mass = i, mass + value
        elif start is not None and i - last > max_gap:
            if mass > best_mass:
                best, best_mass = (start, last + 1), mass
            start = None
    return best


def crop_to_ink(ink: torch.Tensor) -> torch.Tensor:
    """The bounding box of the digit's ink (step 4): rows first, then columns within them."""
    max_gap = max(2, max(ink.shape) // 20)
    top, bottom = _main_run(ink.sum(1), max_gap)
    left, right = _main_run(ink[top:bottom].sum(0), max_gap)
    ink = ink[top:bottom, left:right]
    top, bottom = _main_run(ink.sum(1), max_gap)  # columns may have dropped a speck's rows
    return ink[top:bottom]


def fit_box(ink: torch.Tensor, box: int = DIGIT_BOX) -> torch.Tensor:
    """Scale so the longer side is ``box`` px, keeping the aspect ratio (step 5).

    Shrinking averages all the pixels each output pixel covers (a box filter, like a camera
    sensor): the grey edges this makes are MNIST's antialiasing, and no stroke can fall between
    samples. A digit smaller than the box is enlarged bilinearly.
    """
    h, w = ink.shape
    scale = box / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    if scale < 1:
        small = F.interpolate(ink[None, None], size=size, mode="area")[0, 0]
    else:
        small = F.interpolate(ink[None, None], size=size, mode="bilinear", align_corners=False)[0,
                                                                                                0]
    small = small.clamp(0, 1)
    return small / small.max()  # MNIST digits reach full brightness; thin pen strokes would not


def paste_centered(digit: torch.Tensor, size: int = data.IMAGE_SIZE) -> torch.Tensor:
    """Paste into a size x size black field with the centre of mass on pixel ``CENTER_OF_MASS``
    (step 6).

    MNIST moved each digit by whole pixels, so this does too: no resampling blur.
    """
    h, w = digit.shape
    mass = digit.sum()
    rows = (digit.sum(1) * torch.arange(h, dtype=digit.dtype)).sum() / mass
    cols = (digit.sum(0) * torch.arange(w, dtype=digit.dtype)).sum() / mass
    top = min(max(round(CENTER_OF_MASS - float(rows)), 0), size - h)
    left = min(max(round(CENTER_OF_MASS - float(cols)), 0), size - w)
    canvas = torch.zeros(size, size, dtype=digit.dtype)
    canvas[top : top + h, left : left + w] = digit
    return canvas


def prepare_digit(gray: torch.Tensor, name: str = "image") -> torch.Tensor:
    """MNIST's recipe on a (H, W) [0, 1] grayscale photo: returns (28, 28) in [0, 1], ink bright.

    Feed ``data.normalize(result[None, None])`` to a model, exactly as in training.
    """
    if gray.dim() != 2 or min(gray.shape) < MIN_SIDE:
        raise CourseError(f"{name} is {'x'.join(map(str, gray.shape))} pixels; "
                          f"a digit needs at least {MIN_SIDE}x{MIN_SIDE}")
    ink = _ink_map(gray.float(), name)
    return paste_centered(fit_box(crop_to_ink(ink)))


def plain_resize(gray: torch.Tensor, invert: bool = False) -> torch.Tensor:
    """The naive pipeline: squash the whole picture to 28 x 28 (optionally inverted). For comparison
    only."""
    small = F.interpolate(gray.float()[None, None], size=(data.IMAGE_SIZE, data.IMAGE_SIZE),
                          mode="bilinear", antialias=True, align_corners=False)[0, 0].clamp(0, 1)
    return 1.0 - small if invert else small
