"""Tests of the tag schemes: parsing, detection, spans, conversion and repair."""

from __future__ import annotations

import itertools
import random

import pytest

from ner_crf.data.tags import (
    SCHEMES,
    convert_tags,
    detect_scheme,
    find_illegal,
    get_spans,
    normalize_scheme,
    normalize_tag,
    parse_tag,
    repair_tags,
    spans_to_tags,
)

TYPES = ("PER", "LOC", "MISC")


def random_spans(rng: random.Random, length: int) -> list[tuple[int, int, str]]:
    """Random non-overlapping spans, often adjacent and often of the same type."""
    spans = []
    i = 0
    while i < length:
        if rng.random() < 0.4:
            i += 1
            continue
        end = min(length, i + rng.choice((1, 1, 2, 3)))
        spans.append((i, end, rng.choice(TYPES[:2] if rng.random() < 0.7 else TYPES)))
        i = end
    return spans


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("iob1", "IOB1"),
        ("BIO", "BIO"),
        ("iob2", "BIO"),
        ("IOBES", "IOBES"),
        ("bioes", "IOBES"),
        ("BILOU", "IOBES"),
        (" Bilou ", "IOBES"),
    ],
)
def test_normalize_scheme_aliases(alias: str, canonical: str) -> None:
    assert normalize_scheme(alias) == canonical


def test_normalize_scheme_unknown() -> None:
    with pytest.raises(ValueError, match="unknown tag scheme 'BMES'"):
        normalize_scheme("BMES")


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("O", ("O", "")),
        ("B-PER", ("B", "PER")),
        ("I-geo-nam", ("I", "geo-nam")),
        ("E-LOC", ("E", "LOC")),
        ("S-LOC", ("S", "LOC")),
        ("U-ORG", ("S", "ORG")),
        ("L-ORG", ("E", "ORG")),
    ],
)
def test_parse_tag(tag: str, expected: tuple[str, str]) -> None:
    assert parse_tag(tag) == expected


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ("B-", "invalid tag 'B-': empty entity type"),
        ("X-PER", "invalid tag 'X-PER': unknown prefix 'X'"),
        ("PER", "invalid tag 'PER': expected 'O' or '<prefix>-<type>'"),
        ("o", "invalid tag 'o'"),
    ],
)
def test_parse_tag_errors(tag: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_tag(tag)


def test_normalize_tag_bilou() -> None:
    assert [normalize_tag(t) for t in ["U-PER", "L-LOC", "B-X", "O"]] == [
        "S-PER",
        "E-LOC",
        "B-X",
        "O",
    ]


@pytest.mark.parametrize(
    ("sequences", "expected"),
    [
        ([["B-PER", "I-PER", "O", "B-LOC"]], "BIO"),
        ([["O", "O"], []], "BIO"),
        ([["I-PER", "I-PER", "B-PER", "O", "I-LOC"]], "IOB1"),
        # A few I- starts among many B- starts: BIO with annotation errors (CoNLL-2002 Spanish).
        ([["B-PER", "O", "B-LOC"], ["B-ORG", "O", "I-LOC"]], "BIO"),
        ([["I-PER", "O", "I-LOC"], ["I-ORG", "O", "B-LOC"]], "BIO"),
        ([["I-PER", "I-PER", "B-PER"], ["I-LOC", "B-LOC", "I-LOC", "I-ORG"]], "IOB1"),
        ([["B-PER", "E-PER", "O"]], "IOBES"),
        ([["O", "U-PER"]], "IOBES"),
        ([["B-PER", "L-PER"]], "IOBES"),
    ],
)
def test_detect_scheme(sequences: list[list[str]], expected: str) -> None:
    assert detect_scheme(sequences) == expected


def test_spans_to_tags_each_scheme() -> None:
    spans = [(0, 2, "PER"), (2, 3, "PER"), (4, 5, "LOC"), (5, 8, "ORG")]
    assert spans_to_tags(spans, 9, "BIO") == (
        ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "I-ORG", "I-ORG", "O"]
    )
    assert spans_to_tags(spans, 9, "IOB1") == (
        ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG", "I-ORG", "I-ORG", "O"]
    )
    assert spans_to_tags(spans, 9, "IOBES") == (
        ["B-PER", "E-PER", "S-PER", "O", "S-LOC", "B-ORG", "I-ORG", "E-ORG", "O"]
    )


@pytest.mark.parametrize(
    ("spans", "length", "message"),
    [
        ([(0, 0, "PER")], 3, "empty or outside"),
        ([(2, 4, "PER")], 3, "empty or outside"),
        ([(0, 2, "PER"), (1, 3, "LOC")], 3, "overlaps"),
        ([(0, 1, "")], 3, "empty type"),
    ],
)
def test_spans_to_tags_rejects_bad_spans(
    spans: list[tuple[int, int, str]], length: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        spans_to_tags(spans, length, "BIO")


def test_round_trips_on_random_span_sets() -> None:
    rng = random.Random(0)
    for _ in range(2000):
        length = rng.randint(0, 12)
        spans = random_spans(rng, length)
        written = {scheme: spans_to_tags(spans, length, scheme) for scheme in SCHEMES}
        for source, target in itertools.product(SCHEMES, repeat=2):
            assert get_spans(written[source], source) == spans
            assert convert_tags(written[source], target, source) == written[target]
        for scheme in SCHEMES:
            assert find_illegal(written[scheme], scheme) == []
            assert repair_tags(written[scheme], scheme) == (written[scheme], 0)


def test_exhaustive_short_sequences_repair_preserves_spans() -> None:
    """Every sequence of length <= 4 over a small tag set: repair is legal and keeps the spans."""
    for scheme, prefixes in (("BIO", "BI"), ("IOB1", "BI"), ("IOBES", "BIES")):
        alphabet = ["O"] + [f"{p}-{t}" for p in prefixes for t in ("A", "B")]
        for length in range(5):
            for tags in itertools.product(alphabet, repeat=length):
                repaired, count = repair_tags(list(tags), scheme)
                assert get_spans(repaired, scheme) == get_spans(list(tags), scheme)
                assert find_illegal(repaired, scheme) == []
                changed = [i for i, (a, b) in enumerate(zip(tags, repaired, strict=True)) if a != b]
                assert changed == find_illegal(list(tags), scheme)
                assert count == len(changed)


@pytest.mark.parametrize(
    ("scheme", "tags", "repaired", "count"),
    [
        ("BIO", "I-PER I-PER O", "B-PER I-PER O", 1),
        ("BIO", "O I-PER", "O B-PER", 1),
        ("BIO", "B-PER I-LOC I-LOC", "B-PER B-LOC I-LOC", 1),
        ("BIO", "B-PER B-PER I-PER", "B-PER B-PER I-PER", 0),
        ("IOB1", "B-PER I-PER O B-LOC", "I-PER I-PER O I-LOC", 2),
        ("IOB1", "I-PER B-PER B-LOC", "I-PER B-PER I-LOC", 1),
        ("IOBES", "I-PER", "S-PER", 1),
        ("IOBES", "B-PER O", "S-PER O", 1),
        ("IOBES", "B-PER I-PER O", "B-PER E-PER O", 1),
        ("IOBES", "O I-PER E-PER", "O B-PER E-PER", 1),
        ("IOBES", "E-PER B-LOC E-LOC", "S-PER B-LOC E-LOC", 1),
        ("IOBES", "B-PER I-LOC E-LOC", "S-PER B-LOC E-LOC", 2),
        ("IOBES", "U-PER B-LOC L-LOC", "S-PER B-LOC E-LOC", 0),
    ],
)
def test_repair_examples(scheme: str, tags: str, repaired: str, count: int) -> None:
    assert repair_tags(tags.split(), scheme) == (repaired.split(), count)


def test_find_illegal_positions() -> None:
    assert find_illegal(["I-PER", "O", "I-LOC", "B-LOC", "I-ORG"], "BIO") == [0, 2, 4]


def test_prefix_not_in_scheme_is_an_error() -> None:
    with pytest.raises(ValueError, match="'S-PER' is not valid in the BIO scheme"):
        get_spans(["O", "S-PER"], "BIO")
