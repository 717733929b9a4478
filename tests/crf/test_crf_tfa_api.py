"""The tfa.text names added for Addons parity, the NumPy reference and the XLA dispatch.

Maths is checked against brute-force enumeration of every tag path (oracle in test_crf_ops).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from ner_crf.crf import (
    CrfDecodeForwardRnnCell,
    bucket_size,
    crf_constrained_decode,
    crf_decode,
    crf_decode_backward,
    crf_decode_forward,
    crf_filtered_inputs,
    crf_log_likelihood,
    crf_log_norm,
    crf_marginals,
    crf_multitag_sequence_score,
    crf_sequence_score,
    viterbi_decode,
    xla_disabled,
)
from tests.crf.test_crf_ops import Case, all_paths, bio, logsumexp, path_scores


def bitmap_for(case: Case, seed: int) -> np.ndarray:
    """A random [B, T, K] bitmap with at least one allowed tag per position."""
    rng = np.random.default_rng(seed)
    bitmap = rng.random(case.x.shape) < 0.5
    bitmap[np.arange(case.x.shape[0])[:, None], np.arange(case.t)[None], 0] |= ~bitmap.any(-1)
    return bitmap


def allowed_by_bitmap(paths: np.ndarray, bitmap_row: np.ndarray) -> np.ndarray:
    if paths.shape[1] == 0:
        return np.ones(len(paths), bool)
    return bitmap_row[np.arange(paths.shape[1]), paths].all(axis=1)


def test_filtered_inputs_keep_dtype_and_set_minus_inf():
    x = np.array([[[4, 5, -3], [3, -1, 3]]], np.float16)
    bitmap = np.array([[[True, False, False], [False, True, True]]])
    got = crf_filtered_inputs(x, bitmap)
    assert got.dtype == tf.float16
    np.testing.assert_array_equal(got.numpy(), [[[4, -np.inf, -np.inf], [-np.inf, -1, 3]]])


@pytest.mark.parametrize("boundary", [False, True])
def test_multitag_sequence_score_matches_brute_force(boundary):
    case = Case(3, 4, seed=11, boundary=boundary, constraints=None)
    bitmap = bitmap_for(case, 12)
    x, trans, lengths = case.tensors()
    got = crf_multitag_sequence_score(x, bitmap, lengths, trans, **case.kwargs()).numpy()
    for b, n in enumerate(case.lengths):
        paths = all_paths(3, int(n))
        scores = path_scores(case.x[b], paths, case.trans, case.start, case.end)
        want = logsumexp(scores[allowed_by_bitmap(paths, bitmap[b])]) if n else 0.0
        np.testing.assert_allclose(got[b], want, rtol=1e-5, atol=1e-5)
    # One-hot bitmaps give the score of that one path.
    tags = np.where(case.tags >= 0, case.tags, 0)
    one_hot = np.eye(3, dtype=bool)[tags]
    np.testing.assert_allclose(
        crf_multitag_sequence_score(x, one_hot, lengths, trans, **case.kwargs()).numpy(),
        crf_sequence_score(x, tags, lengths, trans, **case.kwargs()).numpy(),
        rtol=1e-5,
        atol=1e-5,
    )


def test_multitag_one_step_inputs():
    """Addons' single-step branch: log-sum-exp of the allowed unary scores (0 for length 0)."""
    x = np.array([[[4.0, 5.0, -3.0]], [[1.0, 2.0, 3.0]]], np.float32)
    bitmap = np.array([[[True, True, False]], [[True, True, True]]])
    got = crf_multitag_sequence_score(x, bitmap, [1, 0], np.zeros((3, 3), np.float32)).numpy()
    np.testing.assert_allclose(got, [np.logaddexp(4.0, 5.0), 0.0], rtol=1e-6)


def test_constrained_decode_matches_brute_force():
    case = Case(3, 5, seed=21, constraints=bio())
    bitmap = bitmap_for(case, 22)
    x, trans, lengths = case.tensors()
    tags, scores = crf_constrained_decode(x, bitmap, trans, lengths, **case.kwargs())
    for b, n in enumerate(case.lengths):
        paths, path_score = case.brute(b)
        ok = allowed_by_bitmap(paths, bitmap[b])
        if n == 0:
            assert scores[b] == 0
            continue
        if not ok.any():
            assert scores[b] == -np.inf
            continue
        best = np.argmax(path_score[ok])
        np.testing.assert_array_equal(tags[b, :n], paths[ok][best])
        np.testing.assert_allclose(scores[b], path_score[ok][best], rtol=1e-5)


def test_decode_forward_and_backward_rebuild_viterbi():
    """Addons' composition: forward (back-pointers) + reverse + backward == crf_decode."""
    case = Case(4, 6, seed=31, boundary=False)
    x, trans, lengths = case.tensors()
    lengths = tf.maximum(lengths, 1)  # Addons' crf_decode needs length >= 1
    less_one = lengths - 1
    backs, last = crf_decode_forward(x[:, 1:], x[:, 0], trans, less_one)
    assert backs.dtype == tf.int32 and backs.shape == (5, 5, 4)
    backs = tf.reverse_sequence(backs, less_one, seq_axis=1)
    first = tf.argmax(last, axis=1, output_type=tf.int32)[:, None]
    rest = tf.squeeze(crf_decode_backward(backs, first), axis=2)
    path = tf.reverse_sequence(tf.concat([first, rest], axis=1), lengths, seq_axis=1)
    want_tags, want_scores = crf_decode(x, trans, lengths)
    mask = np.arange(6)[None] < lengths.numpy()[:, None]
    np.testing.assert_array_equal(path.numpy() * mask, want_tags.numpy())
    np.testing.assert_allclose(tf.reduce_max(last, 1).numpy(), want_scores.numpy(), rtol=1e-6)


def test_decode_forward_equals_keras_rnn_of_the_cell():
    case = Case(3, 5, seed=41, boundary=False)
    x, trans, lengths = case.tensors()
    steps = tf.maximum(lengths - 1, 0)
    cell = CrfDecodeForwardRnnCell(case.trans)
    rnn = keras.layers.RNN(cell, return_sequences=True, return_state=True)
    mask = tf.sequence_mask(steps, 4)
    want_backs, want_last = rnn(x[:, 1:], initial_state=[x[:, 0]], mask=mask)
    backs, last = crf_decode_forward(x[:, 1:], x[:, 0], trans, steps)
    np.testing.assert_allclose(last.numpy(), want_last.numpy(), rtol=1e-6)
    valid = mask.numpy()[:, :, None]
    np.testing.assert_array_equal(backs.numpy() * valid, np.asarray(want_backs) * valid)
    assert (backs.numpy() * ~valid == 0).all()  # Addons: 0 at masked steps
    clone = CrfDecodeForwardRnnCell.from_config(cell.get_config())
    np.testing.assert_array_equal(clone.transition_params, cell.transition_params)


@pytest.mark.parametrize("constrained", [False, True])
def test_numpy_viterbi_honours_boundary_scores_and_masks(constrained):
    case = Case(3, 5, seed=51, constraints=bio() if constrained else None)
    kw = case.kwargs()
    for b, n in enumerate(case.lengths):
        if n == 0:
            continue
        paths, scores = case.brute(b)
        path, score = viterbi_decode(case.x[b, :n], case.trans, **kw)
        np.testing.assert_allclose(score, scores.max(), rtol=1e-9)
        assert path == paths[np.argmax(scores)].tolist()


def test_bucket_sizes_bound_padding():
    assert [bucket_size(n) for n in (0, 1, 8, 9, 11, 17, 33, 40, 41, 128, 129)] == [
        1, 1, 8, 10, 12, 20, 40, 40, 48, 128, 160,
    ]  # fmt: skip
    for n in range(1, 5000):
        assert n <= bucket_size(n) <= max(8, 1.25 * n)


def run_all(x, tags, lengths, trans, kw):
    with tf.GradientTape() as tape:
        tape.watch([x, trans])
        ll = crf_log_likelihood(x, tags, lengths, trans, **kw)[0]
        loss = -tf.reduce_sum(ll) + tf.reduce_sum(crf_marginals(x, trans, lengths, **kw)[..., 0])
    grads = tape.gradient(loss, [x, trans])
    return [ll, *grads, *crf_decode(x, trans, lengths, **kw), crf_log_norm(x, lengths, trans, **kw)]


def test_xla_cores_agree_with_plain_graph_in_every_mode():
    """Eager, plain tf.function with unknown shapes, user jit_compile: same as no XLA at all."""
    case = Case(3, 9, seed=61, constraints=bio())  # time 9: padded to the bucket 10
    x, trans, lengths = case.tensors()
    tags = tf.constant(np.where(case.tags >= 0, case.tags, 0), tf.int32)
    kw = case.kwargs()
    with xla_disabled():
        want = run_all(x, tags, lengths, trans, kw)
    spec = [tf.TensorSpec([None, None, 3]), tf.TensorSpec([None, None], tf.int32)]
    graph = tf.function(lambda x, t: run_all(x, t, lengths, trans, kw), input_signature=spec)
    jit = tf.function(lambda x, t: run_all(x, t, lengths, trans, kw), jit_compile=True)
    for got in (run_all(x, tags, lengths, trans, kw), graph(x, tags), jit(x, tags)):
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-5, atol=1e-5)


def test_unknown_time_length_may_be_zero_at_run_time():
    trans = tf.constant(np.ones((3, 3)), tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3])])
    def run(x):
        lengths = tf.fill(tf.shape(x)[:1], tf.shape(x)[1])
        return crf_decode(x, trans, lengths)[0], crf_log_norm(x, lengths, trans)

    tags, log_z = run(tf.zeros([2, 0, 3]))
    assert tags.shape == (2, 0)
    np.testing.assert_array_equal(log_z.numpy(), [0.0, 0.0])
    tags, _ = run(tf.zeros([0, 4, 3]))
    assert tags.shape == (0, 4)


def test_mask_as_lengths_and_one_hot_tags_are_refused():
    x = np.zeros((2, 3, 3), np.float32)
    trans = np.zeros((3, 3), np.float32)
    mask = np.array([[True, True, False], [True, False, False]])
    with pytest.raises(ValueError, match=r"sequence lengths must be an int \[batch\] vector"):
        crf_decode(x, trans, mask)
    with pytest.raises(ValueError, match="one-hot tags"):
        crf_log_likelihood(x, np.eye(3, dtype=np.float32)[[[0, 1, 2], [0, 0, 0]]], [3, 1], trans)


def test_one_step_inputs_with_longer_tag_rows_like_addons():
    """Addons scores a [B, 1, K] input against the first tag of longer tag rows."""
    x = np.array([[[4.0, 5.0, -3.0]], [[1.0, 2.0, 3.0]]], np.float32)
    tags = np.array([[1, 2, 1, 0], [2, 0, 0, 0]], np.int32)
    trans = np.array([[-3, 5, -2], [3, 4, 1], [1, 2, 1]], np.float32)
    lengths = np.array([3, 1], np.int32)  # longer than the input: clipped to 1
    np.testing.assert_allclose(crf_sequence_score(x, tags, lengths, trans).numpy(), [5.0, 3.0])
    log_z = np.log(np.exp(x[:, 0]).sum(-1))
    ll, _ = crf_log_likelihood(x, tags, lengths, trans)
    np.testing.assert_allclose(ll.numpy(), [5.0, 3.0] - log_z, rtol=1e-6)
    with pytest.raises(TypeError, match="bogus"):
        crf_decode(x, trans, [3, 1], bogus=1)
