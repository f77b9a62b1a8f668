"""What MNIST-faithful preprocessing is worth on "your own" handwriting (Phase 6, predict.py).

Makes a set of photo-like pictures from MNIST test digits: each digit's ink is enlarged 4-12x and
drawn as dark ink on a light, slightly grainy and unevenly lit sheet of random size, at a random
off-centre spot, then saved as JPEG and read back the way predict.py reads a file. The trained
CNN then classifies every picture after:

  1. plain resize          the whole picture squashed to 28 x 28 (a learner's first attempt)
  2. plain resize + invert the same, with the colours flipped so the ink is bright like MNIST's
  3. MNIST-faithful        common.digit_preprocess.prepare_digit, what predict.py does

next to its accuracy on the same digits as MNIST stores them (the ceiling).

Run:  python -m benchmarks.bench_own_digits [--num-digits 2000] [--examples-dir my_digits]
      (from the repository root; needs models/cnn.pt from 04_improved_model.py and the real
      MNIST; about 30 s on a 2-core CPU). --examples-dir also writes 20 of the pictures as
      JPEG files, to try `python predict.py my_digits/`.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from common import adversarial, checkpoints, data, digit_preprocess, paths
from common import device as devices
from common.cli import check, run_main

SCALE_RANGE = (4.0, 12.0)   # how much larger than MNIST's 20 px the digit is drawn
PAPER_RANGE = (0.80, 1.00)  # brightness of the sheet
INK_RANGE = (0.00, 0.30)    # brightness of the ink
# darkest corner of the uneven lighting, as a share of the paper's brightness
SHADOW_MAX = 0.25
GRAIN = 0.02                # standard deviation of the paper texture
JPEG_QUALITY = 85
NUM_EXAMPLES = 20           # pictures written with --examples-dir


def uniform(low: float, high: float, gen: torch.Generator) -> float:
    return low + (high - low) * float(torch.rand(1, generator=gen))


def draw_on_canvas(digit: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """One MNIST digit (28, 28) in [0, 1] as a photo-like (H, W) grayscale picture in [0, 1]."""
    rows, cols = torch.nonzero(digit > 0, as_tuple=True)
    crop = digit[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    big = F.interpolate(crop[None, None], scale_factor=uniform(*SCALE_RANGE, gen), mode="bilinear",
                        align_corners=False)[0, 0].clamp(0, 1)  # (h, w) the ink, enlarged
    h, w = big.shape
    height = h + round(h * uniform(0.3, 1.5, gen))
    width = w + round(h * uniform(0.5, 2.5, gen))
    top, left = round(uniform(0, height - h, gen)), round(uniform(0, width - w, gen))
    ink_amount = torch.zeros(height, width)
    ink_amount[top : top + h, left : left + w] = big
    paper, ink = uniform(*PAPER_RANGE, gen), uniform(*INK_RANGE, gen)
    # (H, W) 0 -> 1
    ramp = torch.linspace(0, 1, height)[:, None] * torch.linspace(0, 1, width)[None, :]
    light = 1 - uniform(0, SHADOW_MAX, gen) * ramp
    # what the camera sees: light x reflectance
    sheet = light * (paper + (ink - paper) * ink_amount)
    return (sheet + GRAIN * torch.randn(height, width, generator=gen)).clamp(0, 1)


def as_jpeg(picture: torch.Tensor) -> bytes:
    """The picture saved as a JPEG file would be, compression artefacts included."""
    buffer = io.BytesIO()
    Image.fromarray((picture * 255).round().to(torch.uint8).numpy()).save(buffer, "JPEG",
                                                                          quality=JPEG_QUALITY)
    return buffer.getvalue()


def build_pictures(images: torch.Tensor, seed: int) -> list[bytes]:
    """A JPEG per MNIST digit, each with its own size, position, ink, paper and lighting."""
    gen = torch.Generator().manual_seed(seed)
    return [as_jpeg(draw_on_canvas(image, gen)) for image in data.to_unit(images)[:, 0]]


def preprocess_all(pictures: list[bytes]) -> dict[str, torch.Tensor]:
    """The 28 x 28 inputs (N, 1, 28, 28) in [0, 1] each pipeline makes from the pictures, and
    seconds per picture."""
    pipelines: dict[str, list[torch.Tensor]] = {"plain resize": [], "plain resize + invert": [],
                                                "MNIST-faithful": []}
    seconds = 0.0
    for index, payload in enumerate(pictures):
        gray = digit_preprocess.read_image(io.BytesIO(payload), name=f"picture {index}").gray
        pipelines["plain resize"].append(digit_preprocess.plain_resize(gray))
        pipelines["plain resize + invert"].append(digit_preprocess.plain_resize(gray, invert=True))
        start = time.perf_counter()
        pipelines["MNIST-faithful"].append(digit_preprocess.prepare_digit(gray, f"picture {index}"))
        seconds += time.perf_counter() - start
    inputs = {name: torch.stack(images)[:, None] for name, images in pipelines.items()}
    inputs["seconds per picture"] = torch.tensor(seconds / max(1, len(pictures)))
    return inputs


def write_examples(pictures: list[bytes], labels: torch.Tensor, folder: Path) -> None:
    """Some of the pictures as files, to try predict.py on."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, (payload, label) in enumerate(zip(pictures[:NUM_EXAMPLES], labels)):
        (folder / f"digit_{index:02d}_label_{int(label)}.jpg").write_bytes(payload)
    print(f"wrote {min(NUM_EXAMPLES, len(pictures))} pictures to {folder}: "
          f"try `python predict.py {folder}`")


def main(num_digits: int = 2000, arch: str = "cnn", seed: int = 0, examples_dir: str = "") -> dict:
    """Build the pictures, run each pipeline, and print one accuracy table."""
    check(1 <= num_digits <= 10_000, f"--num-digits must be 1..10000, got {num_digits}")
    # many small per-picture operations: one thread is fastest on a busy CPU
    devices.configure_threads(1)
    model, _ = checkpoints.load_model(paths.model_path(f"{arch}.pt"), expect=arch)
    test = data.load_mnist(seed=seed).test
    pick = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[:num_digits]
    images, labels = test.images[pick], test.labels[pick]

    start = time.perf_counter()
    pictures = build_pictures(images, seed)
    if examples_dir:
        write_examples(pictures, labels, Path(examples_dir))
    inputs = preprocess_all(pictures)
    per_picture = float(inputs.pop("seconds per picture"))
    reference = adversarial.accuracy_on(model, data.to_unit(images), labels)
    rows = {"original 28x28 MNIST digits": reference}
    rows.update({name: adversarial.accuracy_on(model, batch, labels) for name,
                 batch in inputs.items()})

    print(f"\n{arch} on {num_digits:,} MNIST test digits drawn 4-12x larger, off-centre, "
          "dark ink on light paper (JPEG)")
    print(f"{'pipeline':<30}{'accuracy':>10}{'vs MNIST':>10}")
    for name, accuracy in rows.items():
        print(f"{name:<30}{accuracy:>10.2%}{100 * (accuracy - reference):>+9.2f}pt")
    print(f"MNIST-faithful preprocessing: {1000 * per_picture:.1f} ms per picture; "
          f"whole benchmark {time.perf_counter() - start:.1f} s")
    return rows


if __name__ == "__main__":
    run_main(main)
