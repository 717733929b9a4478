"""Unit tests of the training helpers: schedules, checkpoints, heat map, strategy config."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from ner_crf.errors import ConfigError
from ner_crf.training.checkpoints import POINTER, CheckpointKeeper, ResumeError
from ner_crf.training.optim import NerLearningRate, make_optimizer
from ner_crf.training.strategy import _canonical_device, make_strategy, read_tf_config
from ner_crf.training.tensorboard import transition_heatmap


def _rate(schedule: NerLearningRate, step: int) -> float:
    return float(np.asarray(schedule(step)))


# --- schedules --------------------------------------------------------------------------------


def test_constant_schedule_with_warmup_ramps_then_stays() -> None:
    schedule = NerLearningRate("constant", 0.1, steps_per_epoch=10, total_steps=100, warmup_steps=4)
    assert _rate(schedule, 0) == pytest.approx(0.025)
    assert _rate(schedule, 1) == pytest.approx(0.05)
    assert _rate(schedule, 3) == pytest.approx(0.1)
    assert _rate(schedule, 50) == pytest.approx(0.1)


def test_exponential_schedule_decays_per_epoch() -> None:
    schedule = NerLearningRate(
        "exponential", 0.1, steps_per_epoch=10, total_steps=100, decay_rate=0.05
    )
    assert _rate(schedule, 0) == pytest.approx(0.1)
    assert _rate(schedule, 10) == pytest.approx(0.1 * 0.95, rel=1e-5)
    assert _rate(schedule, 35) == pytest.approx(0.1 * 0.95**3.5, rel=1e-5)


def test_inverse_time_schedule() -> None:
    schedule = NerLearningRate(
        "inverse_time", 0.015, steps_per_epoch=4, total_steps=40, decay_rate=0.05
    )
    assert _rate(schedule, 8) == pytest.approx(0.015 / 1.1, rel=1e-5)


def test_cosine_and_linear_reach_zero_at_the_end() -> None:
    cosine = NerLearningRate("cosine", 1.0, steps_per_epoch=10, total_steps=100)
    assert _rate(cosine, 50) == pytest.approx(0.5, abs=1e-6)
    assert _rate(cosine, 100) == pytest.approx(0.0, abs=1e-6)
    linear = NerLearningRate(
        "linear_warmup", 1.0, steps_per_epoch=10, total_steps=110, warmup_steps=10
    )
    assert _rate(linear, 9) == pytest.approx(1.0)
    assert _rate(linear, 60) == pytest.approx(0.5)
    assert _rate(linear, 110) == pytest.approx(0.0, abs=1e-6)


def test_schedule_config_round_trip() -> None:
    schedule = NerLearningRate("cosine", 0.3, steps_per_epoch=7, total_steps=70, warmup_steps=3)
    again = NerLearningRate.from_config(schedule.get_config())
    for step in (0, 5, 33, 69):
        assert _rate(again, step) == pytest.approx(_rate(schedule, step))


def _train_cfg(**changes):
    base = dict(
        optimizer="adam",
        learning_rate=0.01,
        lr_schedule="constant",
        decay_rate=0.05,
        warmup_steps=0,
        weight_decay=0.0,
        momentum=0.9,
        epochs=3,
        mixed_precision=False,
    )
    base.update(changes)
    return SimpleNamespace(**base)


@pytest.mark.parametrize(
    ("name", "cls_name"), [("adam", "FusedAdam"), ("adamw", "FusedAdamW"), ("sgd", "SGD")]
)
def test_make_optimizer_kinds(name: str, cls_name: str) -> None:
    optimizer = make_optimizer(_train_cfg(optimizer=name, weight_decay=0.01), steps_per_epoch=5)
    assert type(optimizer).__name__ == cls_name
    assert optimizer.global_clipnorm is None and optimizer.clipnorm is None  # we clip ourselves


def test_make_optimizer_mixed_precision_wraps_loss_scaling() -> None:
    optimizer = make_optimizer(_train_cfg(mixed_precision=True), steps_per_epoch=5)
    assert type(optimizer).__name__ == "LossScaleOptimizer"


def test_make_optimizer_unknown_name() -> None:
    with pytest.raises(ConfigError, match="training.optimizer"):
        make_optimizer(_train_cfg(optimizer="rmsprop"), steps_per_epoch=5)


# --- heat map ---------------------------------------------------------------------------------


def test_transition_heatmap_colours_and_shape() -> None:
    matrix = np.array([[2.0, -2.0], [0.0, -np.inf]])
    image = transition_heatmap(matrix, cell=4)
    assert image.shape == (8, 8, 3) and image.dtype == np.uint8
    centre = lambda r, c: image[r * 4 + 2, c * 4 + 2]  # noqa: E731
    assert centre(0, 0)[0] > centre(0, 0)[2]  # positive: red
    assert centre(0, 1)[2] > centre(0, 1)[0]  # negative: blue
    assert tuple(centre(1, 0)) == (255, 255, 255)  # zero: white
    assert tuple(centre(1, 1)) == (0, 0, 0)  # forbidden: black


# --- checkpoints ------------------------------------------------------------------------------


def test_checkpoint_keeper_pointer_restore_and_pruning(tmp_path) -> None:
    import tensorflow as tf

    holder = tf.Module()
    holder.value = tf.Variable(1.0)
    keeper = CheckpointKeeper(tmp_path / "ck", tf.train.Checkpoint(holder=holder), keep=2)
    assert keeper.latest() is None
    for epoch in (1, 2, 3):
        holder.value.assign(float(epoch))
        keeper.save(f"ckpt-{epoch}", {"epoch": epoch})
    meta = keeper.latest()
    assert meta["checkpoint"] == "ckpt-3" and meta["epoch"] == 3
    names = sorted(p.name.split(".")[0] for p in (tmp_path / "ck").glob("ckpt-*.index"))
    assert names == ["ckpt-2", "ckpt-3"]
    holder.value.assign(-5.0)
    keeper.restore(meta)
    assert float(holder.value.numpy()) == 3.0
    assert not list((tmp_path / "ck").glob(".*tmp"))


def test_checkpoint_pointer_survives_failed_write(tmp_path) -> None:
    import tensorflow as tf

    holder = tf.Module()
    holder.value = tf.Variable(1.0)
    checkpoint = tf.train.Checkpoint(holder=holder)
    keeper = CheckpointKeeper(tmp_path, checkpoint)
    keeper.save("ckpt-1", {"epoch": 1})

    class Boom(RuntimeError):
        pass

    def broken_write(prefix):
        raise Boom("killed mid-write")

    checkpoint.write = broken_write
    with pytest.raises(Boom):
        keeper.save("ckpt-2", {"epoch": 2})
    assert json.loads((tmp_path / POINTER).read_text())["checkpoint"] == "ckpt-1"


def test_checkpoint_pointer_to_missing_files_is_a_resume_error(tmp_path) -> None:
    (tmp_path / POINTER).write_text(json.dumps({"checkpoint": "ckpt-9"}))
    keeper = CheckpointKeeper(tmp_path, checkpoint=None)
    with pytest.raises(ResumeError, match="ckpt-9"):
        keeper.latest()
    (tmp_path / POINTER).write_text("{not json")
    with pytest.raises(ResumeError, match="unreadable"):
        keeper.latest()


# --- strategy ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "TF_CONFIG environment variable, which is not set"),
        ("{oops", "not valid JSON"),
        ('{"task": {"type": "worker", "index": 0}}', 'no "cluster"'),
        (
            '{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}',
            "host:port",
        ),
        ('{"cluster": {"worker": ["localhost:1"]}}', 'no "task"'),
        (
            '{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "chief", "index": 0}}',
            "not in the cluster",
        ),
        (
            '{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 3}}',
            "out of range",
        ),
    ],
)
def test_tf_config_errors(monkeypatch, value, message) -> None:
    if value is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", value)
    with pytest.raises(ConfigError, match=message) as info:
        read_tf_config()
    assert info.value.key == "training.strategy"
    with pytest.raises(ConfigError):
        make_strategy(SimpleNamespace(strategy="multi_worker", devices=(), logical_cpu_devices=0))


def test_tf_config_valid(monkeypatch) -> None:
    monkeypatch.setenv(
        "TF_CONFIG",
        '{"cluster": {"worker": ["localhost:1", "localhost:2"]}, '
        '"task": {"type": "worker", "index": 1}}',
    )
    assert read_tf_config()["task"]["index"] == 1


def test_unknown_strategy_and_device_names() -> None:
    with pytest.raises(ConfigError, match="unknown strategy 'tpu'"):
        make_strategy(SimpleNamespace(strategy="tpu", devices=(), logical_cpu_devices=0))
    assert _canonical_device("cpu:1").endswith("/device:CPU:1")
    assert _canonical_device("/GPU:0").endswith("/device:GPU:0")
    assert _canonical_device("/device:gpu:2").endswith("/device:GPU:2")
    with pytest.raises(ConfigError, match="unknown device"):
        make_strategy(
            SimpleNamespace(strategy="mirrored", devices=("gpu:7",), logical_cpu_devices=0)
        )


def test_cpu_strategy_has_one_replica() -> None:
    strategy = make_strategy(SimpleNamespace(strategy="cpu", devices=(), logical_cpu_devices=0))
    assert strategy.num_replicas_in_sync == 1


@pytest.mark.parametrize("kind", ["adam", "adamw"])
def test_fused_adam_matches_keras_adam(kind: str) -> None:
    import keras
    import tensorflow as tf

    from ner_crf.training.optim import FusedAdam, FusedAdamW

    rng = np.random.default_rng(0)
    start = [rng.normal(size=(6, 3)).astype("float32"), rng.normal(size=(4,)).astype("float32")]
    results = []
    for fused in (True, False):
        if kind == "adam":
            cls = FusedAdam if fused else keras.optimizers.Adam
            optimizer = cls(learning_rate=0.05)
        else:
            cls = FusedAdamW if fused else keras.optimizers.AdamW
            optimizer = cls(learning_rate=0.05, weight_decay=0.1)
        variables = [keras.Variable(value) for value in start]
        optimizer.build(variables)
        for step in range(4):
            sparse = tf.IndexedSlices(
                tf.constant(np.full((2, 3), step + 1.0, "float32")),
                tf.constant([1, 4]),
                tf.constant([6, 3]),
            )
            dense = tf.constant(np.full((4,), 0.5 - step, "float32"))
            optimizer.apply([sparse, dense], variables)
        results.append([np.asarray(v) for v in variables])
    for fused_value, keras_value in zip(*results, strict=True):
        np.testing.assert_allclose(fused_value, keras_value, rtol=1e-5, atol=1e-5)
    assert not np.allclose(results[0][0], start[0])  # the update did something


def test_fused_adam_sums_repeated_rows_before_squaring() -> None:
    import keras
    import tensorflow as tf

    from ner_crf.training.optim import FusedAdam

    results = []
    for sparse in (True, False):
        optimizer = FusedAdam(learning_rate=0.1)
        variable = keras.Variable(np.zeros((3, 2), "float32"))
        optimizer.build([variable])
        for _ in range(3):
            if sparse:  # row 0 appears twice, as a word repeated in a batch
                gradient = tf.IndexedSlices(
                    tf.constant([[1.0, 2.0], [1.0, 2.0], [0.5, 0.5]]),
                    tf.constant([0, 0, 2]),
                    tf.constant([3, 2]),
                )
            else:
                gradient = tf.constant([[2.0, 4.0], [0.0, 0.0], [0.5, 0.5]])
            optimizer.apply([gradient], [variable])
        results.append(np.asarray(variable))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6)


def test_importing_the_training_package_does_not_import_tensorflow() -> None:
    import subprocess
    import sys

    code = (
        "import sys, ner_crf.training, ner_crf.training.strategy, ner_crf.training.trainer; "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]
