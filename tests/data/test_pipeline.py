"""Tests for ``ner_crf.data.pipeline``: encoding, batching, order, padding, distribution."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from ner_crf.data.conll import Sentence
from ner_crf.data.pipeline import (
    CASING_HAS_DIGIT,
    CASING_LOWER,
    CASING_MIXED,
    CASING_NUMERIC,
    CASING_OTHER,
    CASING_TITLE,
    CASING_UPPER,
    NUM_CASING,
    DatasetBuilder,
    SentenceEncoder,
    casing_id,
    make_dataset,
)
from ner_crf.data.vocab import UNK, build_vocabularies
from ner_crf.errors import DataError

WORDS = ["the", "EU", "Paris", "rejects", "call", "1996", "F-16", "iPhone", ",", "a", "German"]
TAGS = ["O", "B-ORG", "I-ORG", "B-LOC"]


def synthetic(n: int, seed: int = 0, max_len: int = 25) -> list[Sentence]:
    rng = np.random.default_rng(seed)
    sentences = []
    for i in range(n):
        length = int(rng.integers(1, max_len + 1))
        tokens = [WORDS[j] for j in rng.integers(0, len(WORDS), length)]
        tags = [TAGS[j] for j in rng.integers(0, len(TAGS), length)]
        sentences.append(Sentence(tokens, tags, line=10 * i + 1))
    return sentences


TRAIN = synthetic(40)
VOCABS = build_vocabularies(TRAIN)


def encoder(**kwargs) -> SentenceEncoder:
    return SentenceEncoder(VOCABS.words, VOCABS.chars, VOCABS.tags, **kwargs)


def collect(dataset) -> list[tuple[dict[str, np.ndarray], np.ndarray]]:
    return [({k: v.numpy() for k, v in x.items()}, y.numpy()) for x, y in dataset]


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("paris", CASING_LOWER),
        ("Paris", CASING_TITLE),
        ("(Paris", CASING_TITLE),
        ("I", CASING_TITLE),
        ("EU", CASING_UPPER),
        ("U.S.", CASING_UPPER),
        ("iPhone", CASING_MIXED),
        ("McDonald", CASING_MIXED),
        ("1996", CASING_NUMERIC),
        ("1,000.5", CASING_NUMERIC),
        ("1996-08-22", CASING_NUMERIC),
        ("F-16", CASING_HAS_DIGIT),
        ("3rd", CASING_HAS_DIGIT),
        (",", CASING_OTHER),
        ("--", CASING_OTHER),
        ("東京", CASING_LOWER),  # caseless letters: no capital
        ("Ünïcode", CASING_TITLE),
    ],
)
def test_casing(token, expected):
    assert casing_id(token) == expected
    assert 1 <= expected < NUM_CASING


def test_encode_sentence():
    enc = encoder(max_word_length=4)
    out = enc.encode(["Paris", "1997", "Zürich", "a"])
    assert set(out) == {"words", "chars", "casing"}
    assert all(v.dtype == np.int32 for v in out.values())
    words = VOCABS.words
    # "1997" normalises to "0000" (seen as "1996"); "Zürich" is unknown.
    assert out["words"].tolist() == [
        words.index("Paris"),
        words.index("0000"),
        UNK,
        words.index("a"),
    ]
    chars = VOCABS.chars
    assert out["chars"].shape == (4, 4)  # min(longest word 6, max_word_length 4)
    assert out["chars"][0].tolist() == [chars.index(c) for c in "Pari"]
    assert out["chars"][2].tolist() == [UNK, chars.index("ü"), chars.index("r"), chars.index("i")]
    assert out["chars"][2][0] == UNK and "Z" not in chars  # unseen character -> char UNK
    assert out["chars"][3].tolist() == [chars.index("a"), 0, 0, 0]  # right-padded with 0
    assert out["casing"].tolist() == [CASING_TITLE, CASING_NUMERIC, CASING_TITLE, CASING_LOWER]
    assert encoder().encode(["a", "EU"])["chars"].shape == (2, 2)  # W = longest word here
    empty = encoder().encode([])
    assert empty["words"].shape == (0,) and empty["chars"].shape == (0, 0)


def test_encode_tags():
    enc = encoder()
    assert enc.encode_tags(["O", "B-LOC"]).tolist() == [0, VOCABS.tags.index("B-LOC")]
    assert enc.encode_tags(["O"]).dtype == np.int32
    with pytest.raises(DataError, match="B-MISC"):
        enc.encode_tags(["B-MISC"])
    no_tags = SentenceEncoder(VOCABS.words, VOCABS.chars, None)
    with pytest.raises(ValueError, match="no tag vocabulary"):
        no_tags.encode_tags(["O"])
    assert enc.decode_tags([0, 1]) == VOCABS.tags.tokens[:2]


def test_batches_structure_and_right_padding():
    builder = DatasetBuilder(TRAIN, encoder(), batch_size=8, shuffle=True, seed=3)
    batches = collect(builder.dataset(0))
    assert len(batches) == builder.num_batches == 5
    enc = encoder()
    for (x, y), index in zip(batches, builder.batch_indices(0), strict=True):
        assert set(x) == {"words", "chars", "casing"}
        assert x["words"].dtype == np.int32 and y.dtype == np.int32
        b, t = x["words"].shape
        assert x["chars"].shape[:2] == (b, t) and x["casing"].shape == y.shape == (b, t)
        for row, i in enumerate(index):
            sentence = TRAIN[builder.sentence_ids[i]]
            n = len(sentence.tokens)
            expected = enc.encode(sentence.tokens)
            np.testing.assert_array_equal(x["words"][row, :n], expected["words"])
            np.testing.assert_array_equal(x["casing"][row, :n], expected["casing"])
            w = expected["chars"].shape[1]
            np.testing.assert_array_equal(x["chars"][row, :n, :w], expected["chars"])
            np.testing.assert_array_equal(y[row, :n], enc.encode_tags(sentence.tags))
            # Right padding with 0 everywhere after the sentence; the mask is words != 0.
            assert (x["words"][row] != 0).sum() == n
            assert not x["words"][row, n:].any() and not x["chars"][row, n:].any()
            assert not x["casing"][row, n:].any() and not y[row, n:].any()
            assert not x["chars"][row, :n, w:].any()


def sentence_multiset(builder, epoch):
    return sorted(int(i) for batch in builder.batch_indices(epoch) for i in batch)


def test_every_sentence_once_per_epoch():
    sentences = synthetic(203, seed=1)
    builder = DatasetBuilder(sentences, encoder(), batch_size=7, shuffle=True, chunk_batches=3)
    for epoch in range(3):
        assert sentence_multiset(builder, epoch) == list(range(203))
    # And through the tensors: each sentence's word row appears exactly once.
    rows = [tuple(r[r != 0]) for x, _ in collect(builder.dataset(1)) for r in x["words"]]
    expected = [tuple(encoder().encode(s.tokens)["words"]) for s in sentences]
    assert sorted(rows) == sorted(expected)


def test_order_is_a_function_of_seed_and_epoch():
    sentences = synthetic(60, seed=2)

    def epoch_batches(seed, epoch):
        builder = DatasetBuilder(sentences, encoder(), batch_size=8, shuffle=True, seed=seed)
        return collect(builder.dataset(epoch))

    first = epoch_batches(5, 2)
    again = epoch_batches(5, 2)  # a fresh builder, as after a restart
    assert len(first) == len(again)
    for (x1, y1), (x2, y2) in zip(first, again, strict=True):
        for key in x1:
            np.testing.assert_array_equal(x1[key], x2[key])
        np.testing.assert_array_equal(y1, y2)

    builder = DatasetBuilder(sentences, encoder(), batch_size=8, shuffle=True, seed=5)
    orders = [np.concatenate(builder.batch_indices(e)).tolist() for e in range(3)]
    assert orders[0] != orders[1] != orders[2]
    other_seed = DatasetBuilder(sentences, encoder(), batch_size=8, shuffle=True, seed=6)
    assert np.concatenate(other_seed.batch_indices(0)).tolist() != orders[0]
    # Without shuffling the epoch does not matter.
    fixed = DatasetBuilder(sentences, encoder(), batch_size=8)
    assert [b.tolist() for b in fixed.batch_indices(0)] == [
        b.tolist() for b in fixed.batch_indices(4)
    ]


def test_no_bucket_no_shuffle_keeps_corpus_order():
    sentences = synthetic(20, seed=4)
    builder = DatasetBuilder(sentences, encoder(), batch_size=6, bucket=False)
    assert np.concatenate(builder.batch_indices()).tolist() == list(range(20))
    assert [len(b) for b in builder.batch_indices()] == [6, 6, 6, 2]


def test_bucketing_reduces_padding():
    sentences = synthetic(400, seed=5, max_len=60)
    plain = DatasetBuilder(sentences, encoder(), batch_size=16, shuffle=True, bucket=False)
    bucketed = DatasetBuilder(sentences, encoder(), batch_size=16, shuffle=True, bucket=True)
    assert bucketed.padding_fraction(0) < 0.5 * plain.padding_fraction(0)
    sorted_eval = DatasetBuilder(sentences, encoder(), batch_size=16, bucket=True)
    lengths = [sorted_eval.lengths[b].tolist() for b in sorted_eval.batch_indices()]
    flat = [n for batch in lengths for n in batch]
    assert flat == sorted(flat)  # eval bucketing: globally sorted by length
    shapes = bucketed.batch_shapes(0)
    assert len(shapes) == bucketed.num_batches
    total = sum(b * t for b, t, _ in shapes)
    assert 1 - sum(bucketed.lengths) / total == pytest.approx(bucketed.padding_fraction(0))


def test_empty_sentences_dropped_and_logged_once(caplog):
    sentences = [Sentence([], []), *synthetic(5), Sentence([], [], line=99), Sentence([], [])]
    with caplog.at_level(logging.WARNING, logger="ner_crf.data.pipeline"):
        builder = DatasetBuilder(sentences, encoder(), batch_size=2)
    assert builder.num_dropped == 3 and builder.num_sentences == 5
    assert sorted(builder.sentence_ids.tolist()) == [1, 2, 3, 4, 5]
    assert [r.message for r in caplog.records] == ["dropped 3 empty sentence(s) of 8"]
    for x, _ in collect(builder.dataset()):
        assert (x["words"] != 0).sum(axis=1).min() > 0


def test_empty_corpus_gives_empty_dataset():
    builder = DatasetBuilder([Sentence([], [])], encoder(), batch_size=2)
    assert builder.num_batches == 0 and list(builder.dataset()) == []


def test_drop_remainder_static_batch():
    builder = DatasetBuilder(
        synthetic(30), encoder(), batch_size=8, shuffle=True, drop_remainder=True
    )
    dataset = builder.dataset(1)
    assert dataset.element_spec[0]["words"].shape.as_list() == [8, None]
    batches = collect(dataset)
    assert len(batches) == builder.num_batches == 3
    assert all(x["words"].shape[0] == 8 for x, _ in batches)


def test_long_sentence_and_long_word():
    long_word = "Supercalifragilistic" * 6  # 120 characters
    tokens = ["the"] * 1200 + [long_word]
    sentences = [Sentence(tokens, ["O"] * len(tokens)), *synthetic(3)]
    for max_word_length, width in ((30, 30), (150, 120)):
        builder = DatasetBuilder(sentences, encoder(max_word_length=max_word_length), batch_size=4)
        ((x, y),) = collect(builder.dataset())
        assert x["words"].shape == (4, 1201) and y.shape == (4, 1201)
        assert x["chars"].shape == (4, 1201, width)
        row = int(np.argmax((x["words"] != 0).sum(axis=1)))
        assert (x["chars"][row, 1200] != 0).sum() == width


def test_features_only_and_make_dataset():
    sentences = synthetic(10)
    features = make_dataset(sentences, encoder(), batch_size=4, with_tags=False)
    batches = list(features)
    assert all(isinstance(b, dict) and set(b) == {"words", "chars", "casing"} for b in batches)
    assert sum(int(b["words"].shape[0]) for b in batches) == 10
    # Unlabelled sentences are fine without tags, an error with them.
    unlabelled = [Sentence(["a", "b"], []), Sentence(["c"], [], line=7)]
    assert len(list(make_dataset(unlabelled, encoder(), batch_size=2, with_tags=False))) == 1
    with pytest.raises(DataError, match="2 tokens but 0 tags"):
        make_dataset(unlabelled, encoder(), batch_size=2)


def test_unknown_tag_reports_line():
    sentences = [Sentence(["a"], ["O"], line=1), Sentence(["b", "c"], ["O", "B-MISC"], line=42)]
    with pytest.raises(DataError, match="B-MISC") as info:
        DatasetBuilder(sentences, encoder(), batch_size=2)
    assert info.value.line == 42


def test_dataset_options():
    options = make_dataset(synthetic(4), encoder(), batch_size=2).options()
    assert (
        options.experimental_distribute.auto_shard_policy
        == tf.data.experimental.AutoShardPolicy.DATA
    )
    assert options.deterministic is True
    # No autotuning: ending an epoch waited for its thread's sleep (epochs of 10.24 s / 20.48 s).
    assert options.autotune.enabled is False


@pytest.mark.slow  # a TensorFlow subprocess (~12 s on a loaded 2-core machine)
def test_mirrored_strategy_splits_batches():
    # A fresh process: logical CPU devices must be configured before TensorFlow starts.
    script = textwrap.dedent(
        """
        import numpy as np
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        logical = [tf.config.LogicalDeviceConfiguration()] * 2
        tf.config.set_logical_device_configuration(cpu, logical)
        from ner_crf.data.conll import Sentence
        from ner_crf.data.pipeline import DatasetBuilder, SentenceEncoder
        from ner_crf.data.vocab import build_vocabularies
        rng = np.random.default_rng(0)
        sentences = [Sentence(["w%d" % j for j in range(int(n))], ["O"] * int(n))
                     for n in rng.integers(1, 12, 37)]
        v = build_vocabularies(sentences)
        builder = DatasetBuilder(sentences, SentenceEncoder(v.words, v.chars, v.tags),
                                 batch_size=8, shuffle=True)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        dist = strategy.experimental_distribute_dataset(builder.dataset(0))
        rows = 0
        for x, y in dist:
            parts = strategy.experimental_local_results(x["words"])
            assert len(parts) == 2
            rows += sum(int(tf.reduce_sum(tf.cast(tf.reduce_any(p != 0, axis=1), tf.int32)))
                        for p in parts)
        print("ROWS", rows)
        """
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parent,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ROWS 37" in result.stdout


def test_encoder_from_config_uses_the_vocab_section() -> None:
    from ner_crf.config import config_from_dict

    train = [Sentence(["Paris", "2024", "Rome"], ["B-LOC", "O", "B-LOC"])]
    vocabs = build_vocabularies(train, lowercase=True, normalize_digits=True)
    cfg = config_from_dict(
        {"vocab": {"lowercase": True, "normalize_digits": True, "max_word_length": 3}}
    )
    encoder = SentenceEncoder.from_config(vocabs, cfg.vocab)
    assert (encoder.lowercase, encoder.normalize_digits, encoder.max_word_length) == (True, True, 3)
    assert encoder.tags is vocabs.tags
    encoded = encoder.encode(["PARIS", "1999", "Rome"])
    assert list(encoded["words"]) == vocabs.words.encode(["paris", "0000", "rome"])
    assert UNK not in encoded["words"]
    assert encoded["chars"].shape == (3, 3)
