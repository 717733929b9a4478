"""Tests for ``ner_crf.data.vocab``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ner_crf.data.conll import Sentence
from ner_crf.data.vocab import (
    PAD,
    UNK,
    Vocabularies,
    Vocabulary,
    build_vocabularies,
    normalize_word,
)
from ner_crf.errors import ModelError

TRAIN = [
    Sentence(
        ["EU", "rejects", "German", "call", "in", "1996"], ["B-ORG", "O", "B-MISC", "O", "O", "O"]
    ),
    Sentence(["Peter", "Blackburn", "in", "Brussels"], ["B-PER", "I-PER", "O", "B-LOC"]),
    Sentence(["German", "call", "in", "2001", "Ünïcode"], ["B-MISC", "O", "O", "O", "O"]),
]
DEV = [Sentence(["Japan", "rejects", "Devword"], ["B-LOC", "O", "O"])]


@pytest.mark.parametrize(
    ("word", "lowercase", "digits", "expected"),
    [
        ("Paris", False, False, "Paris"),
        ("Paris", True, False, "paris"),
        ("1996-08-22", False, True, "0000-00-00"),
        ("F-16", True, True, "f-00"),
        ("٣rd", False, True, "0rd"),  # Arabic-Indic digit is a decimal digit too
        ("F-16", False, False, "F-16"),
    ],
)
def test_normalize_word(word, lowercase, digits, expected):
    assert normalize_word(word, lowercase=lowercase, normalize_digits=digits) == expected


def test_specials_and_lookup():
    vocab = Vocabulary(["b", "a"])
    assert vocab.tokens == ["<pad>", "<unk>", "b", "a"]
    assert (PAD, UNK) == (0, 1)
    assert vocab.index("b") == 2 and vocab.index("a") == 3
    assert vocab.index("never-seen") == UNK
    assert vocab.index("<pad>") == UNK  # a literal "<pad>" in text must not be masked out
    assert vocab.encode(["a", "zzz", "b"]) == [3, 1, 2]
    assert vocab.token(3) == "a"
    assert vocab.decode([2, 3]) == ["b", "a"]
    assert "a" in vocab and "zzz" not in vocab
    assert len(vocab) == 4
    with pytest.raises(IndexError, match="out of range"):
        vocab.token(4)


def test_tag_vocabulary_has_no_specials_and_o_first():
    tags = Vocabulary.from_tags(["I-PER", "B-PER", "O", "B-LOC", "O"])
    assert tags.tokens == ["O", "B-LOC", "B-PER", "I-PER"]
    assert tags.index("O") == 0
    with pytest.raises(KeyError, match="B-FOO"):
        tags.index("B-FOO")
    assert Vocabulary.from_tags(["B-X", "A"]).tokens == ["A", "B-X"]  # no "O": just sorted


def test_from_counts_order_min_count_max_size():
    counts = {"b": 3, "a": 3, "c": 5, "d": 1, "<unk>": 7}
    vocab = Vocabulary.from_counts(counts)
    assert vocab.tokens == ["<pad>", "<unk>", "c", "a", "b", "d"]
    assert Vocabulary.from_counts(counts, min_count=2).tokens[2:] == ["c", "a", "b"]
    assert Vocabulary.from_counts(counts, max_size=2).tokens[2:] == ["c", "a"]


def test_duplicates_rejected():
    with pytest.raises(ValueError, match="duplicate"):
        Vocabulary(["a", "a"])
    with pytest.raises(ValueError, match="duplicate"):
        Vocabulary(["<unk>"])


def test_build_from_train_only():
    vocabs = build_vocabularies(TRAIN)
    words = vocabs.words
    # Dev/test words never enter the vocabulary: they map to UNK.
    assert "Japan" not in words and "Devword" not in words
    assert words.encode([t for t in DEV[0].tokens]) == [UNK, words.index("rejects"), UNK]
    # Digits normalised by default; counts by descending frequency then alphabetical.
    assert "0000" in words and "1996" not in words
    assert words.tokens[2:6] == ["in", "0000", "German", "call"]
    assert vocabs.word_counts["in"] == 3 and vocabs.word_counts["0000"] == 2
    # Chars from raw tokens (digits and case kept), all of them.
    assert "1" in vocabs.chars and "Ü" in vocabs.chars and "J" not in vocabs.chars
    assert vocabs.tags.tokens == ["O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-PER"]
    singles = {words.token(i) for i in vocabs.singletons}
    assert singles == {"EU", "rejects", "Peter", "Blackburn", "Brussels", "Ünïcode"}


def test_build_min_count_and_lowercase():
    vocabs = build_vocabularies(TRAIN, min_count=2, lowercase=True, normalize_digits=False)
    assert vocabs.words.tokens[2:] == ["in", "call", "german"]
    assert vocabs.words.index("Peter") == UNK
    assert vocabs.word_counts["peter"] == 1  # counts keep the words below min_count
    assert vocabs.singletons == []  # singletons are only ids of words in the vocabulary


@pytest.mark.parametrize("name", ["v.txt", "v.json"])
def test_vocabulary_round_trip(tmp_path, name):
    for vocab in (
        Vocabulary(["a", "Ünï", "with space", " lead", "tab\tin"]),
        Vocabulary.from_tags(["O", "B-PER", "I-PER"]),
    ):
        vocab.save(tmp_path / name)
        loaded = Vocabulary.load(tmp_path / name)
        assert loaded == vocab and loaded.tokens == vocab.tokens
        assert loaded.specials == vocab.specials
    text = (tmp_path / "v.txt").read_text(encoding="utf-8") if name == "v.txt" else None
    if text is not None:
        assert text == "O\nB-PER\nI-PER\n"
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temp file left behind
    assert (tmp_path / name).stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600


def test_line_break_tokens_rejected_in_text_but_kept_in_json(tmp_path):
    vocab = Vocabulary(["a\nb", "c\rd"])
    with pytest.raises(ModelError, match="line break.*json"):
        vocab.save(tmp_path / "v.txt")
    assert not (tmp_path / "v.txt").exists()
    vocab.save(tmp_path / "v.json")
    assert Vocabulary.load(tmp_path / "v.json").tokens == vocab.tokens


def test_load_errors(tmp_path):
    with pytest.raises(ModelError, match="missing.txt"):
        Vocabulary.load(tmp_path / "missing.txt")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"<pad>\n<unk>\n\xff\xfe\n")
    with pytest.raises(ModelError, match="bad.txt.*UTF-8"):
        Vocabulary.load(bad)
    bad.write_text("<pad>\n<unk>\na\n\nb\n", encoding="utf-8")
    with pytest.raises(ModelError, match="line 4"):
        Vocabulary.load(bad)
    bad.write_text("<pad>\n<unk>\na\na\n", encoding="utf-8")
    with pytest.raises(ModelError, match="duplicate"):
        Vocabulary.load(bad)
    bad.write_text("O\nB-PER\n", encoding="utf-8")
    with pytest.raises(ModelError, match="should start with"):
        Vocabulary.load(bad, specials=True)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"tokens": [1, 2]', encoding="utf-8")
    with pytest.raises(ModelError, match="bad.json.*JSON"):
        Vocabulary.load(bad_json)
    bad_json.write_text(json.dumps({"tokens": ["a"]}), encoding="utf-8")
    with pytest.raises(ModelError, match="specials"):
        Vocabulary.load(bad_json)


def test_load_without_final_newline(tmp_path):
    path = tmp_path / "tags.txt"
    path.write_text("O\nB-PER", encoding="utf-8")
    assert Vocabulary.load(path).tokens == ["O", "B-PER"]


def test_vocabularies_round_trip(tmp_path):
    vocabs = build_vocabularies(TRAIN)
    vocabs.save(tmp_path / "vocab")
    names = sorted(p.name for p in (tmp_path / "vocab").iterdir())
    assert names == ["chars.txt", "tags.txt", "word_counts.json", "words.txt"]
    loaded = Vocabularies.load(tmp_path / "vocab")
    assert loaded == vocabs
    assert loaded.singletons == vocabs.singletons
    (tmp_path / "vocab" / "word_counts.json").unlink()
    assert Vocabularies.load(tmp_path / "vocab").word_counts == {}


def test_vocabularies_load_names_bad_file(tmp_path):
    build_vocabularies(TRAIN).save(tmp_path)
    (tmp_path / "chars.txt").unlink()
    with pytest.raises(ModelError, match="chars.txt"):
        Vocabularies.load(tmp_path)
    build_vocabularies(TRAIN).save(tmp_path)
    (tmp_path / "tags.txt").write_text("<pad>\n<unk>\nO\n", encoding="utf-8")
    with pytest.raises(ModelError, match="tags.txt"):
        Vocabularies.load(tmp_path)
    build_vocabularies(TRAIN).save(tmp_path)
    (tmp_path / "word_counts.json").write_text('{"a": "x"}', encoding="utf-8")
    with pytest.raises(ModelError, match="word_counts.json"):
        Vocabularies.load(tmp_path)


def test_vocab_module_does_not_import_tensorflow():
    code = (
        "import sys, ner_crf.data.vocab, ner_crf.data.embeddings; "
        "sys.exit('tensorflow' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_extended_vocabularies_round_trip(tmp_path) -> None:
    from ner_crf.data.vocab import Vocabularies
    from ner_crf.errors import ModelError

    base = Vocabularies(
        words=Vocabulary(["the", "paris"]),
        chars=Vocabulary(["t"]),
        tags=Vocabulary.from_tags(["O", "B-LOC"]),
        word_counts={"the": 2, "paris": 1},
    )
    extended = base.extend(["berlin", "lagos"])
    assert extended.words.tokens == ["<pad>", "<unk>", "the", "paris", "berlin", "lagos"]
    assert (extended.num_trained_words, extended.num_pretrained_words) == (4, 2)
    assert extended.singletons == [3]  # only training words can be dropped
    with pytest.raises(ValueError, match="already extended"):
        extended.extend(["x"])
    with pytest.raises(ValueError, match="duplicate"):
        base.extend(["the"])
    extended.save(tmp_path)
    loaded = Vocabularies.load(tmp_path)
    assert loaded == extended and loaded.num_trained_words == 4
    # Saving the plain vocabularies into the same directory removes the stale extension file.
    base.save(tmp_path)
    assert not (tmp_path / "extension.json").exists()
    assert Vocabularies.load(tmp_path).trained_words is None
    extended.save(tmp_path)
    (tmp_path / "extension.json").write_text('{"trained_words": 3, "pretrained_words": 2}')
    with pytest.raises(ModelError, match="different runs"):
        Vocabularies.load(tmp_path)
