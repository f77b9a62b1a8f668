"""Reference solution of exercises/p5_output_size.py (try it yourself first)."""


def conv_output_size(size: int, kernel: int, padding: int = 0, stride: int = 1) -> int:
    """The output width of a convolution or pooling layer, as an int."""
    return (size + 2 * padding - kernel) // stride + 1
