"""Tests for ``ner_crf.data.embeddings``: small files written to ``tmp_path``."""

from __future__ import annotations

import gzip
import logging
import math
import struct

import numpy as np
import pytest

from ner_crf.data.embeddings import load_embeddings
from ner_crf.data.vocab import Vocabulary
from ner_crf.errors import DataError

VECTORS = {
    "the": [0.1, 0.2, 0.3],
    "paris": [1.0, -1.0, 0.5],
    "Paris": [2.0, 2.0, 2.0],
    "1996": [0.0, 0.25, -0.25],
    "berlin": [-0.5, 0.5, 1.5],
    "other": [9.0, 9.0, 9.0],
}
# ids: 0 <pad>, 1 <unk>, 2 the, 3 Paris, 4 BERLIN, 5 0000, 6 missing
VOCAB = Vocabulary(["the", "Paris", "BERLIN", "0000", "missing"])


def glove_text(vectors=VECTORS) -> str:
    return "".join(f"{w} {' '.join(map(str, v))}\n" for w, v in vectors.items())


def write_binary(path, vectors, *, newline=True, truncate=0):
    dim = len(next(iter(vectors.values())))
    data = f"{len(vectors)} {dim}\n".encode()
    for word, vector in vectors.items():
        data += word.encode("utf-8") + b" " + struct.pack(f"<{dim}f", *vector)
        if newline:
            data += b"\n"
    path.write_bytes(data[: len(data) - truncate] if truncate else data)


def check_rows(matrix):
    assert matrix.dtype == np.float32 and matrix.shape == (len(VOCAB), 3)
    np.testing.assert_array_equal(matrix[0], np.zeros(3, np.float32))  # PAD
    np.testing.assert_array_equal(matrix[2], np.float32(VECTORS["the"]))  # exact
    np.testing.assert_array_equal(matrix[3], np.float32(VECTORS["Paris"]))  # exact beats "paris"
    np.testing.assert_array_equal(matrix[4], np.float32(VECTORS["berlin"]))  # lowercase
    np.testing.assert_array_equal(matrix[5], np.float32(VECTORS["1996"]))  # digits


@pytest.mark.parametrize(
    ("name", "content", "fmt", "expected_format"),
    [
        ("g.txt", glove_text(), "auto", "glove"),
        ("g.txt", glove_text(), "glove", "glove"),
        ("w.txt", f"{len(VECTORS)} 3\n" + glove_text(), "auto", "word2vec"),
        ("w.txt", f"{len(VECTORS)} 3\n" + glove_text(), "word2vec", "word2vec"),
        # fastText .vec: header and a trailing space on every line
        (
            "f.vec",
            f"{len(VECTORS)} 3\n" + glove_text().replace("\n", " \n"),
            "fasttext",
            "word2vec",
        ),
    ],
)
def test_text_formats(tmp_path, name, content, fmt, expected_format):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    matrix, report = load_embeddings(path, VOCAB, format=fmt)
    check_rows(matrix)
    assert report.format == expected_format
    assert (report.dim, report.vectors_read, report.vocab_types) == (3, 6, 5)
    assert (report.found_exact, report.found_lower, report.found_digits) == (2, 1, 1)
    assert report.type_coverage == pytest.approx(4 / 5)


@pytest.mark.parametrize("newline", [True, False])
@pytest.mark.parametrize("fmt", ["auto", "word2vec_binary"])
def test_binary(tmp_path, newline, fmt):
    path = tmp_path / "w.bin"
    write_binary(path, VECTORS, newline=newline)
    matrix, report = load_embeddings(path, VOCAB, format=fmt)
    check_rows(matrix)
    assert report.format == "word2vec_binary" and report.vectors_read == 6


def test_gzip_text_and_binary(tmp_path):
    path = tmp_path / "g.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(glove_text())
    check_rows(load_embeddings(path, VOCAB)[0])
    raw = tmp_path / "w.bin"
    write_binary(raw, VECTORS)
    zipped = tmp_path / "w.bin.gz"
    zipped.write_bytes(gzip.compress(raw.read_bytes()))
    matrix, report = load_embeddings(zipped, VOCAB)
    check_rows(matrix)
    assert report.format == "word2vec_binary"


def test_oov_rows_seeded_and_scaled(tmp_path):
    path = tmp_path / "g.txt"
    path.write_text(glove_text(), encoding="utf-8")
    m1, report = load_embeddings(path, VOCAB, seed=3)
    m2, _ = load_embeddings(path, VOCAB, seed=3)
    m3, _ = load_embeddings(path, VOCAB, seed=4)
    np.testing.assert_array_equal(m1, m2)
    assert not np.array_equal(m1[6], m3[6])
    found = np.stack([m1[i] for i in (2, 3, 4, 5)])
    assert report.oov_scale == pytest.approx(math.sqrt(3) * found.std(), rel=1e-6)
    for row in (1, 6):  # UNK and "missing" are random
        assert np.all(np.abs(m1[row]) <= report.oov_scale) and np.any(m1[row] != 0)
    fixed, report = load_embeddings(path, VOCAB, scale=0.01)
    assert report.oov_scale == 0.01 and np.all(np.abs(fixed[6]) <= 0.01)


def test_no_digit_fallback_when_digits_not_normalized(tmp_path):
    path = tmp_path / "g.txt"
    path.write_text("1997 1 2 3\n", encoding="utf-8")
    vocab = Vocabulary(["1996"])
    _, report = load_embeddings(path, vocab, normalize_digits=False)
    assert report.found == 0
    matrix, report = load_embeddings(path, Vocabulary(["0000"]), normalize_digits=True)
    assert report.found_digits == 1
    np.testing.assert_array_equal(matrix[2], [1, 2, 3])


def test_first_match_wins_within_a_rank(tmp_path):
    path = tmp_path / "g.txt"
    path.write_text("PARIS 1 1 1\nparis 2 2 2\nParis 3 3 3\n", encoding="utf-8")
    matrix, report = load_embeddings(path, Vocabulary(["pArIs", "paris"]))
    np.testing.assert_array_equal(matrix[2], [1, 1, 1])  # first case-insensitive match
    np.testing.assert_array_equal(matrix[3], [2, 2, 2])  # exact, even though PARIS came first
    assert (report.found_exact, report.found_lower) == (1, 1)


def test_token_coverage_and_summary(tmp_path):
    path = tmp_path / "g.txt"
    path.write_text(glove_text(), encoding="utf-8")
    counts = {"the": 10, "Paris": 3, "BERLIN": 2, "0000": 4, "missing": 1, "rare": 5}
    _, report = load_embeddings(path, VOCAB, word_counts=counts)
    assert report.token_coverage == pytest.approx(19 / 25)
    line = report.summary()
    assert "4/5" in line and "76.0%" in line and "\n" not in line
    _, report = load_embeddings(path, VOCAB)
    assert report.token_coverage is None and "n/a" in report.summary()


def test_glove_word_with_spaces(tmp_path):
    path = tmp_path / "g.txt"
    path.write_text("the 1 2 3\n. . . 4 5 6\nParis 7 8 9\n", encoding="utf-8")
    matrix, report = load_embeddings(path, Vocabulary([". . .", "Paris"]))
    assert report.vectors_read == 3
    np.testing.assert_array_equal(matrix[2], [4, 5, 6])


@pytest.mark.parametrize(
    ("content", "fmt", "message", "line"),
    [
        ("the 1 2 3\nParis 1 2\n", "auto", "expected 3 values after the word, got 2", 2),
        ("the 1 2 3\nParis 1 2 3 4\n", "auto", "expected 3 values after the word, got 4", 2),
        ("the 1 2 3\nParis 1 x2 3\n", "auto", "'x2'.*not a finite number", 2),
        ("the 1 2 nan\n", "glove", "'nan'.*not a finite number", 1),
        ("6 three\nthe 1 2 3\n", "word2vec", "header '6 three' does not parse", 1),
        ("hello world\n", "auto", "neither a '<count> <dim>' header", 1),
        ("3 3\nthe 1 2 3\n", "auto", "header announces 3 vectors but the file has 1", None),
        ("1 3\nthe 1 2 3\nParis 1 2 3\n", "word2vec", "more vectors than the 1", 3),
        ("", "auto", "empty", None),
        ("\n\n", "glove", "no vectors", None),
    ],
)
def test_text_errors(tmp_path, content, fmt, message, line):
    path = tmp_path / "bad.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message) as info:
        load_embeddings(path, VOCAB, format=fmt)
    assert info.value.path == str(path) and info.value.line == line


def test_non_utf8_word(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"the 1 2 3\n\xffParis 1 2 3\n")
    with pytest.raises(DataError, match="not valid UTF-8") as info:
        load_embeddings(path, VOCAB)
    assert info.value.line == 2
    binary = tmp_path / "bad.bin"
    write_binary(binary, {"the": [1.0, 2.0, 3.0]})
    binary.write_bytes(binary.read_bytes().replace(b"the", b"t\xffe"))
    with pytest.raises(DataError, match="not valid UTF-8"):
        load_embeddings(binary, VOCAB, format="word2vec_binary")


@pytest.mark.parametrize("cut", [1, 7, 13])
def test_truncated_binary(tmp_path, cut):
    path = tmp_path / "w.bin"
    write_binary(path, VECTORS, newline=False, truncate=cut)
    with pytest.raises(DataError, match="truncated binary file.*vector 6"):
        load_embeddings(path, VOCAB, format="word2vec_binary")


def test_truncated_gzip(tmp_path):
    path = tmp_path / "g.txt.gz"
    path.write_bytes(gzip.compress(glove_text().encode() * 50)[:-30])
    with pytest.raises(DataError, match="cannot read"):
        load_embeddings(path, VOCAB)


def test_missing_file_and_bad_format(tmp_path):
    with pytest.raises(DataError, match="not found") as info:
        load_embeddings(tmp_path / "nope.txt", VOCAB)
    assert info.value.path.endswith("nope.txt")
    with pytest.raises(ValueError, match="unknown embedding format"):
        load_embeddings(tmp_path / "nope.txt", VOCAB, format="bert")


def test_option_mismatch_warns(tmp_path, caplog):
    path = tmp_path / "g.txt"
    path.write_text(glove_text(), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="ner_crf.data.embeddings"):
        load_embeddings(path, Vocabulary(["Paris", "1996"]), lowercase=True)
    assert "uppercase" in caplog.text and "digits" in caplog.text


# --- vocabulary extension --------------------------------------------------------------------


@pytest.mark.parametrize("binary", [False, True])
def test_extend_adds_file_only_words_once_in_file_order(tmp_path, binary):
    from ner_crf.data.embeddings import read_pretrained

    path = tmp_path / ("w.bin" if binary else "g.txt")
    vectors = {**VECTORS, "0007": [3.0, 3.0, 3.0], "Berlin": [4.0, 4.0, 4.0]}
    if binary:
        write_binary(path, vectors)
    else:
        path.write_text(glove_text(vectors), encoding="utf-8")
    vocab = Vocabulary(["the", "paris"])  # a lowercased vocabulary
    result = read_pretrained(path, vocab, lowercase=True, normalize_digits=True, extend=True)
    # "Paris" normalises to the training word "paris"; "1996" and "0007" share "0000" (the
    # first one wins); "Berlin" repeats "berlin".
    assert result.extra_words == ["0000", "berlin", "other"]
    assert result.extra_matrix.dtype == np.float32
    np.testing.assert_array_equal(
        result.extra_matrix, np.float32([VECTORS["1996"], VECTORS["berlin"], VECTORS["other"]])
    )
    assert result.report.added == 3
    assert "3 words added with frozen vectors" in result.report.summary()
    np.testing.assert_array_equal(result.found_ids, [2, 3])


def test_max_vectors_reads_only_the_head_of_the_file(tmp_path):
    from ner_crf.data.embeddings import read_pretrained

    path = tmp_path / "g.txt"
    path.write_text(glove_text(), encoding="utf-8")
    result = read_pretrained(path, VOCAB, max_vectors=2, extend=True)
    assert result.report.vectors_read == 2
    assert result.extra_words == ["paris"]  # "the" is a vocabulary word; "Paris" is 3rd
    np.testing.assert_array_equal(result.found_ids, [2, 3])  # the, Paris (lowercase match)
    with pytest.raises(ValueError, match="max_vectors"):
        read_pretrained(path, VOCAB, max_vectors=0)


def test_extend_rejects_non_finite_values_with_line(tmp_path):
    from ner_crf.data.embeddings import read_pretrained

    path = tmp_path / "g.txt"
    path.write_text("the 1 2 3\nnew 1 inf 3\n", encoding="utf-8")
    with pytest.raises(DataError, match="'new'.*not a finite number") as info:
        read_pretrained(path, VOCAB, extend=True)
    assert info.value.line == 2
    path.write_text("the 1 2 3\nnew 1 x 3\n", encoding="utf-8")
    with pytest.raises(DataError, match="'x'.*not a finite number") as info:
        read_pretrained(path, VOCAB, extend=True)
    assert info.value.line == 2


def test_load_pretrained_words_extends_vocabularies(tmp_path):
    from types import SimpleNamespace

    from ner_crf.data.embeddings import load_pretrained_words
    from ner_crf.data.vocab import Vocabularies

    path = tmp_path / "g.txt"
    path.write_text(glove_text(), encoding="utf-8")
    vocabs = Vocabularies(
        words=Vocabulary(["the", "missing"]),
        chars=Vocabulary(["t"]),
        tags=Vocabulary.from_tags(["O"]),
        word_counts={"the": 3, "missing": 1},
    )
    vocab_cfg = SimpleNamespace(lowercase=True, normalize_digits=True)
    cfg = SimpleNamespace(path=path, format="auto", extend_vocab=True, max_vectors=None)
    words = load_pretrained_words(vocabs, cfg, vocab_cfg)
    assert words.vocabs.words.tokens[4:] == ["paris", "0000", "berlin", "other"]
    assert words.vocabs.num_trained_words == 4 and words.vocabs.num_pretrained_words == 4
    assert words.matrix.shape == (4, 3) and words.frozen.shape == (4, 3)
    assert sorted(words.with_vector.tolist()) == [2, 4, 5, 6, 7]
    off = load_pretrained_words(
        vocabs, SimpleNamespace(**{**vars(cfg), "extend_vocab": False}), vocab_cfg
    )
    assert off.vocabs is vocabs and off.frozen is None
