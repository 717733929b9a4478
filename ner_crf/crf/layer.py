"""The Keras 3 ``CRF`` layer and the ``CRFLoss`` that trains it with a stock ``model.fit``.

The numerics live in :mod:`ner_crf.crf.ops` (forward algorithm, Viterbi, marginals, n-best);
this module holds the trainable parameters, turns Keras masks into sequence lengths, applies
transition constraints, and wires the negative log-likelihood into Keras' compiled loss.
"""

from __future__ import annotations

import logging
import numbers
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ner_crf.crf import ops as crf_ops
from ner_crf.errors import ConfigError, ModelError

logger = logging.getLogger(__name__)

# Score of forbidden transitions / first / last tags in likelihoods and marginals (decoding uses
# -inf); finite so that a gold path using a forbidden transition gives no NaN gradients.
FORBIDDEN_SCORE = crf_ops.FORBIDDEN_SCORE

# Attribute names under which ``CRF.call`` attaches its float32 potentials and itself to the
# tensors it returns, so that ``CRFLoss`` can compute the NLL from decoded tags in ``evaluate``.
# This is the same mechanism Keras 3 uses for masks (``tensor._keras_mask``).
_POTENTIALS_ATTR = "_ner_crf_potentials"
_LAYER_ATTR = "_ner_crf_layer"

_OUTPUT_MODES = ("tags", "marginals")

_LOSS_REDUCTIONS = ("sum_over_batch_size", "mean", "sum", "none", None)


def _check_tag_index(value: Any, num_tags: int, what: str) -> int:
    # numbers.Integral also admits NumPy integers (constraint helpers may produce them).
    valid = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
    if not valid or not 0 <= value < num_tags:
        raise ConfigError(f"{what} must be a tag index in [0, {num_tags - 1}], received {value!r}")
    return int(value)


def _normalise_pairs(
    pairs: Iterable[Sequence[int]] | None, num_tags: int
) -> list[list[int]] | None:
    if pairs is None:
        return None
    result: list[list[int]] = []
    for pair in pairs:
        if isinstance(pair, (str, bytes)) or np.ndim(pair) != 1 or len(pair) != 2:
            raise ConfigError(
                f"`allowed_transitions` must be a list of [from, to] pairs, received {pair!r}"
            )
        frm = _check_tag_index(pair[0], num_tags, "`allowed_transitions` from-tag")
        to = _check_tag_index(pair[1], num_tags, "`allowed_transitions` to-tag")
        result.append([frm, to])
    return [list(pair) for pair in sorted({(frm, to) for frm, to in result})]


def _normalise_tags(tags: Iterable[int] | None, num_tags: int, name: str) -> list[int] | None:
    if tags is None:
        return None
    if isinstance(tags, (str, bytes)) or not isinstance(tags, Iterable):
        raise ConfigError(f"`{name}` must be a list of tag indices, received {tags!r}")
    return sorted({_check_tag_index(t, num_tags, f"`{name}` entry") for t in tags})


_PREFIX_MESSAGE = (
    "CRF mask is not right-padded: every row must be its valid steps followed by padding (no "
    "left padding, no holes); pad at the end, e.g. keras.utils.pad_sequences(..., "
    "padding='post')"
)


def check_prefix_mask(mask: tf.Tensor, valid: tf.Tensor) -> None:
    """Stops on a mask that is not a prefix of each row (left padding, holes).

    ``valid`` is ``sequence_mask(sum(mask))``: a right-padded mask equals it. Eagerly this
    raises :class:`ModelError`; in a graph a ``tf.debugging`` assertion fails at run time with
    the same message (XLA drops assertions: inside ``jit_compile`` nothing is checked).
    """
    if tf.executing_eagerly():
        if not bool(tf.reduce_all(tf.equal(mask, valid))):
            raise ModelError(_PREFIX_MESSAGE)
        return
    tf.debugging.assert_equal(mask, valid, message=_PREFIX_MESSAGE)


def global_batch_size(local_batch: Any) -> tf.Tensor:
    """Sentences in the global batch, summed over the replicas with a cross-replica all-reduce.

    Call it in a replica context (``strategy.run``) outside any XLA-compiled function, and pass
    the result to :func:`nll_loss` (the trainer's step does this). In a cross-replica context
    it assumes equal shares (``local * replicas``).
    """
    local = tf.cast(local_batch, tf.float32)
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if replicas == 1:
        return local
    context = tf.distribute.get_replica_context()
    if context is None:
        return local * float(replicas)
    return context.all_reduce(tf.distribute.ReduceOp.SUM, local)


def nll_loss(per_sentence_nll: Any, global_batch: Any = None) -> tf.Tensor:
    """The one loss-scaling rule of ner_crf (``CRFLoss``, ``NerModel.compute_loss``, trainer).

    ``sum(per-sentence NLL on this replica) / sentences in the global batch``: the mean NLL per
    sentence of the global batch, split across replicas so that summing the replicas'
    gradients (what ``tf.distribute`` optimizers do) gives its gradient.

    Args:
        per_sentence_nll: float [batch] NLLs (already multiplied by any sample weights).
        global_batch: The global sentence count, exact also for a short last batch (the
            trainer passes :func:`global_batch_size`). None: ``local batch * replicas``, the
            convention of Keras' compiled losses (no collective: a cross-replica all-reduce
            inside Keras' ``compute_loss`` loses the layers' ``add_loss`` terms under
            ``MirroredStrategy``); exact when the replicas get equal shares.

    Returns:
        A float32 scalar.
    """
    nll = tf.cast(per_sentence_nll, tf.float32)
    if global_batch is None:
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        global_batch = tf.cast(tf.shape(nll)[0], tf.float32) * float(replicas)
    return tf.math.divide_no_nan(tf.reduce_sum(nll), tf.cast(global_batch, tf.float32))


@keras.saving.register_keras_serializable(package="ner_crf")
class CRF(keras.layers.Layer):
    """Linear-chain conditional random field over per-token tag potentials.

    Parameters: ``transitions`` [num_tags, num_tags] where ``transitions[i, j]`` is the score of
    moving **from** tag ``i`` (at step t) **to** tag ``j`` (at step t + 1), i.e. the orientation is
    ``[from, to]`` (the TensorFlow Addons / AllenNLP convention). With ``use_boundary=True`` the
    layer also holds ``start_transitions`` [num_tags] (score of the first tag) and
    ``end_transitions`` [num_tags] (score of the last valid tag). All weights are float32 and
    every computation runs in float32 whatever the input dtype (the layer's dtype defaults to
    ``"float32"``; under a ``mixed_float16`` policy the float16 potentials are cast up).

    **Calling the layer.** ``crf(potentials, mask=None, training=None)`` with potentials
    [batch, time, num_tags]:

    - ``training=True`` (what ``model.fit`` passes): returns the potentials as float32
      [batch, time, num_tags]; the negative log-likelihood is computed by :class:`CRFLoss`
      (``crf.loss``), which receives the gold tags as ``y_true``.
    - otherwise (``evaluate``, ``predict``, plain calls): returns the Viterbi tags, int32
      [batch, time], padded positions set to 0. The float32 potentials travel with the returned
      tensor (as Keras masks do), so ``evaluate`` reports the same mean NLL as ``fit`` does.
      Layers placed after the CRF must therefore pass its output through unchanged (e.g. layers
      that only ``add_loss``); their losses are summed with the CRF's by Keras.
    - ``output_mode="marginals"``: the posterior marginals, float32 [batch, time, num_tags], in
      training *and* inference (differentiable, potentials attached for ``crf.loss``): the way
      to put more layers after a CRF (docs/CRF.md).

    **Loss and padding.** Compile with ``loss=crf.loss`` (or ``CRFLoss()``, which finds the layer
    through the model output). ``y_true`` holds int tag ids [batch, time]. A position counts when
    it is valid in the Keras mask of the CRF output *and* its ``y_true`` is >= 0, so both
    conventions work: tags padded with 0 plus a Keras mask (``Embedding(mask_zero=True)``), or
    tags padded with -1 and no mask. The loss is the sum of per-sentence NLLs (times
    ``sample_weight`` [batch] or [batch, time]) scaled by :func:`nll_loss`, so it is the mean NLL
    per sentence and is scaled correctly under ``tf.distribute`` strategies. ``crf.accuracy``
    is a Viterbi token-accuracy metric.

    **Masking.** ``mask`` is bool/int [batch, time], right-padded (valid steps first; anything
    else stops with an error, see :func:`check_prefix_mask`); the
    sequence lengths are ``sum(mask, axis=1)``. It arrives automatically from
    ``Embedding(mask_zero=True)`` through mask-propagating layers (``Bidirectional(LSTM)``,
    ``Dense``); ``mask=None`` means every step is valid. The output keeps the input mask.
    Rows of length 0 get tags 0 and a log-likelihood of 0.

    **Constraints.** ``allowed_transitions`` lists the allowed ``[from, to]`` pairs (None = all),
    ``allowed_start`` / ``allowed_end`` the tags allowed first / last (None = all). Forbidden
    entries are never decoded (Viterbi and n-best treat them as ``-inf`` while any allowed path
    exists) and get ``FORBIDDEN_SCORE`` (-1e4) in :meth:`marginals`; with
    ``constrain_training=True`` they also get -1e4 in :meth:`log_likelihood` (and so in the
    loss), which removes impossible paths from the partition function (gold tags must then
    respect the constraints); with ``False`` training uses the unconstrained scores.

    Examples (``K`` tags, ``V`` words, ``y`` int tags [N, T] padded with 0):

    ```python
    # Sequential
    crf = CRF(K)
    model = keras.Sequential([
        keras.Input((None,), dtype="int32"),
        keras.layers.Embedding(V, 32, mask_zero=True),
        keras.layers.Bidirectional(keras.layers.LSTM(32, return_sequences=True)),
        keras.layers.Dense(K),
        crf,
    ])
    model.compile(optimizer="adam", loss=crf.loss)
    model.fit(x, y); model.evaluate(x, y); tags = model.predict(x)  # int32 [N, T]

    # Functional
    words = keras.Input((None,), dtype="int32")
    h = keras.layers.Embedding(V, 32, mask_zero=True)(words)
    crf = CRF(K)
    model = keras.Model(words, crf(keras.layers.Dense(K)(h)))
    model.compile(optimizer="adam", loss=crf.loss)

    # Subclassed
    class Tagger(keras.Model):
        def __init__(self):
            super().__init__()
            self.embed = keras.layers.Embedding(V, 32, mask_zero=True)
            self.dense = keras.layers.Dense(K)
            self.crf = CRF(K)

        def call(self, words, training=None):
            return self.crf(self.dense(self.embed(words)), training=training)

    model = Tagger()
    model.compile(optimizer="adam", loss=model.crf.loss)
    ```

    Models that hold a CRF and decode in their own ``predict_step`` can instead call the
    public methods :meth:`log_likelihood`, :meth:`decode`, :meth:`marginals` and
    :meth:`decode_nbest` directly on the potentials.

    Args:
        num_tags: Number of tags K (> 0).
        use_boundary: Whether to learn ``start_transitions`` / ``end_transitions``.
        allowed_transitions: Allowed ``[from, to]`` pairs, or None for all.
        allowed_start: Tags allowed at the first step, or None for all.
        allowed_end: Tags allowed at the last valid step, or None for all.
        constrain_training: Also apply the constraints in :meth:`log_likelihood`.
        output_mode: ``"tags"`` (default: potentials in training, Viterbi tags otherwise) or
            ``"marginals"``: the float32 [batch, time, num_tags] posterior marginals in training
            *and* inference (differentiable), for layers placed after the CRF (docs/CRF.md).
        transitions_initializer: Initializer of ``transitions``.
        boundary_initializer: Initializer of ``start_transitions`` / ``end_transitions``.
        **kwargs: Standard layer arguments (``name``, ``dtype``, ...). ``dtype`` defaults to
            ``"float32"``.

    Raises:
        ConfigError: For an invalid argument, e.g.
            "`num_tags` must be a positive integer, received 0".
    """

    def __init__(
        self,
        num_tags: int,
        *,
        use_boundary: bool = True,
        allowed_transitions: Iterable[Sequence[int]] | None = None,
        allowed_start: Iterable[int] | None = None,
        allowed_end: Iterable[int] | None = None,
        constrain_training: bool = True,
        output_mode: str = "tags",
        transitions_initializer: Any = "glorot_uniform",
        boundary_initializer: Any = "zeros",
        **kwargs: Any,
    ):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if isinstance(num_tags, bool) or not isinstance(num_tags, int) or num_tags <= 0:
            raise ConfigError(f"`num_tags` must be a positive integer, received {num_tags!r}")
        for flag_name, flag in (
            ("use_boundary", use_boundary),
            ("constrain_training", constrain_training),
        ):
            if not isinstance(flag, bool):
                raise ConfigError(f"`{flag_name}` must be a boolean, received {flag!r}")
        self.num_tags = num_tags
        self.use_boundary = use_boundary
        self.allowed_transitions = _normalise_pairs(allowed_transitions, num_tags)
        self.allowed_start = _normalise_tags(allowed_start, num_tags, "allowed_start")
        self.allowed_end = _normalise_tags(allowed_end, num_tags, "allowed_end")
        self.constrain_training = constrain_training
        if output_mode not in _OUTPUT_MODES:
            raise ConfigError(
                f"`output_mode` must be one of {list(_OUTPUT_MODES)}, received {output_mode!r}"
            )
        self.output_mode = output_mode
        try:
            self.transitions_initializer = keras.initializers.get(transitions_initializer)
            self.boundary_initializer = keras.initializers.get(boundary_initializer)
        except (ValueError, TypeError) as error:
            raise ConfigError(f"invalid CRF initializer: {error}") from error
        self.supports_masking = True
        self._bound_loss: CRFLoss | None = None

    # === Weights ===

    def build(self, input_shape: Sequence[int | None] | None = None) -> None:
        if input_shape is not None and len(input_shape) > 0:
            last = input_shape[-1]
            if len(input_shape) != 3 or (last is not None and last != self.num_tags):
                raise ModelError(
                    f"CRF expects potentials of shape [batch, time, {self.num_tags}], "
                    f"received shape {tuple(input_shape)}"
                )
        k = self.num_tags
        # Variables are read as float32 even inside a mixed-precision autocast scope.
        self.transitions = self.add_weight(
            name="transitions",
            shape=(k, k),  # [from, to]
            initializer=self.transitions_initializer,
            autocast=False,
        )
        if self.use_boundary:
            self.start_transitions = self.add_weight(
                name="start_transitions",
                shape=(k,),
                initializer=self.boundary_initializer,
                autocast=False,
            )
            self.end_transitions = self.add_weight(
                name="end_transitions",
                shape=(k,),
                initializer=self.boundary_initializer,
                autocast=False,
            )
        self.built = True

    def _ensure_built(self, potentials: tf.Tensor) -> None:
        if not self.built:
            self.build(tuple(potentials.shape))

    # === Parameters as tensors (constraints applied) ===

    def _allowed_matrix(self) -> tf.Tensor | None:
        if self.allowed_transitions is None:
            return None
        allowed = [[False] * self.num_tags for _ in range(self.num_tags)]
        for frm, to in self.allowed_transitions:
            allowed[frm][to] = True
        return tf.constant(allowed, dtype=tf.bool)  # [from, to]

    def _allowed_vector(self, tags: list[int] | None) -> tf.Tensor | None:
        if tags is None:
            return None
        allowed = [False] * self.num_tags
        for tag in tags:
            allowed[tag] = True
        return tf.constant(allowed, dtype=tf.bool)  # [num_tags]

    def _crf_kwargs(self, constrained: bool) -> dict[str, tf.Tensor | None]:
        """Reads the weights into float32 tensors and adds the constraint masks.

        Variables are read into tensors here, once, so that the ops never gather from a
        variable (XLA-friendly) and the values are float32 whatever the autocast scope.

        Args:
            constrained: Whether to pass the constraint masks (forbidden entries become
                ``FORBIDDEN_SCORE`` in likelihoods / marginals and ``-inf`` in decoding).

        Returns:
            Keyword arguments for the :mod:`ner_crf.crf.ops` functions: ``transition_params``
            [K, K] (``[from, to]``), ``start_transitions`` / ``end_transitions`` [K] or None,
            ``transition_mask`` [K, K], ``start_mask`` / ``end_mask`` [K] bool or None.
        """
        kwargs: dict[str, tf.Tensor | None] = {
            "transition_params": tf.cast(tf.convert_to_tensor(self.transitions), tf.float32),
            "start_transitions": None,
            "end_transitions": None,
            "transition_mask": None,
            "start_mask": None,
            "end_mask": None,
        }
        if self.use_boundary:
            start = tf.convert_to_tensor(self.start_transitions)  # [K]
            end = tf.convert_to_tensor(self.end_transitions)  # [K]
            kwargs["start_transitions"] = tf.cast(start, tf.float32)
            kwargs["end_transitions"] = tf.cast(end, tf.float32)
        if constrained:
            kwargs["transition_mask"] = self._allowed_matrix()  # [K, K] or None
            kwargs["start_mask"] = self._allowed_vector(self.allowed_start)  # [K] or None
            kwargs["end_mask"] = self._allowed_vector(self.allowed_end)  # [K] or None
        return kwargs

    def numpy_parameters(self) -> dict[str, np.ndarray]:
        """The learned scores and the constraints as NumPy arrays (inspection, host-side math).

        Returns:
            ``transitions`` float64 [K, K] (``[from, to]``); ``start`` / ``end`` float64 [K]
            (zeros without boundary weights); bool masks ``transition_mask`` [K, K] and
            ``start_mask`` / ``end_mask`` [K] (all True where nothing is forbidden).
        """
        kwargs = self._crf_kwargs(True)
        k = self.num_tags

        def scores(value: Any, shape: tuple[int, ...]) -> np.ndarray:
            return np.zeros(shape) if value is None else np.asarray(value, dtype=np.float64)

        def allowed(value: Any, shape: tuple[int, ...]) -> np.ndarray:
            return np.ones(shape, dtype=bool) if value is None else np.asarray(value, dtype=bool)

        return {
            "transitions": scores(kwargs["transition_params"], (k, k)),  # [K, K]
            "start": scores(kwargs["start_transitions"], (k,)),  # [K]
            "end": scores(kwargs["end_transitions"], (k,)),  # [K]
            "transition_mask": allowed(kwargs["transition_mask"], (k, k)),  # [K, K]
            "start_mask": allowed(kwargs["start_mask"], (k,)),  # [K]
            "end_mask": allowed(kwargs["end_mask"], (k,)),  # [K]
        }

    def _prepare(self, potentials: Any, mask: Any) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Casts potentials to float32 and turns the mask into lengths.

        Returns:
            ``(potentials [B, T, K] float32, mask [B, T] bool, lengths [B] int32)``.

        Raises:
            ModelError: (eagerly; ``InvalidArgumentError`` with the same text in a graph) if the
                mask is not right-padded.
        """
        potentials = tf.cast(tf.convert_to_tensor(potentials), tf.float32)  # [B, T, K]
        self._ensure_built(potentials)
        shape = tf.shape(potentials)
        if mask is None:
            lengths = tf.fill(shape[:1], shape[1])  # [B]
            return potentials, tf.ones(shape[:2], dtype=tf.bool), lengths
        mask = tf.cast(tf.convert_to_tensor(mask), tf.bool)  # [B, T]
        lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)  # [B]
        valid = tf.sequence_mask(lengths, shape[1])  # [B, T]
        check_prefix_mask(mask, valid)
        return potentials, valid, lengths

    # === Public API ===

    def log_likelihood(self, potentials: Any, tags: Any, mask: Any = None) -> tf.Tensor:
        """Log-likelihood of tag sequences.

        Args:
            potentials: Unary scores [batch, time, num_tags], any float dtype.
            tags: Gold tag ids [batch, time]; values at padded positions are ignored.
            mask: Bool/int [batch, time], right-padded; None means all valid.

        Returns:
            float32 [batch]: ``score(tags) - log Z`` per sentence (0 for empty rows).
        """
        potentials, valid, lengths = self._prepare(potentials, mask)
        tags = tf.cast(tf.convert_to_tensor(tags), tf.int32)  # [B, T]
        tags = tf.where(valid, tags, tf.zeros_like(tags))  # [B, T], padding -> 0 (any tag)
        kwargs = self._crf_kwargs(self.constrain_training)
        transitions = kwargs.pop("transition_params")
        # Addons-compatible: returns (log_likelihood [B], transition_params).
        log_likelihood, _ = crf_ops.crf_log_likelihood(
            potentials, tags, lengths, transitions, **kwargs
        )
        return tf.cast(log_likelihood, tf.float32)  # [B]

    def decode(self, potentials: Any, mask: Any = None) -> tuple[tf.Tensor, tf.Tensor]:
        """Viterbi decoding under the constraints.

        Args:
            potentials: Unary scores [batch, time, num_tags].
            mask: Bool/int [batch, time], right-padded; None means all valid.

        Returns:
            ``(tags int32 [batch, time] with padding set to 0, scores float32 [batch])``.
        """
        potentials, valid, lengths = self._prepare(potentials, mask)
        kwargs = self._crf_kwargs(True)
        transitions = kwargs.pop("transition_params")
        tags, scores = crf_ops.crf_decode(potentials, transitions, lengths, **kwargs)
        tags = tf.cast(tags, tf.int32)  # [B, T]
        tags = tf.where(valid, tags, tf.zeros_like(tags))  # [B, T]
        return tags, tf.cast(scores, tf.float32)  # [B, T], [B]

    def marginals(self, potentials: Any, mask: Any = None) -> tf.Tensor:
        """Posterior tag marginals ``p(y_t = k | x)`` under the constraints.

        Args:
            potentials: Unary scores [batch, time, num_tags].
            mask: Bool/int [batch, time], right-padded; None means all valid.

        Returns:
            float32 [batch, time, num_tags]; padded positions are 0.
        """
        potentials, valid, lengths = self._prepare(potentials, mask)
        kwargs = self._crf_kwargs(True)
        transitions = kwargs.pop("transition_params")
        probs = crf_ops.crf_marginals(potentials, transitions, lengths, **kwargs)
        probs = tf.cast(probs, tf.float32)  # [B, T, K]
        return probs * tf.cast(valid, tf.float32)[:, :, None]  # [B, T, K]

    def decode_nbest(
        self, potentials: Any, k: int, mask: Any = None
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """The ``k`` best tag sequences under the constraints, best first.

        Args:
            potentials: Unary scores [batch, time, num_tags].
            k: Number of sequences per sentence (>= 1).
            mask: Bool/int [batch, time], right-padded; None means all valid.

        Returns:
            ``(tags int32 [batch, k, time] with padding set to 0, scores float32 [batch, k])``;
            ranks beyond the number of allowed paths have score ``-inf`` and all-zero tags.
        """
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"`k` must be a positive integer, received {k!r}")
        potentials, valid, lengths = self._prepare(potentials, mask)
        kwargs = self._crf_kwargs(True)
        transitions = kwargs.pop("transition_params")
        tags, scores = crf_ops.crf_decode_nbest(potentials, transitions, lengths, k, **kwargs)
        tags = tf.cast(tags, tf.int32)  # [B, k, T]
        tags = tf.where(valid[:, None, :], tags, tf.zeros_like(tags))  # [B, k, T]
        return tags, tf.cast(scores, tf.float32)  # [B, k, T], [B, k]

    @property
    def loss(self) -> CRFLoss:
        """A :class:`CRFLoss` bound to this layer, for ``model.compile(loss=crf.loss)``."""
        # Cached, so that repeated accesses (Keras' saving code reads every attribute) give one
        # object; the loss refers back to this layer only weakly.
        if self._bound_loss is None:
            self._bound_loss = CRFLoss(self)
        return self._bound_loss

    @property
    def accuracy(self) -> CRFAccuracy:
        """A new :class:`CRFAccuracy` bound to this layer, for ``model.compile(metrics=[...])``."""
        # Not cached on the layer: Keras would track the metric's variables as the layer's.
        return CRFAccuracy(self)

    # === Keras plumbing ===

    def call(self, inputs: Any, mask: Any = None, training: bool | None = None) -> tf.Tensor:
        potentials = tf.identity(tf.cast(inputs, tf.float32))  # [B, T, K], a fresh tensor
        if self.output_mode == "marginals":
            outputs = self.marginals(potentials, mask)  # [B, T, K], differentiable
            setattr(outputs, _POTENTIALS_ATTR, potentials)
        elif training:
            outputs = potentials
        else:
            outputs, _ = self.decode(potentials, mask)  # [B, T] int32
            setattr(outputs, _POTENTIALS_ATTR, potentials)
        setattr(outputs, _LAYER_ATTR, self)
        return outputs

    def compute_output_spec(
        self, inputs: Any, mask: Any = None, training: bool | None = None
    ) -> keras.KerasTensor:
        shape = tuple(inputs.shape)
        if training or self.output_mode == "marginals":
            return keras.KerasTensor(shape, dtype="float32")
        return keras.KerasTensor(shape[:-1], dtype="int32")

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        if self.output_mode == "marginals":
            return tuple(input_shape)
        return tuple(input_shape)[:-1]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "num_tags": self.num_tags,
                "use_boundary": self.use_boundary,
                "allowed_transitions": self.allowed_transitions,
                "allowed_start": self.allowed_start,
                "allowed_end": self.allowed_end,
                "constrain_training": self.constrain_training,
                "output_mode": self.output_mode,
                "transitions_initializer": keras.initializers.serialize(
                    self.transitions_initializer
                ),
                "boundary_initializer": keras.initializers.serialize(self.boundary_initializer),
            }
        )
        return config


class _CrfOutput:
    """What a loss or metric needs from the CRF output ``y_pred`` and the gold ``y_true``.

    Attributes:
        crf: The layer (bound, or found on ``y_pred``).
        potentials: float32 [B, T, K], or None when ``y_pred`` is decoded tags without them.
        tags: int32 [B, T] decoded tags when ``y_pred`` is decoded tags, else None.
        y_true: int32 [B, T] gold tags (negative = padding).
        mask: bool [B, T]: valid in the Keras mask of ``y_pred`` and ``y_true >= 0``.
    """

    def __init__(self, crf: CRF | None, y_true: Any, y_pred: Any, who: str):
        crf = crf or getattr(y_pred, _LAYER_ATTR, None)
        if crf is None:
            raise ModelError(
                f"{who} cannot find its CRF layer: pass the layer (`crf.loss`, `crf.accuracy`) "
                "or make the CRF output the model output (layers after it must pass it through "
                "unchanged, or use CRF(output_mode='marginals'))"
            )
        # Read the attached tensors before any conversion creates a new tensor object.
        keras_mask = getattr(y_pred, "_keras_mask", None)
        attached = getattr(y_pred, _POTENTIALS_ATTR, None)
        y_pred = tf.convert_to_tensor(y_pred)
        self.crf, self.tags = crf, None
        if y_pred.dtype.is_floating and crf.output_mode == "tags":
            self.potentials = y_pred  # [B, T, K] (training)
        else:
            self.potentials = attached  # [B, T, K] (evaluation, or marginals output)
            if not y_pred.dtype.is_floating:
                self.tags = tf.cast(y_pred, tf.int32)  # [B, T]
        y_true = tf.convert_to_tensor(y_true)
        if y_true.shape.rank == 3 and y_true.shape[-1] == 1:
            y_true = tf.squeeze(y_true, axis=-1)  # [B, T]
        if y_true.shape.rank is not None and y_true.shape.rank != 2:
            raise ModelError(
                f"{who} expects y_true as int tag ids [batch, time], received shape "
                f"{tuple(y_true.shape)} (one-hot tags? pass tf.argmax(y, axis=-1))"
            )
        self.y_true = tf.cast(y_true, tf.int32)  # [B, T]
        mask = self.y_true >= 0  # [B, T]
        if keras_mask is not None:
            mask = tf.logical_and(mask, tf.cast(keras_mask, tf.bool))  # [B, T]
        self.mask = mask

    def require_potentials(self, who: str) -> tf.Tensor:
        if self.potentials is None:
            raise ModelError(
                f"{who} received decoded tags without their potentials: the layers after the "
                "CRF must pass its output through unchanged (or use CRF(output_mode='marginals'))"
            )
        return self.potentials


def _token_weights(weight: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """[B, T] token weights -> [B] sentence weights: their mean over the counted tokens."""
    valid = tf.cast(mask, tf.float32)  # [B, T]
    return tf.math.divide_no_nan(
        tf.reduce_sum(weight * valid, axis=1), tf.reduce_sum(valid, axis=1)
    )  # [B]


@keras.saving.register_keras_serializable(package="ner_crf")
class CRFLoss(keras.losses.Loss):
    """Negative log-likelihood of the gold tags under a :class:`CRF`, for ``model.compile``.

    ``y_pred`` is the CRF output: float32 potentials in training, decoded tags (carrying their
    potentials) in ``evaluate``, or marginals (carrying the potentials) with
    ``output_mode="marginals"``. ``y_true`` holds int tag ids [batch, time]; a position is used
    when it is valid in the Keras mask of ``y_pred`` and ``y_true >= 0`` (so pad tags with -1
    when there is no Keras mask). ``sample_weight`` is [batch] (one weight per sentence) or
    [batch, time] (per token: the CRF NLL belongs to a whole sentence, so a sentence is weighted
    by the mean weight of its counted tokens; weights that are 1 on real tokens and 0 on padding
    give weight 1). Reduction: ``"sum_over_batch_size"`` (default, alias ``"mean"``) is
    :func:`nll_loss`, the project's one loss-scaling rule (mean NLL per sentence of the global
    batch, split across replicas); ``"sum"``; or ``None``/``"none"`` ([batch]).

    Args:
        crf: The layer; None finds it through the model output (e.g. after ``load_model``).
        name: Loss name.
        reduction: See above.
    """

    def __init__(
        self,
        crf: CRF | None = None,
        *,
        name: str = "crf_loss",
        reduction: str | None = "sum_over_batch_size",
    ):
        if reduction not in _LOSS_REDUCTIONS:
            raise ConfigError(
                f"`reduction` must be one of {list(_LOSS_REDUCTIONS)}, received {reduction!r}"
            )
        super().__init__(name=name, reduction=reduction, dtype="float32")
        if crf is not None and not isinstance(crf, CRF):
            raise ConfigError(f"`crf` must be a CRF layer or None, received {type(crf).__name__}")
        # A weak reference, not an attribute holding the layer: Keras' saving code walks every
        # attribute of the model, the layer and this loss, and its loader does not stop at
        # cycles (layer -> loss -> layer ...), which overflowed the stack in `load_model`.
        self._crf_ref = None if crf is None else weakref.ref(crf)

    def bound_layer(self) -> CRF | None:
        """Returns the CRF layer this loss was created for, or None when unbound."""
        return None if self._crf_ref is None else self._crf_ref()

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> tf.Tensor:
        with tf.name_scope(self.name):
            out = _CrfOutput(self.bound_layer(), y_true, y_pred, "CRFLoss")
            nll = self._nll(out)  # [B]
            if sample_weight is not None:
                weight = tf.cast(tf.convert_to_tensor(sample_weight), tf.float32)
                if weight.shape.rank == 3 and weight.shape[-1] == 1:
                    weight = tf.squeeze(weight, axis=-1)
                if weight.shape.rank == 2:
                    weight = _token_weights(weight, out.mask)  # [B]
                nll = nll * tf.reshape(weight, [-1])  # [B]
            if self.reduction in (None, "none"):
                return nll
            if self.reduction == "sum":
                return tf.reduce_sum(nll)
            return nll_loss(nll)

    def call(self, y_true: Any, y_pred: Any) -> tf.Tensor:
        return self._nll(_CrfOutput(self.bound_layer(), y_true, y_pred, "CRFLoss"))

    @staticmethod
    def _nll(out: _CrfOutput) -> tf.Tensor:
        potentials = out.require_potentials("CRFLoss")
        return -out.crf.log_likelihood(potentials, tf.maximum(out.y_true, 0), out.mask)  # [B]

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "reduction": self.reduction}


@keras.saving.register_keras_serializable(package="ner_crf")
class CRFAccuracy(keras.metrics.Metric):
    """Token accuracy of the Viterbi tags, for ``model.compile(metrics=[crf.accuracy])``.

    Works in ``fit`` (the training potentials are decoded), ``fit(validation_data=...)`` and
    ``evaluate`` (the layer's decoded tags); counts the positions the loss counts (valid in the
    Keras mask and ``y_true >= 0``), weighted by ``sample_weight`` ([batch] or [batch, time])
    when given. Entity-level F1 is what ``ner-crf train`` / ``ner-crf evaluate`` report.

    Args:
        crf: The layer; None finds it through the model output.
        name: Metric name.
    """

    def __init__(self, crf: CRF | None = None, *, name: str = "crf_accuracy", **kwargs: Any):
        super().__init__(name=name, **kwargs)
        self._crf_ref = None if crf is None else weakref.ref(crf)
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        out = _CrfOutput(
            None if self._crf_ref is None else self._crf_ref(), y_true, y_pred, self.name
        )
        tags = out.tags
        if tags is None:
            tags, _ = out.crf.decode(out.require_potentials(self.name), out.mask)  # [B, T]
        weight = tf.cast(out.mask, tf.float32)  # [B, T]
        if sample_weight is not None:
            sw = tf.cast(tf.convert_to_tensor(sample_weight), tf.float32)
            if sw.shape.rank == 3 and sw.shape[-1] == 1:
                sw = tf.squeeze(sw, axis=-1)
            weight *= sw if sw.shape.rank == 2 else tf.reshape(sw, [-1, 1])
        hits = tf.cast(tf.equal(tags, out.y_true), tf.float32)  # [B, T]
        self.correct.assign_add(tf.reduce_sum(hits * weight))
        self.total.assign_add(tf.reduce_sum(weight))

    def result(self) -> tf.Tensor:
        return tf.math.divide_no_nan(self.correct, self.total)

    def reset_state(self) -> None:
        self.correct.assign(0.0)
        self.total.assign(0.0)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="ner_crf")
class CrfDecodeForwardRnnCell(keras.layers.Layer):
    """One max-plus Viterbi step as a Keras 3 RNN cell (Addons' ``CrfDecodeForwardRnnCell``).

    Use it in ``keras.layers.RNN(cell, return_sequences=True, return_state=True)``: the state is
    the [batch, num_tags] best score of a path ending in each tag, the output the int32
    back-pointers ``argmax_i(state[i] + transition_params[i, j])`` per tag ``j``.
    :func:`ner_crf.crf.crf_decode_forward` computes the same in one loop (with 0 back-pointers at
    masked steps, where a Keras 3 RNN repeats the previous output).

    Args:
        transition_params: A [num_tags, num_tags] array of transitions ``[from, to]`` (a
            constant of the cell, saved in its config).
        **kwargs: Standard layer arguments.
    """

    def __init__(self, transition_params: Any, **kwargs: Any):
        super().__init__(**kwargs)
        trans = np.asarray(keras.ops.convert_to_numpy(transition_params), dtype=np.float32)
        if trans.ndim != 2 or trans.shape[0] != trans.shape[1]:
            raise ConfigError(
                f"`transition_params` must be [num_tags, num_tags], received shape {trans.shape}"
            )
        self.transition_params = trans
        self.state_size = trans.shape[0]
        self.output_size = trans.shape[0]

    def call(self, inputs: Any, states: Any) -> tuple[tf.Tensor, list[tf.Tensor]]:
        state = states[0] if isinstance(states, list | tuple) else states  # [B, K]
        inputs = tf.convert_to_tensor(inputs)
        cand = tf.cast(state, inputs.dtype)[:, :, tf.newaxis] + tf.cast(
            self.transition_params, inputs.dtype
        )  # [B, K(from), K(to)]
        backpointers = tf.argmax(cand, axis=1, output_type=tf.int32)  # [B, K]
        return backpointers, [inputs + tf.reduce_max(cand, axis=1)]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["transition_params"] = self.transition_params.tolist()
        return config
