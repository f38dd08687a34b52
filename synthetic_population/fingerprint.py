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
        vocab = None
        if isinstance(col.dtype, pl.Enum):
            nulls, vocab, values = _text_of_enum(col)
        else:
            nulls = _null_bits(col)
            if col.dtype in (pl.Utf8, pl.Categorical):
                vocab, values = _text_of_column(col.cast(pl.Utf8))
        h.update(nulls)
        if vocab is not None:
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


def _text_of_column(col: pl.Series) -> tuple[list[str], np.ndarray]:
    """A text column's sorted vocabulary and each row's code in it (nulls 0)."""
    vocab = col.drop_nulls().unique().sort().to_list()
    return vocab, col.cast(pl.Enum(vocab)).to_physical().fill_null(0).to_numpy().astype("<u4")


def _text_of_enum(col: pl.Series) -> tuple[bytes, list[str], np.ndarray]:
    """`_null_bits` and `_text_of_column` of an Enum column, from its codes."""
    texts = col.dtype.categories.to_list()
    codes = col.to_physical().fill_null(len(texts)).to_numpy()
    return _text_of_codes([*texts, None], codes)


def _text_of_codes(vocab: list, codes: np.ndarray) -> tuple[bytes, list[str], np.ndarray]:
    """`_null_bits` and `_text_of_column` of the column `vocab[codes]`, from the codes: the
    vocabulary is the entries used (each text once, sorted as Polars sorts text: by UTF-8
    bytes, which is Python's order of str), a None entry gives a null (code 0)."""
    used = np.bincount(codes.astype(np.intp, copy=False), minlength=len(vocab)) > 0
    texts = sorted({v for v, u in zip(vocab, used, strict=True) if u and v is not None})
    rank = {v: i for i, v in enumerate(texts)}
    lut = np.array([rank.get(v, 0) if v is not None else 0 for v in vocab], dtype="<u4")
    is_null = np.array([v is None for v in vocab], dtype=bool)
    if is_null[used].any():
        nulls = np.packbits(is_null[codes]).tobytes()
    else:
        nulls = bytes((codes.size + 7) // 8)
    return nulls, texts, lut[codes]
