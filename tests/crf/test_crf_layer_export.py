"""The ``CRF`` layer across process boundaries: ``.keras`` files, SavedModel export, 2 replicas.

Each test runs a fresh Python child (``sys.executable -c ...``) so that nothing registered or
initialised in the pytest process can make a reload pass by accident.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from ner_crf.crf.layer import CRF

VOCAB, K, N, T = 10, 3, 8, 5
ALLOWED = [[0, 0], [0, 1], [1, 1], [1, 2], [2, 0], [2, 2]]


def _run_child(code: str, timeout: float = 180.0) -> str:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert result.returncode == 0, f"child failed:\n{result.stdout}\n{result.stderr[-4000:]}"
    return result.stdout


def _toy_data(seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, T + 1, N)
    lengths[0] = T
    x = np.zeros((N, T), np.int32)
    y = np.zeros((N, T), np.int32)
    for i, length in enumerate(lengths):
        x[i, :length] = rng.integers(1, VOCAB, length)
        y[i, :length] = x[i, :length] % K
    return x, y


def _model():
    keras.utils.set_random_seed(0)
    x, y = _toy_data()
    crf = CRF(K, allowed_transitions=ALLOWED, allowed_start=[0, 1, 2], allowed_end=[0, 2])
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(VOCAB, 6, mask_zero=True),
            keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True)),
            keras.layers.Dense(K),
            crf,
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=crf.loss)
    # Random transitions so the decode really depends on the saved CRF weights.
    rng = np.random.default_rng(1)
    crf.transitions.assign(rng.uniform(-3, 3, (K, K)).astype(np.float32))
    crf.start_transitions.assign(rng.uniform(-3, 3, K).astype(np.float32))
    return model, crf, x, y


def test_keras_file_reloads_in_fresh_process_with_identical_decodes(tmp_path):
    model, _, x, y = _model()
    expected_tags = model.predict(x, batch_size=N, verbose=0)
    expected_loss = model.evaluate(x, y, batch_size=N, verbose=0)
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    out = _run_child(
        f"""
        import json, sys
        import numpy as np
        import keras
        import ner_crf.crf.layer  # registers CRF and CRFLoss
        model = keras.saving.load_model({str(tmp_path / "m.keras")!r})
        x = np.load({str(tmp_path / "x.npy")!r}); y = np.load({str(tmp_path / "y.npy")!r})
        tags = model.predict(x, batch_size=len(x), verbose=0)
        loss = model.evaluate(x, y, batch_size=len(x), verbose=0)
        print(json.dumps({{"tags": tags.tolist(), "dtype": str(tags.dtype), "loss": loss}}))
        """
    )
    child = json.loads(out.strip().splitlines()[-1])
    assert child["dtype"] == "int32"
    np.testing.assert_array_equal(np.array(child["tags"]), expected_tags)
    np.testing.assert_allclose(child["loss"], expected_loss, rtol=1e-5)


def test_saved_model_export_runs_with_tensorflow_alone(tmp_path):
    model, crf, x, _ = _model()
    expected_tags = model.predict(x, batch_size=N, verbose=0)
    # Decoding happens in the graph: same as the layer's decode of the potentials.
    potentials = model(x, training=True)
    np.testing.assert_array_equal(crf.decode(potentials, x != 0)[0].numpy(), expected_tags)
    model.export(str(tmp_path / "exported"), format="tf_saved_model", verbose=False)
    np.save(tmp_path / "x.npy", x)
    out = _run_child(
        f"""
        import json, sys
        import numpy as np
        import tensorflow as tf
        loaded = tf.saved_model.load({str(tmp_path / "exported")!r})
        x = np.load({str(tmp_path / "x.npy")!r})
        tags = loaded.serve(tf.constant(x)).numpy()
        assert "ner_crf" not in sys.modules, "the child imported ner_crf"
        print(json.dumps({{"tags": tags.tolist(), "dtype": str(tags.dtype),
                          "ner_crf": "ner_crf" in sys.modules}}))
        """
    )
    child = json.loads(out.strip().splitlines()[-1])
    assert child["ner_crf"] is False
    assert child["dtype"] == "int32"
    np.testing.assert_array_equal(np.array(child["tags"]), expected_tags)


_DISTRIBUTED_CHILD = """
import json
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras
from ner_crf.crf.layer import CRF

VOCAB, K, T = 10, 3, 5
x = np.array({x}, np.int32)
y = np.array({y}, np.int32)
n = len(x)


class Penalty(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def build(self, input_shape):
        self.w = self.add_weight(shape=(), initializer=keras.initializers.Constant(1.0), name="w")

    def call(self, inputs):
        self.add_loss(0.5 * keras.ops.square(self.w))
        return inputs

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs.shape, dtype=inputs.dtype)


def build():
    words = keras.Input((None,), dtype="int32")
    h = keras.layers.Embedding(VOCAB, 4, mask_zero=True)(words)
    crf = CRF(K, allowed_transitions={allowed})
    model = keras.Model(words, Penalty()(crf(keras.layers.Dense(K)(h))))
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss=crf.loss)
    return model


def gradients(model, strategy):
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(n)

    def replica_step(xb, yb):
        with tf.GradientTape() as tape:
            pred = model(xb, training=True)
            loss = model.compute_loss(x=xb, y=yb, y_pred=pred, training=True)
        grads = tape.gradient(loss, model.trainable_weights)
        return loss, [tf.convert_to_tensor(g) for g in grads]

    batch = next(iter(strategy.experimental_distribute_dataset(dataset)))
    loss, grads = strategy.run(tf.function(replica_step), args=batch)
    loss = strategy.reduce("SUM", loss, axis=None)
    grads = [strategy.reduce("SUM", g, axis=None) for g in grads]
    return float(loss), [g.numpy() for g in grads]


keras.utils.set_random_seed(0)
single_strategy = tf.distribute.get_strategy()
single = build()
initial = single.get_weights()
single_loss, single_grads = gradients(single, single_strategy)

mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with mirrored.scope():
    dist = build()
dist.set_weights(initial)
dist_loss, dist_grads = gradients(dist, mirrored)

single_hist = single.fit(x, y, batch_size=n, epochs=1, verbose=0, shuffle=False)
dist_hist = dist.fit(x, y, batch_size=n, epochs=1, verbose=0, shuffle=False)
weight_diff = max(
    float(np.max(np.abs(a - b))) for a, b in zip(single.get_weights(), dist.get_weights())
)
print(json.dumps({{
    "replicas": mirrored.num_replicas_in_sync,
    "single_loss": single_loss,
    "dist_loss": dist_loss,
    "grad_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(single_grads, dist_grads)),
    "grad_norm": max(float(np.max(np.abs(a))) for a in single_grads),
    "fit_single": single_hist.history["loss"][0],
    "fit_dist": dist_hist.history["loss"][0],
    "weight_diff": weight_diff,
}}))
"""


@pytest.mark.slow  # a subprocess that starts TensorFlow with a 2-replica MirroredStrategy
def test_mirrored_strategy_matches_single_device():
    x, y = _toy_data()
    code = _DISTRIBUTED_CHILD.format(x=x.tolist(), y=y.tolist(), allowed=ALLOWED)
    result = json.loads(_run_child(code).strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["grad_norm"] > 1e-3  # the comparison is not vacuous
    np.testing.assert_allclose(result["dist_loss"], result["single_loss"], rtol=1e-5)
    assert result["grad_diff"] < 1e-5
    # The loss logged by fit (before the update) and the SGD(1.0) update itself agree too.
    np.testing.assert_allclose(result["fit_dist"], result["fit_single"], rtol=1e-5)
    np.testing.assert_allclose(result["fit_single"], result["single_loss"], rtol=1e-5)
    assert result["weight_diff"] < 1e-5
