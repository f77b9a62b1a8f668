"""Reading and writing MNIST's IDX file format (introduced in Phase 1).

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions),
one big-endian int32 per dimension, then the raw values. MNIST uses type 0x08 (unsigned byte):
images are 3-D (N, 28, 28), labels 1-D (N,). Files are written atomically: a crash never
leaves a half-written file under the final name.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
from pathlib import Path

import torch

UBYTE_TYPE_CODE = 0x08


def idx_bytes(values: torch.Tensor) -> bytes:
    """The IDX encoding of a uint8 tensor of any rank."""
    if values.dtype != torch.uint8:
        raise ValueError(f"IDX files here hold uint8 values, got {values.dtype}")
    header = struct.pack(">BBBB", 0, 0, UBYTE_TYPE_CODE, values.dim())
    header += struct.pack(f">{values.dim()}I", *values.shape)
    return header + values.contiguous().numpy().tobytes()


def read_idx(path: Path) -> torch.Tensor:
    """Read a uint8 IDX file into a tensor of the shape its header gives."""
    data = Path(path).read_bytes()
    zero1, zero2, type_code, ndim = struct.unpack(">BBBB", data[:4])
    if zero1 or zero2 or type_code != UBYTE_TYPE_CODE:
        raise ValueError(f"{path} is not a uint8 IDX file")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = bytearray(data[4 + 4 * ndim :])
    return torch.frombuffer(body, dtype=torch.uint8).reshape(shape)


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write to a temporary file in the same folder, flush to disk, then rename over ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp makes owner-only files; data and checkpoints are ordinary files
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_idx(path: Path, values: torch.Tensor) -> None:
    """Write a uint8 tensor as an IDX file, atomically."""
    atomic_write_bytes(path, idx_bytes(values))


def md5_of(path: Path) -> str:
    """The MD5 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
