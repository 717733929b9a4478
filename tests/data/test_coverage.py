"""Token coverage of the vocabulary with and without pretrained vectors."""

from __future__ import annotations

from ner_crf.data.conll import Sentence
from ner_crf.data.coverage import format_coverage, vocabulary_coverage
from ner_crf.data.vocab import Vocabularies, Vocabulary


def _sentence(pairs):
    return Sentence(tokens=[t for t, _ in pairs], tags=[g for _, g in pairs], doc=0, line=1)


def test_counts_tokens_and_entity_tokens_per_split() -> None:
    base = Vocabularies(
        words=Vocabulary(["the", "paris"]),
        chars=Vocabulary(["t"]),
        tags=Vocabulary.from_tags(["O", "S-LOC"]),
    )
    vocabs = base.extend(["lagos"])  # ids: the 2, paris 3, lagos 4 (added)
    train = [_sentence([("The", "O"), ("Paris", "S-LOC")])]
    dev = [
        _sentence([("the", "O"), ("Lagos", "S-LOC"), ("Quito", "S-LOC"), ("the", "O")]),
        _sentence([("Paris", "S-LOC")]),
    ]
    rows = vocabulary_coverage(
        {"train": train, "dev": dev, "test": None},
        vocabs,
        lowercase=True,
        normalize_digits=True,
        with_vector=[3, 4],  # paris (found in the file) and the added word
    )
    assert [row.split for row in rows] == ["train", "dev"]
    dev_row = rows[1]
    assert (dev_row.tokens, dev_row.train_vocab, dev_row.extended_vocab, dev_row.pretrained) == (
        5,
        3,  # the, the, paris
        4,  # + lagos
        2,  # lagos, paris
    )
    assert (
        dev_row.entity_tokens,
        dev_row.entity_train_vocab,
        dev_row.entity_extended_vocab,
        dev_row.entity_pretrained,
    ) == (3, 1, 2, 2)
    lines = format_coverage(rows)
    assert "train vocab" in lines[0] and "+ vectors" in lines[0]
    assert " 60.00%" in lines[2] and " 80.00%" in lines[2]  # dev tokens: 3/5, 4/5
