"""How many tokens of each split the word vocabulary covers, with and without pretrained vectors.

Shown by ``ner-crf validate --config`` and logged when training starts, so that a user sees what
the vectors bring before a long run. A token is covered when its normalised word
(:func:`~ner_crf.data.vocab.normalize_word`) has its own row instead of ``<unk>``'s:

* ``train vocab``: the word is a training word (the vocabulary without vectors);
* ``+ vectors``: the word is a training word or a word that only the vectors file has (the
  vocabulary extended by ``embeddings.extend_vocab``);
* ``pretrained``: the word's row is a pretrained vector (a training word found in the file, or an
  added word).

Entity tokens are the tokens whose gold tag is not ``O``.

This module must not import TensorFlow.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ner_crf.data.vocab import UNK, Vocabularies, normalize_word

OUTSIDE = "O"


@dataclass(frozen=True)
class Coverage:
    """Token counts of one split (``entity_*``: the same for entity tokens)."""

    split: str
    tokens: int
    train_vocab: int
    extended_vocab: int
    pretrained: int
    entity_tokens: int
    entity_train_vocab: int
    entity_extended_vocab: int
    entity_pretrained: int


def vocabulary_coverage(
    splits: Mapping[str, Sequence],
    vocabs: Vocabularies,
    *,
    lowercase: bool,
    normalize_digits: bool,
    with_vector: Iterable[int] = (),
) -> list[Coverage]:
    """Counts the covered tokens of each split.

    Args:
        splits: Split name -> its `Sentence` list (``None`` values are skipped).
        vocabs: The run's vocabularies (extended or not).
        lowercase: ``vocab.lowercase`` (how tokens are normalised for lookup).
        normalize_digits: ``vocab.normalize_digits``.
        with_vector: Ids of ``vocabs.words`` whose row is a pretrained vector.

    Returns:
        One `Coverage` per split, in the order of ``splits``.
    """
    trained = vocabs.num_trained_words
    pretrained_ids = set(int(i) for i in with_vector)
    result = []
    for name, sentences in splits.items():
        if sentences is None:
            continue
        counts: Counter[tuple[str, bool]] = Counter()
        for sentence in sentences:
            tags = sentence.tags if sentence.tags else [OUTSIDE] * len(sentence.tokens)
            for token, tag in zip(sentence.tokens, tags, strict=True):
                counts[(token, tag != OUTSIDE)] += 1
        totals = {key: [0, 0, 0, 0] for key in (False, True)}  # tokens, train, extended, vector
        for (token, entity), count in counts.items():
            word = normalize_word(token, lowercase=lowercase, normalize_digits=normalize_digits)
            index = vocabs.words.index(word)
            row = totals[entity]
            row[0] += count
            if index > UNK:
                row[2] += count
                row[1] += count if index < trained else 0
                row[3] += count if index in pretrained_ids else 0
        other, entity = totals[False], totals[True]
        result.append(
            Coverage(
                name,
                other[0] + entity[0],
                other[1] + entity[1],
                other[2] + entity[2],
                other[3] + entity[3],
                *entity,
            )
        )
    return result


def _share(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:6.2f}%" if whole else "    n/a"


def format_coverage(rows: Sequence[Coverage]) -> list[str]:
    """Formats the counts as aligned text lines (header first)."""
    lines = [
        "vocabulary coverage   tokens  train vocab  + vectors  pretrained"
        " | entity tokens  train vocab  + vectors  pretrained"
    ]
    for row in rows:
        lines.append(
            f"  {row.split:<17} {row.tokens:>8}     {_share(row.train_vocab, row.tokens)}"
            f"    {_share(row.extended_vocab, row.tokens)}     {_share(row.pretrained, row.tokens)}"
            f" | {row.entity_tokens:>13}     {_share(row.entity_train_vocab, row.entity_tokens)}"
            f"    {_share(row.entity_extended_vocab, row.entity_tokens)}"
            f"     {_share(row.entity_pretrained, row.entity_tokens)}"
        )
    return lines
