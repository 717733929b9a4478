"""Tests of `ner_crf.model.run_dir`: atomic writes, and loading a run directory."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ner_crf.config import config_from_dict  # noqa: E402
from ner_crf.data.pipeline import SentenceEncoder  # noqa: E402
from ner_crf.data.vocab import Vocabularies, Vocabulary  # noqa: E402
from ner_crf.errors import ModelError  # noqa: E402
from ner_crf.model.builder import NerModel, build_model  # noqa: E402
from ner_crf.model.run_dir import (  # noqa: E402
    LoadedRun,
    atomic_write,
    atomic_write_bytes,
    atomic_write_text,
    load_run,
    prepare_run_dir,
    save_model_atomic,
    write_json_atomic,
)

TAGS = ["O", "B-PER", "E-PER", "S-PER"]
WORDS = ["the", "john", "smith", "met", "mary", "in", "paris"]
SENTENCES = [["John", "Smith", "met", "Mary"], ["the", "paris", "in"], ["Mary"]]


def make_config():
    return config_from_dict(
        {
            "data": {"train": "train.txt", "scheme": "IOBES"},
            "vocab": {"lowercase": True, "max_word_length": 5},
            "model": {
                "word_dim": 8,
                "casing_dim": 2,
                "char": {"encoder": "lstm", "dim": 4, "units": 4},
                "lstm": {"layers": 1, "units": 8},
                "dropout": 0.0,
            },
        }
    )


def make_vocabs() -> Vocabularies:
    chars = sorted({c for s in SENTENCES for w in s for c in w})
    return Vocabularies(
        words=Vocabulary(WORDS),
        chars=Vocabulary(chars),
        tags=Vocabulary(TAGS, specials=False),
        word_counts={w: 1 + i % 2 for i, w in enumerate(WORDS)},
    )


def encode(encoder: SentenceEncoder, sentences):
    """Encodes and right-pads sentences into one batch of features."""
    encoded = [encoder.encode(s) for s in sentences]
    time = max(len(e["words"]) for e in encoded)
    width = max(e["chars"].shape[1] for e in encoded)
    batch = {
        "words": np.zeros([len(encoded), time], "int32"),
        "chars": np.zeros([len(encoded), time, width], "int32"),
        "casing": np.zeros([len(encoded), time], "int32"),
    }
    for i, e in enumerate(encoded):
        n = len(e["words"])
        batch["words"][i, :n] = e["words"]
        batch["casing"][i, :n] = e["casing"]
        batch["chars"][i, :n, : e["chars"].shape[1]] = e["chars"]
    return batch


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory) -> tuple[Path, NerModel]:
    """A complete run directory with a slightly trained model (shared, copied before changes)."""
    keras.utils.set_random_seed(0)
    cfg = make_config()
    vocabs = make_vocabs()
    run = prepare_run_dir(tmp_path_factory.mktemp("runs") / "run", cfg, vocabs)
    model = build_model(
        cfg,
        num_words=len(vocabs.words),
        num_chars=len(vocabs.chars),
        num_tags=len(vocabs.tags),
        tag_names=vocabs.tags.tokens,
        singleton_ids=vocabs.singletons,
    )
    # Move the weights away from their initial values so the round trip is meaningful.
    rng = np.random.default_rng(0)
    for weight in model.trainable_weights:
        weight.assign(rng.normal(0.0, 0.5, weight.shape).astype("float32"))
    save_model_atomic(model, run / "model.keras")
    write_json_atomic(run / "metrics.json", {"dev": {"f1": 0.5}, "epoch": 3})
    return run, model


@pytest.fixture()
def run_copy(saved_run, tmp_path) -> Path:
    return Path(shutil.copytree(saved_run[0], tmp_path / "run"))


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".tmp" in p.name)


# --- loading -----------------------------------------------------------------------------------


def test_load_run_round_trip_gives_identical_decodes(saved_run):
    run, model = saved_run
    loaded = load_run(run)
    assert isinstance(loaded, LoadedRun)
    assert loaded.path == run
    assert loaded.scheme == "IOBES"
    assert loaded.tag_names == TAGS
    assert loaded.metrics == {"dev": {"f1": 0.5}, "epoch": 3}
    assert loaded.config == make_config()
    assert loaded.vocabs.words.tokens == make_vocabs().words.tokens
    assert isinstance(loaded.model, NerModel)
    assert isinstance(loaded.encoder, SentenceEncoder)
    assert loaded.encoder.lowercase and loaded.encoder.max_word_length == 5
    features = encode(loaded.encoder, SENTENCES)
    assert features["words"][0, 0] == loaded.vocabs.words.index("john")  # lowercased lookup
    for got, want in zip(loaded.model.decode(features), model.decode(features), strict=True):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(loaded.model(features).numpy(), model(features).numpy())


def test_metrics_are_optional(run_copy):
    (run_copy / "metrics.json").unlink()
    assert load_run(run_copy).metrics is None
    (run_copy / "metrics.json").write_text("{not json", encoding="utf-8")
    assert load_run(run_copy).metrics is None


def test_missing_directory(tmp_path):
    with pytest.raises(ModelError, match="run directory .*nope does not exist"):
        load_run(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelError, match="not a run directory"):
        load_run(tmp_path / "file")


def test_missing_config(run_copy):
    (run_copy / "config.yaml").unlink()
    with pytest.raises(ModelError, match=r"config\.yaml is missing"):
        load_run(run_copy)


@pytest.mark.parametrize("name", ["words.txt", "chars.txt", "tags.txt"])
def test_missing_vocabulary_file(run_copy, name):
    (run_copy / "vocab" / name).unlink()
    with pytest.raises(ModelError, match=rf"{name} is missing; training may not have finished"):
        load_run(run_copy)


def test_missing_model(run_copy):
    (run_copy / "model.keras").unlink()
    with pytest.raises(
        ModelError, match=r"model\.keras is missing; training may not have finished"
    ):
        load_run(run_copy)


def test_truncated_model(run_copy):
    path = run_copy / "model.keras"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match=r"model\.keras is corrupted or truncated: ") as info:
        load_run(run_copy)
    assert "\n" not in str(info.value)


def test_garbage_model(run_copy):
    (run_copy / "model.keras").write_bytes(b"this is not a zip file\x00\x01" * 10)
    with pytest.raises(ModelError, match=r"model\.keras is corrupted or truncated: ") as info:
        load_run(run_copy)
    assert "\n" not in str(info.value)


def test_zip_with_corrupted_content(run_copy):
    path = run_copy / "model.keras"
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["model.weights.h5"] = members["model.weights.h5"][:100]  # truncated weights
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ModelError, match=r"model\.keras is corrupted or truncated: ") as info:
        load_run(run_copy)
    assert "\n" not in str(info.value)


def test_vocabulary_size_mismatch(run_copy):
    words = run_copy / "vocab" / "words.txt"
    Vocabulary([*WORDS, "extra"]).save(words)
    with pytest.raises(ModelError, match="word vocabulary size mismatch: .* has 10 entries"):
        load_run(run_copy)


def test_tag_mismatch(run_copy):
    Vocabulary(["O", "B-LOC", "E-LOC", "S-LOC"], specials=False).save(
        run_copy / "vocab" / "tags.txt"
    )
    with pytest.raises(ModelError, match="tag mismatch"):
        load_run(run_copy)


# --- atomic writes -----------------------------------------------------------------------------


def test_atomic_writes_replace_the_file_and_leave_no_temp_files(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "first")
    atomic_write_text(target, "second")
    assert target.read_text(encoding="utf-8") == "second"
    atomic_write_bytes(tmp_path / "raw.bin", b"\x00\x01")
    assert (tmp_path / "raw.bin").read_bytes() == b"\x00\x01"
    write_json_atomic(tmp_path / "m.json", {"b": 1, "a": [1.5]})
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": [1.5], "b": 1}
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)
    assert leftovers(tmp_path) == []


def test_failed_write_keeps_the_old_file_and_removes_the_temp_file(tmp_path):
    target = tmp_path / "metrics.json"
    write_json_atomic(target, {"f1": 0.9})

    def half_then_crash(tmp: Path) -> None:
        tmp.write_text('{"f1": 0.', encoding="utf-8")  # half written ...
        raise KeyboardInterrupt("killed")  # ... when the process is interrupted

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, half_then_crash)
    assert json.loads(target.read_text()) == {"f1": 0.9}
    assert leftovers(tmp_path) == []


def test_failed_model_save_keeps_the_old_model(saved_run, tmp_path):
    run, model = saved_run
    target = tmp_path / "model.keras"
    shutil.copy(run / "model.keras", target)
    before = target.read_bytes()

    class CrashingModel:
        def save(self, path):
            model.save(path)
            data = Path(path).read_bytes()
            Path(path).write_bytes(data[: len(data) // 3])  # partially rewritten ...
            raise OSError("disk full")  # ... then the write fails

    with pytest.raises(OSError, match="disk full"):
        save_model_atomic(CrashingModel(), target)
    assert target.read_bytes() == before
    assert leftovers(tmp_path) == []
    with pytest.raises(ValueError, match=r"must end in \.keras"):
        save_model_atomic(model, tmp_path / "model.h5")
