"""The distributed train step: one optimizer update on one global batch, and its gradient helpers.

The trainer (:mod:`ner_crf.training.trainer`) builds it once per run with :func:`make_train_step`;
``scripts/profile_train_step.py`` times it on its own.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["make_train_step", "merge_rows", "scale_gradient"]


def make_train_step(
    strategy: Any,
    model: Any,
    optimizer: Any,
    element_spec: Any,
    *,
    clip_norm: float = 0.0,
    mixed_precision: bool = False,
    jit_compile: bool = False,
) -> Any:
    """Builds the distributed train step: one optimizer update on one global batch.

    Each replica computes the sum of its sentences' CRF negative log-likelihoods and divides it
    by the GLOBAL batch size (all-reduced, so a short last batch is weighted correctly); the
    optimizer sums the replicas' gradients, which gives the gradient of the global-batch mean.

    Args:
        strategy: The ``tf.distribute.Strategy`` the model and optimizer were built under.
        model: A built ``NerModel`` (``feature_mask``, ``crf.log_likelihood``).
        optimizer: A built Keras optimizer (a ``LossScaleOptimizer`` under mixed precision).
        element_spec: ``element_spec`` of the distributed dataset (fixes the trace signature).
        clip_norm: Clip the global gradient norm to this, 0 = off.
        mixed_precision: Scale the loss with the ``LossScaleOptimizer``.
        jit_compile: XLA-compile the forward and backward pass.

    Returns:
        A ``tf.function`` mapping a distributed batch ``(features, tags)`` to the float32
        scalars ``(nll_sum, tokens, sentences)`` summed over replicas.
    """
    import tensorflow as tf

    from ner_crf.crf.layer import global_batch_size, nll_loss

    replicas = strategy.num_replicas_in_sync
    mixed = mixed_precision
    variables = model.trainable_variables

    def forward_backward(features, tags, global_batch):
        mask = model.feature_mask(features)  # [batch, time]
        with tf.GradientTape() as tape:
            emissions = model(features, training=True)  # [batch, time, num_tags]
            log_likelihood = model.crf.log_likelihood(emissions, tags, mask=mask)  # [batch]
            nll_sum = -tf.reduce_sum(log_likelihood)  # []
            loss = nll_loss(-log_likelihood, global_batch)  # [] the one scaling rule
            if model.losses:
                loss += tf.add_n([tf.cast(x, tf.float32) for x in model.losses]) / replicas
            scaled = optimizer.scale_loss(loss) if mixed else loss
        grads = tape.gradient(scaled, variables)
        tokens = tf.reduce_sum(tf.cast(mask, tf.float32))  # []
        return grads, nll_sum, tokens

    if jit_compile:
        logger.warning(
            "training.jit_compile: XLA compiles the step once per batch shape (about 4 s each "
            "for the CoNLL-2003 model on a 2-core CPU, and the compiled step measured slower "
            "than the plain graph there); prefer it on GPUs with few distinct shapes"
        )
        # XLA for the forward and backward pass only: the optimizer update talks to the
        # distribution strategy (merge_call), which XLA cannot compile.
        forward_backward = tf.function(forward_backward, jit_compile=True)

    def replica_step(features, tags):
        context = tf.distribute.get_replica_context()
        tags = tf.cast(tags, tf.int32)
        local_batch = tf.cast(tf.shape(tags)[0], tf.float32)
        global_batch = global_batch_size(local_batch)  # outside the (maybe XLA) step
        grads, nll_sum, tokens = forward_backward(features, tags, global_batch)
        pairs = [(g, v) for g, v in zip(grads, variables, strict=True) if g is not None]
        grads = [g for g, _ in pairs]
        if clip_norm > 0:
            # Keras 3 clips BEFORE its cross-replica all-reduce, i.e. per replica; clip the
            # global gradient instead: all-reduce here, clip, and hand the optimizer 1/N of
            # it (its own all-reduce sums the N identical copies back).
            if replicas > 1:
                grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
            # The norm of an IndexedSlices gradient (embedding lookups) is computed over its
            # values, which double-count repeated words: merge repeated rows first.
            grads = [merge_rows(g) for g in grads]
            threshold = clip_norm
            if mixed:
                threshold = clip_norm * tf.cast(optimizer.dynamic_scale, tf.float32)
            grads, _ = tf.clip_by_global_norm(grads, threshold)
            if replicas > 1:
                grads = [scale_gradient(g, 1.0 / replicas) for g in grads]
        optimizer.apply(grads, [v for _, v in pairs])
        return nll_sum, tokens, local_batch

    def train_step(batch):
        features, tags = batch
        nll_sum, tokens, sentences = strategy.run(replica_step, args=(features, tags))
        reduce = tf.distribute.ReduceOp.SUM
        return (
            strategy.reduce(reduce, nll_sum, axis=None),
            strategy.reduce(reduce, tokens, axis=None),
            strategy.reduce(reduce, sentences, axis=None),
        )

    return tf.function(train_step, input_signature=[element_spec])


def merge_rows(gradient: Any) -> Any:
    """Sums the rows of an ``IndexedSlices`` gradient that share an index (others unchanged)."""
    import tensorflow as tf

    if not isinstance(gradient, tf.IndexedSlices):
        return gradient
    unique, position = tf.unique(gradient.indices)  # [U], [R]
    values = tf.math.unsorted_segment_sum(gradient.values, position, tf.shape(unique)[0])
    return tf.IndexedSlices(values, unique, gradient.dense_shape)  # values [U, dim]


def scale_gradient(gradient: Any, factor: float) -> Any:
    """``gradient * factor`` for a dense or an ``IndexedSlices`` gradient."""
    import tensorflow as tf

    if isinstance(gradient, tf.IndexedSlices):
        return tf.IndexedSlices(gradient.values * factor, gradient.indices, gradient.dense_shape)
    return gradient * factor
