"""XLA-compiled versions of the CRF functions, with low-overhead eager dispatch.

Same signatures as :mod:`ner_crf.crf.ops`; use them where the call is not already inside a
compiled function (e.g. prediction, evaluation, custom loops)::

    from ner_crf.crf import compiled
    tags, scores = compiled.crf_decode(potentials, transitions, lengths)

Inside your own ``tf.function(jit_compile=True)`` (or a Keras model compiled with
``jit_compile=True``) call the plain functions instead: nesting adds nothing. Each new input shape
(and each distinct ``k`` of :func:`crf_decode_nbest`, and each combination of ``None`` keyword
arguments) triggers one compilation, so pad batches to a few bucket lengths. Creating the default
transition variable (``transition_params=None``) is not supported here.

Dispatch: calling a ``tf.function`` costs 0.15-0.4 ms of Python (argument binding, trace-cache
lookup, tape bookkeeping) before XLA runs, several times the decoding itself at the usual batch
sizes. When called eagerly with no gradient tape recording, the functions here look the traced
function up in their own cache (keyed on the argument shapes and dtypes and on the Python
values) and run it directly, which costs about as much as one eager op. Inside a graph, or while
a ``tf.GradientTape`` is recording, they go through ``tf.function`` as usual (gradients work). Use
:func:`jit` to get the same dispatch for your own functions of tensors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from ner_crf.crf import ops

logger = logging.getLogger(__name__)

__all__ = [
    "crf_decode",
    "crf_decode_nbest",
    "crf_forward_backward",
    "crf_log_likelihood",
    "crf_log_norm",
    "crf_marginals",
    "crf_segment_log_prob",
    "crf_sequence_score",
    "jit",
]

try:  # Private TensorFlow modules: the direct path is used only when they are present.
    from tensorflow.python.eager import context as _tf_context
    from tensorflow.python.eager import record as _tf_record
except ImportError:  # pragma: no cover - depends on the TensorFlow build
    _tf_context = None
    _tf_record = None
_DIRECT = (
    _tf_context is not None
    and hasattr(_tf_context.Context, "call_function")
    and hasattr(_tf_record, "could_possibly_record")
)

#: Traced signatures kept per function before the oldest is dropped.
MAX_CACHED_SIGNATURES = 64

_STATIC_TYPES = (bool, int, float, str, np.integer, np.floating, np.bool_)


class _Entry:
    """One traced signature: the concrete function and how to call it with flat tensors."""

    __slots__ = ("captured", "concrete", "name", "num_outputs", "structure")

    def __init__(self, concrete, structure: str, num_outputs: int):
        self.concrete = concrete  # keeps the function registered with the runtime
        self.name = concrete.name  # bytes: the inference function in the eager context
        self.captured = list(concrete.captured_inputs)
        self.structure = structure  # "single", "tuple" or "nested"
        self.num_outputs = num_outputs


class CompiledFunction:
    """``tf.function(fn, jit_compile=True)`` with a direct eager call path.

    Arguments may be tensors, NumPy arrays, variables (read once per call), ``None`` or Python
    scalars (treated as compile-time constants, one trace per value, like ``tf.function``).
    Outputs are as from ``fn``: a tensor or a (possibly nested) tuple of tensors.

    Args:
        fn: The Python function to compile.
        name: Name used in logs.
    """

    def __init__(self, fn: Callable[..., Any], name: str | None = None):
        self.python_function = fn
        self.__name__ = name or getattr(fn, "__name__", "compiled")
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn
        self._tf_function = tf.function(fn, jit_compile=True, reduce_retracing=False)
        self._cache: dict[tuple, _Entry] = {}

    # -- public ------------------------------------------------------------------------------

    def __call__(self, *args, **kwargs):
        if not _DIRECT or not _eager_without_tape():
            return self._tf_function(*args, **kwargs)
        flat, key = _flatten(args, kwargs)
        entry = self._cache.get(key)
        if entry is None:
            entry = self._trace(args, kwargs)
        outputs = _tf_context.context().call_function(
            entry.name, flat + entry.captured, entry.num_outputs
        )
        if entry.structure == "single":
            return outputs[0]
        if entry.structure == "tuple":
            return tuple(outputs)
        return tf.nest.pack_sequence_as(entry.concrete.structured_outputs, outputs)

    def get_concrete_function(self, *args, **kwargs):
        """The ``ConcreteFunction`` of the underlying ``tf.function`` for these arguments."""
        return self._tf_function.get_concrete_function(*args, **kwargs)

    def cache_size(self) -> int:
        """Number of signatures traced for the direct path."""
        return len(self._cache)

    # -- internals ---------------------------------------------------------------------------

    def _trace(self, args: tuple, kwargs: dict) -> _Entry:
        """Traces ``fn`` for the shapes / static values of these arguments and caches it."""
        slots = [("arg", i) for i in range(len(args))] + [("kw", k) for k in sorted(kwargs)]
        values = [args[i] if kind == "arg" else kwargs[i] for kind, i in slots]
        is_tensor = [not _is_static(v) for v in values]
        fn = self.python_function

        def flat_fn(*tensors):
            it = iter(tensors)
            vals = [next(it) if t else v for v, t in zip(values, is_tensor, strict=True)]
            call_args = [v for (kind, _), v in zip(slots, vals, strict=True) if kind == "arg"]
            call_kwargs = {
                name: v for (kind, name), v in zip(slots, vals, strict=True) if kind == "kw"
            }
            return fn(*call_args, **call_kwargs)

        flat, key = _flatten(args, kwargs)
        compiled = tf.function(flat_fn, jit_compile=True, reduce_retracing=False)
        concrete = compiled.get_concrete_function(*flat)
        outputs = concrete.structured_outputs
        if isinstance(outputs, tf.Tensor):
            entry = _Entry(concrete, "single", 1)
        elif isinstance(outputs, tuple | list) and all(isinstance(o, tf.Tensor) for o in outputs):
            entry = _Entry(concrete, "tuple", len(outputs))
        else:
            entry = _Entry(concrete, "nested", len(tf.nest.flatten(outputs)))
        if len(self._cache) >= MAX_CACHED_SIGNATURES:
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = entry
        logger.debug("%s: traced a new signature (%d cached)", self.__name__, len(self._cache))
        return entry


def _eager_without_tape() -> bool:
    """True when a call would run eagerly and no tape / accumulator could record it."""
    return tf.executing_eagerly() and not _tf_record.could_possibly_record()


def _is_static(value) -> bool:
    return value is None or isinstance(value, _STATIC_TYPES)


def _flatten(args: tuple, kwargs: dict) -> tuple[list, tuple]:
    """The tensor arguments in call order and the cache key of the call."""
    flat = []
    key = []
    for value in (*args, *(kwargs[k] for k in sorted(kwargs))):
        if _is_static(value):
            key.append((type(value), value))
            continue
        if not isinstance(value, tf.Tensor):
            value = tf.convert_to_tensor(value)  # NumPy, lists, variables (read now)
        flat.append(value)
        key.append((value.dtype, tuple(value.shape)))
    if kwargs:
        key.append(tuple(sorted(kwargs)))
    key.append(len(args))
    return flat, tuple(key)


def jit(fn: Callable[..., Any]) -> CompiledFunction:
    """Compiles ``fn`` with XLA and calls it with low dispatch overhead (see the module doc).

    Args:
        fn: A function of tensors (and Python scalars / ``None``) returning a tensor or a tuple
            of tensors. Gradient tapes *inside* ``fn`` are fine; to differentiate a call from
            outside, record it on a tape as usual (then the ``tf.function`` path is used).

    Returns:
        The compiled callable.
    """
    return CompiledFunction(fn)


crf_log_norm = jit(ops.crf_log_norm)
crf_sequence_score = jit(ops.crf_sequence_score)
crf_decode = jit(ops.crf_decode)
crf_forward_backward = jit(ops.crf_forward_backward)
crf_marginals = jit(ops.crf_marginals)
crf_segment_log_prob = jit(ops.crf_segment_log_prob)


def _log_likelihood(inputs, tag_indices, sequence_lengths, transition_params, **kwargs):
    return ops.crf_log_likelihood(
        inputs, tag_indices, sequence_lengths, transition_params, **kwargs
    )[0]


_log_likelihood_jit = CompiledFunction(_log_likelihood, name="crf_log_likelihood")


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
    """Compiled :func:`ner_crf.crf.ops.crf_log_likelihood`; ``transition_params`` is required.

    Returns ``(log_likelihood, transition_params)`` with ``transition_params`` the argument
    unchanged.
    """
    if transition_params is None:
        raise ValueError("compiled.crf_log_likelihood needs `transition_params`")
    log_likelihood = _log_likelihood_jit(
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
    return log_likelihood, transition_params


_nbest = jit(ops.crf_decode_nbest)


def crf_decode_nbest(potentials, transition_params, sequence_length, k: int, **kwargs):
    """Compiled :func:`ner_crf.crf.ops.crf_decode_nbest` (``k``: a Python int, traced per value)."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"`k` must be a positive integer, received {k!r}")
    return _nbest(potentials, transition_params, sequence_length, int(k), **kwargs)
