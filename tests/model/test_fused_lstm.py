"""Tests of the fused bidirectional LSTM layer against Keras' ``Bidirectional(LSTM)``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from ner_crf.errors import ConfigError
from ner_crf.model.fused_lstm import FusedBiLSTM, block_lstm

BATCH, TIME, FEATURES, UNITS = 4, 6, 5, 3
LENGTHS = np.array([6, 3, 1, 4])  # right-padded rows, one of length 1, one full
ATOL = 1e-5


@pytest.fixture(autouse=True)
def _seed() -> None:
    keras.utils.set_random_seed(0)


def padded_batch(
    lengths: np.ndarray = LENGTHS, pad_value: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Returns random inputs [batch, time, features] and their right-padded mask [batch, time]."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(len(lengths), TIME, FEATURES)).astype("float32")
    mask = np.arange(TIME)[None, :] < lengths[:, None]
    if pad_value is not None:
        x[~mask] = pad_value
    return x, mask


def keras_reference(return_sequences: bool, merge_mode: str = "concat") -> keras.layers.Layer:
    """A built ``Bidirectional(LSTM)`` whose weights are random, including the biases."""
    layer = keras.layers.Bidirectional(
        keras.layers.LSTM(UNITS, return_sequences=return_sequences), merge_mode=merge_mode
    )
    layer.build((None, TIME, FEATURES))
    rng = np.random.default_rng(2)
    layer.set_weights(
        [rng.uniform(-0.8, 0.8, size=w.shape).astype("float32") for w in layer.get_weights()]
    )
    return layer


def fused_like(reference: keras.layers.Layer, **kwargs: object) -> FusedBiLSTM:
    """A ``FusedBiLSTM`` carrying the weights of ``reference``."""
    layer = FusedBiLSTM(UNITS, **kwargs)
    layer.build((None, TIME, FEATURES))
    layer.set_weights(reference.get_weights())
    return layer


def outputs_and_gradients(
    layer: keras.layers.Layer, x: np.ndarray, mask: np.ndarray | None, compiled: bool = False
) -> list[np.ndarray]:
    """Returns [output, d/dx, d/dweights...] of a non-linear scalar loss of the output."""
    inputs = tf.constant(x)
    probe = tf.constant(
        np.random.default_rng(3).normal(size=layer.compute_output_shape(x.shape)), tf.float32
    )

    def run(inputs: tf.Tensor) -> list[tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            y = layer(inputs, mask=mask)
            loss = tf.reduce_sum(tf.sin(2.0 * y) * probe)
        return [y, *tape.gradient(loss, [inputs, *layer.trainable_weights])]

    if compiled:
        run = tf.function(run)
    return [t.numpy() for t in run(inputs)]


@pytest.mark.parametrize("implementation", ["fused", "keras"])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_outputs_and_gradients_match_keras(implementation: str, return_sequences: bool) -> None:
    x, mask = padded_batch()
    reference = keras_reference(return_sequences)
    layer = fused_like(reference, return_sequences=return_sequences, implementation=implementation)
    expected = outputs_and_gradients(reference, x, mask)
    actual = outputs_and_gradients(layer, x, mask, compiled=True)
    # output, inputs, then kernel / recurrent kernel / bias of each direction
    assert len(actual) == len(expected) == 8
    for name, got, want in zip(
        [
            "output",
            "inputs",
            "fw kernel",
            "fw recurrent",
            "fw bias",
            "bw kernel",
            "bw recurrent",
            "bw bias",
        ],
        actual,
        expected,
        strict=True,
    ):
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=1e-4, err_msg=name)
    # The gradients are not trivially zero.
    assert all(np.abs(g).max() > 1e-3 for g in actual[1:])


@pytest.mark.parametrize("merge_mode", ["sum", "ave", "mul"])
def test_merge_modes_match_keras(merge_mode: str) -> None:
    x, mask = padded_batch()
    reference = keras_reference(True, merge_mode)
    layer = fused_like(reference, merge_mode=merge_mode, implementation="fused")
    np.testing.assert_allclose(
        layer(x, mask=mask).numpy(), reference(x, mask=mask).numpy(), atol=ATOL
    )


def test_gate_layout_matches_keras_lstm_without_mask() -> None:
    # One direction, no padding: BlockLSTMV2's gate order must equal Keras' i, f, c, o.
    x, _ = padded_batch()
    lstm = keras.layers.LSTM(UNITS, return_sequences=True)
    lstm.build(x.shape)
    lstm.cell.bias.assign(np.linspace(-1.0, 1.0, 4 * UNITS).astype("float32"))
    w = tf.concat([lstm.cell.kernel, lstm.cell.recurrent_kernel], axis=0)
    h = block_lstm(tf.transpose(x, [1, 0, 2]), w, lstm.cell.bias, tf.constant(TIME, tf.int64))
    np.testing.assert_allclose(tf.transpose(h, [1, 0, 2]).numpy(), lstm(x).numpy(), atol=ATOL)


@pytest.mark.parametrize("implementation", ["fused", "keras"])
def test_padding_is_zero_and_does_not_affect_valid_outputs(implementation: str) -> None:
    x_a, mask = padded_batch(pad_value=0.0)
    x_b, _ = padded_batch(pad_value=7.5)
    layer = FusedBiLSTM(UNITS, implementation=implementation)
    y_a = layer(x_a, mask=mask).numpy()
    y_b = layer(x_b, mask=mask).numpy()
    np.testing.assert_allclose(y_a, y_b, atol=ATOL)
    assert np.all(y_a[~mask] == 0.0)
    assert np.abs(y_a[mask]).min() > 0.0
    states = FusedBiLSTM(UNITS, return_sequences=False, implementation=implementation)
    states.build(x_a.shape)
    states.set_weights(layer.get_weights())
    np.testing.assert_allclose(
        states(x_a, mask=mask).numpy(), states(x_b, mask=mask).numpy(), atol=ATOL
    )


def test_no_mask_equals_all_valid_mask() -> None:
    x, _ = padded_batch()
    layer = FusedBiLSTM(UNITS, implementation="fused")
    full = np.ones((BATCH, TIME), dtype=bool)
    np.testing.assert_allclose(layer(x).numpy(), layer(x, mask=full).numpy(), atol=ATOL)


def test_all_padding_row_gives_zeros_and_finite_gradients() -> None:
    x, mask = padded_batch(lengths=np.array([0, 2, 6, 0]))
    for return_sequences in (True, False):
        layer = FusedBiLSTM(UNITS, return_sequences=return_sequences, implementation="fused")
        y, dx, *dw = outputs_and_gradients(layer, x, mask)
        assert np.all(y[0] == 0.0) and np.all(y[3] == 0.0)
        assert np.abs(y[1]).max() > 0.0
        assert np.all(dx[0] == 0.0)
        assert all(np.isfinite(g).all() for g in [dx, *dw])


@pytest.mark.parametrize("return_sequences", [True, False])
def test_empty_rows_match_keras_and_input_gradient_is_dense(return_sequences: bool) -> None:
    # Empty rows are dropped before the kernel runs and scattered back as zeros.
    x, mask = padded_batch(lengths=np.array([0, 5, 1, 0]))
    reference = keras_reference(return_sequences)
    layer = fused_like(reference, return_sequences=return_sequences, implementation="fused")
    expected = outputs_and_gradients(reference, x, mask)
    actual = outputs_and_gradients(layer, x, mask, compiled=True)
    for got, want in zip(actual, expected, strict=True):
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=1e-4)
    inputs = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        loss = tf.reduce_sum(layer(inputs, mask=mask))
    assert isinstance(tape.gradient(loss, inputs), tf.Tensor)


def test_batch_without_any_valid_step() -> None:
    x, mask = padded_batch(lengths=np.array([0, 0, 0, 0]))
    for return_sequences in (True, False):
        layer = FusedBiLSTM(UNITS, return_sequences=return_sequences, implementation="fused")
        y, *grads = outputs_and_gradients(layer, x, mask)
        assert y.shape == layer.compute_output_shape(x.shape)
        assert not y.any() and not any(g.any() for g in grads)


def test_final_states_match_the_edges_of_the_sequence_output() -> None:
    # Forward state = forward output at the last valid step; backward state = backward output
    # at step 0.
    x, mask = padded_batch()
    seq = FusedBiLSTM(UNITS, implementation="fused")
    seq.build(x.shape)
    states = FusedBiLSTM(UNITS, return_sequences=False, implementation="fused")
    states.build(x.shape)
    states.set_weights(seq.get_weights())
    y = seq(x, mask=mask).numpy()
    s = states(x, mask=mask).numpy()
    np.testing.assert_allclose(s[:, :UNITS], y[np.arange(BATCH), LENGTHS - 1, :UNITS], atol=ATOL)
    np.testing.assert_allclose(s[:, UNITS:], y[:, 0, UNITS:], atol=ATOL)


def test_keras_mask_is_consumed_and_propagated() -> None:
    tokens = np.array([[3, 4, 5, 0, 0], [6, 0, 0, 0, 0]])
    embed = keras.layers.Embedding(10, FEATURES, mask_zero=True)
    layer = FusedBiLSTM(UNITS, implementation="fused")
    y = layer(embed(tokens))
    np.testing.assert_array_equal(y._keras_mask.numpy(), tokens != 0)
    np.testing.assert_allclose(
        y.numpy(), layer(embed(tokens), mask=tf.constant(tokens != 0)).numpy(), atol=ATOL
    )
    assert layer.compute_mask(None, tf.constant(tokens != 0)) is not None
    final = FusedBiLSTM(UNITS, return_sequences=False)
    assert final.compute_mask(None, tf.constant(tokens != 0)) is None
    assert getattr(final(embed(tokens)), "_keras_mask", None) is None


def test_symbolic_shapes_and_weight_layout() -> None:
    inputs = keras.Input((None, FEATURES))
    assert FusedBiLSTM(UNITS)(inputs).shape == (None, None, 2 * UNITS)
    assert FusedBiLSTM(UNITS, merge_mode="sum")(inputs).shape == (None, None, UNITS)
    assert FusedBiLSTM(UNITS, return_sequences=False)(inputs).shape == (None, 2 * UNITS)
    layer = FusedBiLSTM(UNITS)
    layer.build((None, None, FEATURES))
    shapes = [tuple(w.shape) for w in layer.weights]
    assert shapes == [(FEATURES, 4 * UNITS), (UNITS, 4 * UNITS), (4 * UNITS,)] * 2
    assert len(layer.trainable_weights) == 6


def test_get_config_round_trip() -> None:
    layer = FusedBiLSTM(
        7, return_sequences=False, merge_mode="ave", implementation="keras", name="chars"
    )
    config = layer.get_config()
    assert {
        k: config[k] for k in ("units", "return_sequences", "merge_mode", "implementation")
    } == {
        "units": 7,
        "return_sequences": False,
        "merge_mode": "ave",
        "implementation": "keras",
    }
    clone = FusedBiLSTM.from_config(config)
    assert json.dumps(clone.get_config(), sort_keys=True) == json.dumps(config, sort_keys=True)
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(revived, FusedBiLSTM)
    assert revived.get_config() == config


def test_model_save_load_round_trip(tmp_path: object) -> None:
    tokens = np.array([[3, 4, 5, 0], [6, 7, 0, 0], [8, 0, 0, 0]])
    inputs = keras.Input((None,), dtype="int32")
    hidden = keras.layers.Embedding(10, FEATURES, mask_zero=True)(inputs)
    hidden = FusedBiLSTM(UNITS, implementation="fused")(hidden)
    outputs = FusedBiLSTM(2, return_sequences=False)(hidden)
    model = keras.Model(inputs, outputs)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.layers[2], FusedBiLSTM)
    np.testing.assert_allclose(loaded.predict(tokens, verbose=0), model.predict(tokens, verbose=0))


def test_fit_step_updates_all_weights() -> None:
    x, mask = padded_batch()
    inputs = keras.Input((TIME, FEATURES))
    hidden = FusedBiLSTM(UNITS, implementation="fused")(inputs, mask=tf.constant(mask))
    model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
    before = [w.numpy().copy() for w in model.layers[1].weights]
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit(x, np.ones((BATCH, TIME, 1), "float32"), epochs=1, batch_size=BATCH, verbose=0)
    after = [w.numpy() for w in model.layers[1].weights]
    assert all(np.abs(a - b).max() > 0 for a, b in zip(after, before, strict=True))


@pytest.fixture
def mixed_float16() -> object:
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    yield
    keras.config.set_dtype_policy(previous)


@pytest.mark.usefixtures("mixed_float16")
@pytest.mark.parametrize("implementation", ["fused", "keras"])
def test_mixed_float16(implementation: str) -> None:
    x, mask = padded_batch()
    layer = FusedBiLSTM(UNITS, implementation=implementation)
    layer.build(x.shape)
    assert all(w.dtype == "float32" for w in layer.weights)
    reference = FusedBiLSTM(UNITS, implementation="fused", dtype="float32")
    reference.build(x.shape)
    reference.set_weights(layer.get_weights())
    with tf.GradientTape() as tape:
        y = layer(x, mask=mask)
        loss = tf.reduce_sum(tf.cast(y, tf.float32))
    grads = tape.gradient(loss, layer.trainable_weights)
    assert y.dtype == tf.float16
    np.testing.assert_allclose(
        y.numpy().astype("float32"), reference(x, mask=mask).numpy(), atol=1e-2
    )
    assert all(g is not None and g.dtype == tf.float32 for g in grads)
    assert all(np.isfinite(g.numpy()).all() for g in grads)


def test_mirrored_strategy_single_device() -> None:
    x, mask = padded_batch()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        layer = FusedBiLSTM(UNITS, implementation="fused")
        layer.build(x.shape)
    plain = FusedBiLSTM(UNITS, implementation="fused")
    plain.build(x.shape)
    plain.set_weights(layer.get_weights())

    @tf.function
    def step(x: tf.Tensor, mask: tf.Tensor) -> list[tf.Tensor]:
        def replica_fn(x: tf.Tensor, mask: tf.Tensor) -> list[tf.Tensor]:
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(layer(x, mask=mask) ** 2)
            return tape.gradient(loss, layer.trainable_weights)

        return strategy.run(replica_fn, args=(x, mask))

    grads = step(tf.constant(x), tf.constant(mask))
    _, _, *expected = outputs_and_gradients_squared(plain, x, mask)
    for got, want in zip(grads, expected, strict=True):
        np.testing.assert_allclose(got.numpy(), want, atol=ATOL)


def outputs_and_gradients_squared(
    layer: keras.layers.Layer, x: np.ndarray, mask: np.ndarray
) -> list[np.ndarray]:
    """Returns [output, d/dx, d/dweights...] of ``sum(output ** 2)``, eagerly."""
    inputs = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        y = layer(inputs, mask=mask)
        loss = tf.reduce_sum(y**2)
    return [t.numpy() for t in [y, *tape.gradient(loss, [inputs, *layer.trainable_weights])]]


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    import keras
    from ner_crf.model.fused_lstm import FusedBiLSTM
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(4, 5, 3)).astype("float32")
    mask = np.arange(5)[None, :] < np.array([5, 1, 3, 2])[:, None]
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        layer = FusedBiLSTM(2, implementation="fused")
        layer.build(x.shape)
    dataset = tf.data.Dataset.from_tensor_slices((x, mask)).batch(4)
    batch = next(iter(strategy.experimental_distribute_dataset(dataset)))

    @tf.function
    def step(batch):
        def replica_fn(x, mask):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(layer(x, mask=mask) ** 2)
            grads = tape.gradient(loss, layer.trainable_weights)
            return tf.distribute.get_replica_context().all_reduce("sum", grads)
        return strategy.run(replica_fn, args=batch)

    grads = step(batch)
    assert strategy.num_replicas_in_sync == 2
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x, mask=mask) ** 2)
    expected = tape.gradient(loss, layer.trainable_weights)
    for got, want in zip(grads, expected, strict=True):
        got = strategy.experimental_local_results(got)[0]
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)
    print("OK")
    """
)


@pytest.mark.slow
def test_mirrored_strategy_two_replicas_sum_to_full_batch_gradient() -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("OK")


def test_auto_resolves_by_device() -> None:
    layer = FusedBiLSTM(UNITS)
    expected = "keras" if tf.config.list_logical_devices("GPU") else "fused"
    assert layer.resolved_implementation() == expected
    assert FusedBiLSTM(UNITS, implementation="keras").resolved_implementation() == "keras"


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"units": 0}, "units"),
        ({"units": 2.5}, "units"),
        ({"units": 3, "merge_mode": None}, "merge_mode"),
        ({"units": 3, "implementation": "cudnn"}, "implementation"),
    ],
)
def test_invalid_arguments_raise_config_error(kwargs: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key) as info:
        FusedBiLSTM(**kwargs)
    assert info.value.key == key


def test_rank_2_input_is_rejected() -> None:
    with pytest.raises(ConfigError, match="batch, time, features"):
        FusedBiLSTM(UNITS).build((None, FEATURES))
