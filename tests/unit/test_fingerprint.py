"""A frame's digest from its text columns' codes (the generator's shortcut) is the digest
of the text itself: nulls, repeated and unused vocabulary entries, any characters."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic_population.fingerprint import frame_digest

_TEXT = st.one_of(st.none(), st.text(max_size=6))


@settings(max_examples=200, deadline=None)
@given(
    vocab=st.lists(_TEXT, min_size=1, max_size=8),
    rows=st.lists(st.tuples(st.integers(0, 7), st.one_of(st.none(), st.integers(-5, 5)))),
)
def test_a_digest_from_text_codes_equals_the_digest_of_the_text(vocab, rows):
    codes = np.array([p % len(vocab) for p, _ in rows], dtype=np.uint8)
    frame = pl.DataFrame(
        {
            # the column as the generator makes it: a gather of the vocabulary by the codes
            "text": pl.Series(vocab, dtype=pl.Utf8).gather(pl.Series(codes.astype(np.uint32))),
            "n": pl.Series([n for _, n in rows], dtype=pl.Int64),
        }
    )
    assert frame["text"].to_list() == [vocab[c] for c in codes]
    assert frame_digest(frame, {"text": (vocab, codes)}) == frame_digest(frame)


def test_the_digest_sees_a_changed_text_through_its_codes():
    vocab = ["a", "b", None]
    codes = np.array([0, 1, 2, 1], dtype=np.uint8)
    frame = pl.DataFrame({"text": ["a", "b", None, "b"]})
    other = np.array([0, 0, 2, 1], dtype=np.uint8)
    assert frame_digest(frame, {"text": (vocab, codes)}) == frame_digest(frame)
    assert frame_digest(frame, {"text": (vocab, other)}) != frame_digest(frame)
