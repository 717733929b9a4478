"""Unit tests of the pieces behind ``predict``, ``export`` and ``info`` (no trained model)."""

from __future__ import annotations

import io
import itertools
import math
import struct
import zlib

import numpy as np
import pytest

from ner_crf.data.tags import get_spans
from ner_crf.errors import DataError
from ner_crf.predict import (
    FORBIDDEN_SCORE,
    _CrfTables,
    conll_documents,
    entity_log_prob,
    iter_lines,
    pretokenized_documents,
    raw_documents,
)

TAGS = {
    "BIO": ["O", "B-X", "I-X", "B-Y", "I-Y"],
    "IOB1": ["O", "B-X", "I-X", "I-Y"],
    "IOBES": ["O", "B-X", "I-X", "E-X", "S-X", "S-Y"],
}


def _tables(emissions, trans, start, end) -> _CrfTables:
    import tensorflow as tf

    from ner_crf.crf import crf_forward_backward

    alpha, beta, log_z = crf_forward_backward(
        tf.constant(emissions[None]),
        tf.constant(trans),
        tf.constant([emissions.shape[0]]),
        start_transitions=tf.constant(start),
        end_transitions=tf.constant(end),
    )
    return _CrfTables(
        emissions=emissions,
        alpha=alpha.numpy()[0],
        beta=beta.numpy()[0],
        log_z=float(log_z.numpy()[0]),
        transitions=trans,
        start=start,
        end=end,
    )


@pytest.mark.parametrize(
    ("scheme", "constrained"),
    [("BIO", False), ("BIO", True), ("IOB1", False), ("IOBES", False), ("IOBES", True)],
)
def test_entity_probability_matches_brute_force(scheme, constrained):
    """P(entity in the lenient span reading) = sum over all paths, for every possible span."""
    from ner_crf.crf import allowed_end, allowed_start, allowed_transitions

    names = TAGS[scheme]
    k, length = len(names), 4
    rng = np.random.default_rng(7)
    emissions = rng.uniform(-2, 2, (length, k))  # float64
    trans = rng.uniform(-2, 2, (k, k))
    start = rng.uniform(-1, 1, k)
    end = rng.uniform(-1, 1, k)
    if constrained:  # forbidden entries as the forward-backward pass sees them
        allowed = np.zeros((k, k), bool)
        for frm, to in allowed_transitions(scheme, names):
            allowed[frm, to] = True
        trans = np.where(allowed, trans, FORBIDDEN_SCORE)
        ids = np.arange(k)
        start = np.where(np.isin(ids, allowed_start(scheme, names)), start, FORBIDDEN_SCORE)
        end = np.where(np.isin(ids, allowed_end(scheme, names)), end, FORBIDDEN_SCORE)
    tables = _tables(emissions, trans, start, end)

    scores = {}
    for path in itertools.product(range(k), repeat=length):
        score = start[path[0]] + end[path[-1]] + emissions[np.arange(length), path].sum()
        score += sum(trans[a, b] for a, b in itertools.pairwise(path))
        scores[path] = score
    log_z = np.logaddexp.reduce(np.array(list(scores.values())))
    assert tables.log_z == pytest.approx(log_z, rel=1e-5)
    expected: dict[tuple[int, int, str], float] = {}
    for path, score in scores.items():
        for span in get_spans([names[i] for i in path], scheme):
            expected[span] = expected.get(span, 0.0) + math.exp(score - log_z)
    checked = 0
    for s in range(length):
        for e in range(s + 1, length + 1):
            for label in ("X", "Y"):
                got = math.exp(entity_log_prob(tables, names, scheme, s, e, label))
                assert got == pytest.approx(expected.get((s, e, label), 0.0), abs=2e-5), (
                    s,
                    e,
                    label,
                )
                checked += expected.get((s, e, label), 0.0) > 1e-3
    assert checked >= 5  # the test exercises non-trivial probabilities


def test_raw_documents_offsets_and_sentences():
    lines = [("f", 1, "Dr. Smith went to Paris. He left!"), ("f", 2, ""), ("f", 3, " \t ")]
    docs = list(raw_documents(lines))
    assert [d.line for d in docs] == [1, 2, 3]
    first = docs[0]
    assert [t.text for t in first.tokens][:2] == ["Dr.", "Smith"]
    assert len(first.sentences) == 2
    for token in first.tokens:
        assert first.text[token.start : token.end] == token.text
    assert docs[1].tokens == [] and docs[2].tokens == [] and docs[2].sentences == []


def test_pretokenized_and_conll_documents():
    (doc,) = pretokenized_documents([("-", 1, "  a  bb\tccc ")])
    assert [(t.text, t.start, t.end) for t in doc.tokens] == [
        ("a", 2, 3),
        ("bb", 5, 7),
        ("ccc", 8, 11),
    ]
    conll = ["-DOCSTART- -X- O", "", "Alice NNP B-PER", "Smith NNP I-PER", "", "", "Bob NNP O"]
    docs = list(conll_documents(("x", i + 1, line) for i, line in enumerate(conll)))
    assert [d.text for d in docs] == ["Alice Smith", "Bob"]
    assert [d.line for d in docs] == [3, 7]
    assert docs[0].sentences == [(0, 2)]


def test_iter_lines_reports_bad_utf8_with_line(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes("\ufeffok\r\n".encode() + b"caf\xe9\n")
    lines = iter_lines([path])
    assert next(lines) == (str(path), 1, "ok")
    with pytest.raises(DataError, match=r"in\.txt:2: not valid UTF-8"):
        next(lines)
    stdin = io.BytesIO(b"a\nb")
    assert list(iter_lines(["-"], stdin=stdin)) == [("-", 1, "a"), ("-", 2, "b")]
    with pytest.raises(DataError, match="input file not found"):
        list(iter_lines([tmp_path / "missing.txt"]))


def test_in_graph_casing_matches_python():
    import tensorflow as tf

    from ner_crf.data.pipeline import casing_id
    from ner_crf.export import casing_ids

    tokens = "paris Paris EU I iPhone McDonald 1,000.5 1996-08-22 F-16 3rd , -- Łódź ÉCOLE"
    # Not covered: digits outside \p{Nd} such as "²", which str.isdigit accepts (documented).
    tokens = [*tokens.split(), "straße", "日本", "😀", "O'Neill", "٣٤"]
    got = casing_ids(tf.constant(tokens)).numpy().tolist()
    assert got == [casing_id(t) for t in tokens]


def test_png_encoder_round_trip():
    from ner_crf.info import encode_png

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    data = encode_png(pixels)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks = {}
    position = 8
    while position < len(data):
        (size,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + size]
        (crc,) = struct.unpack(">I", data[position + 8 + size : position + 12 + size])
        assert crc == zlib.crc32(kind + body)
        chunks[kind] = body
        position += 12 + size
    assert set(chunks) == {b"IHDR", b"IDAT", b"IEND"}
    assert struct.unpack(">II", chunks[b"IHDR"][:8]) == (7, 5)
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(5, 1 + 7 * 3)
    assert (raw[:, 0] == 0).all()
    np.testing.assert_array_equal(raw[:, 1:].reshape(5, 7, 3), pixels)


class _CountingPredictor:
    """Stands in for `Predictor`: tags every token O and records the batches it is given."""

    batch_size = 3

    def __init__(self):
        self.calls: list[int] = []

    def predict(self, sentences, *, scores=True):
        from ner_crf.predict import SentenceResult

        self.calls.append(len(sentences))
        return [SentenceResult(tags=["O"] * len(tokens)) for tokens in sentences]


def test_predict_documents_streams_in_order():
    """Documents come out batch by batch, in input order, without reading the input ahead."""
    from ner_crf.predict import predict_documents

    read = 0

    def lines():
        nonlocal read
        for number in itertools.count(1):
            read += 1
            yield ("-", number, "" if number % 4 == 0 else f"w{number} x . Next one {number} .")

    predictor = _CountingPredictor()
    stream = predict_documents(predictor, raw_documents(lines()))
    first = list(itertools.islice(stream, 5))
    assert [doc.line for doc in first] == [1, 2, 3, 4, 5]
    assert read <= 6  # two sentences per non-empty line: a flush every second line
    assert all(size <= 4 for size in predictor.calls)
    for doc in first:
        assert len(doc.tags) == len(doc.tokens)
        assert (doc.tokens == []) == (doc.line % 4 == 0)
