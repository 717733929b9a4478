"""End-to-end tests of ``train`` on a tiny synthetic corpus (in-process, default strategy)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ner_crf.errors import ConfigError
from ner_crf.training.checkpoints import ResumeError
from ner_crf.training.trainer import TrainingDivergedError, train
from tests.training import tiny_config, tiny_config_dict, write_corpus


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One 3-epoch run with dev and test sets, shared by the tests below."""
    directory = tmp_path_factory.mktemp("trained")
    raw = tiny_config_dict(directory)
    raw["data"] = write_corpus(directory / "data", test=24)
    from ner_crf.config import config_from_dict

    cfg = config_from_dict(raw)
    result = train(cfg, progress=False)
    return cfg, result


def test_loss_falls_and_dev_f1_rises(trained) -> None:
    _, result = trained
    losses = [row["loss"] for row in result.history]
    f1s = [row["dev_f1"] for row in result.history]
    assert len(result.history) == 3
    assert losses[-1] < 0.6 * losses[0]
    assert f1s[-1] > f1s[0] and f1s[-1] > 0.5
    assert result.best_dev_f1 == pytest.approx(max(f1s))
    assert result.history[result.best_epoch - 1]["dev_f1"] == pytest.approx(max(f1s))
    assert result.test is not None and 0.0 <= result.test["f1"] <= 1.0


def test_run_directory_is_complete(trained) -> None:
    cfg, result = trained
    run = result.run_dir
    for name in ("config.yaml", "model.keras", "last.keras", "metrics.json"):
        assert (run / name).is_file(), name
    assert sorted(p.name for p in (run / "vocab").iterdir()) >= ["chars.txt", "tags.txt"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed"
    assert metrics["best_epoch"] == result.best_epoch
    assert [row["epoch"] for row in metrics["history"]] == [1, 2, 3]
    for key in (
        "loss",
        "dev_precision",
        "dev_recall",
        "dev_f1",
        "learning_rate",
        "seconds",
        "tokens_per_second",
    ):
        assert np.isfinite(metrics["history"][-1][key]), key
    assert metrics["test"]["f1"] == pytest.approx(result.test["f1"])
    pointer = json.loads((run / "checkpoints" / "latest.json").read_text())
    assert pointer["checkpoint"] == "ckpt-3" and pointer["epoch"] == 3
    assert len(list((run / "checkpoints").glob("ckpt-*.index"))) == 2  # older ones pruned


def test_saved_best_model_loads_and_decodes(trained) -> None:
    from ner_crf.model.run_dir import load_run

    _, result = trained
    loaded = load_run(result.run_dir)
    features = loaded.encoder.encode(["John", "Smith", "visited", "Paris", "."])
    batch = {name: value[None] for name, value in features.items()}
    tags, _ = loaded.model.decode(batch)
    names = [loaded.tag_names[t] for t in np.asarray(tags)[0]]
    assert len(names) == 5 and all(name in loaded.tag_names for name in names)


def test_tensorboard_has_scalars_and_transition_image(trained) -> None:
    import tensorflow as tf

    _, result = trained
    (events,) = list((result.run_dir / "tensorboard").glob("events.out.tfevents.*"))
    seen: dict[str, str] = {}
    for event in tf.compat.v1.train.summary_iterator(str(events)):
        for value in event.summary.value:
            seen[value.tag] = value.metadata.plugin_data.plugin_name or seen.get(value.tag, "")
    for tag in ("dev/f1", "dev/precision", "dev/recall", "epoch/loss", "train/learning_rate"):
        assert seen.get(tag) == "scalars", tag
    assert seen.get("crf/transitions") == "images"


def test_existing_run_needs_resume_and_resume_checks_config(trained, tmp_path) -> None:
    cfg, result = trained
    with pytest.raises(ConfigError, match="already holds a training run"):
        train(cfg, progress=False)
    changed = dataclasses.replace(
        cfg,
        training=dataclasses.replace(cfg.training, learning_rate=0.5, batch_size=4),
    )
    with pytest.raises(ConfigError) as info:
        train(changed, resume=True, progress=False)
    assert "training.batch_size" in str(info.value) and "training.learning_rate" in str(info.value)
    with pytest.raises(ResumeError, match="no checkpoint"):
        train(cfg, output_dir=tmp_path / "empty", resume=True, progress=False)


def test_resume_continues_with_more_epochs(trained, tmp_path) -> None:
    cfg, result = trained
    copy = tmp_path / "run"
    shutil.copytree(result.run_dir, copy)
    longer = dataclasses.replace(cfg, training=dataclasses.replace(cfg.training, epochs=4))
    resumed = train(longer, output_dir=copy, resume=True, progress=False)
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3, 4]
    assert resumed.history[:3] == result.history
    assert resumed.history[3]["steps"] == result.history[2]["steps"]
    pointer = json.loads((copy / "checkpoints" / "latest.json").read_text())
    assert pointer["epoch"] == 4
    assert pointer["optimizer_iterations"] == 4 * result.history[0]["steps"]


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch) -> None:
    import tensorflow as tf

    from ner_crf.training import trainer as trainer_module

    real = trainer_module.make_train_step

    def poisoned(*args, **kwargs):
        step = real(*args, **kwargs)
        calls = tf.Variable(0)  # counts in the graph too: the trainer calls this inside its own

        def wrapped(batch):
            nll, tokens, sentences = step(batch)
            count = calls.assign_add(1)
            # Epoch 1 has 12 steps: poison from the 5th step of epoch 2 on.
            nll = tf.where(count > 16, tf.constant(float("nan")), nll)
            return nll, tokens, sentences

        return wrapped

    monkeypatch.setattr(trainer_module, "make_train_step", poisoned)
    cfg = tiny_config(tmp_path, epochs=3)
    with pytest.raises(TrainingDivergedError) as info:
        train(cfg, progress=False)
    message = str(info.value)
    assert "loss became NaN at epoch 2 step 5" in message
    assert "training.learning_rate" in message and "ckpt-1" in message
    run = Path(cfg.output.dir)
    assert json.loads((run / "checkpoints" / "latest.json").read_text())["epoch"] == 1
    assert (run / "checkpoints" / "ckpt-1.index").exists()
    metrics = json.loads((run / "metrics.json").read_text())
    assert [row["epoch"] for row in metrics["history"]] == [1]


def test_mixed_precision_runs_an_epoch_with_progress_bar(tmp_path, capsys) -> None:
    import keras

    before = keras.config.dtype_policy().name
    cfg = tiny_config(tmp_path, epochs=1, mixed_precision=True)
    result = train(cfg, progress=True)
    captured = capsys.readouterr()
    assert "epoch 1/1" in captured.err and "tok_s" in captured.err  # tqdm on stderr
    assert captured.out == ""
    assert keras.config.dtype_policy().name == before  # the global policy is restored
    assert np.isfinite(result.history[0]["loss"]) and result.history[0]["loss"] > 0
    assert result.best_dev_f1 is not None
