"""Keras idioms of the CRF layer: mask checks, messages, token weights, metric, marginals output."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from ner_crf.crf.layer import CRF, CRFAccuracy, nll_loss
from ner_crf.errors import ModelError
from tests.crf.test_crf_layer import VOCAB, K, N, PenaltyLayer, T, _functional, _toy_data

LEFT_PADDED = np.array([[0, 1, 1], [1, 1, 1]], bool)
HOLE = np.array([[1, 0, 1], [1, 1, 0]], bool)


@pytest.mark.parametrize("mask", [LEFT_PADDED, HOLE], ids=["left-padded", "hole"])
def test_non_prefix_masks_stop_eagerly_and_in_graphs(mask):
    crf = CRF(3)
    potentials = np.zeros((2, 3, 3), np.float32)
    tags = np.zeros((2, 3), np.int32)
    with pytest.raises(ModelError, match="mask is not right-padded"):
        crf.log_likelihood(potentials, tags, mask)
    with pytest.raises(ModelError, match="mask is not right-padded"):
        crf.decode(potentials, mask)
    graph = tf.function(lambda p, m: crf.decode(p, m)[0])
    with pytest.raises(tf.errors.InvalidArgumentError, match="mask is not right-padded"):
        graph(potentials, mask)
    graph(potentials, np.array([[1, 1, 0], [1, 0, 0]], bool))  # right-padded: fine


def test_left_padded_data_fails_in_fit_with_a_clear_message():
    x, y = _toy_data()
    crf = CRF(K)
    model = _functional(crf, PenaltyLayer(0.0))
    model.compile(optimizer="adam", loss=crf.loss)
    lengths = (x != 0).sum(1)
    left = np.stack([np.roll(row, T - n) for row, n in zip(x, lengths, strict=True)])
    with pytest.raises(tf.errors.InvalidArgumentError, match="mask is not right-padded"):
        model.fit(left, y, batch_size=N, epochs=1, verbose=0)


def test_loss_messages_for_one_hot_targets_and_tags_without_potentials():
    crf = CRF(3)
    potentials = tf.zeros((2, 4, 3))
    with pytest.raises(ModelError, match="one-hot tags"):
        crf.loss(tf.one_hot(tf.zeros((2, 4), tf.int32), 3), potentials)
    decoded, _ = crf.decode(potentials)  # a fresh tensor: no potentials attached
    with pytest.raises(ModelError, match="decoded tags without their potentials"):
        crf.loss(tf.zeros((2, 4), tf.int32), decoded)


def test_per_token_sample_weights_weight_each_sentence_by_its_mean_token_weight():
    rng = np.random.default_rng(0)
    x, y = _toy_data()
    mask = x != 0
    crf = CRF(K)
    potentials = tf.constant(rng.normal(size=(N, T, K)), tf.float32)
    y_minus = np.where(mask, y, -1)
    per_sentence = -crf.log_likelihood(potentials, y, mask).numpy()
    tokens = rng.uniform(0, 2, (N, T)).astype(np.float32)
    sentence = (tokens * mask).sum(1) / mask.sum(1)
    np.testing.assert_allclose(
        crf.loss(y_minus, potentials, sample_weight=tokens).numpy(),
        (per_sentence * sentence).sum() / N,
        rtol=1e-5,
    )
    # Keras' temporal padding weights (1 on tokens, 0 on padding) change nothing.
    np.testing.assert_allclose(
        crf.loss(y_minus, potentials, sample_weight=mask.astype(np.float32)).numpy(),
        per_sentence.mean(),
        rtol=1e-5,
    )


def test_nll_loss_is_the_global_mean_under_one_replica():
    nll = tf.constant([1.0, 2.0, 6.0])
    assert float(nll_loss(nll)) == pytest.approx(3.0)
    assert float(nll_loss(nll, global_batch=6.0)) == pytest.approx(1.5)
    assert float(nll_loss(tf.zeros([0]))) == 0.0


def test_viterbi_accuracy_metric_in_fit_validation_and_evaluate():
    keras.utils.set_random_seed(0)
    x, y = _toy_data()
    crf = CRF(K)
    model = _functional(crf, PenaltyLayer(0.0))
    model.compile(optimizer=keras.optimizers.Adam(0.08), loss=crf.loss, metrics=[crf.accuracy])
    history = model.fit(
        x, y, batch_size=N, epochs=25, verbose=0, validation_data=(x, y), shuffle=False
    )
    train_acc, val_acc = history.history["crf_accuracy"], history.history["val_crf_accuracy"]
    assert train_acc[-1] > train_acc[0] and val_acc[-1] == pytest.approx(1.0)
    # evaluate reports the token accuracy of the predicted tags on the real tokens.
    result = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    predicted = model.predict(x, batch_size=8, verbose=0)
    mask = x != 0
    assert result["crf_accuracy"] == pytest.approx((predicted == y)[mask].mean())
    # Unbound metric finds the layer through the model output; counts follow sample weights.
    metric = CRFAccuracy()
    outputs = model(x[:4])
    metric.update_state(y[:4], outputs, sample_weight=np.array([1.0, 0.0, 0.0, 0.0]))
    assert float(metric.result()) == pytest.approx((predicted[0] == y[0])[mask[0]].mean())


def _marginals_model():
    words = keras.Input((None,), dtype="int32", name="words")
    hidden = keras.layers.Embedding(VOCAB, 8, mask_zero=True)(words)
    crf = CRF(K, output_mode="marginals", name="crf")
    marginals = crf(keras.layers.Dense(K)(hidden))
    # A later layer reads the marginals: here a per-sentence "has tag 2" classifier.
    pooled = keras.layers.GlobalAveragePooling1D()(marginals)  # masked mean over real tokens
    head = keras.layers.Dense(1, activation="sigmoid", name="head")(pooled)
    return keras.Model(words, {"crf": marginals, "head": head}), crf


def test_crf_followed_by_layers_through_fit_evaluate_predict_and_keras_file(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = _toy_data()
    has_two = (y == 2).any(axis=1).astype(np.float32)[:, None]
    model, crf = _marginals_model()
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss={"crf": crf.loss, "head": "binary_crossentropy"},
        metrics={"crf": [crf.accuracy]},
    )
    targets = {"crf": y, "head": has_two}
    history = model.fit(x, targets, batch_size=N, epochs=30, verbose=0, shuffle=False)
    assert history.history["loss"][-1] < 0.3 * history.history["loss"][0]
    # Training and inference give the layer after the CRF the same tensor: marginals.
    train_out = model(x, training=True)["crf"].numpy()
    infer_out = model(x, training=False)["crf"].numpy()
    np.testing.assert_allclose(train_out, infer_out, rtol=1e-6)
    mask = x != 0
    # float32 forward-backward: rows sum to 1 within accumulated rounding (1.5e-5 was seen with
    # multi-threaded reductions).
    np.testing.assert_allclose(infer_out.sum(-1)[mask], 1.0, rtol=1e-4)
    assert (infer_out[~mask] == 0).all()
    # The combined loss evaluate reports = CRF mean NLL + binary cross-entropy.
    result = model.evaluate(x, targets, batch_size=N, verbose=0, return_dict=True)
    predicted = model.predict(x, batch_size=N, verbose=0)
    bce = keras.losses.binary_crossentropy(has_two, predicted["head"]).numpy().mean()
    assert result["head_loss"] == pytest.approx(bce, rel=1e-4)
    assert result["loss"] == pytest.approx(result["crf_loss"] + result["head_loss"], rel=1e-4)
    assert result["crf_crf_accuracy"] > 0.9
    path = tmp_path / "tagger.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    again = reloaded.predict(x, batch_size=N, verbose=0)
    np.testing.assert_allclose(again["crf"], predicted["crf"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(again["head"], predicted["head"], rtol=1e-5, atol=1e-6)
    assert reloaded.get_layer("crf").output_mode == "marginals"
