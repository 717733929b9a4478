"""Vocabulary extension end to end: words that only the vectors file has are tagged through
their (frozen) vectors by predict, evaluate and the exported SavedModel.

The corpus makes the word vector the only clue: no character encoder, no casing features, and
single-word sentences besides the template ones. The vectors file gives every person name the
direction e0, places e1, organisations e2; three words that are NOT in the training data get
those directions too. A model that looked them up as ``<unk>`` would give all three the same
tag; tagged through their vectors they get three different, correct ones.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ner_crf.cli import app
from tests.training import _ORGS, _PEOPLE, _PLACES, synthetic_sentences, write_conll

DIM = 6
NEW_WORDS = {"zorblax": "PER", "quuxville": "LOC", "frobco": "ORG"}  # not in training
_DIRECTION = {"PER": 0, "LOC": 1, "ORG": 2}


def invoke(args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _vectors(words_by_kind: dict[str, list[str]], others: list[str]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    vectors = {}
    for kind, words in words_by_kind.items():
        for word in words:
            vector = rng.normal(0.0, 0.1, DIM)
            vector[_DIRECTION[kind]] += 2.0
            vectors[word] = vector
    for word in others:
        vector = rng.normal(0.0, 0.1, DIM)
        vector[3 + len(vectors) % 3] += 2.0
        vectors[word] = vector
    return vectors


@pytest.fixture(scope="module")
def extended_run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pretrained")
    pools = {"PER": _PEOPLE, "LOC": _PLACES, "ORG": _ORGS}
    sentences = synthetic_sentences(160, 1)
    rng = random.Random(5)
    for _ in range(120):  # single-entity sentences: no context, only the word
        kind = rng.choice(sorted(pools))
        words = rng.choice(pools[kind])
        if kind == "PER":  # a first or last name alone, so that S-PER is seen in training
            words = [rng.choice(words)]
        sentences.append([(w, ("B-" if i == 0 else "I-") + kind) for i, w in enumerate(words)])
    train = write_conll(directory / "train.txt", sentences)
    dev = write_conll(directory / "dev.txt", synthetic_sentences(24, 2))
    training_words = {t.lower() for s in sentences for t, _ in s}
    by_kind = {kind: sorted({w.lower() for ws in pool for w in ws}) for kind, pool in pools.items()}
    for word, kind in NEW_WORDS.items():
        by_kind[kind].append(word)
    others = sorted(training_words - {w for ws in by_kind.values() for w in ws})
    vectors = _vectors(by_kind, others + ["unseenfiller"])
    assert not set(NEW_WORDS) & training_words
    glove = directory / "vectors.txt"
    glove.write_text(
        "".join(f"{w} {' '.join(f'{v:.6f}' for v in vec)}\n" for w, vec in vectors.items()),
        encoding="utf-8",
    )
    run_dir = directory / "run"
    overrides = {
        "data.train": train,
        "data.dev": dev,
        "data.test": "null",
        "data.scheme": "IOBES",
        "vocab.lowercase": "true",
        "embeddings.path": glove,
        "embeddings.trainable": "false",
        "model.word_dim": DIM,
        "model.casing_dim": 0,
        "model.char.encoder": "none",
        "model.lstm.units": 8,
        "model.dropout": 0.0,
        "model.word_dropout": 0.0,
        "training.epochs": 12,
        "training.batch_size": 16,
        "training.learning_rate": 0.03,
        "training.lr_schedule": "constant",
        "training.patience": 0,
        "output.tensorboard": "false",
    }
    sets = [item for key, value in overrides.items() for item in ("--set", f"{key}={value}")]
    result = invoke(["train", "--config", "configs/default.yaml", *sets, "-o", run_dir])
    assert result.exit_code == 0, result.stderr
    return run_dir, vectors, result


def test_run_dir_has_extended_vocabulary_and_frozen_rows(extended_run) -> None:
    from ner_crf.model.run_dir import load_run

    run_dir, vectors, _ = extended_run
    run = load_run(run_dir)
    words = run.vocabs.words
    trained = run.vocabs.num_trained_words
    extension = json.loads((run_dir / "vocab" / "extension.json").read_text())
    assert extension == {"trained_words": trained, "pretrained_words": len(words) - trained}
    # Only the file's words that training lacks were added ("unseenfiller" among them).
    added = set(words.tokens[trained:])
    assert added == set(NEW_WORDS) | {"unseenfiller"}
    assert run.model.num_words == trained
    assert run.model.num_pretrained_words == len(added)
    # The frozen table is not a Keras weight and gets no gradient / optimizer slot.
    assert all("pretrained" not in w.path for w in run.model.weights)
    import tensorflow as tf

    unk = run.model._word_vectors(tf.constant([[1]]))[0, 0].numpy()
    for word in NEW_WORDS:
        index = words.index(word)
        assert index >= trained
        row = run.model._word_vectors(tf.constant([[index]]))[0, 0].numpy()
        np.testing.assert_allclose(row, vectors[word], atol=1e-6)
        assert not np.allclose(row, unk)
    # Checkpoints hold no copy of the frozen table and no optimizer slot for it.
    index = next((run_dir / "checkpoints").glob("*.index"))
    saved = tf.train.list_variables(str(index).removesuffix(".index"))
    assert not [name for name, _ in saved if "pretrained" in name]
    assert not [name for name, shape in saved if shape and shape[0] == len(added)]


def test_resume_rebuilds_the_frozen_rows_and_checks_the_vocabulary(extended_run, tmp_path) -> None:
    import shutil

    run_dir, _, _ = extended_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    config = copy / "config.yaml"
    more = ["--set", "training.epochs=13"]
    resumed = invoke(["train", "--config", config, "-o", copy, "--resume", *more])
    assert resumed.exit_code == 0, resumed.stderr
    assert "resumed" in resumed.stderr
    assert json.loads((copy / "metrics.json").read_text())["epochs_completed"] == 13
    # A vectors file that changed since the run started: refused, not silently different.
    glove = Path(run_dir.parent / "vectors.txt")
    changed = tmp_path / "vectors.txt"
    changed.write_text(glove.read_text() + "anotherword" + " 0.5" * DIM + "\n")
    refused = invoke(
        [
            "train",
            "--config",
            config,
            "-o",
            copy,
            "--resume",
            "--set",
            "training.epochs=14",
            "--set",
            f"embeddings.path={changed}",
        ]
    )
    assert refused.exit_code != 0
    assert "differs from" in refused.stderr and "Traceback" not in refused.stderr


def test_predict_tags_unseen_words_through_their_vectors(extended_run) -> None:
    run_dir = extended_run[0]
    text = "Zorblax\nQuuxville\nFrobco\n"
    result = CliRunner().invoke(
        app, ["predict", "--model", str(run_dir), "--pretokenized", "--format", "conll"], input=text
    )
    assert result.exit_code == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines() if line.strip()]
    assert [tag for _, tag in rows] == [f"S-{kind}" for kind in NEW_WORDS.values()]


def test_evaluate_scores_unseen_words_through_their_vectors(extended_run, tmp_path) -> None:
    run_dir = extended_run[0]
    gold = tmp_path / "gold.txt"
    gold.write_text(
        "".join(f"{word.capitalize()} B-{kind}\n\n" for word, kind in NEW_WORDS.items()),
        encoding="utf-8",
    )
    result = invoke(["evaluate", "--model", run_dir, "--json", gold])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["files"][0]["strict"]["f1"] == pytest.approx(1.0), report


def test_exported_saved_model_uses_the_extended_vocabulary(extended_run, tmp_path) -> None:
    import tensorflow as tf

    run_dir = extended_run[0]
    exported = tmp_path / "exported"
    result = invoke(["export", "--model", run_dir, exported])
    assert result.exit_code == 0, result.stderr
    serve = tf.saved_model.load(str(exported)).signatures["serving_default"]
    tokens = tf.constant([[word.capitalize()] for word in NEW_WORDS])
    out = serve(tokens=tokens, lengths=tf.constant([1, 1, 1]))
    tags = [t.decode() for t in out["tags"].numpy()[:, 0]]
    assert tags == [f"S-{kind}" for kind in NEW_WORDS.values()]


def test_training_log_reports_coverage(extended_run) -> None:
    log = extended_run[2].stderr
    assert "vocabulary coverage" in log
    assert "words added with frozen vectors" in log
