"""A frame's digest of a dictionary-encoded text column (an Enum, read from its codes: the
generator's text) is the digest of the same text as plain text: nulls, repeated, unused and
unsorted dictionary entries, any characters. Both are checked against the digest's format
recomputed in plain Python."""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic_population.fingerprint import frame_digest

_TEXT = st.one_of(st.none(), st.text(max_size=6))


def _text_digest(name: str, rows: list) -> str:
    """`frame_digest` of a frame of one text column, in plain Python: the name and length,
    the null bits, the sorted texts used (each UTF-8, length-prefixed), then each row's
    index among them as little-endian uint32 (a null: 0)."""
    vocab = sorted({v for v in rows if v is not None})
    bits = bytearray((len(rows) + 7) // 8)
    for i, v in enumerate(rows):
        if v is None:
            bits[i // 8] |= 0x80 >> (i % 8)
    h = hashlib.sha256(f"{name}:{len(rows)}:".encode())
    h.update(bytes(bits))
    h.update(b"text" + b"".join(len(v.encode()).to_bytes(8, "little") + v.encode() for v in vocab))
    h.update(b"<u4")
    h.update(b"".join((0 if v is None else vocab.index(v)).to_bytes(4, "little") for v in rows))
    return h.hexdigest()


@settings(max_examples=200, deadline=None)
@given(
    vocab=st.lists(_TEXT, min_size=1, max_size=8),
    dictionary_order=st.randoms(use_true_random=False),
    rows=st.lists(st.tuples(st.integers(0, 7), st.one_of(st.none(), st.integers(-5, 5)))),
)
def test_the_digest_of_dictionary_encoded_text_equals_the_digest_of_the_text(
    vocab, dictionary_order, rows
):
    texts = sorted({v for v in vocab if v is not None})
    dictionary_order.shuffle(texts)  # any dictionary order, entries no row uses included
    codes = np.array([p % len(vocab) for p, _ in rows], dtype=np.uint32)
    # the column as the generator makes it: a gather of the vocabulary by the codes
    encoded = pl.Series(vocab, dtype=pl.Enum(texts)).gather(pl.Series(codes))
    plain = [vocab[c] for c in codes]  # the same text, computed apart from Polars
    numbers = pl.Series([n for _, n in rows], dtype=pl.Int64)
    frame = pl.DataFrame({"text": encoded, "n": numbers})
    assert frame["text"].to_list() == plain
    assert frame_digest(frame) == frame_digest(
        pl.DataFrame({"text": pl.Series(plain, dtype=pl.Utf8), "n": numbers})
    )
    expected = _text_digest("text", plain)
    assert frame_digest(frame.select("text")) == expected
    assert frame_digest(pl.DataFrame({"text": pl.Series(plain, dtype=pl.Utf8)})) == expected


def test_the_digest_sees_a_changed_text_through_its_codes():
    texts = pl.Enum(["a", "b"])
    frame = pl.DataFrame({"text": pl.Series(["a", "b", None, "b"], dtype=texts)})
    other = pl.DataFrame({"text": pl.Series(["a", "a", None, "b"], dtype=texts)})
    null_moved = pl.DataFrame({"text": pl.Series(["a", "b", "b", None], dtype=texts)})
    assert frame_digest(frame) == frame_digest(frame.with_columns(pl.col("text").cast(pl.Utf8)))
    assert frame_digest(other) != frame_digest(frame)
    assert frame_digest(null_moved) != frame_digest(frame)
