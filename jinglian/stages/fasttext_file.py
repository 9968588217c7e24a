"""Telling a fastText model file from anything else without loading it."""

from __future__ import annotations

import struct

# fastText writes this magic number and a format version as the first two little-endian int32s.
FASTTEXT_MAGIC = 793712314


def check_fasttext_file(path: str, what: str) -> None:
    """Raise FileNotFoundError or ValueError when ``path`` is missing or is not a fastText model."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise ValueError(f"{what} {path} is a directory, not a fastText model file") from None
    if len(head) < 8 or struct.unpack("<i", head[:4])[0] != FASTTEXT_MAGIC:
        raise ValueError(f"{what} {path} is not a fastText model file")
