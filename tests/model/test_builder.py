"""Tests of `ner_crf.model.builder` (NerModel / build_model) and `ner_crf.model.layers`."""

from __future__ import annotations

import dataclasses
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from ner_crf.config import config_from_dict  # noqa: E402
from ner_crf.crf.constraints import allowed_end, allowed_start, allowed_transitions  # noqa: E402
from ner_crf.data.pipeline import NUM_CASING  # noqa: E402
from ner_crf.errors import ConfigError, ModelError  # noqa: E402
from ner_crf.model.builder import NerModel, build_model  # noqa: E402
from ner_crf.model.layers import CharEncoder, WordDropout  # noqa: E402

TAGS = ["O", "B-PER", "I-PER", "E-PER", "S-PER"]
NUM_WORDS = 12
NUM_CHARS = 9


def make_cfg(**model_overrides) -> object:
    """A tiny config: word_dim 8, char 4/4, lstm 8, dropout 0."""
    model = {
        "word_dim": 8,
        "casing_dim": 0,
        "char": {"encoder": "lstm", "dim": 4, "units": 4, "filters": 4, "kernel_size": 3},
        "lstm": {"layers": 1, "units": 8},
        "dropout": 0.0,
        "word_dropout": 0.0,
    }
    crf = {"constrain": True, "boundary": True}
    embeddings = {"trainable": True}
    for key, value in model_overrides.items():
        if key == "char":
            model["char"].update(value)
        elif key.startswith("crf_"):
            crf[key[4:]] = value
        elif key == "embeddings_trainable":
            embeddings["trainable"] = value
        else:
            model[key] = value
    return config_from_dict(
        {
            "data": {"train": "train.txt", "scheme": "IOBES"},
            "model": model,
            "crf": crf,
            "embeddings": embeddings,
            "training": {"seed": 3},
        }
    )


def make_model(cfg=None, **kwargs) -> NerModel:
    keras.utils.set_random_seed(0)
    return build_model(
        cfg if cfg is not None else make_cfg(),
        num_words=NUM_WORDS,
        num_chars=NUM_CHARS,
        num_tags=len(TAGS),
        tag_names=TAGS,
        **kwargs,
    )


def make_batch(lengths, time=None, word_length=4, seed=0):
    """Random right-padded features and IOBES-legal tags for sentences of the given lengths."""
    rng = np.random.default_rng(seed)
    time = time or max(lengths)
    batch = len(lengths)
    words = np.zeros([batch, time], "int32")
    chars = np.zeros([batch, time, word_length], "int32")
    casing = np.zeros([batch, time], "int32")
    tags = np.zeros([batch, time], "int32")
    for b, length in enumerate(lengths):
        words[b, :length] = rng.integers(1, NUM_WORDS, size=length)
        casing[b, :length] = rng.integers(1, NUM_CASING, size=length)
        for t in range(length):
            n = int(rng.integers(1, word_length + 1))
            chars[b, t, :n] = rng.integers(1, NUM_CHARS, size=n)
            tags[b, t] = 4 if rng.random() < 0.3 else 0  # S-PER or O: always legal
    return {"words": words, "chars": chars, "casing": casing}, tags


def pad_to(features, tags, time, word_length=None):
    """Pads a batch with more time steps (and characters) of zeros."""
    out = {}
    for key, value in features.items():
        widths = [(0, 0), (0, time - value.shape[1])]
        if value.ndim == 3:
            widths.append((0, (word_length or value.shape[2]) - value.shape[2]))
        out[key] = np.pad(value, widths)
    return out, np.pad(tags, [(0, 0), (0, time - tags.shape[1])])


# --- shapes and config -------------------------------------------------------------------------


@pytest.mark.parametrize("encoder", ["lstm", "cnn", "none"])
@pytest.mark.parametrize("casing_dim", [0, 3])
def test_output_shapes(encoder, casing_dim):
    model = make_model(make_cfg(char={"encoder": encoder}, casing_dim=casing_dim))
    features, _ = make_batch([3, 5, 1], time=6)
    emissions = model(features)
    assert emissions.shape == (3, 6, len(TAGS))
    assert emissions.dtype == tf.float32
    assert (model.casing_embedding is not None) == (casing_dim > 0)
    assert (model.char_encoder is not None) == (encoder != "none")
    tags, scores = model.decode(features)
    assert tags.shape == (3, 6) and tags.dtype == tf.int32
    assert scores.shape == (3,)
    marginals = model.marginals(features)
    assert marginals.shape == (3, 6, len(TAGS))
    valid = features["words"] != 0
    np.testing.assert_allclose(marginals.numpy().sum(-1)[valid], 1.0, atol=1e-5)
    np.testing.assert_array_equal(marginals.numpy().sum(-1)[~valid], 0.0)
    best, best_scores = model.decode_nbest(features, 2)
    assert best.shape == (3, 2, 6) and best_scores.shape == (3, 2)
    np.testing.assert_array_equal(best[:, 0].numpy(), tags.numpy())
    llh = model.log_likelihood(features, tags)
    assert llh.shape == (3,)
    # The Viterbi path has the highest likelihood of all paths: log p <= 0 and p(best) >= 1/K^T.
    assert np.all(llh.numpy() <= 1e-5)


def test_char_encoder_output_size():
    assert CharEncoder(5, encoder="lstm", dim=2, units=3).output_dim == 6
    assert CharEncoder(5, encoder="cnn", dim=2, filters=7).output_dim == 7
    with pytest.raises(ValueError, match="encoder"):
        CharEncoder(5, encoder="gru")


def test_get_config_round_trip_is_json_and_complete():
    model = make_model(make_cfg(casing_dim=2, word_dropout=0.2, char={"encoder": "cnn"}))
    config = model.get_config()
    json.dumps(config)  # JSON-able
    clone = NerModel.from_config(config)
    assert clone.get_config() == config
    assert config["tag_names"] == TAGS
    assert config["char_encoder"] == "cnn" and config["char_filters"] == 4
    assert config["word_dropout"] == 0.2 and config["casing_dim"] == 2
    assert config["num_casing"] == NUM_CASING
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]


def test_build_model_rejects_bad_sizes():
    with pytest.raises(ModelError, match="num_tags is 4 but 5 tag names"):
        build_model(make_cfg(), num_words=5, num_chars=5, num_tags=4, tag_names=TAGS)
    with pytest.raises(ConfigError, match=r"expected \(12, 8\)"):
        make_model(embedding_matrix=np.zeros([NUM_WORDS, 7]))
    with pytest.raises(ModelError, match="scheme IOBES"):
        build_model(make_cfg(), num_words=5, num_chars=5, num_tags=2, tag_names=["O", "X-PER"])


# --- masking -----------------------------------------------------------------------------------


@pytest.mark.parametrize("encoder", ["lstm", "cnn"])
def test_padding_does_not_change_loss_or_decode(encoder):
    model = make_model(make_cfg(char={"encoder": encoder}, casing_dim=2))
    features, tags = make_batch([5, 2, 4], time=5, word_length=3, seed=1)
    long_features, long_tags = pad_to(features, tags, 9, word_length=6)
    loss_short = model.compute_loss(features, tags, model(features))
    loss_long = model.compute_loss(long_features, long_tags, model(long_features))
    np.testing.assert_allclose(loss_short.numpy(), loss_long.numpy(), rtol=1e-5)
    llh_short = model.log_likelihood(features, tags).numpy()
    llh_long = model.log_likelihood(long_features, long_tags).numpy()
    np.testing.assert_allclose(llh_short, llh_long, rtol=1e-5)
    np.testing.assert_allclose(
        model(features).numpy()[features["words"] != 0],
        model(long_features).numpy()[:, :5][features["words"] != 0],
        rtol=1e-5,
        atol=1e-6,
    )
    tags_short, _ = model.decode(features)
    tags_long, _ = model.decode(long_features)
    np.testing.assert_array_equal(tags_short.numpy(), tags_long.numpy()[:, :5])
    # The mask really reaches the CRF: scoring the padding as real "O" steps changes the loss.
    unmasked = -model.crf.log_likelihood(model(long_features), long_tags, mask=None)
    assert not np.allclose(np.mean(unmasked.numpy()), loss_long.numpy(), rtol=1e-3)


def test_char_encoder_skip_padding_matches_dense_path():
    features, _ = make_batch([4, 1, 3], time=5, seed=2)
    word_mask = features["words"] != 0
    outputs = []
    for skip in (True, False):
        keras.utils.set_random_seed(0)
        layer = CharEncoder(NUM_CHARS, encoder="lstm", dim=4, units=3, skip_padding=skip)
        outputs.append(layer(features["chars"], word_mask).numpy())
    assert outputs[0].shape == (3, 5, 6)
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(outputs[0][~word_mask], 0.0)
    assert np.abs(outputs[0][word_mask]).min() > 0.0


@pytest.mark.parametrize("encoder", ["lstm", "cnn"])
def test_char_encoder_unique_words_gives_same_vectors_and_gradients(encoder):
    features, _ = make_batch([5, 2, 4], time=6, word_length=3, seed=7)
    chars = features["chars"].copy()
    chars[1, :2] = chars[0, :2]  # repeated words, in other sentences and in the same one
    chars[0, 4] = chars[0, 0]
    word_mask = features["words"] != 0
    results = []
    for unique in (True, False):
        keras.utils.set_random_seed(0)
        layer = CharEncoder(NUM_CHARS, encoder=encoder, dim=4, units=3, unique_words=unique)
        with tf.GradientTape() as tape:
            out = layer(chars, word_mask)
            loss = tf.reduce_sum(out * tf.random.stateless_normal(tf.shape(out), [1, 2]))
        grads = tape.gradient(loss, layer.trainable_weights)
        results.append((out.numpy(), [tf.convert_to_tensor(g).numpy() for g in grads]))
    (out_u, grads_u), (out_e, grads_e) = results
    np.testing.assert_allclose(out_u, out_e, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(out_u[0, 4], out_u[0, 0])
    np.testing.assert_array_equal(out_u[~word_mask], 0.0)
    for got, want in zip(grads_u, grads_e, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("lengths", "groups"), [([5, 2, 4], 4), ([5, 2, 4], 3), ([1], 4)])
def test_char_encoder_length_groups_give_same_vectors_and_gradients(lengths, groups):
    # Words of 1..9 characters; one sentence of one word leaves groups empty.
    features, _ = make_batch(lengths, word_length=9, seed=11)
    word_mask = features["words"] != 0
    results = []
    for length_groups in (groups, 1):
        keras.utils.set_random_seed(0)
        layer = CharEncoder(NUM_CHARS, encoder="lstm", dim=4, units=3, length_groups=length_groups)
        with tf.GradientTape() as tape:
            out = layer(features["chars"], word_mask)
            loss = tf.reduce_sum(out * tf.random.stateless_normal(tf.shape(out), [3, 4]))
        grads = tape.gradient(loss, layer.trainable_weights)
        results.append((out.numpy(), [tf.convert_to_tensor(g).numpy() for g in grads]))
    (out_g, grads_g), (out_1, grads_1) = results
    np.testing.assert_allclose(out_g, out_1, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out_g[~word_mask], 0.0)
    assert np.abs(out_g[word_mask]).min() > 0.0
    for got, want in zip(grads_g, grads_1, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert CharEncoder.from_config(layer.get_config()).length_groups == 1


# --- training ----------------------------------------------------------------------------------


@pytest.mark.parametrize("encoder", ["lstm", "cnn"])
def test_every_trainable_weight_gets_a_gradient(encoder):
    model = make_model(
        make_cfg(char={"encoder": encoder}, casing_dim=2, lstm={"layers": 2, "units": 4}),
        singleton_ids=[3, 4],
    )
    features, tags = make_batch([4, 2], seed=3)
    with tf.GradientTape() as tape:
        loss = model.compute_loss(features, tags, model(features, training=True))
    grads = tape.gradient(loss, model.trainable_weights)
    names = [w.path for w in model.trainable_weights]
    # 3 embeddings + char encoder (6 LSTM / 2 conv) + 2 x 6 BiLSTM + 2 dense + 3 CRF
    assert len(names) == (26 if encoder == "lstm" else 22)
    missing = [n for n, g in zip(names, grads, strict=True) if g is None]
    assert not missing, f"no gradient for {missing}"
    assert all(np.isfinite(g.numpy()).all() for g in grads if not isinstance(g, tf.IndexedSlices))


def learnable_task(num_sentences=24, seed=0):
    """Word identity decides the tag: 2-5 -> O, 6 -> S-PER, 7 8 -> B-PER E-PER."""
    rng = np.random.default_rng(seed)
    sentences = []
    for _ in range(num_sentences):
        words, tags = [], []
        while len(words) < 4:
            kind = rng.integers(3)
            if kind == 0:
                words.append(int(rng.integers(2, 6)))
                tags.append(0)
            elif kind == 1:
                words.append(6)
                tags.append(4)
            else:
                words += [7, 8]
                tags += [1, 3]
        sentences.append((words, tags))
    time = max(len(w) for w, _ in sentences)
    features = {
        "words": np.zeros([num_sentences, time], "int32"),
        "chars": np.zeros([num_sentences, time, 2], "int32"),
        "casing": np.zeros([num_sentences, time], "int32"),
    }
    gold = np.zeros([num_sentences, time], "int32")
    for i, (words, tags) in enumerate(sentences):
        features["words"][i, : len(words)] = words
        features["chars"][i, : len(words), 0] = np.minimum(words, NUM_CHARS - 1)
        gold[i, : len(tags)] = tags
    return features, gold


def test_fit_reduces_loss_and_decode_recovers_tags():
    model = make_model(make_cfg(char={"encoder": "none"}))
    features, gold = learnable_task()
    dataset = tf.data.Dataset.from_tensor_slices((features, gold)).batch(8)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    history = model.fit(dataset, epochs=6, verbose=0, shuffle=False)  # batches come shuffled
    losses = history.history["loss"]
    assert losses[0] > 0.0  # the loss is really logged (not a 0.0 placeholder)
    assert losses[-1] < 0.25 * losses[0], losses
    tags, _ = model.decode(features)
    valid = features["words"] != 0
    np.testing.assert_array_equal(tags.numpy()[valid], gold[valid])


def test_predict_and_evaluate():
    model = make_model()
    features, gold = make_batch([4, 2, 3, 4], seed=9)
    model.compile(run_eagerly=True)  # eager: no slow graph tracing
    evaluated = model.evaluate(features, gold, batch_size=4, verbose=0)
    expected = -np.mean(model.log_likelihood(features, gold).numpy())
    np.testing.assert_allclose(evaluated, expected, rtol=1e-5)
    predicted = model.predict(features, batch_size=2, verbose=0)
    assert set(predicted) == {"tags", "scores"}
    tags, scores = model.decode(features)
    np.testing.assert_array_equal(predicted["tags"], tags.numpy())
    np.testing.assert_allclose(predicted["scores"], scores.numpy(), rtol=1e-6)
    assert predicted["tags"].dtype == np.int32 and predicted["scores"].shape == (4,)


def test_keras_save_load_gives_identical_outputs(tmp_path):
    model = make_model(make_cfg(casing_dim=2, word_dropout=0.3), singleton_ids=[2, 5])
    features, tags = make_batch([4, 3, 1], seed=4)
    model.compile(optimizer="adam", run_eagerly=True)  # eager: no slow graph tracing
    model.train_on_batch(features, tags)  # weights differ from their initial values
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    assert isinstance(loaded, NerModel)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded(features).numpy(), model(features).numpy())
    for got, want in zip(loaded.decode(features), model.decode(features), strict=True):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(
        loaded.word_dropout.singletons.numpy(), model.word_dropout.singletons.numpy()
    )


def test_constrained_decoding_never_outputs_an_illegal_pair():
    allowed = set(allowed_transitions("IOBES", TAGS))
    starts, ends = set(allowed_start("IOBES", TAGS)), set(allowed_end("IOBES", TAGS))
    features, _ = make_batch([6, 5, 3, 1, 6, 2, 4, 6], seed=5)
    lengths = (features["words"] != 0).sum(1)

    def illegal_count(model):
        # Large random emissions and transitions favour illegal paths when nothing forbids them.
        rng = np.random.default_rng(0)
        kernel = model.emission_dense.kernel
        model.emission_dense.kernel.assign(rng.normal(0, 20, kernel.shape).astype("float32"))
        model.crf.transitions.assign(rng.uniform(-5, 5, (5, 5)).astype("float32"))
        tags = model.decode(features)[0].numpy()
        bad = 0
        for row, length in zip(tags, lengths, strict=True):
            path = row[:length].tolist()
            bad += path[0] not in starts
            bad += path[-1] not in ends
            bad += sum((a, b) not in allowed for a, b in zip(path, path[1:], strict=False))
        return bad

    assert illegal_count(make_model(make_cfg())) == 0
    # The same weights without constraints do produce illegal pairs, so the check can fail.
    assert illegal_count(make_model(make_cfg(crf_constrain=False))) > 0


# --- embeddings and word dropout ---------------------------------------------------------------


def test_pretrained_matrix_initialises_the_word_embedding():
    matrix = np.random.default_rng(0).normal(size=[NUM_WORDS, 8]).astype("float32")
    model = make_model(embedding_matrix=matrix)
    np.testing.assert_array_equal(model.word_embedding.embeddings.numpy(), matrix)
    assert any(w is model.word_embedding.embeddings for w in model.trainable_weights)


def test_frozen_embedding_is_not_trained():
    matrix = np.random.default_rng(1).normal(size=[NUM_WORDS, 8]).astype("float32")
    model = make_model(make_cfg(embeddings_trainable=False), embedding_matrix=matrix)
    assert not any(w is model.word_embedding.embeddings for w in model.trainable_weights)
    features, tags = make_batch([4, 3], seed=6)
    before = model.emission_dense.kernel.numpy().copy()
    model.compile(optimizer=keras.optimizers.SGD(0.5), run_eagerly=True)
    model.train_on_batch(features, tags)
    np.testing.assert_array_equal(model.word_embedding.embeddings.numpy(), matrix)
    assert not np.array_equal(model.emission_dense.kernel.numpy(), before)


def test_word_dropout_replaces_only_singletons_and_only_in_training():
    singletons = [3, 5, 7]
    layer = WordDropout(10, rate=0.5, seed=11, singleton_ids=singletons)
    words = np.random.default_rng(0).integers(0, 10, size=[40, 50]).astype("int32")
    np.testing.assert_array_equal(layer(words, training=False).numpy(), words)
    dropped = layer(words, training=True).numpy()
    changed = dropped != words
    assert np.all(np.isin(words[changed], singletons))
    assert np.all(dropped[changed] == 1)
    is_singleton = np.isin(words, singletons)
    fraction = changed[is_singleton].mean()
    assert 0.4 < fraction < 0.6, fraction
    # Seeded: a fresh layer with the same seed draws the same replacements.
    again = WordDropout(10, rate=0.5, seed=11, singleton_ids=singletons)
    np.testing.assert_array_equal(again(words, training=True).numpy(), dropped)
    with pytest.raises(ValueError, match="singleton_ids"):
        WordDropout(4, rate=0.1, singleton_ids=[4])


def test_word_dropout_in_the_model_only_acts_in_training():
    model = make_model(make_cfg(word_dropout=0.9), singleton_ids=list(range(2, NUM_WORDS)))
    features, _ = make_batch([6, 6, 6], seed=7)
    inference = model(features).numpy()
    np.testing.assert_array_equal(model(features, training=False).numpy(), inference)
    assert not np.allclose(model(features, training=True).numpy(), inference)
    no_singletons = make_model(make_cfg(word_dropout=0.9))
    np.testing.assert_array_equal(
        no_singletons(features, training=True).numpy(), no_singletons(features).numpy()
    )


# --- mixed precision ---------------------------------------------------------------------------


def test_mixed_float16_forward_loss_and_train_step():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = make_model(make_cfg(casing_dim=2))
        assert model.word_embedding.compute_dtype == "float16"
        features, tags = make_batch([4, 2], seed=8)
        emissions = model(features)
        assert emissions.dtype == tf.float32
        loss = model.compute_loss(features, tags, emissions)
        assert loss.dtype == tf.float32 and np.isfinite(loss.numpy())
        assert model.crf.transitions.dtype == "float32"
        model.compile(optimizer="adam", run_eagerly=True)  # eager: no slow graph tracing
        before = [w.numpy().copy() for w in model.trainable_weights]
        result = model.train_on_batch(features, tags)
        assert np.isfinite(result)
        changed = [
            not np.array_equal(w.numpy(), b)
            for w, b in zip(model.trainable_weights, before, strict=True)
        ]
        assert any(changed)
    finally:
        keras.config.set_dtype_policy(previous)


# --- LSTM implementation (fused BlockLSTMV2 vs Keras) ------------------------------------------


def _copy_weights(source, target):
    for got, want in zip(target.weights, source.weights, strict=True):
        assert got.path == want.path
        got.assign(want)


@pytest.mark.parametrize("layers", [1, 2])
def test_fused_and_keras_lstm_give_same_emissions_loss_and_gradients(layers):
    fused = make_model(make_cfg(lstm={"layers": layers, "units": 8, "implementation": "fused"}))
    plain = make_model(make_cfg(lstm={"layers": layers, "units": 8, "implementation": "keras"}))
    assert fused.bilstms[0].resolved_implementation() == "fused"
    assert fused.char_encoder.char_rnn.resolved_implementation() == "fused"
    assert plain.bilstms[0].resolved_implementation() == "keras"
    assert plain.char_encoder.char_rnn.resolved_implementation() == "keras"
    _copy_weights(fused, plain)  # different random init before this
    features, tags = make_batch([5, 3, 1, 4], time=6, word_length=5, seed=2)
    mask = features["words"] != 0
    results = []
    for model in (fused, plain):
        with tf.GradientTape() as tape:
            emissions = model(features, training=False)
            loss = model.compute_loss(features, tags, emissions)
        grads = tape.gradient(loss, model.trainable_weights)
        results.append((emissions.numpy(), float(loss), grads))
    (e_fused, l_fused, g_fused), (e_plain, l_plain, g_plain) = results
    np.testing.assert_allclose(e_fused[mask], e_plain[mask], rtol=1e-5, atol=1e-5)
    assert l_fused == pytest.approx(l_plain, rel=1e-5)
    for a, b, w in zip(g_fused, g_plain, fused.trainable_weights, strict=True):
        np.testing.assert_allclose(
            tf.convert_to_tensor(a).numpy(),
            tf.convert_to_tensor(b).numpy(),
            rtol=1e-4,
            atol=1e-5,
            err_msg=w.path,
        )


def test_model_saved_with_one_lstm_implementation_loads_with_the_other(tmp_path):
    fused = make_model(make_cfg(lstm={"units": 8, "implementation": "fused"}))
    features, _ = make_batch([4, 2], seed=5)
    mask = features["words"] != 0
    path = tmp_path / "fused.keras"
    fused.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    assert loaded.lstm_implementation == "fused"
    loaded.set_lstm_implementation("keras")
    assert loaded.bilstms[0].resolved_implementation() == "keras"
    assert loaded.char_encoder.char_rnn.resolved_implementation() == "keras"
    np.testing.assert_allclose(
        loaded(features).numpy()[mask], fused(features).numpy()[mask], rtol=1e-5, atol=1e-6
    )
    with pytest.raises(ConfigError, match="model.lstm.implementation"):
        loaded.set_lstm_implementation("cudnn")


def test_keras_file_weight_paths_are_those_of_bidirectional_lstm(tmp_path):
    """Files written before the fused BiLSTM (keras.layers.Bidirectional) must still load."""
    import zipfile

    import h5py

    model = make_model()
    path = tmp_path / "m.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as raw:
        names = []
        with h5py.File(raw, "r") as weights:
            weights.visit(names.append)
    lstm_paths = {n.rsplit("/vars", 1)[0] for n in names if "/cell/vars/" in n}
    assert lstm_paths == {
        f"{prefix}/{direction}_layer/cell"
        for prefix in ("bilstms/bidirectional", "char_encoder/char_rnn")
        for direction in ("forward", "backward")
    }


def test_checkpoint_holds_the_word_bilstm_weights(tmp_path):
    """tf.train.Checkpoint (trainer resume) must restore every weight, the word BiLSTM too."""
    model = make_model(make_cfg(lstm={"layers": 2, "units": 8}))
    prefix = tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt"))
    keras.utils.set_random_seed(123)
    other = build_model(
        make_cfg(lstm={"layers": 2, "units": 8}),
        num_words=NUM_WORDS,
        num_chars=NUM_CHARS,
        num_tags=len(TAGS),
        tag_names=TAGS,
    )
    assert not np.array_equal(other.bilstms[1].weights[0].numpy(), model.bilstms[1].weights[0])
    tf.train.Checkpoint(model=other).read(prefix).assert_existing_objects_matched()
    for got, want in zip(other.weights, model.weights, strict=True):
        np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=want.path)


def test_auto_lstm_implementation_is_fused_on_cpu_and_keras_under_xla():
    assert not tf.config.list_logical_devices("GPU")  # the test machine is CPU-only
    model = make_model()
    assert model.lstm_implementation == "auto"
    assert model.bilstms[0].resolved_implementation() == "fused"
    cfg = make_cfg()
    xla = dataclasses.replace(cfg, training=dataclasses.replace(cfg.training, jit_compile=True))
    model = make_model(xla)
    assert model.lstm_implementation == "keras"
    assert model.bilstms[0].resolved_implementation() == "keras"
    fused_xla = dataclasses.replace(
        xla,
        model=dataclasses.replace(
            xla.model, lstm=dataclasses.replace(xla.model.lstm, implementation="fused")
        ),
    )
    with pytest.raises(ConfigError, match="no XLA kernel"):
        make_model(fused_xla)
