"""Phase 5 exercise: the output-size formula of convolution and pooling.

Task: write conv_output_size(size, kernel, padding, stride): how many positions a window of
    width `kernel` takes along an input of width `size` padded by `padding` zeros on each side,
    moving `stride` steps at a time. Return an int. Examples: (28, 3, 1, 1) -> 28 (a padded 3x3
    conv keeps the size), (28, 2, 0, 2) -> 14 (a 2x2 pool halves it), (7, 2, 0, 2) -> 3.
Why it matters: the plan's CNN goes 28 -> 28 -> 14 -> 14 -> 7, so its flatten layer gets
    64 * 7 * 7 = 3,136 numbers; with this formula you can size any CNN before you build it.
Belongs to: Phase 5, 04_improved_model.py (the shapes it walks through, layer by layer).
Check it: python -m exercises check 5

Hints (`python -m exercises check 5 --hint` shows the next one):
  1. The padded input is size + 2 * padding wide (zeros on BOTH sides).
  2. The first window starts at 0; the last full window starts at padded - kernel, so there are
     (padded - kernel) // stride further steps.
  3. Count the first window too: + 1. // rounds down: a window that does not fit is not used.
"""


def conv_output_size(size: int, kernel: int, padding: int = 0, stride: int = 1) -> int:
    """The output width of a convolution or pooling layer, as an int."""
    raise NotImplementedError("your turn: write conv_output_size() in exercises/p5_output_size.py")
