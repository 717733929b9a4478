"""Contract tests of the ``CRF`` Keras layer: config, numerics wiring, masks, training, dtypes."""

from __future__ import annotations

import itertools
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from ner_crf.crf.layer import CRF, CRFLoss
from ner_crf.errors import ConfigError, ModelError

FORBIDDEN = -1e4


# --------------------------------------------------------------------------------------------
# NumPy oracle: enumerate every tag path
# --------------------------------------------------------------------------------------------


def _path_score(emissions, path, trans, start, end):
    """Score of ``path`` ([L]) under emissions [L, K], trans [from, to], start/end [K] or None."""
    score = sum(emissions[t, tag] for t, tag in enumerate(path))
    score += sum(trans[a, b] for a, b in itertools.pairwise(path))
    if start is not None:
        score += start[path[0]]
    if end is not None:
        score += end[path[-1]]
    return float(score)


def _brute(emissions, length, trans, start, end):
    """All paths of ``length`` with their scores, best first."""
    k = emissions.shape[-1]
    paths = list(itertools.product(range(k), repeat=length))
    scores = np.array([_path_score(emissions[:length], p, trans, start, end) for p in paths])
    order = np.argsort(-scores, kind="stable")
    return [paths[i] for i in order], scores[order]


def _logsumexp(values):
    top = np.max(values)
    return float(top + np.log(np.sum(np.exp(values - top))))


def _masked(trans, start, end, allowed, allowed_start, allowed_end):
    """The constrained parameters the layer must use (forbidden entries -> -1e4)."""
    trans = trans.copy()
    if allowed is not None:
        keep = np.zeros_like(trans, dtype=bool)
        for a, b in allowed:
            keep[a, b] = True
        trans[~keep] = FORBIDDEN
    out = []
    for vector, tags in ((start, allowed_start), (end, allowed_end)):
        if tags is not None:
            vector = np.zeros(trans.shape[0]) if vector is None else vector.copy()
            keep = np.zeros(trans.shape[0], dtype=bool)
            keep[tags] = True
            vector[~keep] = FORBIDDEN
        out.append(vector)
    return trans, out[0], out[1]


def _set_weights(crf, rng, scale=2.0):
    """Draws uniform(-scale, scale) weights; returns NumPy (trans, start, end), None if absent."""
    k = crf.num_tags
    trans = rng.uniform(-scale, scale, (k, k)).astype(np.float32)
    crf.transitions.assign(trans)
    if not crf.use_boundary:
        return trans, None, None
    start = rng.uniform(-scale, scale, k).astype(np.float32)
    end = rng.uniform(-scale, scale, k).astype(np.float32)
    crf.start_transitions.assign(start)
    crf.end_transitions.assign(end)
    return trans, start, end


# --------------------------------------------------------------------------------------------
# Construction, validation, config
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_tags": 0}, "`num_tags` must be a positive integer, received 0"),
        ({"num_tags": True}, "`num_tags` must be a positive integer, received True"),
        ({"num_tags": 3.0}, "`num_tags` must be a positive integer, received 3.0"),
        (
            {"num_tags": 3, "allowed_transitions": [[0, 3]]},
            "`allowed_transitions` to-tag must be a tag index in [0, 2], received 3",
        ),
        (
            {"num_tags": 3, "allowed_transitions": [[0, 1, 2]]},
            "`allowed_transitions` must be a list of [from, to] pairs, received [0, 1, 2]",
        ),
        (
            {"num_tags": 3, "allowed_start": [-1]},
            "`allowed_start` entry must be a tag index in [0, 2], received -1",
        ),
        ({"num_tags": 3, "use_boundary": "yes"}, "`use_boundary` must be a boolean"),
    ],
)
def test_invalid_arguments_raise_config_error(kwargs, message):
    with pytest.raises(ConfigError) as excinfo:
        CRF(**kwargs)
    assert message in str(excinfo.value)


def test_potentials_with_wrong_number_of_tags_raise_model_error():
    crf = CRF(3)
    with pytest.raises(ModelError, match=r"potentials of shape \[batch, time, 3\]"):
        crf(np.zeros((2, 4, 5), np.float32))


def test_weights_shapes_dtype_and_orientation_documented():
    crf = CRF(4, dtype="float32")
    crf.build((None, None, 4))
    assert tuple(crf.transitions.shape) == (4, 4)
    assert tuple(crf.start_transitions.shape) == (4,)
    assert tuple(crf.end_transitions.shape) == (4,)
    assert len(crf.trainable_weights) == 3
    assert "[from, to]" in CRF.__doc__
    no_boundary = CRF(4, use_boundary=False)
    no_boundary.build((None, None, 4))
    assert len(no_boundary.trainable_weights) == 1


def test_get_config_round_trip_is_identical():
    crf = CRF(
        5,
        use_boundary=False,
        allowed_transitions=[(1, 2), [0, 0], [1, 2]],
        allowed_start=[0, 1],
        allowed_end=(4,),
        constrain_training=False,
        transitions_initializer=keras.initializers.RandomUniform(-0.1, 0.1, seed=3),
        name="my_crf",
    )
    config = crf.get_config()
    assert config["allowed_transitions"] == [[0, 0], [1, 2]]  # sorted, deduplicated
    assert config["dtype"]["config"]["name"] == "float32"
    restored = CRF.from_config(config)
    assert json.dumps(restored.get_config(), sort_keys=True) == json.dumps(config, sort_keys=True)

    serialized = keras.saving.serialize_keras_object(crf)
    json.dumps(serialized)  # JSON-able
    revived = keras.saving.deserialize_keras_object(serialized)
    assert isinstance(revived, CRF)
    assert json.dumps(revived.get_config(), sort_keys=True) == json.dumps(config, sort_keys=True)

    loss = CRFLoss(reduction="sum")
    revived_loss = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(revived_loss, CRFLoss)
    assert revived_loss.reduction == "sum"


# --------------------------------------------------------------------------------------------
# Numerical wiring against the brute force
# --------------------------------------------------------------------------------------------

K = 3
LENGTHS = [4, 2, 1, 3]
ALLOWED = [[0, 0], [0, 1], [1, 1], [1, 2], [2, 0], [2, 2]]


def _case(seed, use_boundary, **crf_kwargs):
    rng = np.random.default_rng(seed)
    crf = CRF(K, use_boundary=use_boundary, **crf_kwargs)
    crf.build((None, None, K))
    trans, start, end = _set_weights(crf, rng)
    emissions = rng.uniform(-2, 2, (len(LENGTHS), max(LENGTHS), K)).astype(np.float32)
    mask = np.arange(max(LENGTHS))[None, :] < np.array(LENGTHS)[:, None]  # [B, T]
    # Padding garbage must be ignored.
    emissions[~mask] = 50.0
    return crf, trans, start, end, emissions, mask


@pytest.mark.parametrize("use_boundary", [True, False])
@pytest.mark.parametrize("constrained", [False, True])
def test_log_likelihood_decode_marginals_nbest_match_brute_force(use_boundary, constrained):
    constraint_kwargs = (
        {"allowed_transitions": ALLOWED, "allowed_start": [0, 2], "allowed_end": [1, 2]}
        if constrained
        else {}
    )
    crf, trans, start, end, emissions, mask = _case(1, use_boundary, **constraint_kwargs)
    if constrained:
        trans, start, end = _masked(trans, start, end, ALLOWED, [0, 2], [1, 2])
    rng = np.random.default_rng(7)
    gold = rng.integers(0, K, emissions.shape[:2]).astype(np.int32)
    gold[~mask] = -1  # padding of any value is ignored

    ll = crf.log_likelihood(emissions, gold, mask.astype(np.int32)).numpy()
    tags, scores = crf.decode(emissions, mask)
    marg = crf.marginals(emissions, mask).numpy()
    best2, best2_scores = crf.decode_nbest(emissions, 2, mask)
    assert ll.dtype == np.float32 and tags.dtype == tf.int32
    for b, length in enumerate(LENGTHS):
        paths, path_scores = _brute(emissions[b], length, trans, start, end)
        log_z = _logsumexp(path_scores)
        gold_score = _path_score(emissions[b, :length], gold[b, :length], trans, start, end)
        np.testing.assert_allclose(ll[b], gold_score - log_z, rtol=1e-4, atol=1e-3)
        assert tuple(tags.numpy()[b, :length]) == paths[0]
        assert (tags.numpy()[b, length:] == 0).all()
        np.testing.assert_allclose(scores.numpy()[b], path_scores[0], rtol=1e-5, atol=1e-4)
        probs = np.exp(path_scores - log_z)
        expected = np.zeros((length, K))
        for path, p in zip(paths, probs, strict=True):
            expected[np.arange(length), path] += p
        np.testing.assert_allclose(marg[b, :length], expected, atol=1e-5)
        assert (marg[b, length:] == 0).all()
        # Decoding never emits a forbidden path: missing ranks have score -inf and tags 0.
        n_allowed = int(np.sum(path_scores > FORBIDDEN / 2))
        for rank in range(2):
            if rank < n_allowed:
                assert tuple(best2.numpy()[b, rank, :length]) == paths[rank]
                np.testing.assert_allclose(
                    best2_scores.numpy()[b, rank], path_scores[rank], atol=1e-4
                )
            else:
                assert best2_scores.numpy()[b, rank] == -np.inf
                assert (best2.numpy()[b, rank] == 0).all()
        if constrained:
            decoded = tags.numpy()[b, :length]
            assert decoded[0] in (0, 2) and decoded[-1] in (1, 2)
            assert all([a, c] in ALLOWED for a, c in itertools.pairwise(decoded))


def test_orientation_is_from_to():
    crf = CRF(2, use_boundary=False)
    crf.build((None, None, 2))
    # 0 -> 1 is very good, 1 -> 0 very bad: with flat emissions the best path of length 2 is 0, 1.
    crf.transitions.assign(np.array([[0.0, 5.0], [-5.0, 0.0]], np.float32))
    tags, score = crf.decode(np.zeros((1, 2, 2), np.float32))
    assert tags.numpy().tolist() == [[0, 1]]
    np.testing.assert_allclose(score.numpy(), [5.0])


def test_constrain_training_false_uses_raw_transitions_in_likelihood_only():
    free, trans, start, end, emissions, mask = _case(
        2, True, allowed_transitions=ALLOWED, constrain_training=False
    )
    gold = np.zeros(emissions.shape[:2], np.int32)
    ll = free.log_likelihood(emissions, gold, mask).numpy()
    masked_trans, _, _ = _masked(trans, start, end, ALLOWED, None, None)
    tags = free.decode(emissions, mask)[0].numpy()
    for b, length in enumerate(LENGTHS):
        _, raw_scores = _brute(emissions[b], length, trans, start, end)
        gold_score = _path_score(emissions[b, :length], gold[b, :length], trans, start, end)
        np.testing.assert_allclose(ll[b], gold_score - _logsumexp(raw_scores), atol=1e-3)
        constrained_paths, _ = _brute(emissions[b], length, masked_trans, start, end)
        assert tuple(tags[b, :length]) == constrained_paths[0]


def test_mask_none_means_all_valid_and_float16_inputs_give_float32():
    crf, _, _, _, emissions, _ = _case(3, True)
    gold = np.ones(emissions.shape[:2], np.int32)
    full = np.ones(emissions.shape[:2], bool)
    np.testing.assert_allclose(
        crf.log_likelihood(emissions, gold).numpy(),
        crf.log_likelihood(emissions, gold, full).numpy(),
    )
    half = crf.log_likelihood(emissions.astype(np.float16), gold)
    assert half.dtype == tf.float32
    np.testing.assert_allclose(
        half.numpy(), crf.log_likelihood(emissions, gold).numpy(), rtol=1e-2, atol=2e-2
    )
    tags, scores = crf.decode(emissions.astype(np.float16))
    assert tags.dtype == tf.int32 and scores.dtype == tf.float32


def test_gradients_reach_every_weight_and_length_zero_rows_are_zero():
    crf, _, _, _, emissions, mask = _case(4, True)
    mask[1] = False  # an empty row
    gold = np.zeros(emissions.shape[:2], np.int32)
    with tf.GradientTape() as tape:
        ll = crf.log_likelihood(emissions, gold, mask)
        loss = -tf.reduce_sum(ll)
    grads = tape.gradient(loss, crf.trainable_weights)
    assert all(g is not None and np.abs(g.numpy()).sum() > 0 for g in grads)
    assert ll.numpy()[1] == 0.0
    tags, _ = crf.decode(emissions, mask)
    assert (tags.numpy()[1] == 0).all()


def test_decode_nbest_rejects_bad_k():
    crf, *_rest, emissions, _ = _case(5, True)
    with pytest.raises(ConfigError, match="`k` must be a positive integer, received 0"):
        crf.decode_nbest(emissions, 0)


# --------------------------------------------------------------------------------------------
# Keras masks, training, evaluation, prediction
# --------------------------------------------------------------------------------------------

VOCAB, N, T = 10, 32, 6


def _toy_data(seed=0):
    """Word ids 1..9 padded with 0; tag = word % 3 (0 at padding): learnable from emissions."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, T + 1, N)
    x = np.zeros((N, T), np.int32)
    y = np.zeros((N, T), np.int32)
    for i, length in enumerate(lengths):
        x[i, :length] = rng.integers(1, VOCAB, length)
        y[i, :length] = x[i, :length] % K
    return x, y


class RecordingCRF(CRF):
    """Test double that records the mask the layer receives."""

    def call(self, inputs, mask=None, training=None):
        self.seen_mask = mask
        return super().call(inputs, mask=mask, training=training)


@keras.saving.register_keras_serializable(package="ner_crf_tests")
class PenaltyLayer(keras.layers.Layer):
    """Pass-through layer after the CRF that adds ``coef * w**2`` with its own weight ``w``."""

    def __init__(self, coef=0.5, **kwargs):
        super().__init__(**kwargs)
        self.coef = coef
        self.supports_masking = True

    def build(self, input_shape):
        self.w = self.add_weight(shape=(), initializer=keras.initializers.Constant(1.0), name="w")

    def call(self, inputs):
        self.add_loss(self.coef * keras.ops.square(self.w))
        return inputs

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs.shape, dtype=inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "coef": self.coef}

    def value(self):
        return float(self.coef * self.w.numpy() ** 2)


def test_keras_mask_arrives_from_embedding_through_bilstm_and_dense():
    keras.utils.set_random_seed(0)
    x, _ = _toy_data()
    crf = RecordingCRF(K)
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(VOCAB, 4, mask_zero=True),
            keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True)),
            keras.layers.Dense(K),
            crf,
        ]
    )
    tags = model(x)
    assert crf.seen_mask is not None
    np.testing.assert_array_equal(np.asarray(crf.seen_mask), x != 0)
    np.testing.assert_array_equal(np.asarray(tags._keras_mask), x != 0)  # output keeps the mask
    assert (tags.numpy()[x == 0] == 0).all()


def _sequential(crf, penalty):
    return keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(VOCAB, 8, mask_zero=True),
            # (Bidirectional(LSTM) is covered by the mask test and the .keras reload test.)
            keras.layers.Dense(K),
            crf,
            penalty,
        ]
    )


def _functional(crf, penalty):
    words = keras.Input((None,), dtype="int32", name="words")
    hidden = keras.layers.Embedding(VOCAB, 8, mask_zero=True)(words)
    potentials = keras.layers.Dense(K)(hidden)
    return keras.Model(words, penalty(crf(potentials)))


class SubclassedTagger(keras.Model):
    def __init__(self, crf, penalty, **kwargs):
        super().__init__(**kwargs)
        self.embed = keras.layers.Embedding(VOCAB, 8, mask_zero=True)
        self.dense = keras.layers.Dense(K)
        self.crf = crf
        self.penalty = penalty

    def call(self, words, training=None):
        potentials = self.dense(self.embed(words))
        return self.penalty(self.crf(potentials, training=training))


def _mean_nll(model, crf, x, y):
    potentials = model(x, training=True)  # the CRF returns its float32 potentials in training
    return float(-np.mean(crf.log_likelihood(potentials, y, x != 0).numpy()))


@pytest.mark.parametrize("kind", ["sequential", "functional", "subclassed"])
def test_fit_evaluate_predict_with_stock_keras_loop(kind):
    keras.utils.set_random_seed(0)
    x, y = _toy_data()
    crf, penalty = CRF(K), PenaltyLayer(0.5)
    build = {"sequential": _sequential, "functional": _functional, "subclassed": SubclassedTagger}
    model = build[kind](crf, penalty)
    # `CRFLoss()` unbound for one kind: it must find the layer through the model output.
    loss = CRFLoss() if kind == "functional" else crf.loss
    model.compile(optimizer=keras.optimizers.Adam(0.08), loss=loss)
    model(x)  # build (subclassed)

    initial = _mean_nll(model, crf, x, y) + penalty.value()
    history = model.fit(x, y, batch_size=N, epochs=30, verbose=0, shuffle=False)
    logged = history.history["loss"]
    # One batch per epoch: the logged loss is the loss before that epoch's update.
    np.testing.assert_allclose(logged[0], initial, rtol=1e-5)
    assert logged[-1] < 0.2 * logged[0]
    assert all(np.isfinite(logged))

    final_nll = _mean_nll(model, crf, x, y)
    evaluated = model.evaluate(x, y, batch_size=N, verbose=0, return_dict=True)["loss"]
    np.testing.assert_allclose(evaluated, final_nll + penalty.value(), rtol=1e-4, atol=1e-5)
    assert penalty.value() < 0.5  # the following layer's loss was trained too

    predicted = model.predict(x, batch_size=N, verbose=0)
    assert predicted.dtype == np.int32 and predicted.shape == (N, T)
    np.testing.assert_array_equal(predicted[x != 0], y[x != 0])
    assert (predicted[x == 0] == 0).all()


def test_loss_pads_with_minus_one_and_weights_samples():
    keras.utils.set_random_seed(0)
    x, y = _toy_data()
    crf = CRF(K)
    potentials = np.random.default_rng(0).normal(size=(N, T, K)).astype(np.float32)
    mask = x != 0
    per_sentence = -crf.log_likelihood(potentials, y, mask).numpy()
    y_minus = np.where(mask, y, -1)
    loss = crf.loss
    np.testing.assert_allclose(loss(y_minus, potentials).numpy(), per_sentence.mean(), rtol=1e-6)
    weights = np.linspace(0.0, 2.0, N).astype(np.float32)
    np.testing.assert_allclose(
        loss(y_minus, potentials, sample_weight=weights).numpy(),
        (per_sentence * weights).sum() / N,
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        CRFLoss(crf, reduction=None)(y_minus, potentials).numpy(), per_sentence, rtol=1e-6
    )
    with pytest.raises(ModelError, match="cannot find its CRF layer"):
        CRFLoss()(y_minus, tf.constant(potentials))


@pytest.mark.slow  # XLA compilation of the train / predict functions takes ~20 s on 2 CPUs
def test_jit_compiled_fit_and_predict():
    keras.utils.set_random_seed(0)
    x, y = _toy_data()
    crf = CRF(K, allowed_transitions=ALLOWED)
    model = _functional(crf, PenaltyLayer(0.0))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=crf.loss, jit_compile=True)
    history = model.fit(x, y, batch_size=N, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    eager = crf.decode(model(x, training=True), x != 0)[0].numpy()
    np.testing.assert_array_equal(model.predict(x, batch_size=N, verbose=0), eager)


def test_mixed_float16_policy():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(0)
        x, y = _toy_data()
        crf = CRF(K)
        dense = keras.layers.Dense(K)
        words = keras.Input((None,), dtype="int32")
        potentials = dense(keras.layers.Embedding(VOCAB, 8, mask_zero=True)(words))
        model = keras.Model(words, crf(potentials))
        assert dense.compute_dtype == "float16"
        assert crf.compute_dtype == "float32" and crf.variable_dtype == "float32"
        emitted = model(x, training=True)
        assert emitted.dtype == tf.float32
        ll = crf.log_likelihood(tf.cast(emitted, tf.float16), y, x != 0)
        assert ll.dtype == tf.float32 and np.isfinite(ll.numpy()).all()
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss=crf.loss)
        history = model.fit(x, y, batch_size=N, epochs=3, verbose=0)
        assert np.isfinite(history.history["loss"]).all()
        assert history.history["loss"][-1] < history.history["loss"][0]
        assert model.predict(x, batch_size=N, verbose=0).dtype == np.int32
    finally:
        keras.config.set_dtype_policy(previous)


@pytest.mark.parametrize("autograph", [True, False])
def test_decode_in_graph_with_unknown_time_dimension(autograph):
    """Serving signatures and padded tf.data batches trace with time = None."""
    crf, *_rest, emissions, mask = _case(6, True, allowed_transitions=ALLOWED, allowed_end=[1, 2])
    mask[2] = False  # an empty row
    spec = [tf.TensorSpec([None, None, K], tf.float32), tf.TensorSpec([None, None], tf.bool)]
    graph_decode = tf.function(crf.decode, input_signature=spec, autograph=autograph)
    tags, scores = graph_decode(emissions, mask)
    eager_tags, eager_scores = crf.decode(emissions, mask)
    np.testing.assert_array_equal(tags.numpy(), eager_tags.numpy())
    np.testing.assert_allclose(scores.numpy(), eager_scores.numpy(), rtol=1e-6)
    empty_tags, empty_scores = graph_decode(np.zeros((2, 0, K), np.float32), np.zeros((2, 0), bool))
    assert empty_tags.shape == (2, 0) and (empty_scores.numpy() == 0).all()

    gold = np.ones(emissions.shape[:2], np.int32)
    others = {
        "log_likelihood": lambda p, m: crf.log_likelihood(p, tf.ones(tf.shape(m), tf.int32), m),
        "marginals": crf.marginals,
        "decode_nbest": lambda p, m: crf.decode_nbest(p, 2, m)[1],
    }
    expected = {
        "log_likelihood": crf.log_likelihood(emissions, gold, mask),
        "marginals": crf.marginals(emissions, mask),
        "decode_nbest": crf.decode_nbest(emissions, 2, mask)[1],
    }
    for name, fn in others.items():
        graph_fn = tf.function(fn, input_signature=spec, autograph=autograph)
        np.testing.assert_allclose(
            graph_fn(emissions, mask).numpy(), expected[name].numpy(), rtol=1e-5, err_msg=name
        )


def test_fit_evaluate_predict_on_padded_tf_data_batches():
    """tf.data padded batches have an unknown time dimension inside the traced functions."""
    keras.utils.set_random_seed(0)
    x, y = _toy_data()
    lengths = (x != 0).sum(axis=1)

    def sentences():
        for words, tags, n in zip(x, y, lengths, strict=True):
            yield words[:n], tags[:n]

    spec = tf.TensorSpec([None], tf.int32)
    dataset = tf.data.Dataset.from_generator(sentences, output_signature=(spec, spec))
    # A known length, so that Keras does not learn the epoch size by running out of data.
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(x)))
    batches = dataset.padded_batch(8, padded_shapes=([None], [None]))
    assert batches.element_spec[0].shape.as_list() == [None, None]
    crf = CRF(K)
    model = _functional(crf, PenaltyLayer(0.0))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=crf.loss)
    history = model.fit(batches, epochs=25, verbose=0, shuffle=False)
    assert history.history["loss"][-1] < 0.2 * history.history["loss"][0]
    evaluated = model.evaluate(batches, verbose=0, return_dict=True)["loss"]
    np.testing.assert_allclose(evaluated, _mean_nll(model, crf, x, y), rtol=1e-3, atol=1e-4)
    predicted = np.concatenate(
        [
            np.pad(p, [[0, 0], [0, T - p.shape[1]]])
            for p in map(model.predict_on_batch, (words for words, _ in batches))
        ]
    )
    np.testing.assert_array_equal(predicted[x != 0], y[x != 0])


def test_constraints_accept_numpy_and_tuples_and_store_plain_ints():
    crf = CRF(
        3,
        allowed_transitions=np.array([[0, 1], [1, 2]]),
        allowed_start=(np.int64(0),),
        allowed_end=[np.int32(2), 1],
    )
    config = crf.get_config()
    assert config["allowed_transitions"] == [[0, 1], [1, 2]]
    assert config["allowed_start"] == [0] and config["allowed_end"] == [1, 2]
    json.dumps(config)


def test_numpy_parameters_match_weights_and_constraints():
    crf = CRF(
        3, allowed_transitions=[[0, 0], [0, 1], [1, 2]], allowed_start=[0, 1], allowed_end=[2]
    )
    crf.build((None, None, 3))
    rng = np.random.default_rng(0)
    crf.transitions.assign(rng.uniform(-5, 5, (3, 3)).astype(np.float32))
    crf.start_transitions.assign(rng.uniform(-5, 5, 3).astype(np.float32))
    params = crf.numpy_parameters()
    np.testing.assert_array_equal(params["transitions"], crf.transitions.numpy())
    np.testing.assert_array_equal(params["start"], crf.start_transitions.numpy())
    np.testing.assert_array_equal(params["end"], np.zeros(3))
    expected = np.zeros((3, 3), bool)
    expected[[0, 0, 1], [0, 1, 2]] = True
    np.testing.assert_array_equal(params["transition_mask"], expected)
    np.testing.assert_array_equal(params["start_mask"], [True, True, False])
    np.testing.assert_array_equal(params["end_mask"], [False, False, True])

    plain = CRF(2, use_boundary=False)
    plain.build((None, None, 2))
    params = plain.numpy_parameters()
    assert params["start"].shape == (2,) and not params["start"].any()
    assert params["transition_mask"].all() and params["start_mask"].all()
