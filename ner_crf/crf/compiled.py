"""XLA-compiled versions of the CRF functions (``tf.function(jit_compile=True)``).

Same signatures as :mod:`ner_crf.crf.ops`; use them where the call is not already inside a
compiled function (e.g. prediction, evaluation, custom loops)::

    from ner_crf.crf import compiled
    tags, scores = compiled.crf_decode(potentials, transitions, lengths)

Inside your own ``tf.function(jit_compile=True)`` (or a Keras model compiled with
``jit_compile=True``) call the plain functions instead: nesting adds nothing. Each new input shape
(and each distinct ``k`` of :func:`crf_decode_nbest`, and each combination of ``None`` keyword
arguments) triggers one compilation, so pad batches to a few bucket lengths. Creating the default
transition variable (``transition_params=None``) is not supported here.
"""

from __future__ import annotations

import tensorflow as tf

from ner_crf.crf import ops

__all__ = [
    "crf_decode",
    "crf_decode_nbest",
    "crf_forward_backward",
    "crf_log_likelihood",
    "crf_log_norm",
    "crf_marginals",
    "crf_segment_log_prob",
    "crf_sequence_score",
]


def _jit(fn):
    return tf.function(fn, jit_compile=True, reduce_retracing=False)


crf_log_norm = _jit(ops.crf_log_norm)
crf_sequence_score = _jit(ops.crf_sequence_score)
crf_decode = _jit(ops.crf_decode)
crf_forward_backward = _jit(ops.crf_forward_backward)
crf_marginals = _jit(ops.crf_marginals)
crf_segment_log_prob = _jit(ops.crf_segment_log_prob)


@tf.function(jit_compile=True)
def crf_log_likelihood(
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
):
    """Compiled :func:`ner_crf.crf.ops.crf_log_likelihood`; ``transition_params`` is required."""
    return ops.crf_log_likelihood(
        inputs,
        tag_indices,
        sequence_lengths,
        transition_params,
        start_transitions=start_transitions,
        end_transitions=end_transitions,
        transition_mask=transition_mask,
        start_mask=start_mask,
        end_mask=end_mask,
    )


def crf_decode_nbest(potentials, transition_params, sequence_length, k: int, **kwargs):
    """Compiled :func:`ner_crf.crf.ops.crf_decode_nbest` (``k``: a Python int, traced per value)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"`k` must be a positive integer, received {k!r}")
    return _nbest(potentials, transition_params, sequence_length, k, **kwargs)


_nbest = _jit(ops.crf_decode_nbest)
