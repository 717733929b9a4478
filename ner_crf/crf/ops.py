"""Linear-chain CRF functions in TensorFlow, drop-in compatible with ``tfa.text``.

Conventions shared by every function:

* ``inputs`` / ``potentials`` are batch-major unary scores ``[batch, max_seq_len, num_tags]`` of
  any float dtype. float16 / bfloat16 / float32 are computed and returned in float32; float64 is
  computed and returned in float64.
* ``transition_params`` is ``[num_tags, num_tags]`` with orientation ``[from, to]``.
* ``sequence_lengths`` is ``[batch]`` int32 or int64; sequences are right-padded and positions
  ``t >= length`` are ignored whatever they hold (tag ids there may even be out of range). Lengths
  are clipped to ``[0, max_seq_len]``. A length of 0 gives score 0, log-normaliser 0,
  log-likelihood 0, all-zero decoded tags and decoded score 0.
* Keyword-only extras beyond Addons (defaults keep Addons behaviour):

  - ``start_transitions`` / ``end_transitions``: ``[num_tags]`` scores of starting / ending a
    sentence with each tag. The score of a path ``y`` of length ``L`` is
    ``start[y_0] + sum_t inputs[t, y_t] + sum_{t>=1} trans[y_{t-1}, y_t] + end[y_{L-1}]``.
  - ``transition_mask`` (``[num_tags, num_tags]``), ``start_mask`` and ``end_mask``
    (``[num_tags]``): bool or 0/1; False/0 marks a forbidden transition / first tag / last tag (see
    :mod:`ner_crf.crf.constraints`, ``TransitionConstraints.as_kwargs()``). In the differentiable
    functions (scores, log-normaliser, likelihood, forward-backward, marginals) a forbidden entry
    is *replaced* by :data:`FORBIDDEN_SCORE` (-1e4), so forbidden paths drop out of the partition
    function and their gradient is exactly 0, without NaN or Inf. Gold paths that use a forbidden
    transition get a log-likelihood around -1e4. In decoding (Viterbi and n-best) forbidden entries
    are ``-inf``: a forbidden pair is never emitted while any allowed path exists.

Every function runs eagerly, inside ``tf.function`` and under ``tf.function(jit_compile=True)``;
time loops are ``tf.while_loop`` over a time-major copy of the inputs (no Python loop over time).
The time length may be unknown when tracing (then it must be >= 1 at run time); a static length
of 0 is allowed. For the XLA speed-up wrap calls in ``tf.function(jit_compile=True)`` or use the
ready-made wrappers in :mod:`ner_crf.crf.compiled`.

Numerics: the forward/backward recursions use ``log(exp(alpha - max) @ exp(A - colmax))`` (one
small matmul per step) and fall back to the exact broadcast log-sum-exp wherever that sum could
underflow, so results are exact (to float rounding) in every case. The gradient of the
log-normaliser (hence of :func:`crf_log_likelihood`) is computed by forward-backward
(``tf.custom_gradient``: marginals for the inputs and start/end scores, pairwise marginals for the
transitions), not by differentiating through the loop; it is first-order only (no Hessians).
"""

from __future__ import annotations

import logging
import math

import numpy as np
import tensorflow as tf

logger = logging.getLogger(__name__)

__all__ = [
    "FORBIDDEN_SCORE",
    "crf_binary_score",
    "crf_decode",
    "crf_decode_nbest",
    "crf_forward",
    "crf_forward_backward",
    "crf_log_likelihood",
    "crf_log_norm",
    "crf_marginals",
    "crf_segment_log_prob",
    "crf_sequence_score",
    "crf_unary_score",
    "viterbi_decode",
]

#: Score given to forbidden transitions in the differentiable functions.
FORBIDDEN_SCORE = -1e4


# --------------------------------------------------------------------------------------------
# Preparation helpers
# --------------------------------------------------------------------------------------------


def _compute_dtype(dtype: tf.DType) -> tf.DType:
    """float64 stays float64, every other float dtype is computed in float32."""
    return tf.float64 if dtype == tf.float64 else tf.float32


def _as_float(x, dtype: tf.DType) -> tf.Tensor:
    """Reads variables into tensors (``gather`` on a variable has no XLA kernel) and casts."""
    return tf.cast(tf.convert_to_tensor(x), dtype)


def _check_inputs(inputs: tf.Tensor, name: str) -> None:
    if inputs.shape.rank is not None and inputs.shape.rank != 3:
        raise ValueError(
            f"`{name}` must be [batch_size, max_seq_len, num_tags], got shape {inputs.shape}"
        )
    if not inputs.dtype.is_floating:
        raise ValueError(f"`{name}` must be a float tensor, got dtype {inputs.dtype.name}")


def _check_trans(trans: tf.Tensor, num_tags: int | None) -> None:
    shape = trans.shape
    if shape.rank is not None and shape.rank != 2:
        raise ValueError(f"`transition_params` must be [num_tags, num_tags], got shape {shape}")
    if num_tags is not None and shape.rank == 2:
        for dim in shape:
            if dim is not None and dim != num_tags:
                raise ValueError(
                    f"`transition_params` must be [{num_tags}, {num_tags}] to match the "
                    f"{num_tags} tags of the inputs, got shape {shape}"
                )


def _vector(x, num_tags, dtype: tf.DType, name: str) -> tf.Tensor | None:
    if x is None:
        return None
    x = _as_float(x, dtype)
    if x.shape.rank is not None and x.shape.rank != 1:
        raise ValueError(f"`{name}` must be [num_tags], got shape {x.shape}")
    return x


def _apply_mask(scores: tf.Tensor, mask, fill: float) -> tf.Tensor:
    """Replaces the entries of ``scores`` where ``mask`` is False/0 by ``fill``."""
    if mask is None:
        return scores
    mask = tf.convert_to_tensor(mask)
    if mask.dtype != tf.bool:
        mask = tf.not_equal(mask, tf.zeros([], mask.dtype))
    return tf.where(mask, scores, tf.constant(fill, scores.dtype))


class _Crf:
    """Inputs of one CRF call, cast to the compute dtype and with the masks applied."""

    def __init__(
        self,
        inputs,
        sequence_lengths,
        transition_params,
        start_transitions=None,
        end_transitions=None,
        transition_mask=None,
        start_mask=None,
        end_mask=None,
        *,
        fill: float = FORBIDDEN_SCORE,
        name: str = "inputs",
    ):
        inputs = tf.convert_to_tensor(inputs)
        _check_inputs(inputs, name)
        self.dtype = _compute_dtype(inputs.dtype)
        self.inputs = tf.cast(inputs, self.dtype)  # [B, T, K]
        self.num_tags = inputs.shape[2]
        trans = _as_float(transition_params, self.dtype)
        _check_trans(trans, self.num_tags)
        # Static time length, or None when only known at run time (then it must be >= 1).
        self.max_len = self.inputs.shape[1]
        lengths = tf.cast(tf.convert_to_tensor(sequence_lengths), tf.int32)
        self.lengths = tf.clip_by_value(lengths, 0, tf.shape(self.inputs)[1])  # [B]
        k = tf.shape(self.inputs)[2]
        start = _vector(start_transitions, self.num_tags, self.dtype, "start_transitions")
        end = _vector(end_transitions, self.num_tags, self.dtype, "end_transitions")
        self.has_start = start is not None or start_mask is not None
        self.has_end = end is not None or end_mask is not None
        if start is None:
            start = tf.zeros([k], self.dtype)
        if end is None:
            end = tf.zeros([k], self.dtype)
        self.trans = _apply_mask(trans, transition_mask, fill)  # [K, K]
        self.start = _apply_mask(start, start_mask, fill)  # [K]
        self.end = _apply_mask(end, end_mask, fill)  # [K]

    def seq_mask(self) -> tf.Tensor:
        return tf.sequence_mask(self.lengths, tf.shape(self.inputs)[1])  # [B, T] bool


def _static_or_dynamic(x: tf.Tensor, axis: int):
    dim = x.shape[axis]
    return dim if dim is not None else tf.shape(x)[axis]


def _logsumexp(x: tf.Tensor, axis: int) -> tf.Tensor:
    """Stable log-sum-exp for finite inputs (the max is a constant for autodiff)."""
    m = tf.stop_gradient(tf.reduce_max(x, axis=axis, keepdims=True))
    return tf.squeeze(m, axis) + tf.math.log(tf.reduce_sum(tf.exp(x - m), axis=axis))


class _LseStep:
    """``out[b, j] = logsumexp_i(v[b, i] + A[i, j])``, fast and exact.

    Fast path: ``m + c_j + log(exp(v - m) @ exp(A - c))`` with ``m`` the row max of ``v`` and
    ``c_j`` the column max of ``A``: one [B, K] x [K, K] matmul instead of a [B, K, K]
    broadcast. It is exact unless a sum underflows (every predecessor of a state more than ~69
    nats below the row's best, e.g. when the best predecessor is forbidden). Such entries are
    detected and recomputed with the exact broadcast log-sum-exp (under a ``tf.cond``, so the
    slow path only runs when needed); the fast value is clamped so neither branch produces NaN
    gradients.
    """

    def __init__(self, trans: tf.Tensor):
        self.trans = trans  # [K, K]
        self.col_max = tf.stop_gradient(tf.reduce_max(trans, axis=0))  # [K]
        self.exp_trans = tf.exp(trans - self.col_max)  # [K, K], entries in (0, 1]
        finfo = np.finfo(trans.dtype.as_numpy_dtype)
        self.tiny = float(finfo.tiny) * 1e8  # below this the sum may have lost precision

    def fast(self, v: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """The fast value [B, K] (clamped, finite) and where it may be inexact [B, K] bool."""
        m = tf.stop_gradient(tf.reduce_max(v, axis=1, keepdims=True))  # [B, 1]
        sums = tf.matmul(tf.exp(v - m), self.exp_trans)  # [B, K]
        low = sums < self.tiny  # [B, K]
        return m + self.col_max + tf.math.log(tf.maximum(sums, self.tiny)), low

    def __call__(self, v: tf.Tensor) -> tf.Tensor:
        fast, low = self.fast(v)  # [B, K] each

        def exact():
            full = _logsumexp(v[:, :, tf.newaxis] + self.trans[tf.newaxis], axis=1)  # [B, K]
            return tf.where(low, full, fast)

        return tf.cond(tf.reduce_any(low), exact, lambda: fast)


def _max_plus_tags_major(v: tf.Tensor, trans: tf.Tensor, num_tags) -> tf.Tensor:
    """``best[j, b] = max_i(v[i, b] + A[i, j])`` in tags-major layout: v [K, B] -> [K, B].

    For a static ``num_tags <= 64`` the max over ``i`` is unrolled into ``num_tags`` element-wise
    [K, B] steps, each adding the scalar column ``A[i, :]`` to the row ``v[i]`` broadcast over the
    tags: XLA fuses them into one loop vectorised over the (contiguous) batch axis. Otherwise a
    reduction over the leading axis of a [K, K, B] tensor.
    """
    if isinstance(num_tags, int) and num_tags <= 64:
        best = v[0:1] + trans[0][:, tf.newaxis]  # [K(to), B]
        for i in range(1, num_tags):
            best = tf.maximum(best, v[i : i + 1] + trans[i][:, tf.newaxis])
        return best
    return tf.reduce_max(v[:, tf.newaxis, :] + trans[:, :, tf.newaxis], axis=0)  # [K, B]


def _first_argmax_tags_major(scores: tf.Tensor, num_tags) -> tf.Tensor:
    """Index of the first maximum over axis 0 of [K, B] scores -> [B] int32.

    Unrolled (strict ``>``, so ties and all ``-inf`` columns give the lowest index) for a static
    ``num_tags <= 64``, ``tf.argmax`` otherwise.
    """
    if isinstance(num_tags, int) and num_tags <= 64:
        best = scores[0]  # [B]
        index = tf.zeros(tf.shape(best), tf.int32)  # [B]
        for i in range(1, num_tags):
            better = scores[i] > best
            best = tf.where(better, scores[i], best)
            index = tf.where(better, i, index)
        return index
    return tf.argmax(scores, axis=0, output_type=tf.int32)


# --------------------------------------------------------------------------------------------
# Scores of given tag sequences
# --------------------------------------------------------------------------------------------


def crf_unary_score(tag_indices, sequence_lengths, inputs) -> tf.Tensor:
    """Computes the unary scores of tag sequences.

    Args:
        tag_indices: A [batch_size, max_seq_len] int tensor of tag indices.
        sequence_lengths: A [batch_size] int vector of true sequence lengths.
        inputs: A [batch_size, max_seq_len, num_tags] tensor of unary potentials.

    Returns:
        A [batch_size] vector: the sum of ``inputs[b, t, tag_indices[b, t]]`` over valid ``t``.
    """
    inputs = tf.convert_to_tensor(inputs)
    _check_inputs(inputs, "inputs")
    inputs = tf.cast(inputs, _compute_dtype(inputs.dtype))
    lengths = tf.cast(sequence_lengths, tf.int32)
    mask = tf.sequence_mask(lengths, tf.shape(inputs)[1])  # [B, T]
    tags = tf.where(mask, tf.cast(tag_indices, tf.int32), 0)  # [B, T]
    unary = tf.gather(inputs, tags, batch_dims=2)  # [B, T]
    return tf.reduce_sum(tf.where(mask, unary, tf.zeros_like(unary)), axis=1)  # [B]


def crf_binary_score(
    tag_indices,
    sequence_lengths,
    transition_params,
    *,
    start_transitions=None,
    end_transitions=None,
    transition_mask=None,
    start_mask=None,
    end_mask=None,
) -> tf.Tensor:
    """Computes the binary (transition) scores of tag sequences.

    The start and end scores are transitions out of an implicit START state and into an implicit
    END state, so they are counted here (and not in :func:`crf_unary_score`).

    Args:
        tag_indices: A [batch_size, max_seq_len] int tensor of tag indices.
        sequence_lengths: A [batch_size] int vector of true sequence lengths.
        transition_params: A [num_tags, num_tags] matrix of binary potentials ``[from, to]``.
        start_transitions: Optional [num_tags] start scores.
        end_transitions: Optional [num_tags] end scores.
        transition_mask: Optional [num_tags, num_tags] bool/0-1 allowed transitions.
        start_mask: Optional [num_tags] bool/0-1 allowed first tags.
        end_mask: Optional [num_tags] bool/0-1 allowed last tags.

    Returns:
        A [batch_size] vector of binary scores (in float32, or float64 for float64 transitions).
    """
    trans = tf.convert_to_tensor(transition_params)
    dtype = _compute_dtype(trans.dtype)
    trans = _apply_mask(tf.cast(trans, dtype), transition_mask, FORBIDDEN_SCORE)  # [K, K]
    num_tags = tf.shape(trans)[0]
    tags = tf.cast(tag_indices, tf.int32)
    if tags.shape.rank == 2 and tags.shape[1] == 0:  # static empty time axis
        return tf.zeros(tf.shape(tags)[:1], dtype)
    max_len = tf.shape(tags)[1]
    lengths = tf.clip_by_value(tf.cast(sequence_lengths, tf.int32), 0, max_len)  # [B]
    mask = tf.sequence_mask(lengths, max_len)  # [B, T]
    tags = tf.where(mask, tags, 0)  # [B, T]
    flat = tags[:, :-1] * num_tags + tags[:, 1:]  # [B, T-1]
    binary = tf.gather(tf.reshape(trans, [-1]), flat)  # [B, T-1]
    binary = tf.reduce_sum(tf.where(mask[:, 1:], binary, tf.zeros_like(binary)), axis=1)  # [B]
    if start_transitions is not None or start_mask is not None:
        start = tf.zeros([num_tags], dtype)
        if start_transitions is not None:
            start = _as_float(start_transitions, dtype)
        start = _apply_mask(start, start_mask, FORBIDDEN_SCORE)  # [K]
        first = tf.gather(start, tags[:, 0])  # [B]
        binary += tf.where(lengths > 0, first, tf.zeros_like(first))
    if end_transitions is not None or end_mask is not None:
        end = tf.zeros([num_tags], dtype)
        if end_transitions is not None:
            end = _as_float(end_transitions, dtype)
        end = _apply_mask(end, end_mask, FORBIDDEN_SCORE)  # [K]
        last_tag = tf.gather(tags, tf.maximum(lengths - 1, 0), batch_dims=1)  # [B]
        last = tf.gather(end, last_tag)  # [B]
        binary += tf.where(lengths > 0, last, tf.zeros_like(last))
    return binary


def crf_sequence_score(
    inputs,
    tag_indices,
    sequence_lengths,
    transition_params,
    *,
    start_transitions=None,
    end_transitions=None,
    transition_mask=None,
    start_mask=None,
    end_mask=None,
) -> tf.Tensor:
    """Computes the unnormalized score of given tag sequences.

    Args:
        inputs: A [batch_size, max_seq_len, num_tags] tensor of unary potentials.
        tag_indices: A [batch_size, max_seq_len] int tensor of tag indices.
        sequence_lengths: A [batch_size] int vector of true sequence lengths.
        transition_params: A [num_tags, num_tags] transition matrix ``[from, to]``.
        start_transitions: Optional [num_tags] start scores.
        end_transitions: Optional [num_tags] end scores.
        transition_mask: Optional [num_tags, num_tags] bool/0-1 allowed transitions.
        start_mask: Optional [num_tags] bool/0-1 allowed first tags.
        end_mask: Optional [num_tags] bool/0-1 allowed last tags.

    Returns:
        A [batch_size] vector of path scores (0 for length-0 rows).
    """
    inputs = tf.convert_to_tensor(inputs)
    _check_inputs(inputs, "inputs")
    dtype = _compute_dtype(inputs.dtype)
    unary = crf_unary_score(tag_indices, sequence_lengths, inputs)  # [B]
    binary = crf_binary_score(
        tag_indices,
        sequence_lengths,
        _as_float(transition_params, dtype),
        start_transitions=start_transitions,
        end_transitions=end_transitions,
        transition_mask=transition_mask,
        start_mask=start_mask,
        end_mask=end_mask,
    )  # [B]
    return unary + binary


# --------------------------------------------------------------------------------------------
# Forward algorithm, log-normaliser, likelihood
# --------------------------------------------------------------------------------------------


def _forward_final(x: tf.Tensor, alpha0: tf.Tensor, trans: tf.Tensor, valid: tf.Tensor):
    """Runs forward steps over ``x`` and returns the last alpha of each row.

    Args:
        x: [B, N, K] unary scores of the steps to run.
        alpha0: [B, K] initial alpha.
        trans: [K, K] transitions.
        valid: [B] number of leading steps of ``x`` that are real for each row; later steps carry
            the alpha unchanged.

    Returns:
        [B, K] alpha after ``valid`` steps.
    """
    x_tm = tf.transpose(x, [1, 0, 2])  # [N, B, K]
    n = _static_or_dynamic(x_tm, 0)
    step = _LseStep(trans)

    def body(t, alpha):
        new_alpha = x_tm[t] + step(alpha)  # [B, K]
        alpha = tf.where((t < valid)[:, tf.newaxis], new_alpha, alpha)  # [B, K]
        return t + 1, alpha

    # (A single tf.cond around an exact re-run of the whole loop would keep the branch out of the
    # loop, but the gradient of a cond holding a while_loop does not compile with XLA.)
    _, alpha = tf.while_loop(
        lambda t, _: t < n, body, (tf.constant(0), alpha0), maximum_iterations=n
    )
    return alpha


def crf_forward(
    inputs, state, transition_params, sequence_lengths, *, transition_mask=None
) -> tf.Tensor:
    """Computes the alpha values in a linear-chain CRF (Addons semantics).

    ``inputs`` are the unary potentials of steps 1..T-1 (the first step is already in ``state``).
    Row ``b`` runs ``max(0, sequence_lengths[b] - 1)`` steps; the alphas after that are returned.

    Args:
        inputs: A [batch_size, max_seq_len - 1, num_tags] tensor of unary potentials.
        state: A [batch_size, num_tags] matrix of initial alpha values.
        transition_params: A [num_tags, num_tags] matrix of binary potentials ``[from, to]``.
        sequence_lengths: A [batch_size] vector of true sequence lengths (of the full sequences).
        transition_mask: Optional [num_tags, num_tags] bool/0-1 allowed transitions.

    Returns:
        A [batch_size, num_tags] matrix of alpha values at position ``length - 1``.
    """
    inputs = tf.convert_to_tensor(inputs)
    dtype = _compute_dtype(inputs.dtype)
    inputs = tf.cast(inputs, dtype)
    state = _as_float(state, dtype)
    trans = _apply_mask(_as_float(transition_params, dtype), transition_mask, FORBIDDEN_SCORE)
    valid = tf.maximum(tf.cast(sequence_lengths, tf.int32) - 1, 0)  # [B]
    return _forward_final(inputs, state, trans, valid)


def _alpha_table(x_tm: tf.Tensor, trans: tf.Tensor, start: tf.Tensor, lengths: tf.Tensor):
    """Forward recursion keeping every step.

    Args:
        x_tm: [T, B, K] time-major unary scores (T >= 1).
        trans: [K, K] transitions.
        start: [K] start scores.
        lengths: [B] lengths.

    Returns:
        alphas: [T, B, K]; positions ``t >= length`` carry the alpha of ``length - 1``.
        alpha_last: [B, K] the alpha at ``length - 1``.
    """
    n = _static_or_dynamic(x_tm, 0)
    step = _LseStep(trans)
    alpha0 = x_tm[0] + start  # [B, K]

    def body(t, alpha, ta):
        new_alpha = x_tm[t] + step(alpha)  # [B, K]
        alpha = tf.where((t < lengths)[:, tf.newaxis], new_alpha, alpha)  # [B, K]
        return t + 1, alpha, ta.write(t, alpha)

    ta = tf.TensorArray(x_tm.dtype, size=n, element_shape=alpha0.shape).write(0, alpha0)
    _, alpha_last, ta = tf.while_loop(
        lambda t, *_: t < n, body, (tf.constant(1), alpha0, ta), maximum_iterations=n
    )
    return ta.stack(), alpha_last


def _beta_table(x_tm: tf.Tensor, trans: tf.Tensor, end: tf.Tensor, lengths: tf.Tensor):
    """Backward recursion: [T, B, K] betas, equal to ``end`` at ``t >= length - 1``."""
    n = _static_or_dynamic(x_tm, 0)
    step = _LseStep(tf.transpose(trans))
    end = tf.broadcast_to(end, tf.shape(x_tm)[1:])  # [B, K]

    def body(t, beta, ta):
        # beta_t[i] = logsumexp_j(trans[i, j] + x_{t+1}[j] + beta_{t+1}[j]) while t + 1 < length.
        new_beta = step(x_tm[t + 1] + beta)  # [B, K]
        beta = tf.where((t + 1 < lengths)[:, tf.newaxis], new_beta, end)  # [B, K]
        return t - 1, beta, ta.write(t, beta)

    ta = tf.TensorArray(x_tm.dtype, size=n, element_shape=end.shape).write(n - 1, end)
    _, _, ta = tf.while_loop(lambda t, *_: t >= 0, body, (n - 2, end, ta), maximum_iterations=n)
    return ta.stack()


def _log_norm(crf: _Crf) -> tf.Tensor:
    """log Z with a forward-backward gradient (exact, no autodiff through the time loop).

    Differentiating through the loop would also differentiate the underflow fallback branch of
    :class:`_LseStep` at every step, which is several times slower under XLA. The gradient is
    first-order only.
    """
    if crf.max_len == 0:  # static empty time axis (None when dynamic)
        return tf.zeros(tf.shape(crf.inputs)[:1], crf.dtype)
    lengths = crf.lengths  # [B]
    nonempty = lengths > 0  # [B]

    @tf.custom_gradient
    def log_norm(x, trans, start, end):
        x_tm = tf.transpose(x, [1, 0, 2])  # [T, B, K]
        alphas, alpha_last = _alpha_table(x_tm, trans, start, lengths)  # [T, B, K], [B, K]
        log_z = _logsumexp(alpha_last + end, axis=1)  # [B]
        log_z = tf.where(nonempty, log_z, tf.zeros_like(log_z))

        def grad(dz):
            dz = tf.where(nonempty, dz, tf.zeros_like(dz))  # [B]
            betas = _beta_table(x_tm, trans, end, lengths)  # [T, B, K]
            valid = tf.transpose(tf.sequence_mask(lengths, tf.shape(x_tm)[0]))  # [T, B]
            log_p = alphas + betas - log_z[:, tf.newaxis]  # [T, B, K] log marginals
            post = tf.where(valid[:, :, tf.newaxis], tf.exp(log_p), tf.zeros_like(log_p))
            post = post * dz[:, tf.newaxis]  # [T, B, K]
            d_x = tf.transpose(post, [1, 0, 2])  # [B, T, K]
            d_start = tf.reduce_sum(post[0], axis=0)  # [K]
            log_last = alpha_last + end - log_z[:, tf.newaxis]  # [B, K]
            p_last = tf.where(nonempty[:, tf.newaxis], tf.exp(log_last), tf.zeros_like(log_last))
            d_end = tf.reduce_sum(p_last * dz[:, tf.newaxis], axis=0)  # [K]
            # Pairwise marginals p(y_{t-1}=i, y_t=j) = u_i * E_ij * w_j for t = 1..T-1, with
            # u = exp(alpha_{t-1} - m), E = exp(A - colmax), w = exp(x_t + beta_t - log_z + m +
            # colmax): the sum over t and batch is one [K, T*B] x [T*B, K] matmul. w is bounded
            # unless the forward sum underflowed (see _LseStep); then use the exact broadcast.
            valid_pair = valid[1:, :, tf.newaxis]  # [T-1, B, 1]
            m = tf.reduce_max(alphas[:-1], axis=2, keepdims=True)  # [T-1, B, 1]
            col_max = tf.reduce_max(trans, axis=0)  # [K]
            log_w = x_tm[1:] + betas[1:] - log_z[:, tf.newaxis] + m + col_max  # [T-1, B, K]
            neg_inf = tf.constant(-np.inf, log_w.dtype)
            log_w = tf.where(valid_pair, log_w, neg_inf)
            limit = -math.log(float(np.finfo(log_w.dtype.as_numpy_dtype).tiny) * 1e8)
            num_tags = tf.shape(trans)[0]

            def fast_pairs():
                u = tf.exp(alphas[:-1] - m)  # [T-1, B, K]
                u = tf.where(valid_pair, u, tf.zeros_like(u))  # padding may hold inf / NaN
                u = tf.reshape(u, [-1, num_tags])  # [(T-1)*B, K]
                w = tf.exp(log_w) * dz[:, tf.newaxis]  # [T-1, B, K]
                w = tf.reshape(w, [-1, num_tags])  # [(T-1)*B, K]
                return tf.exp(trans - col_max) * tf.matmul(u, w, transpose_a=True)  # [K, K]

            def exact_pairs():
                log_pair = (
                    alphas[:-1, :, :, tf.newaxis]
                    + trans
                    + (x_tm[1:] + betas[1:])[:, :, tf.newaxis, :]
                    - log_z[:, tf.newaxis, tf.newaxis]
                )  # [T-1, B, K, K]
                pair = tf.where(
                    valid_pair[..., tf.newaxis], tf.exp(log_pair), tf.zeros_like(log_pair)
                )
                return tf.reduce_sum(pair * dz[:, tf.newaxis, tf.newaxis], axis=[0, 1])  # [K, K]

            d_trans = tf.cond(tf.reduce_any(log_w > limit), exact_pairs, fast_pairs)
            return d_x, d_trans, d_start, d_end

        return log_z, grad

    return log_norm(crf.inputs, crf.trans, crf.start, crf.end)


def crf_log_norm(
    inputs,
    sequence_lengths,
    transition_params,
    *,
    start_transitions=None,
    end_transitions=None,
    transition_mask=None,
    start_mask=None,
    end_mask=None,
) -> tf.Tensor:
    """Computes the log-normaliser (log partition function) of a CRF.

    Args:
        inputs: A [batch_size, max_seq_len, num_tags] tensor of unary potentials.
        sequence_lengths: A [batch_size] int vector of true sequence lengths.
        transition_params: A [num_tags, num_tags] transition matrix ``[from, to]``.
        start_transitions: Optional [num_tags] start scores.
        end_transitions: Optional [num_tags] end scores.
        transition_mask: Optional [num_tags, num_tags] bool/0-1 allowed transitions.
        start_mask: Optional [num_tags] bool/0-1 allowed first tags.
        end_mask: Optional [num_tags] bool/0-1 allowed last tags.

    Returns:
        A [batch_size] vector: log of the sum of ``exp(score)`` over all (allowed) paths; 0 for
        length-0 rows.
    """
    crf = _Crf(
        inputs,
        sequence_lengths,
        transition_params,
        start_transitions,
        end_transitions,
        transition_mask,
        start_mask,
        end_mask,
    )
    return _log_norm(crf)


def _default_transitions(num_tags: int) -> tf.Variable:
    """A Glorot-uniform [num_tags, num_tags] variable, as Addons created when none was given."""
    limit = math.sqrt(6.0 / (2 * num_tags))
    logger.debug(
        "crf_log_likelihood: creating a random %dx%d transition matrix", num_tags, num_tags
    )
    return tf.Variable(tf.random.uniform([num_tags, num_tags], -limit, limit), name="transitions")


def crf_log_likelihood(
    inputs,
    tag_indices,
    sequence_lengths,
    transition_params=None,
    *,
    start_transitions=None,
    end_transitions=None,
    transition_mask=None,
    start_mask=None,
    end_mask=None,
) -> tuple[tf.Tensor, tf.Tensor | tf.Variable]:
    """Computes the log-likelihood of tag sequences in a CRF.

    Args:
        inputs: A [batch_size, max_seq_len, num_tags] tensor of unary potentials.
        tag_indices: A [batch_size, max_seq_len] int tensor of gold tag indices.
        sequence_lengths: A [batch_size] int vector of true sequence lengths.
        transition_params: A [num_tags, num_tags] transition matrix ``[from, to]``. When None, a
            new float32 ``tf.Variable`` drawn from Glorot-uniform is created and returned (as Addons
            did; this needs a static ``num_tags`` and, inside ``tf.function``, only works on the
            first trace; pass your own matrix for training).
        start_transitions: Optional [num_tags] start scores.
        end_transitions: Optional [num_tags] end scores.
        transition_mask: Optional [num_tags, num_tags] bool/0-1 allowed transitions.
        start_mask: Optional [num_tags] bool/0-1 allowed first tags.
        end_mask: Optional [num_tags] bool/0-1 allowed last tags.

    Returns:
        log_likelihood: A [batch_size] vector ``score(gold) - log_norm`` (0 for length-0 rows).
        transition_params: The transition matrix used: the argument unchanged, or the new variable.
    """
    inputs = tf.convert_to_tensor(inputs)
    _check_inputs(inputs, "inputs")
    if transition_params is None:
        num_tags = inputs.shape[2]
        if num_tags is None:
            raise ValueError(
                "`transition_params` is None and num_tags (inputs.shape[2]) is unknown"
            )
        transition_params = _default_transitions(int(num_tags))
    kwargs = {
        "start_transitions": start_transitions,
        "end_transitions": end_transitions,
        "transition_mask": transition_mask,
        "start_mask": start_mask,
        "end_mask": end_mask,
    }
    crf = _Crf(inputs, sequence_lengths, transition_params, **kwargs)
    score = crf_sequence_score(crf.inputs, tag_indices, crf.lengths, crf.trans, **kwargs)
    return score - _log_norm(crf), transition_params


# --------------------------------------------------------------------------------------------
# Forward-backward, marginals, segment probabilities
# --------------------------------------------------------------------------------------------


def _forward_backward(crf: _Crf):
    """Alpha / beta tables with padding positions set to 0, and log Z."""
    x = crf.inputs  # [B, T, K]
    batch = tf.shape(x)[0]
    k = tf.shape(x)[2]
    if crf.max_len == 0:  # static empty time axis (None when dynamic)
        empty = tf.zeros([batch, 0, k], crf.dtype)
        return empty, empty, tf.zeros([batch], crf.dtype)
    x_tm = tf.transpose(x, [1, 0, 2])  # [T, B, K]
    lengths = crf.lengths
    alphas, alpha_last = _alpha_table(x_tm, crf.trans, crf.start, lengths)  # [T, B, K], [B, K]
    log_alpha = tf.transpose(alphas, [1, 0, 2])  # [B, T, K]
    log_beta = tf.transpose(_beta_table(x_tm, crf.trans, crf.end, lengths), [1, 0, 2])  # [B, T, K]
    log_z = _logsumexp(alpha_last + crf.end, axis=1)  # [B]
    log_z = tf.where(lengths > 0, log_z, tf.zeros_like(log_z))
    mask = crf.seq_mask()[:, :, tf.newaxis]  # [B, T, 1]
    log_alpha = tf.where(mask, log_alpha, tf.zeros_like(log_alpha))
    log_beta = tf.where(mask, log_beta, tf.zeros_like(log_beta))
    return log_alpha, log_beta, log_z


def crf_forward_backward(
    potentials,
    transition_params,
    sequence_length,
    *,
    start_transitions=None,
    end_transitions=None,
    transition_mask=None,
    start_mask=None,
    end_mask=None,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Computes the forward (alpha) and backward (beta) tables in log space.

    With ``x`` the potentials, ``A`` the transitions, ``s``/``e`` the start/end scores and ``L`` the
    length of a row, for valid positions ``t < L``:

    * ``log_alpha[t, j]`` = log-sum of the scores of all prefixes ``y_0..y_t`` with ``y_t = j``,
      *including* ``s[y_0]`` and the emission ``x[t, j]``:
      ``alpha[0] = s + x[0]``, ``alpha[t, j] = x[t, j] + logsumexp_i(alpha[t-1, i] + A[i, j])``.
    * ``log_beta[t, i]`` = log-sum of the scores of all suffixes after position ``t`` given
      ``y_t = i``, *excluding* ``x[t]`` and *including* ``e``: ``beta[L-1] = e``,
      ``beta[t, i] = logsumexp_j(A[i, j] + x[t+1, j] + beta[t+1, j])``.
    * ``log_z = logsumexp_j(alpha[L-1, j] + e[j])``, so ``alpha[t] + beta[t] - log_z`` is the log
      posterior marginal at ``t`` for every ``t < L``.

    Positions ``t >= L`` hold 0 in both tables; ``log_z`` is 0 for ``L = 0``.

    Args:
        potentials: A [batch_size, max_seq_len, num_tags] tensor of unary potentials.
        transition_params: A [num_tags, num_tags] transition matrix ``[from, to]``.
        sequence_length: A [batch_size] int vector of true sequence lengths.
        start_transitions: Optional [num_tags] start scores.
        end_transitions: Optional [num_tags] end scores.
        transition_mask: Optional [num_tags, num_tags] bool/0-1 allowed transitions.
        start_mask: Optional [num_tags] bool/0-1 allowed first tags.
        end_mask: Optional [num_tags] bool/0-1 allowed last tags.

    Returns:
        log_alpha: [batch_size, max_seq_len, num_tags].
        log_beta: [batch_size, max_seq_len, num_tags].
        log_z: [batch_size].
    """
    crf = _Crf(
        potentials,
        sequence_length,
        transition_params,
        start_transitions,
        end_transitions,
        transition_mask,
        start_mask,
        end_mask,
        name="potentials",
    )
    return _forward_backward(crf)


def crf_marginals(
    potentials,
    transition_params,
    sequence_length,
    *,
    start_transitions=None,
    end_transitions=None,
    transition_mask=None,
    start_mask=None,
    end_mask=None,
) -> tf.Tensor:
    """Computes the posterior tag marginals ``P(y_t = j | x)`` by forward-backward.

    Args:
        potentials: A [batch_size, max_seq_len, num_tags] tensor of unary potentials.
        transition_params: A [num_tags, num_tags] transition matrix ``[from, to]``.
        sequence_length: A [batch_size] int vector of true sequence lengths.
        start_transitions: Optional [num_tags] start scores.
        end_transitions: Optional [num_tags] end scores.
        transition_mask: Optional [num_tags, num_tags] bool/0-1 allowed transitions.
        start_mask: Optional [num_tags] bool/0-1 allowed first tags.
        end_mask: Optional [num_tags] bool/0-1 allowed last tags.

    Returns:
        A [batch_size, max_seq_len, num_tags] tensor of probabilities: rows sum to 1 at valid
        positions and are all 0 at padding.
    """
    crf = _Crf(
        potentials,
        sequence_length,
        transition_params,
        start_transitions,
        end_transitions,
        transition_mask,
        start_mask,
        end_mask,
        name="potentials",
    )
    log_alpha, log_beta, log_z = _forward_backward(crf)
    probs = tf.exp(log_alpha + log_beta - log_z[:, tf.newaxis, tf.newaxis])  # [B, T, K]
    mask = crf.seq_mask()[:, :, tf.newaxis]  # [B, T, 1]
    return tf.where(mask, probs, tf.zeros_like(probs))


def crf_segment_log_prob(
    potentials,
    transition_params,
    sequence_length,
    tag_indices,
    segment_starts,
    segment_ends,
    *,
    start_transitions=None,
    end_transitions=None,
    transition_mask=None,
    start_mask=None,
    end_mask=None,
) -> tf.Tensor:
    """Exact log-probability that positions ``[s, e)`` carry the tags ``tag_indices[s:e]``.

    ``log P(y_s..y_{e-1}) = alpha[s, y_s] + sum_{t=s+1}^{e-1}(A[y_{t-1}, y_t] + x[t, y_t])
    + beta[e-1, y_{e-1}] - log_z``, marginalising over every tag outside the segment (use it for
    entity confidence: the segment ``B-PER I-PER`` of a decoded path, say).

    Args:
        potentials: A [batch_size, max_seq_len, num_tags] tensor of unary potentials.
        transition_params: A [num_tags, num_tags] transition matrix ``[from, to]``.
        sequence_length: A [batch_size] int vector of true sequence lengths.
        tag_indices: A [batch_size, max_seq_len] int tensor of tags (e.g. a decoded path).
        segment_starts: A [batch_size, num_segments] int tensor of first positions ``s``.
        segment_ends: A [batch_size, num_segments] int tensor of exclusive ends ``e``; callers
            must keep ``0 <= s < e <= length``. Segments with ``e <= s`` (e.g. padding segments
            ``s = e = 0``) give 0 (the empty event has probability 1).
        start_transitions: Optional [num_tags] start scores.
        end_transitions: Optional [num_tags] end scores.
        transition_mask: Optional [num_tags, num_tags] bool/0-1 allowed transitions.
        start_mask: Optional [num_tags] bool/0-1 allowed first tags.
        end_mask: Optional [num_tags] bool/0-1 allowed last tags.

    Returns:
        A [batch_size, num_segments] tensor of log-probabilities (<= 0).
    """
    crf = _Crf(
        potentials,
        sequence_length,
        transition_params,
        start_transitions,
        end_transitions,
        transition_mask,
        start_mask,
        end_mask,
        name="potentials",
    )
    log_alpha, log_beta, log_z = _forward_backward(crf)
    mask = crf.seq_mask()  # [B, T]
    tags = tf.where(mask, tf.cast(tag_indices, tf.int32), 0)  # [B, T]
    k = tf.shape(crf.trans)[0]
    # c_t = A[y_{t-1}, y_t] + x[t, y_t] for t >= 1, c_0 = 0; prefix sums give segment interiors.
    pair = tf.gather(tf.reshape(crf.trans, [-1]), tags[:, :-1] * k + tags[:, 1:])  # [B, T-1]
    emit = tf.gather(crf.inputs, tags, batch_dims=2)  # [B, T]
    steps = tf.concat([tf.zeros_like(emit[:, :1]), pair + emit[:, 1:]], axis=1)  # [B, T]
    cums = tf.cumsum(steps, axis=1)  # [B, T]
    starts = tf.cast(segment_starts, tf.int32)  # [B, S]
    ends = tf.cast(segment_ends, tf.int32)  # [B, S]
    nonempty = ends > starts  # [B, S]
    max_pos = tf.shape(tags)[1] - 1
    s = tf.clip_by_value(starts, 0, max_pos)  # [B, S]
    last = tf.clip_by_value(ends - 1, 0, max_pos)  # [B, S]
    tag_s = tf.gather(tags, s, batch_dims=1)  # [B, S]
    tag_last = tf.gather(tags, last, batch_dims=1)  # [B, S]
    alpha_s = tf.gather_nd(log_alpha, tf.stack([s, tag_s], axis=-1), batch_dims=1)  # [B, S]
    beta_last = tf.gather_nd(log_beta, tf.stack([last, tag_last], axis=-1), batch_dims=1)  # [B, S]
    inner = tf.gather(cums, last, batch_dims=1) - tf.gather(cums, s, batch_dims=1)  # [B, S]
    log_prob = alpha_s + inner + beta_last - log_z[:, tf.newaxis]  # [B, S]
    return tf.where(nonempty, log_prob, tf.zeros_like(log_prob))


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


def _decode_crf(potentials, transition_params, sequence_length, kw) -> _Crf:
    return _Crf(
        potentials,
        sequence_length,
        transition_params,
        kw["start_transitions"],
        kw["end_transitions"],
        kw["transition_mask"],
        kw["start_mask"],
        kw["end_mask"],
        fill=-np.inf,
        name="potentials",
    )


def _viterbi(crf: _Crf) -> tuple[tf.Tensor, tf.Tensor]:
    """Viterbi in tags-major layout; back-pointers are recomputed only along the best path.

    Tags-major ([K, B]) steps vectorise over the batch. The forward pass keeps only the max-plus
    scores ``alpha`` [T, K, B] (no argmax, no back-pointer table); the backtrack recomputes
    ``argmax_i(alpha[t-1, i] + A[i, y_t])`` for the one tag ``y_t`` of each row, a [K, B] step
    instead of a [K, K, B] one. The recomputed sums are the same float operations as in the
    forward pass, so the decoded path is the one a back-pointer table would give (first maximum
    on ties).
    """
    x = crf.inputs  # [B, T, K]
    batch = tf.shape(x)[0]
    if crf.max_len == 0:  # static empty time axis (None when dynamic)
        return tf.zeros([batch, 0], tf.int32), tf.zeros([batch], tf.float32)
    num_tags = crf.num_tags
    n = _static_or_dynamic(x, 1)
    lengths = crf.lengths  # [B]
    trans = crf.trans  # [K, K]
    # Step t is read as the transposed slice x[:, t]^T [K, B], which XLA fuses into the step
    # (cheaper than transposing all of x up front).
    alpha0 = tf.transpose(x[:, 0]) + crf.start[:, tf.newaxis]  # [K, B]

    def fwd(t, ta):
        # Only the table is carried: alpha_{t-1} is read back from it, so the step and the table
        # write form a single in-place XLA fusion (a separately carried alpha would make XLA
        # compute the step twice, or run two independent kernels per step on two threads).
        alpha = ta.read(t - 1)  # [K, B]
        new_alpha = tf.transpose(x[:, t]) + _max_plus_tags_major(alpha, trans, num_tags)  # [K, B]
        alpha = tf.where((t < lengths)[tf.newaxis], new_alpha, alpha)  # carried past the end
        return t + 1, ta.write(t, alpha)

    alphas = tf.TensorArray(x.dtype, size=n, element_shape=alpha0.shape, clear_after_read=False)
    _, alphas = tf.while_loop(
        lambda t, *_: t < n, fwd, (tf.constant(1), alphas.write(0, alpha0)), maximum_iterations=n
    )
    alphas = alphas.stack()  # [T, K, B]; t >= length holds the alpha of length - 1
    alpha = alphas[n - 1]  # [K, B]
    final = alpha + crf.end[:, tf.newaxis]  # [K, B]
    best_score = tf.reduce_max(final, axis=0)  # [B]
    last_tag = _first_argmax_tags_major(final, num_tags)  # [B]

    def back(t, tag, ta):
        ta = ta.write(t, tag)
        scores = alphas[t - 1] + tf.gather(trans, tag, axis=1)  # [K(from), B]
        prev = _first_argmax_tags_major(scores, num_tags)  # [B]
        return t - 1, tf.where(t < lengths, prev, tag), ta  # past the end: keep the last tag

    out = tf.TensorArray(tf.int32, size=n, element_shape=last_tag.shape)
    _, first_tag, out = tf.while_loop(
        lambda t, *_: t >= 1, back, (n - 1, last_tag, out), maximum_iterations=n
    )
    tags = tf.transpose(out.write(0, first_tag).stack())  # [B, T]
    tags = tf.where(crf.seq_mask(), tags, tf.zeros_like(tags))
    best_score = tf.where(lengths > 0, best_score, tf.zeros_like(best_score))
    return tags, tf.cast(best_score, tf.float32) if crf.dtype != tf.float64 else best_score


def crf_decode(
    potentials,
    transition_params,
    sequence_length,
    *,
    start_transitions=None,
    end_transitions=None,
    transition_mask=None,
    start_mask=None,
    end_mask=None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Decodes the highest scoring tag sequence (Viterbi) in TensorFlow.

    Args:
        potentials: A [batch_size, max_seq_len, num_tags] tensor of unary potentials.
        transition_params: A [num_tags, num_tags] transition matrix ``[from, to]``.
        sequence_length: A [batch_size] int vector of true sequence lengths.
        start_transitions: Optional [num_tags] start scores.
        end_transitions: Optional [num_tags] end scores.
        transition_mask: Optional [num_tags, num_tags] bool/0-1 allowed transitions (forbidden ones
            are never decoded while any allowed path exists).
        start_mask: Optional [num_tags] bool/0-1 allowed first tags.
        end_mask: Optional [num_tags] bool/0-1 allowed last tags.

    Returns:
        decode_tags: A [batch_size, max_seq_len] int32 tensor of the best tags, 0 past each length.
        best_score: A [batch_size] float32 (float64 for float64 potentials) tensor of the best path
            scores, 0 for length-0 rows, ``-inf`` if constraints leave no allowed path.
    """
    kw = {
        "start_transitions": start_transitions,
        "end_transitions": end_transitions,
        "transition_mask": transition_mask,
        "start_mask": start_mask,
        "end_mask": end_mask,
    }
    return _viterbi(_decode_crf(potentials, transition_params, sequence_length, kw))


def _viterbi_nbest(crf: _Crf, k: int) -> tuple[tf.Tensor, tf.Tensor]:
    x = crf.inputs  # [B, T, K]
    batch = tf.shape(x)[0]
    num_tags = tf.shape(x)[2]
    if crf.max_len == 0:  # static empty time axis (None when dynamic)
        empty = tf.concat(
            [
                tf.zeros([batch, 1], crf.dtype),
                tf.fill([batch, k - 1], tf.constant(-np.inf, crf.dtype)),
            ],
            axis=1,
        )  # [B, k]: one empty path of score 0
        return tf.zeros([batch, k, 0], tf.int32), empty
    neg_inf = tf.constant(-np.inf, crf.dtype)
    x_tm = tf.transpose(x, [1, 0, 2])  # [T, B, K]
    n = _static_or_dynamic(x_tm, 0)
    lengths = crf.lengths
    first = (x_tm[0] + crf.start)[:, :, tf.newaxis]  # [B, K, 1]
    # State (tag j, rank r): the r-th best score of a prefix ending in j. Only rank 0 exists at t=0.
    rest = tf.fill(tf.stack([batch, num_tags, k - 1]), neg_inf)  # [B, K, k-1]
    alpha0 = tf.concat([first, rest], axis=2)  # [B, K, k]
    identity = tf.reshape(tf.range(num_tags * k), [1, -1, k])  # [1, K, k] flat (i, r) = i*k + r
    trans = crf.trans[tf.newaxis, :, tf.newaxis, :]  # [1, K(from), 1, K(to)]

    def fwd(t, alpha, ta):
        cand = alpha[:, :, :, tf.newaxis] + trans  # [B, K(from), k, K(to)]
        cand = tf.reshape(cand, tf.stack([batch, num_tags * k, num_tags]))  # [B, K*k, K]
        cand = tf.transpose(cand, [0, 2, 1])  # [B, K(to), K*k]
        best, back = tf.math.top_k(cand, k=k, sorted=True)  # [B, K, k] each
        valid = (t < lengths)[:, tf.newaxis, tf.newaxis]  # [B, 1, 1]
        alpha = tf.where(valid, best + x_tm[t][:, :, tf.newaxis], alpha)  # [B, K, k]
        back = tf.where(valid, back, identity)  # [B, K, k]
        return t + 1, alpha, ta.write(t, back)

    bps = tf.TensorArray(tf.int32, size=n, element_shape=alpha0.shape)
    bps = bps.write(0, tf.zeros_like(alpha0, tf.int32))
    _, alpha, bps = tf.while_loop(
        lambda t, *_: t < n, fwd, (tf.constant(1), alpha0, bps), maximum_iterations=n
    )
    final = alpha + crf.end[tf.newaxis, :, tf.newaxis]  # [B, K, k]
    final = tf.reshape(final, tf.stack([batch, num_tags * k]))  # [B, K*k]
    scores, flat = tf.math.top_k(final, k=k, sorted=True)  # [B, k] each
    bps = tf.reshape(bps.stack(), tf.stack([n, batch, num_tags * k, 1]))  # [T, B, K*k, 1]

    def back(t, state, ta):
        ta = ta.write(t, state // k)  # tags at t: [B, k]
        prev = tf.gather(bps[t], state, batch_dims=1)[:, :, 0]  # [B, k] flat (i, r)
        return t - 1, prev, ta

    out = tf.TensorArray(tf.int32, size=n)
    _, _, out = tf.while_loop(lambda t, *_: t >= 0, back, (n - 1, flat, out), maximum_iterations=n)
    tags = tf.transpose(out.stack(), [1, 2, 0])  # [B, k, T]
    exists = scores > neg_inf  # [B, k]
    keep = tf.logical_and(crf.seq_mask()[:, tf.newaxis, :], exists[:, :, tf.newaxis])
    tags = tf.where(keep, tags, tf.zeros_like(tags))  # [B, k, T]
    # A length-0 row has exactly one (empty) path, of score 0.
    empty_row = tf.concat(
        [tf.zeros([batch, 1], crf.dtype), tf.fill(tf.stack([batch, k - 1]), neg_inf)], axis=1
    )  # [B, k]
    scores = tf.where((lengths > 0)[:, tf.newaxis], scores, empty_row)
    return tags, scores


def crf_decode_nbest(
    potentials,
    transition_params,
    sequence_length,
    k: int,
    *,
    start_transitions=None,
    end_transitions=None,
    transition_mask=None,
    start_mask=None,
    end_mask=None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Exact k-best Viterbi decoding (the top ``k`` paths per state are kept at every step).

    Args:
        potentials: A [batch_size, max_seq_len, num_tags] tensor of unary potentials.
        transition_params: A [num_tags, num_tags] transition matrix ``[from, to]``.
        sequence_length: A [batch_size] int vector of true sequence lengths.
        k: Number of paths to return, a Python int >= 1.
        start_transitions: Optional [num_tags] start scores.
        end_transitions: Optional [num_tags] end scores.
        transition_mask: Optional [num_tags, num_tags] bool/0-1 allowed transitions.
        start_mask: Optional [num_tags] bool/0-1 allowed first tags.
        end_mask: Optional [num_tags] bool/0-1 allowed last tags.

    Returns:
        tags: A [batch_size, k, max_seq_len] int32 tensor, best path first, 0 past each length.
        scores: A [batch_size, k] float32 (float64 for float64 potentials) tensor, descending.
            When a row has fewer than ``k`` (allowed) paths, the missing ranks have score ``-inf``
            and all-zero tags. A length-0 row has one empty path: scores ``[0, -inf, ...]``.
            Tied scores are ordered arbitrarily.

    Raises:
        ValueError: If ``k`` is not a positive int.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"`k` must be a positive integer, received {k!r}")
    kw = {
        "start_transitions": start_transitions,
        "end_transitions": end_transitions,
        "transition_mask": transition_mask,
        "start_mask": start_mask,
        "end_mask": end_mask,
    }
    return _viterbi_nbest(_decode_crf(potentials, transition_params, sequence_length, kw), int(k))


def viterbi_decode(score, transition_params) -> tuple[list[int], float]:
    """Decodes one sequence outside TensorFlow with NumPy (Addons ``viterbi_decode``).

    Args:
        score: A [seq_len, num_tags] array of unary potentials.
        transition_params: A [num_tags, num_tags] array of transitions ``[from, to]``.

    Returns:
        The best tag list and its score.
    """
    score = np.asarray(score, dtype=np.float64)
    trans = np.asarray(transition_params, dtype=np.float64)
    trellis = score[0].copy()  # [K]
    backs = []
    for t in range(1, score.shape[0]):
        cand = trellis[:, None] + trans  # [K, K]
        backs.append(cand.argmax(axis=0))
        trellis = cand.max(axis=0) + score[t]
    path = [int(trellis.argmax())]
    for back in reversed(backs):
        path.append(int(back[path[-1]]))
    path.reverse()
    return path, float(trellis.max())
