"""Linear-chain CRF functions in TensorFlow: all of ``tfa.text``'s CRF API, and a few more.

Conventions shared by every function:

* ``inputs`` / ``potentials`` are batch-major unary scores ``[batch, max_seq_len, num_tags]`` of
  any float dtype. float16 / bfloat16 / float32 are computed and returned in float32; float64 is
  computed and returned in float64.
* ``transition_params`` is ``[num_tags, num_tags]`` with orientation ``[from, to]``.
* ``sequence_lengths`` is ``[batch]`` int32 or int64; sequences are right-padded and positions
  ``t >= length`` are ignored whatever they hold (tag ids there may even be out of range). Lengths
  are clipped to ``[0, max_seq_len]``. A length of 0 gives score 0, log-normaliser 0,
  log-likelihood 0, all-zero decoded tags and decoded score 0. A bool or 2-D tensor (a mask) is
  refused with a ValueError.
* Keyword-only extras beyond Addons (defaults keep Addons behaviour), accepted by every function
  that takes potentials and transitions:

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

**Speed: nested XLA.** The time loops (forward, backward, Viterbi, n-best) run inside small
``tf.function(jit_compile=True)`` cores, whatever the caller does: eagerly, inside a plain
``tf.function`` (also Keras ``fit`` / ``evaluate`` / ``predict``), or inside the caller's own
``jit_compile=True`` function (where the cores are simply part of the caller's cluster). The
log-likelihood runs as two cores, forward (returns the alphas) and backward (forward-backward
gradient from those alphas), joined by ``tf.custom_gradient``; gradients are first-order only.
Before a core is called the batch and time axes are zero-padded up to a *bucket* size (1-8, then
four sizes per octave: 10, 12, 14, 16, 20, 24, 28, 32, 40, ...; at most 25 % padding), so the
number of distinct compiled shapes stays small: a new bucket costs one trace and one XLA
compilation (``scripts/bench_crf.py --what compile`` prints it), later calls reuse it. A time
length that is unknown when tracing, and a time length of 0 at run time, are both fine.
:func:`xla_disabled` switches the nesting off (plain TensorFlow ops, e.g. for graph converters).

Numerics: the forward/backward recursions use ``log(exp(alpha - max) @ exp(A - colmax))`` (one
small matmul per step) and fall back to the exact broadcast log-sum-exp wherever that sum could
underflow, so results are exact (to float rounding) in every case.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import inspect
import logging
import math
from collections.abc import Iterator

import numpy as np
import tensorflow as tf

from ner_crf.crf import kernels
from ner_crf.crf.constraints import FORBIDDEN_SCORE

logger = logging.getLogger(__name__)

__all__ = [
    "FORBIDDEN_SCORE",
    "bucket_size",
    "crf_binary_score",
    "crf_constrained_decode",
    "crf_decode",
    "crf_decode_backward",
    "crf_decode_forward",
    "crf_decode_nbest",
    "crf_filtered_inputs",
    "crf_forward",
    "crf_forward_backward",
    "crf_log_likelihood",
    "crf_log_norm",
    "crf_marginals",
    "crf_multitag_sequence_score",
    "crf_segment_log_prob",
    "crf_sequence_score",
    "crf_unary_score",
    "viterbi_decode",
    "xla_disabled",
]

# --------------------------------------------------------------------------------------------
# The optional keywords every potentials + transitions function accepts
# --------------------------------------------------------------------------------------------

_EXTRAS = ("start_transitions", "end_transitions", "transition_mask", "start_mask", "end_mask")

_EXTRAS_DOC = """
    Keyword-only extras (see the module docstring; None = absent):
        start_transitions: Optional [num_tags] start scores.
        end_transitions: Optional [num_tags] end scores.
        transition_mask: Optional [num_tags, num_tags] bool/0-1 allowed transitions.
        start_mask: Optional [num_tags] bool/0-1 allowed first tags.
        end_mask: Optional [num_tags] bool/0-1 allowed last tags.
"""


def _takes_extras(fn, convert: bool = True):
    """Gives ``fn(..., **extras)`` the five keyword-only extras: signature, docs, checking.

    ``fn`` receives them as one dict ``extras`` (every name present, None where not given), with
    array-likes converted to tensors (``convert=True``) or as given.
    """
    own = [p for p in inspect.signature(fn).parameters.values() if p.kind is not p.VAR_KEYWORD]
    sig = inspect.signature(fn).replace(parameters=own)  # binds the arguments without extras
    params = list(own)
    params += [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None) for n in _EXTRAS]

    # Not converted by AutoGraph: nothing here branches on tensors, and AutoGraph caches
    # conversions per code object, which every wrapper shares (it would call the wrong `fn`).
    @tf.autograph.experimental.do_not_convert
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        extras = {}
        for name in _EXTRAS:
            value = kwargs.pop(name, None)
            extras[name] = value if value is None or not convert else tf.convert_to_tensor(value)
        bound = sig.bind(*args, **kwargs)  # TypeError for unknown or missing arguments
        return fn(*bound.args, **bound.kwargs, **extras)

    wrapper.__signature__ = sig.replace(parameters=params)
    wrapper.__doc__ = (fn.__doc__ or "").rstrip() + "\n" + _EXTRAS_DOC
    return wrapper


# --------------------------------------------------------------------------------------------
# Dispatch: bucketing and the nested XLA cores
# --------------------------------------------------------------------------------------------

_XLA = {"enabled": True}


@contextlib.contextmanager
def xla_disabled() -> Iterator[None]:
    """Builds plain TensorFlow graphs (no nested XLA cores) for calls traced in this block.

    For tools that cannot read XLA clusters (graph converters such as tf2onnx); the results are
    the same, only slower on CPU.
    """
    previous = _XLA["enabled"]
    _XLA["enabled"] = False
    try:
        yield
    finally:
        _XLA["enabled"] = previous


def _bucket_sizes() -> list[int]:
    sizes = list(range(1, 9))
    exponent = 3
    while sizes[-1] < 2**26:
        step = 2 ** (exponent - 2)
        sizes += [2**exponent + i * step for i in range(1, 5)]
        exponent += 1
    return sizes


_BUCKETS = _bucket_sizes()


def bucket_size(n: int) -> int:
    """The padded size of an axis of size ``n``: 1..8 as is (0 becomes 1), then 4 per octave."""
    return _BUCKETS[bisect.bisect_left(_BUCKETS, max(int(n), 1))]


class _Padded:
    """Batch and time axes padded to bucket sizes (zeros; padded rows have length 0)."""

    def __init__(self, x: tf.Tensor, lengths: tf.Tensor, others: list):
        batch, time = x.shape[0], x.shape[1]
        lengths = tf.cast(lengths, tf.int32)
        if batch is not None and time is not None:
            pad_b, pad_t = bucket_size(batch) - batch, bucket_size(time) - time
            self.size = (batch, time)
            self.padded = bool(pad_b or pad_t)
        else:
            shape = tf.shape(x)
            sizes = tf.stack([shape[0], shape[1]])
            buckets = tf.constant(_BUCKETS, tf.int32)
            target = tf.gather(buckets, tf.searchsorted(buckets, tf.maximum(sizes, 1)))
            pad_b, pad_t = tf.unstack(target - sizes)
            self.size = (shape[0], shape[1])
            self.padded = True
        self.x, self.lengths, self.others = x, lengths, others
        if self.padded:
            lengths = tf.clip_by_value(lengths, 0, self.size[1])  # before the time axis grows
            self.x = tf.pad(x, [[0, pad_b], [0, pad_t], [0, 0]])
            self.lengths = tf.pad(lengths, [[0, pad_b]])
            self.others = [
                None
                if o is None
                else tf.pad(o, [[0, pad_b], [0, pad_t]] + [[0, 0]] * (o.shape.rank - 2))
                for o in others
            ]

    def rows(self, y: tf.Tensor) -> tf.Tensor:
        return y[: self.size[0]] if self.padded else y

    def rows_time(self, y: tf.Tensor, time_axis: int = 1) -> tf.Tensor:
        if not self.padded:
            return y
        index = [slice(None)] * y.shape.rank
        index[0], index[time_axis] = slice(0, self.size[0]), slice(0, self.size[1])
        return y[tuple(index)]


def _core(fn):
    """``fn`` compiled as its own XLA cluster (traced per bucket shape, dtype and None pattern)."""
    compiled = tf.function(fn, jit_compile=True, autograph=False)
    return lambda *args: (compiled if _XLA["enabled"] else fn)(*args)


_nll_forward = _core(kernels.nll_forward)
_nll_backward = _core(kernels.nll_backward)
_decode = _core(kernels.decode)
_decode_nbest = _core(kernels.decode_nbest)
_marginal_tables = _core(kernels.marginal_tables)
_marginal_tables_grad = _core(kernels.marginal_tables_grad)


def _prepare(inputs, sequence_lengths, name: str = "inputs"):
    """Checks the arguments every public function takes; returns the inputs as a tensor."""
    inputs = tf.convert_to_tensor(inputs)
    kernels.check_inputs(inputs, name)
    lengths = tf.convert_to_tensor(sequence_lengths)
    if (
        lengths.dtype == tf.bool
        or not lengths.dtype.is_integer
        or lengths.shape.rank not in (None, 1)
    ):
        raise ValueError(
            f"sequence lengths must be an int [batch] vector, got {lengths.dtype.name} of shape "
            f"{lengths.shape}; for a [batch, time] mask pass "
            "tf.reduce_sum(tf.cast(mask, tf.int32), axis=1) (the mask must be right-padded)"
        )
    return inputs, lengths


def _tags_like(tag_indices, inputs: tf.Tensor) -> tf.Tensor:
    """int32 tags cut to the time length of ``inputs`` (Addons accepts longer tag rows)."""
    tags = tf.cast(tag_indices, tf.int32)
    if tags.shape.rank == 2 and tags.shape[1] is not None and tags.shape[1] == inputs.shape[1]:
        return tags
    return tags[:, : tf.shape(inputs)[1]]


def _empty_time(inputs: tf.Tensor) -> bool:
    return inputs.shape[1] == 0


def _stopped(*tensors):
    """The tensors (None passes) cut from any gradient tape: the cores are then called as plain
    inference functions (a recorded call would make TensorFlow differentiate through the XLA
    cluster, which cannot return the loops' TensorLists); gradients come from the cores' own
    backward functions through ``tf.custom_gradient``."""
    return [None if t is None else tf.stop_gradient(t) for t in tensors]


def _differentiable(x, trans, extras, forward, backward):
    """``forward(x, trans, extras) -> (outputs, saved)`` with the gradient
    ``backward(x, trans, extras, saved, *d_outputs)`` w.r.t. ``x``, ``trans`` and the given
    start / end scores."""
    names = ("start_transitions", "end_transitions")
    present = [extras[n] is not None for n in names]

    @tf.custom_gradient
    def run(x, trans, *given):
        args = dict(extras)
        scores = iter(_stopped(*given))
        args.update({n: next(scores) if p else None for n, p in zip(names, present, strict=True)})
        x_in, trans_in = _stopped(x, trans)
        outputs, saved = forward(x_in, trans_in, args)

        def grad(*d_outputs):
            return backward(x_in, trans_in, args, saved, *_stopped(*d_outputs))

        return outputs, grad

    return run(x, tf.convert_to_tensor(trans), *(extras[n] for n in names if extras[n] is not None))


def _nll(inputs, tags, lengths, trans, extras, with_score: bool) -> tf.Tensor:
    """``score(tags) - log Z`` (or ``log Z``) [B] through the forward / backward cores."""
    if _empty_time(inputs):
        return tf.zeros(tf.shape(inputs)[:1], kernels.compute_dtype(inputs.dtype))
    pad = _Padded(inputs, lengths, [tags])
    (tags,) = pad.others

    def forward(x, trans, args):
        return _nll_forward(x, tags, pad.lengths, trans, args, with_score)

    def backward(x, trans, args, alphas, d_out):
        return _nll_backward(x, tags, pad.lengths, trans, args, with_score, alphas, d_out)

    return pad.rows(_differentiable(pad.x, trans, extras, forward, backward))


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
    inputs, lengths = _prepare(inputs, sequence_lengths)
    inputs = tf.cast(inputs, kernels.compute_dtype(inputs.dtype))
    lengths = tf.clip_by_value(tf.cast(lengths, tf.int32), 0, tf.shape(inputs)[1])
    mask = tf.sequence_mask(lengths, tf.shape(inputs)[1])  # [B, T]
    tags = tf.where(mask, _tags_like(tag_indices, inputs), 0)  # [B, T]
    unary = tf.gather(inputs, tags, batch_dims=2)  # [B, T]
    return tf.reduce_sum(tf.where(mask, unary, tf.zeros_like(unary)), axis=1)  # [B]


@_takes_extras
def crf_binary_score(tag_indices, sequence_lengths, transition_params, **extras) -> tf.Tensor:
    """Computes the binary (transition) scores of tag sequences.

    The start and end scores are transitions out of an implicit START state and into an implicit
    END state, so they are counted here (and not in :func:`crf_unary_score`).

    Args:
        tag_indices: A [batch_size, max_seq_len] int tensor of tag indices.
        sequence_lengths: A [batch_size] int vector of true sequence lengths.
        transition_params: A [num_tags, num_tags] matrix of binary potentials ``[from, to]``.

    Returns:
        A [batch_size] vector of binary scores (in float32, or float64 for float64 transitions).
    """
    trans = tf.convert_to_tensor(transition_params)
    tags = tf.convert_to_tensor(tag_indices)
    shape = tf.concat([tf.shape(tags), tf.shape(trans)[:1]], axis=0)
    zeros = tf.zeros(shape, kernels.compute_dtype(trans.dtype))  # [B, T, K]: no emissions
    return crf_sequence_score(zeros, tags, sequence_lengths, trans, **extras)


@_takes_extras
def crf_sequence_score(
    inputs, tag_indices, sequence_lengths, transition_params, **extras
) -> tf.Tensor:
    """Computes the unnormalized score of given tag sequences.

    Args:
        inputs: A [batch_size, max_seq_len, num_tags] tensor of unary potentials.
        tag_indices: A [batch_size, max_seq_len] int tensor of tag indices.
        sequence_lengths: A [batch_size] int vector of true sequence lengths.
        transition_params: A [num_tags, num_tags] transition matrix ``[from, to]``.

    Returns:
        A [batch_size] vector of path scores (0 for length-0 rows).
    """
    inputs, lengths = _prepare(inputs, sequence_lengths)
    crf = kernels.Crf(inputs, lengths, transition_params, **extras)
    return kernels.path_score(crf, _tags_like(tag_indices, inputs))


def crf_filtered_inputs(inputs, tag_bitmap) -> tf.Tensor:
    """Sets the potentials of the tags not allowed by ``tag_bitmap`` to ``-inf`` (Addons).

    Args:
        inputs: A [batch_size, max_seq_len, num_tags] tensor of unary potentials.
        tag_bitmap: A [batch_size, max_seq_len, num_tags] bool tensor, True for allowed tags.

    Returns:
        ``inputs`` (same dtype) with ``-inf`` where ``tag_bitmap`` is False.
    """
    inputs = tf.convert_to_tensor(inputs)
    bitmap = tf.cast(tag_bitmap, tf.bool)
    return tf.where(bitmap, inputs, tf.constant(-np.inf, inputs.dtype))


@_takes_extras
def crf_multitag_sequence_score(
    inputs, tag_bitmap, sequence_lengths, transition_params, **extras
) -> tf.Tensor:
    """Log-sum-exp of the scores of every tag sequence allowed by ``tag_bitmap``.

    With one-hot bitmaps this is :func:`crf_sequence_score` of those tags; with all-True
    bitmaps it is :func:`crf_log_norm`. Each valid position must allow at least one tag (else
    the row's result is not finite).

    Args:
        inputs: A [batch_size, max_seq_len, num_tags] tensor of unary potentials.
        tag_bitmap: A [batch_size, max_seq_len, num_tags] bool tensor of allowed tags per step.
        sequence_lengths: A [batch_size] int vector of true sequence lengths.
        transition_params: A [num_tags, num_tags] transition matrix ``[from, to]``.

    Returns:
        A [batch_size] vector (0 for length-0 rows).
    """
    filtered = crf_filtered_inputs(inputs, tag_bitmap)
    return crf_log_norm(filtered, sequence_lengths, transition_params, **extras)


# --------------------------------------------------------------------------------------------
# Forward algorithm, log-normaliser, likelihood
# --------------------------------------------------------------------------------------------


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
    dtype = kernels.compute_dtype(inputs.dtype)
    inputs = tf.cast(inputs, dtype)
    state = kernels.as_float(state, dtype)
    trans = kernels.as_float(transition_params, dtype)
    trans = kernels.apply_mask(trans, transition_mask, FORBIDDEN_SCORE)
    valid = tf.maximum(tf.cast(sequence_lengths, tf.int32) - 1, 0)  # [B]
    return kernels.forward_final(inputs, state, trans, valid)


@_takes_extras
def crf_log_norm(inputs, sequence_lengths, transition_params, **extras) -> tf.Tensor:
    """Computes the log-normaliser (log partition function) of a CRF.

    Args:
        inputs: A [batch_size, max_seq_len, num_tags] tensor of unary potentials.
        sequence_lengths: A [batch_size] int vector of true sequence lengths.
        transition_params: A [num_tags, num_tags] transition matrix ``[from, to]``.

    Returns:
        A [batch_size] vector: log of the sum of ``exp(score)`` over all (allowed) paths; 0 for
        length-0 rows.
    """
    inputs, lengths = _prepare(inputs, sequence_lengths)
    return _nll(inputs, None, lengths, transition_params, extras, with_score=False)


def _default_transitions(num_tags: int) -> tf.Variable:
    """A Glorot-uniform [num_tags, num_tags] variable, as Addons created when none was given."""
    limit = math.sqrt(6.0 / (2 * num_tags))
    logger.debug(
        "crf_log_likelihood: creating a random %dx%d transition matrix", num_tags, num_tags
    )
    return tf.Variable(tf.random.uniform([num_tags, num_tags], -limit, limit), name="transitions")


@_takes_extras
def crf_log_likelihood(
    inputs, tag_indices, sequence_lengths, transition_params=None, **extras
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

    Returns:
        log_likelihood: A [batch_size] vector ``score(gold) - log_norm`` (0 for length-0 rows).
        transition_params: The transition matrix used: the argument unchanged, or the new variable.
    """
    inputs, lengths = _prepare(inputs, sequence_lengths)
    tags = tf.convert_to_tensor(tag_indices)
    if tags.dtype.is_floating or tags.shape.rank not in (None, 2):
        raise ValueError(
            f"`tag_indices` must be int tag ids [batch, time], got {tags.dtype.name} of shape "
            f"{tags.shape} (one-hot tags? use tf.argmax(y, axis=-1))"
        )
    if transition_params is None:
        num_tags = inputs.shape[2]
        if num_tags is None:
            raise ValueError(
                "`transition_params` is None and num_tags (inputs.shape[2]) is unknown"
            )
        transition_params = _default_transitions(int(num_tags))
    tags = _tags_like(tags, inputs)
    log_likelihood = _nll(inputs, tags, lengths, transition_params, extras, with_score=True)
    return log_likelihood, transition_params


# --------------------------------------------------------------------------------------------
# Forward-backward, marginals, segment probabilities
# --------------------------------------------------------------------------------------------


def _tables(potentials, sequence_length, transition_params, extras):
    """log alpha, log beta [B, T, K] (0 at padding), log Z [B], the lengths and the padding."""
    potentials, lengths = _prepare(potentials, sequence_length, "potentials")
    if _empty_time(potentials):
        batch, k = tf.shape(potentials)[0], tf.shape(potentials)[2]
        empty = tf.zeros([batch, 0, k], kernels.compute_dtype(potentials.dtype))
        return empty, empty, tf.zeros([batch], empty.dtype), lengths, potentials
    pad = _Padded(potentials, lengths, [])

    def forward(x, trans, args):
        return _marginal_tables(x, pad.lengths, trans, args), None

    def backward(x, trans, args, _, *d_tables):
        return _marginal_tables_grad(x, pad.lengths, trans, args, *d_tables)

    log_alpha, log_beta, log_z = _differentiable(
        pad.x, transition_params, extras, forward, backward
    )
    return pad.rows_time(log_alpha), pad.rows_time(log_beta), pad.rows(log_z), lengths, potentials


@_takes_extras
def crf_forward_backward(
    potentials, transition_params, sequence_length, **extras
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

    Returns:
        log_alpha: [batch_size, max_seq_len, num_tags].
        log_beta: [batch_size, max_seq_len, num_tags].
        log_z: [batch_size].
    """
    return _tables(potentials, sequence_length, transition_params, extras)[:3]


@_takes_extras
def crf_marginals(potentials, transition_params, sequence_length, **extras) -> tf.Tensor:
    """Computes the posterior tag marginals ``P(y_t = j | x)`` by forward-backward.

    Differentiable (first order) w.r.t. the potentials and the scores.

    Args:
        potentials: A [batch_size, max_seq_len, num_tags] tensor of unary potentials.
        transition_params: A [num_tags, num_tags] transition matrix ``[from, to]``.
        sequence_length: A [batch_size] int vector of true sequence lengths.

    Returns:
        A [batch_size, max_seq_len, num_tags] tensor of probabilities: rows sum to 1 at valid
        positions and are all 0 at padding.
    """
    log_alpha, log_beta, log_z, lengths, potentials = _tables(
        potentials, sequence_length, transition_params, extras
    )
    probs = tf.exp(log_alpha + log_beta - log_z[:, tf.newaxis, tf.newaxis])  # [B, T, K]
    mask = tf.sequence_mask(lengths, tf.shape(potentials)[1])[:, :, tf.newaxis]  # [B, T, 1]
    return tf.where(mask, probs, tf.zeros_like(probs))


@_takes_extras
def crf_segment_log_prob(
    potentials,
    transition_params,
    sequence_length,
    tag_indices,
    segment_starts,
    segment_ends,
    **extras,
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

    Returns:
        A [batch_size, num_segments] tensor of log-probabilities (<= 0).
    """
    log_alpha, log_beta, log_z, lengths, potentials = _tables(
        potentials, sequence_length, transition_params, extras
    )
    crf = kernels.Crf(potentials, lengths, transition_params, **extras, name="potentials")
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


@_takes_extras
def crf_decode(
    potentials, transition_params, sequence_length, **extras
) -> tuple[tf.Tensor, tf.Tensor]:
    """Decodes the highest scoring tag sequence (Viterbi) in TensorFlow.

    Forbidden entries (masks) are never decoded while any allowed path exists; ties go to the
    lowest tag index.

    Args:
        potentials: A [batch_size, max_seq_len, num_tags] tensor of unary potentials.
        transition_params: A [num_tags, num_tags] transition matrix ``[from, to]``.
        sequence_length: A [batch_size] int vector of true sequence lengths.

    Returns:
        decode_tags: A [batch_size, max_seq_len] int32 tensor of the best tags, 0 past each length.
        best_score: A [batch_size] float32 (float64 for float64 potentials) tensor of the best path
            scores, 0 for length-0 rows, ``-inf`` if constraints leave no allowed path.
    """
    potentials, lengths = _prepare(potentials, sequence_length, "potentials")
    dtype = kernels.compute_dtype(potentials.dtype)
    if _empty_time(potentials):
        batch = tf.shape(potentials)[0]
        return tf.zeros([batch, 0], tf.int32), tf.zeros([batch], dtype)
    pad = _Padded(potentials, lengths, [])
    trans = tf.convert_to_tensor(transition_params)
    tags, scores = _decode(*_stopped(pad.x, pad.lengths, trans), extras)
    return pad.rows_time(tags), pad.rows(scores)


@_takes_extras
def crf_constrained_decode(
    potentials, tag_bitmap, transition_params, sequence_length, **extras
) -> tuple[tf.Tensor, tf.Tensor]:
    """Viterbi decoding restricted to the tags allowed by ``tag_bitmap`` at each step (Addons).

    Args:
        potentials: A [batch_size, max_seq_len, num_tags] tensor of unary potentials.
        tag_bitmap: A [batch_size, max_seq_len, num_tags] bool tensor of allowed tags per step.
        transition_params: A [num_tags, num_tags] transition matrix ``[from, to]``.
        sequence_length: A [batch_size] int vector of true sequence lengths.

    Returns:
        As :func:`crf_decode`.
    """
    filtered = crf_filtered_inputs(potentials, tag_bitmap)
    return crf_decode(filtered, transition_params, sequence_length, **extras)


def crf_decode_forward(inputs, state, transition_params, sequence_lengths):
    """The forward half of Viterbi: back-pointers and final scores (Addons semantics).

    Runs ``sequence_lengths[b]`` max-plus steps over ``inputs`` starting from ``state``, as
    Addons' Keras RNN of ``CrfDecodeForwardRnnCell`` with a length mask did: at a masked step
    the state is carried and the back-pointers are 0.

    Args:
        inputs: A [batch_size, num_steps, num_tags] tensor of unary potentials (the steps after
            the first, whose scores are ``state``).
        state: A [batch_size, num_tags] matrix of the scores before the first step.
        transition_params: A [num_tags, num_tags] transition matrix ``[from, to]``.
        sequence_lengths: A [batch_size] int vector: the number of steps to run per row (
            :func:`crf_decode` passes ``length - 1``).

    Returns:
        backpointers: A [batch_size, num_steps, num_tags] int32 tensor, ``argmax_i`` of
            ``state[i] + transition_params[i, j]`` per step and tag ``j``.
        last_score: A [batch_size, num_tags] tensor of the scores after the last valid step.
    """
    inputs = tf.convert_to_tensor(inputs)
    kernels.check_inputs(inputs, "inputs")
    state = tf.cast(state, inputs.dtype)
    trans = tf.cast(transition_params, inputs.dtype)
    lengths = tf.cast(sequence_lengths, tf.int32)
    x_tm = tf.transpose(inputs, [1, 0, 2])  # [N, B, K]
    n = tf.shape(x_tm)[0]

    def body(t, score, ta):
        cand = score[:, :, tf.newaxis] + trans  # [B, K(from), K(to)]
        back = tf.argmax(cand, axis=1, output_type=tf.int32)  # [B, K]
        valid = (t < lengths)[:, tf.newaxis]  # [B, 1]
        score = tf.where(valid, x_tm[t] + tf.reduce_max(cand, axis=1), score)
        return t + 1, score, ta.write(t, tf.where(valid, back, 0))

    ta = tf.TensorArray(tf.int32, size=n)
    _, score, ta = tf.while_loop(
        lambda t, *_: t < n, body, (tf.constant(0), state, ta), maximum_iterations=n
    )
    backpointers = kernels.transpose_ints(ta.stack(), [1, 0, 2])  # [B, N, K]
    return tf.ensure_shape(backpointers, inputs.shape), score


def crf_decode_backward(inputs, state):
    """The backward half of Viterbi: follows back-pointers (Addons semantics).

    Args:
        inputs: A [batch_size, num_steps, num_tags] int tensor of back-pointers, in the order to
            follow them (:func:`crf_decode` reverses each row's valid steps first).
        state: A [batch_size, 1] int tensor of the tag to start from.

    Returns:
        A [batch_size, num_steps, 1] int32 tensor: the tag reached after each step.
    """
    backs = kernels.transpose_ints(tf.cast(inputs, tf.int32), [1, 0, 2])  # [N, B, K]
    start = tf.cast(state, tf.int32)[:, 0]  # [B]

    def step(tag, back):
        return tf.gather(back, tag, batch_dims=1)  # [B]

    tags = tf.scan(step, backs, initializer=start)  # [N, B]
    return kernels.transpose_ints(tags)[:, :, tf.newaxis]  # [B, N, 1]


@_takes_extras
def crf_decode_nbest(
    potentials, transition_params, sequence_length, k: int, **extras
) -> tuple[tf.Tensor, tf.Tensor]:
    """Exact k-best Viterbi decoding (the top ``k`` paths per state are kept at every step).

    Args:
        potentials: A [batch_size, max_seq_len, num_tags] tensor of unary potentials.
        transition_params: A [num_tags, num_tags] transition matrix ``[from, to]``.
        sequence_length: A [batch_size] int vector of true sequence lengths.
        k: Number of paths to return, a Python int >= 1.

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
    potentials, lengths = _prepare(potentials, sequence_length, "potentials")
    if _empty_time(potentials):
        batch = tf.shape(potentials)[0]
        dtype = kernels.compute_dtype(potentials.dtype)
        rank0 = tf.concat([tf.zeros([batch, 1], dtype), tf.fill([batch, int(k) - 1], -np.inf)], 1)
        return tf.zeros([batch, int(k), 0], tf.int32), tf.cast(rank0, dtype)
    pad = _Padded(potentials, lengths, [])
    trans = tf.convert_to_tensor(transition_params)
    tags, scores = _decode_nbest(*_stopped(pad.x, pad.lengths, trans), extras, int(k))
    return pad.rows_time(tags, time_axis=2), pad.rows(scores)


@functools.partial(_takes_extras, convert=False)
def viterbi_decode(score, transition_params, **extras) -> tuple[list[int], float]:
    """Decodes one sequence outside TensorFlow with NumPy (Addons ``viterbi_decode``, extended).

    The reference for :func:`crf_decode`: same path score (start and end scores included), same
    constraints (masked entries are ``-inf``), same tie-breaking (lowest tag index).

    Args:
        score: A [seq_len, num_tags] array of unary potentials (seq_len >= 1).
        transition_params: A [num_tags, num_tags] array of transitions ``[from, to]``.

    Returns:
        The best tag list and its score (``-inf`` if the masks allow no path).
    """
    score = np.asarray(score, dtype=np.float64)
    num_tags = score.shape[1]

    def masked(values, mask, shape):
        values = np.zeros(shape) if values is None else np.asarray(values, dtype=np.float64)
        return values if mask is None else np.where(np.asarray(mask, bool), values, -np.inf)

    trans = masked(transition_params, extras["transition_mask"], (num_tags, num_tags))
    trellis = score[0] + masked(extras["start_transitions"], extras["start_mask"], (num_tags,))
    backs = []
    for t in range(1, score.shape[0]):
        cand = trellis[:, None] + trans  # [K, K]
        backs.append(cand.argmax(axis=0))
        trellis = cand.max(axis=0) + score[t]
    trellis = trellis + masked(extras["end_transitions"], extras["end_mask"], (num_tags,))
    path = [int(trellis.argmax())]
    for back in reversed(backs):
        path.append(int(back[path[-1]]))
    path.reverse()
    return path, float(trellis.max())
