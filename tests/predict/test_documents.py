"""Reading prediction input into documents, and tagging a document stream (no trained model)."""

from __future__ import annotations

import io
import itertools

import pytest

from ner_crf.errors import DataError
from ner_crf.predict.documents import (
    conll_documents,
    iter_lines,
    pretokenized_documents,
    raw_documents,
)
from ner_crf.predict.tagging import SentenceResult, predict_documents


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


class _CountingPredictor:
    """Stands in for `Predictor`: tags every token O and records the batches it is given."""

    batch_size = 3

    def __init__(self):
        self.calls: list[int] = []

    def predict(self, sentences, *, scores=True):
        self.calls.append(len(sentences))
        return [SentenceResult(tags=["O"] * len(tokens)) for tokens in sentences]


def test_predict_documents_streams_in_order():
    """Documents come out batch by batch, in input order, without reading the input ahead."""
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
