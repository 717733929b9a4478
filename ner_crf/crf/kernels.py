"""The CRF recursions behind :mod:`ner_crf.crf.ops`: forward, backward, Viterbi, n-best.

Everything here is traced inside the XLA-compiled cores of :mod:`ner_crf.crf.ops` (or, with XLA
switched off, into the caller's graph); nothing here is public API. Shapes: ``B`` batch, ``T``
time, ``K`` tags. Time loops are ``tf.while_loop`` over time-major copies of the inputs.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from ner_crf.crf.constraints import FORBIDDEN_SCORE

# --------------------------------------------------------------------------------------------
# Preparation helpers
# --------------------------------------------------------------------------------------------


def compute_dtype(dtype: tf.DType) -> tf.DType:
    """float64 stays float64, every other float dtype is computed in float32."""
    return tf.float64 if dtype == tf.float64 else tf.float32


def as_float(x, dtype: tf.DType) -> tf.Tensor:
    """Reads variables into tensors (``gather`` on a variable has no XLA kernel) and casts."""
    return tf.cast(tf.convert_to_tensor(x), dtype)


def check_inputs(inputs: tf.Tensor, name: str) -> None:
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
    x = as_float(x, dtype)
    if x.shape.rank is not None and x.shape.rank != 1:
        raise ValueError(f"`{name}` must be [num_tags], got shape {x.shape}")
    return x


def apply_mask(scores: tf.Tensor, mask, fill: float) -> tf.Tensor:
    """Replaces the entries of ``scores`` where ``mask`` is False/0 by ``fill``."""
    if mask is None:
        return scores
    mask = tf.convert_to_tensor(mask)
    if mask.dtype != tf.bool:
        mask = tf.not_equal(mask, tf.zeros([], mask.dtype))
    return tf.where(mask, scores, tf.constant(fill, scores.dtype))


class Crf:
    """Inputs of one CRF call, cast to the compute dtype and with the masks applied."""

    def __init__(
        self,
        inputs,
        sequence_lengths,
        transition_params,
        *,
        fill: float = FORBIDDEN_SCORE,
        name: str = "inputs",
        **extras,
    ):
        """``extras``: the optional keywords of :mod:`ner_crf.crf.ops` (start / end scores and
        transition / start / end masks), None where absent."""
        start_transitions, end_transitions = (
            extras.get("start_transitions"),
            extras.get("end_transitions"),
        )
        transition_mask, start_mask, end_mask = (
            extras.get(n) for n in ("transition_mask", "start_mask", "end_mask")
        )
        inputs = tf.convert_to_tensor(inputs)
        check_inputs(inputs, name)
        self.dtype = compute_dtype(inputs.dtype)
        self.inputs = tf.cast(inputs, self.dtype)  # [B, T, K]
        self.num_tags = inputs.shape[2]
        trans = as_float(transition_params, self.dtype)
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
        self.trans = apply_mask(trans, transition_mask, fill)  # [K, K]
        self.start = apply_mask(start, start_mask, fill)  # [K]
        self.end = apply_mask(end, end_mask, fill)  # [K]

    def seq_mask(self) -> tf.Tensor:
        return tf.sequence_mask(self.lengths, tf.shape(self.inputs)[1])  # [B, T] bool


def transpose_ints(x: tf.Tensor, perm=None) -> tf.Tensor:
    """``tf.transpose`` of an int32 tensor through int64: TF 2.21's oneDNN prints an error line
    (``oneDNN supports DT_INT32 only on platforms with AVX-512``) for int32 / bool transposes
    outside XLA."""
    return tf.cast(tf.transpose(tf.cast(x, tf.int64), perm), x.dtype)


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


def forward_final(x: tf.Tensor, alpha0: tf.Tensor, trans: tf.Tensor, valid: tf.Tensor):
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


def alpha_pass(crf: Crf) -> tuple[tf.Tensor, tf.Tensor]:
    """Forward recursion over a prepared CRF: alphas [T, B, K] (carried past each length) and
    log Z [B] (0 for length-0 rows). Needs a time length >= 1."""
    x_tm = tf.transpose(crf.inputs, [1, 0, 2])  # [T, B, K]
    alphas, alpha_last = _alpha_table(x_tm, crf.trans, crf.start, crf.lengths)
    log_z = _logsumexp(alpha_last + crf.end, axis=1)  # [B]
    return alphas, tf.where(crf.lengths > 0, log_z, tf.zeros_like(log_z))


def log_norm(crf: Crf, alphas: tf.Tensor | None = None) -> tf.Tensor:
    """log Z with a forward-backward gradient (exact, no autodiff through the time loop).

    Differentiating through the loop would also differentiate the underflow fallback branch of
    :class:`_LseStep` at every step, which is several times slower under XLA. The gradient is
    first-order only.

    Args:
        crf: The prepared inputs.
        alphas: The [T, B, K] alphas of :func:`alpha_pass` when already computed (the backward
            core gets them from the forward core): then only the backward pass runs here.
    """
    if crf.max_len == 0:  # static empty time axis (None when dynamic)
        return tf.zeros(tf.shape(crf.inputs)[:1], crf.dtype)
    lengths = crf.lengths  # [B]
    nonempty = lengths > 0  # [B]

    @tf.custom_gradient
    def run(x, trans, start, end):
        x_tm = tf.transpose(x, [1, 0, 2])  # [T, B, K]
        if alphas is None:
            table, alpha_last = _alpha_table(x_tm, trans, start, lengths)  # [T, B, K], [B, K]
        else:
            table, alpha_last = alphas, alphas[-1]  # alphas are carried past each length
        log_z = _logsumexp(alpha_last + end, axis=1)  # [B]
        log_z = tf.where(nonempty, log_z, tf.zeros_like(log_z))

        def grad(dz):
            dz = tf.where(nonempty, dz, tf.zeros_like(dz))  # [B]
            betas = _beta_table(x_tm, trans, end, lengths)  # [T, B, K]
            valid = (
                tf.range(tf.shape(x_tm)[0])[:, tf.newaxis] < lengths
            )  # [T, B], no bool transpose
            log_p = table + betas - log_z[:, tf.newaxis]  # [T, B, K] log marginals
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
            m = tf.reduce_max(table[:-1], axis=2, keepdims=True)  # [T-1, B, 1]
            col_max = tf.reduce_max(trans, axis=0)  # [K]
            log_w = x_tm[1:] + betas[1:] - log_z[:, tf.newaxis] + m + col_max  # [T-1, B, K]
            neg_inf = tf.constant(-np.inf, log_w.dtype)
            log_w = tf.where(valid_pair, log_w, neg_inf)
            limit = -math.log(float(np.finfo(log_w.dtype.as_numpy_dtype).tiny) * 1e8)
            num_tags = tf.shape(trans)[0]

            def fast_pairs():
                u = tf.exp(table[:-1] - m)  # [T-1, B, K]
                u = tf.where(valid_pair, u, tf.zeros_like(u))  # padding may hold inf / NaN
                u = tf.reshape(u, [-1, num_tags])  # [(T-1)*B, K]
                w = tf.exp(log_w) * dz[:, tf.newaxis]  # [T-1, B, K]
                w = tf.reshape(w, [-1, num_tags])  # [(T-1)*B, K]
                return tf.exp(trans - col_max) * tf.matmul(u, w, transpose_a=True)  # [K, K]

            def exact_pairs():
                log_pair = (
                    table[:-1, :, :, tf.newaxis]
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

    return run(crf.inputs, crf.trans, crf.start, crf.end)


def forward_backward(crf: Crf):
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


def viterbi(crf: Crf) -> tuple[tf.Tensor, tf.Tensor]:
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
    tags = transpose_ints(out.write(0, first_tag).stack())  # [B, T]
    tags = tf.where(crf.seq_mask(), tags, tf.zeros_like(tags))
    best_score = tf.where(lengths > 0, best_score, tf.zeros_like(best_score))
    return tags, tf.cast(best_score, tf.float32) if crf.dtype != tf.float64 else best_score


def viterbi_nbest(crf: Crf, k: int) -> tuple[tf.Tensor, tf.Tensor]:
    x = crf.inputs  # [B, T, K]
    batch = _static_or_dynamic(x, 0)
    num_tags = _static_or_dynamic(x, 2)
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
    tags = transpose_ints(out.stack(), [1, 2, 0])  # [B, k, T]
    exists = scores > neg_inf  # [B, k]
    keep = tf.logical_and(crf.seq_mask()[:, tf.newaxis, :], exists[:, :, tf.newaxis])
    tags = tf.where(keep, tags, tf.zeros_like(tags))  # [B, k, T]
    # A length-0 row has exactly one (empty) path, of score 0.
    empty_row = tf.concat(
        [tf.zeros([batch, 1], crf.dtype), tf.fill(tf.stack([batch, k - 1]), neg_inf)], axis=1
    )  # [B, k]
    scores = tf.where((lengths > 0)[:, tf.newaxis], scores, empty_row)
    return tags, scores


def path_score(crf: Crf, tag_indices) -> tf.Tensor:
    """Score [B] of the given tag paths (start, emissions, transitions, end; 0 for length 0)."""
    mask = crf.seq_mask()  # [B, T]
    tags = tf.where(mask, tf.cast(tag_indices, tf.int32), 0)  # [B, T]; padding may be garbage
    unary = tf.gather(crf.inputs, tags, batch_dims=2)  # [B, T]
    score = tf.reduce_sum(tf.where(mask, unary, tf.zeros_like(unary)), axis=1)  # [B]
    if crf.max_len == 0:  # static empty time axis
        return score
    k = tf.shape(crf.trans)[0]
    pairs = tf.gather(tf.reshape(crf.trans, [-1]), tags[:, :-1] * k + tags[:, 1:])  # [B, T-1]
    score += tf.reduce_sum(tf.where(mask[:, 1:], pairs, tf.zeros_like(pairs)), axis=1)
    last = tf.gather(tags, tf.maximum(crf.lengths - 1, 0), batch_dims=1)  # [B]
    ends = tf.gather(crf.start, tags[:, 0]) + tf.gather(crf.end, last)  # [B]
    return score + tf.where(crf.lengths > 0, ends, tf.zeros_like(ends))


# --------------------------------------------------------------------------------------------
# Cores: whole computations compiled as one XLA cluster each by ner_crf.crf.ops
# --------------------------------------------------------------------------------------------
# Arguments: ``x`` [B, T, K] (T >= 1 at run time), ``lengths`` [B], ``trans`` [K, K] and the
# optional keywords of the public functions (``extras``; None where absent), raw (uncast,
# unmasked): the cores cast and mask, so gradients w.r.t. the raw arguments come out right.


def nll_forward(x, tags, lengths, trans, extras, with_score: bool):
    """``score(tags) - log Z`` (or ``log Z`` without score) [B] and the alphas [T, B, K]."""
    crf = Crf(x, lengths, trans, **extras)
    alphas, log_z = alpha_pass(crf)
    out = path_score(crf, tags) - log_z if with_score else log_z
    return out, alphas


def nll_backward(x, tags, lengths, trans, extras, with_score: bool, alphas, d_out):
    """Gradients of :func:`nll_forward`'s output w.r.t. ``x``, ``trans`` and the present
    ``start_transitions`` / ``end_transitions``, given its alphas (no second forward pass)."""
    params = _score_params(x, trans, extras)
    with tf.GradientTape() as tape:
        tape.watch(params)
        crf = Crf(x, lengths, trans, **extras)
        out = log_norm(crf, alphas)
        if with_score:
            out = path_score(crf, tags) - out
    return tape.gradient(out, params, output_gradients=d_out)


def decode(x, lengths, trans, extras):
    """Viterbi: tags [B, T] int32, scores [B]."""
    return viterbi(Crf(x, lengths, trans, **extras, fill=-np.inf, name="potentials"))


def decode_nbest(x, lengths, trans, extras, k: int):
    """k-best Viterbi: tags [B, k, T] int32, scores [B, k]."""
    return viterbi_nbest(Crf(x, lengths, trans, **extras, fill=-np.inf, name="potentials"), k)


def marginal_tables(x, lengths, trans, extras):
    """log alpha [B, T, K], log beta [B, T, K] (0 at padding) and log Z [B]."""
    return forward_backward(Crf(x, lengths, trans, **extras, name="potentials"))


def _score_params(x, trans, extras) -> list:
    scores = [extras[name] for name in ("start_transitions", "end_transitions")]
    return [x, trans] + [s for s in scores if s is not None]


def marginal_tables_grad(x, lengths, trans, extras, d_alpha, d_beta, d_log_z):
    """Gradients of :func:`marginal_tables` w.r.t. ``x``, ``trans`` and the present start / end
    scores (autodiff through the loops, inside one XLA cluster)."""
    params = _score_params(x, trans, extras)
    with tf.GradientTape() as tape:
        tape.watch(params)
        tables = marginal_tables(x, lengths, trans, extras)
    return tape.gradient(tables, params, output_gradients=[d_alpha, d_beta, d_log_z])
