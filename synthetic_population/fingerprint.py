"""A population's fingerprint: a hash of its content from the values themselves, the same
with every library version (runs compare on it; the population cache keeps it)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import polars as pl


def fingerprint_of(
    digests: list[str], pool_rate: np.ndarray, group_codes: list[str], start: int, months: int
) -> str:
    """`Population.fingerprint` from its frames' `frame_digest`s (clients, arrangements) and
    its other fields."""
    h = hashlib.sha256()
    for digest in digests:
        h.update(digest.encode())
    h.update(np.ascontiguousarray(pool_rate, dtype="<f8").tobytes())
    h.update(json.dumps([group_codes, start, months]).encode())
    return h.hexdigest()[:16]


def frame_digest(frame: pl.DataFrame) -> str:
    """SHA-256 of a frame's column names and values, from the values alone: numbers and
    booleans as little-endian bytes of their NumPy type, dates as int64 days, text as a
    sorted vocabulary (UTF-8, length-prefixed) and a code per row, nulls as a bit mask.
    Stable across library versions (unlike a library's row hash)."""
    h = hashlib.sha256()
    for name in frame.columns:
        col = frame[name]
        h.update(f"{name}:{col.len()}:".encode())
        h.update(np.packbits(col.is_null().to_numpy()).tobytes())
        if col.dtype == pl.Utf8:
            vocab = col.drop_nulls().unique().sort().to_list()
            h.update(
                b"text"
                + b"".join(len(v.encode()).to_bytes(8, "little") + v.encode() for v in vocab)
            )
            values = col.cast(pl.Enum(vocab)).to_physical().fill_null(0).to_numpy().astype("<u4")
        elif col.dtype.is_temporal():
            values = col.to_physical().fill_null(0).to_numpy().astype("<i8")
        else:
            values = col.fill_null(False if col.dtype == pl.Boolean else 0).to_numpy()
            values = values.astype(values.dtype.newbyteorder("<"))
        h.update(values.dtype.str.encode())
        h.update(np.ascontiguousarray(values).tobytes())
    return h.hexdigest()
