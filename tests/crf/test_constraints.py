"""Tests of the tag-scheme constraints in ``ner_crf.crf.constraints``."""

from __future__ import annotations

import numpy as np
import pytest

from ner_crf.crf import (
    TransitionConstraints,
    allowed_end,
    allowed_start,
    allowed_transitions,
)

BIO_TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
IOBES_TAGS = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]


def test_bio_allowed_transitions_complete_set():
    #         0    1        2        3        4
    # tags:   O    B-PER    I-PER    B-LOC    I-LOC
    expected = {
        (0, 0), (0, 1), (0, 3),  # O -> O, B-PER, B-LOC
        (1, 0), (1, 1), (1, 2), (1, 3),  # B-PER -> O, B-PER, I-PER, B-LOC
        (2, 0), (2, 1), (2, 2), (2, 3),  # I-PER -> O, B-PER, I-PER, B-LOC
        (3, 0), (3, 1), (3, 3), (3, 4),  # B-LOC -> O, B-PER, B-LOC, I-LOC
        (4, 0), (4, 1), (4, 3), (4, 4),  # I-LOC -> O, B-PER, B-LOC, I-LOC
    }  # fmt: skip
    got = allowed_transitions("BIO", BIO_TAGS)
    assert got == sorted(expected)
    assert allowed_start("BIO", BIO_TAGS) == [0, 1, 3]
    assert allowed_end("BIO", BIO_TAGS) == [0, 1, 2, 3, 4]


def test_iobes_allowed_transitions_complete_set():
    #  0  1      2      3      4      5      6      7      8
    #  O  B-PER  I-PER  E-PER  S-PER  B-LOC  I-LOC  E-LOC  S-LOC
    outside = [0, 1, 4, 5, 8]  # O, B-*, S-* may follow O, E-*, S-*
    expected = set()
    for src in (0, 3, 4, 7, 8):
        expected |= {(src, dst) for dst in outside}
    expected |= {(1, 2), (1, 3), (2, 2), (2, 3)}  # B-PER, I-PER -> I-PER, E-PER
    expected |= {(5, 6), (5, 7), (6, 6), (6, 7)}  # B-LOC, I-LOC -> I-LOC, E-LOC
    assert allowed_transitions("IOBES", IOBES_TAGS) == sorted(expected)
    assert allowed_start("IOBES", IOBES_TAGS) == [0, 1, 4, 5, 8]
    assert allowed_end("IOBES", IOBES_TAGS) == [0, 3, 4, 7, 8]


def test_iob1_rules():
    tags = ["O", "I-PER", "B-PER", "I-LOC"]
    got = set(allowed_transitions("iob1", tags))
    assert (0, 1) in got and (3, 1) in got  # I-x may follow anything
    assert (1, 2) in got and (2, 2) in got  # B-PER only after I-PER / B-PER
    assert (0, 2) not in got and (3, 2) not in got
    assert allowed_start("IOB1", tags) == [0, 1, 3]
    assert allowed_end("IOB1", tags) == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("alias", "tags"),
    [
        ("iob2", BIO_TAGS),
        ("bio", BIO_TAGS),
        ("bioes", IOBES_TAGS),
        ("BILOU", ["O", "B-PER", "I-PER", "L-PER", "U-PER", "B-LOC", "I-LOC", "L-LOC", "U-LOC"]),
        ("IoBeS", [t.lower() if t != "O" else "o" for t in IOBES_TAGS]),
    ],
)
def test_aliases_and_case(alias, tags):
    canonical = "BIO" if len(tags) == len(BIO_TAGS) else "IOBES"
    base = BIO_TAGS if canonical == "BIO" else IOBES_TAGS
    if tags[1].startswith("b-"):  # lower-cased prefixes and types: the types are 'per', 'loc'
        base = tags
    assert allowed_transitions(alias, tags) == allowed_transitions(canonical, base)


def test_dataclass_matrices_and_kwargs():
    cons = TransitionConstraints.from_scheme("BIO", BIO_TAGS)
    assert cons.scheme == "BIO" and cons.tags == tuple(BIO_TAGS)
    assert cons.transitions.shape == (5, 5) and cons.transitions.dtype == bool
    assert cons.allowed_pairs() == allowed_transitions("BIO", BIO_TAGS)
    np.testing.assert_array_equal(cons.start, [True, True, False, True, False])
    kwargs = cons.as_kwargs()
    assert set(kwargs) == {"transition_mask", "start_mask", "end_mask"}


def test_unknown_scheme_is_named():
    with pytest.raises(ValueError, match="unknown tag scheme 'BIOX'"):
        allowed_transitions("BIOX", BIO_TAGS)


@pytest.mark.parametrize("bad", ["PER", "X-PER", "B-", "E-PER", "B_PER"])
def test_malformed_tag_is_named(bad):
    with pytest.raises(ValueError, match=f"malformed tag '{bad}'"):
        allowed_transitions("BIO", ["O", bad])
