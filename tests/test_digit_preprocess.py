"""MNIST-faithful preprocessing of photos (common/digit_preprocess.py), on synthetic pictures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from common import data
from common import digit_preprocess as dp
from common.errors import CourseError

PAPER, INK = 0.92, 0.08


@pytest.fixture(autouse=True)
def one_thread():
    """Preprocessing is many small operations on one picture: one thread avoids waiting on busy
    cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def mnist_like_digit() -> torch.Tensor:
    """A (28, 28) '7' made the MNIST way: longer side 20 px, centre of mass on pixel (14, 14)."""
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")

    def stroke(x0: float, y0: float, x1: float, y1: float, radius: float = 1.3) -> torch.Tensor:
        dx, dy = x1 - x0, y1 - y0
        t = (((xs - x0) * dx + (ys - y0) * dy) / (dx * dx + dy * dy)).clamp(0, 1)
        return (radius + 0.5 - torch.hypot(xs - x0 - t * dx, ys - y0 - t * dy)).clamp(0, 1)

    digit = torch.maximum(stroke(8, 5, 20, 5), stroke(20, 5, 12, 23))  # bar, then the long diagonal
    rows, cols = torch.nonzero(digit > 0, as_tuple=True)
    digit = digit[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    digit = F.interpolate(digit[None, None], size=(20, round(20 * digit.shape[1] / digit.shape[0])),
                          mode="area")[0, 0]
    return dp.paste_centered(digit / digit.max())


def draw_on_paper(digit: torch.Tensor, scale: int = 7, size: tuple[int, int] = (300, 420),
                  at: tuple[int, int] = (25, 40), dark_ink: bool = True,
                  noise: float = 0.02) -> torch.Tensor:
    """The digit's ink enlarged ``scale`` times and placed off-centre on a sheet of paper, (H, W) in
    [0, 1]."""
    rows, cols = torch.nonzero(digit > 0, as_tuple=True)
    crop = digit[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    big = F.interpolate(crop[None, None], scale_factor=scale, mode="bilinear",
                        align_corners=False)[0, 0].clamp(0, 1)
    ink_amount = torch.zeros(size)
    ink_amount[at[0] : at[0] + big.shape[0], at[1] : at[1] + big.shape[1]] = big
    paper, ink = (PAPER, INK) if dark_ink else (INK, PAPER)
    sheet = paper + (ink - paper) * ink_amount
    grain = torch.randn(size, generator=torch.Generator().manual_seed(0)) * noise
    return (sheet + grain).clamp(0, 1)


def centre_of_mass(image: torch.Tensor) -> tuple[float, float]:
    index = torch.arange(image.shape[0], dtype=image.dtype)
    mass = image.sum()
    return float((image.sum(1) * index).sum() / mass), float((image.sum(0) * index).sum() / mass)


def save(array: np.ndarray, path):
    Image.fromarray(array).save(path)  # uint16 arrays become 16-bit greyscale PNGs
    return path


# --- the recipe ------------------------------------------------------------------------------


def test_digit_drawn_large_and_off_centre_comes_back_as_the_original():
    digit = mnist_like_digit()
    out = dp.prepare_digit(draw_on_paper(digit))
    assert out.shape == (data.IMAGE_SIZE, data.IMAGE_SIZE)
    assert (out - digit).abs().mean() < 0.03  # pixel error on a 0..1 scale
    rows, cols = torch.nonzero(out > 0, as_tuple=True)
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 == dp.DIGIT_BOX
    cy, cx = centre_of_mass(out)
    assert abs(cy - dp.CENTER_OF_MASS) <= 0.5 and abs(cx - dp.CENTER_OF_MASS) <= 0.5
    squashed = dp.plain_resize(draw_on_paper(digit), invert=True)
    # what the recipe is worth
    assert (squashed - digit).abs().mean() > 3 * (out - digit).abs().mean()


@pytest.mark.real_mnist
def test_real_mnist_digits_survive_the_round_trip(real_mnist):
    test = data.load_mnist().test
    digits = data.to_unit(test.images[:40])[:, 0]
    errors = torch.stack([(dp.prepare_digit(draw_on_paper(d, scale=5 + i % 6)) - d).abs().mean()
                          for i, d in enumerate(digits)])
    assert errors.mean() < 0.03 and errors.max() < 0.1


def test_polarity_is_read_from_the_border_both_ways():
    digit = mnist_like_digit()
    dark_on_light = draw_on_paper(digit, dark_ink=True)
    light_on_dark = draw_on_paper(digit, dark_ink=False)
    assert dp.ink_is_dark(dark_on_light) is True
    assert dp.ink_is_dark(light_on_dark) is False
    # dim photo: paper 0.42, ink 0.13
    grey_paper = 0.45 - 0.35 * (1 - draw_on_paper(digit, noise=0.0))
    assert dp.ink_is_dark(grey_paper) is True
    assert dp.ink_is_dark(digit) is False  # MNIST itself: bright ink on black
    same = (dp.prepare_digit(dark_on_light), dp.prepare_digit(light_on_dark),
            dp.prepare_digit(grey_paper))
    assert (same[0] - same[1]).abs().mean() < 0.02 and (same[0] - same[2]).abs().mean() < 0.03


def test_shadows_and_specks_are_not_taken_for_ink():
    digit = mnist_like_digit()
    clean = dp.prepare_digit(draw_on_paper(digit))
    sheet = draw_on_paper(digit)
    shadow = (torch.linspace(0, 0.4, sheet.shape[1])[None, :]
              * torch.linspace(0.3, 1, sheet.shape[0])[:, None])
    assert (dp.prepare_digit((sheet - shadow).clamp(0, 1)) - clean).abs().mean() < 0.03
    speck = sheet.clone()
    speck[270:274, 390:394] = INK  # a dust speck far from the digit
    assert (dp.prepare_digit(speck) - clean).abs().mean() < 0.01


def test_small_digits_are_enlarged_and_wide_ones_keep_their_aspect_ratio():
    digit = mnist_like_digit()
    small = dp.prepare_digit(draw_on_paper(digit, scale=1, size=(40, 60), at=(5, 5), noise=0.0))
    assert (small - digit).abs().mean() < 0.06
    wide = torch.full((60, 200), PAPER)
    wide[25:35, 20:180] = INK  # a long dash: 10 x 160 -> 1..2 x 20
    out = dp.prepare_digit(wide)
    rows, cols = torch.nonzero(out > 0.3, as_tuple=True)
    assert cols.max() - cols.min() + 1 == dp.DIGIT_BOX and rows.max() - rows.min() + 1 <= 3


# --- reading files ---------------------------------------------------------------------------


def test_read_image_handles_colour_grey_alpha_16_bit_and_big_photos(tmp_path):
    sheet = (draw_on_paper(mnist_like_digit()).numpy() * 255).astype(np.uint8)  # (300, 420)
    colour = np.stack([sheet, sheet // 2 + 100, sheet], axis=2)
    files = {
        "colour.png": save(colour, tmp_path / "colour.png"),
        "grey.jpg": save(sheet, tmp_path / "grey.jpg"),
        "deep.png": save(sheet.astype(np.uint16) * 257, tmp_path / "deep.png"),
    }
    rgba = np.zeros((300, 420, 4), np.uint8)
    rgba[..., 3] = 255 - sheet  # black strokes on a transparent sheet
    files["alpha.png"] = save(rgba, tmp_path / "alpha.png")
    reference = dp.prepare_digit(torch.from_numpy(sheet).float() / 255)
    for name, path in files.items():
        picture = dp.read_image(path)
        assert picture.gray.shape == (300, 420) and picture.rgb.shape == (300, 420, 3), name
        assert 0 <= float(picture.gray.min()) and float(picture.gray.max()) <= 1, name
        assert (dp.prepare_digit(picture.gray, name) - reference).abs().mean() < 0.05, name
    big = Image.fromarray(sheet).resize((3000, 2143))
    big.save(tmp_path / "photo.jpg")
    assert max(dp.read_image(tmp_path / "photo.jpg").gray.shape) == dp.MAX_SIDE


def test_exif_orientation_of_phone_photos_is_applied(tmp_path):
    picture = Image.fromarray(np.full((40, 90), 200, np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    picture.save(tmp_path / "phone.jpg", exif=exif)
    assert dp.read_image(tmp_path / "phone.jpg").gray.shape == (90, 40)


def test_unusable_files_give_one_line_errors_naming_them(tmp_path):
    (tmp_path / "notes.png").write_text("not really a picture")
    save(np.zeros((1, 1), np.uint8), tmp_path / "dot.png")
    save(np.full((64, 64), 255, np.uint8), tmp_path / "blank.png")
    with pytest.raises(CourseError, match=r"notes.png is not an image"):
        dp.read_image(tmp_path / "notes.png")
    with pytest.raises(CourseError, match=r"dot.png is only 1x1 pixels"):
        dp.read_image(tmp_path / "dot.png")
    with pytest.raises(CourseError, match=r"missing.png: no such file"):
        dp.read_image(tmp_path / "missing.png")
    with pytest.raises(CourseError, match=r"is a folder"):
        dp.read_image(tmp_path)
    blank = dp.read_image(tmp_path / "blank.png")
    with pytest.raises(CourseError, match=r"blank.png looks blank"):
        dp.prepare_digit(blank.gray, "blank.png")
    with pytest.raises(CourseError, match=r"looks blank"):
        dp.prepare_digit(torch.rand(64, 64,
                                    generator=torch.Generator().manual_seed(0)) * 0.03 + 0.5)
    with pytest.raises(CourseError, match=r"too noisy"):
        dp.prepare_digit(torch.rand(64, 64, generator=torch.Generator().manual_seed(0)))
    with pytest.raises(CourseError, match=r"at least 8x8"):
        dp.prepare_digit(torch.zeros(1, 1))
    for message in ("notes.png", "dot.png"):
        try:
            dp.read_image(tmp_path / message)
        except CourseError as err:
            assert "\n" not in str(err)


def test_image_files_expands_folders_in_order(tmp_path):
    for name in ("b.png", "a.jpg", ".hidden.png"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in dp.image_files([tmp_path])] == ["a.jpg", "b.png"]
    assert dp.image_files(["x.png"])[0].name == "x.png"
