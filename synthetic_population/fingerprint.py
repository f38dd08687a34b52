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
    Stable across library versions (unlike a library's row hash), and the same for a text
    column whether it is plain or dictionary-encoded (an Enum: read from its codes, no pass
    over the text)."""
    h = hashlib.sha256()
    for name in frame.columns:
        col = frame[name]
        n = col.len()
        h.update(f"{name}:{n}:".encode())
        if col.dtype in (pl.Utf8, pl.Categorical):
            col = _dictionary_encoded(col.cast(pl.Utf8))
        h.update(_null_bits(col))
        if isinstance(col.dtype, pl.Enum):
            vocab, values = _text_of_enum(col)
            h.update(
                b"text"
                + b"".join(len(v.encode()).to_bytes(8, "little") + v.encode() for v in vocab)
            )
        elif col.dtype.is_temporal():
            values = col.to_physical().fill_null(0).to_numpy().astype("<i8")
        else:
            values = col.fill_null(False if col.dtype == pl.Boolean else 0).to_numpy()
            values = values.astype(values.dtype.newbyteorder("<"))
        h.update(values.dtype.str.encode())
        h.update(np.ascontiguousarray(values).tobytes())
    return h.hexdigest()


def _null_bits(col: pl.Series) -> bytes:
    """The null mask, one bit per row (all zero bytes without a null: no pass)."""
    if col.null_count() == 0:
        return bytes((col.len() + 7) // 8)
    return np.packbits(col.is_null().to_numpy()).tobytes()


def _dictionary_encoded(text: pl.Series) -> pl.Series:
    """Plain text as an Enum of the texts it holds."""
    return text.cast(pl.Enum(text.drop_nulls().unique().sort().to_list()))


def _text_of_enum(col: pl.Series) -> tuple[list[str], np.ndarray]:
    """A text column's vocabulary (the texts its rows use, each once, sorted as Polars sorts
    text: by UTF-8 bytes, which is Python's order of str) and each row's code in it (nulls
    0), from the Enum's codes: no pass over the text."""
    texts = col.dtype.categories.to_list()
    codes = col.to_physical().fill_null(len(texts)).to_numpy().astype(np.intp)
    used = np.bincount(codes, minlength=len(texts) + 1)[: len(texts)] > 0
    vocab = sorted(t for t, u in zip(texts, used, strict=True) if u)
    rank = {t: i for i, t in enumerate(vocab)}
    lut = np.array([rank.get(t, 0) for t in texts] + [0], dtype="<u4")
    return vocab, lut[codes]
