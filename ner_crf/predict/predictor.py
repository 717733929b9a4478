"""The TensorFlow predictor: a trained model run by :class:`~ner_crf.predict.tagging.Tagger`.

Each batch goes through one ``tf.function`` (a single trace: every dimension of the input
signature is dynamic). TensorFlow is imported when a :class:`Predictor` is built.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ner_crf.predict.tagging import Tagger

__all__ = ["Predictor"]


class Predictor(Tagger):
    """Runs a trained model on batches of token lists.

    Args:
        run: A :class:`~ner_crf.model.run_dir.LoadedRun` (``model``, ``encoder``, ``tag_names``
            and ``scheme`` are used; the trainer passes one for the model it is training).
        xla: Run the CRF in its XLA cores, compiled once per bucket of batch shapes: faster
            once warm, but the compiles cost seconds at the start (CoNLL-2003 dev: 14.5 s for
            the first pass against 4.8 s in plain graphs, 2,100-2,600 against 1,650
            sentences/s warm). The trainer and the CLI commands turn them off.
        **options: The :class:`~ner_crf.predict.tagging.Tagger` options: ``batch_size``,
            ``max_batch_tokens``, ``max_sentence_length``, ``n_best``.
    """

    def __init__(self, run: Any, *, xla: bool = True, **options: Any):
        import contextlib

        import tensorflow as tf

        from ner_crf.crf import crf_forward_backward, xla_disabled

        # The CRF functions read the setting when they are traced (the first call).
        self._graphs = contextlib.nullcontext if xla else xla_disabled

        model = run.model
        crf = model.crf
        params = crf.numpy_parameters()
        super().__init__(run.encoder, run.tag_names, run.scheme, params, **options)
        n_best = self.n_best
        self.run = run
        # Forward-backward in float64: entity probabilities are differences of log-scores that
        # grow with the sentence (log Z ~ 1e4 at 2,000 tokens); in float32 rounding alone moved
        # them by up to 0.07 there (1e-3 on CoNLL-2003 dev).
        trans_tensor, fb_kwargs = float64_crf_arguments(params)

        signature = [
            {
                "words": tf.TensorSpec([None, None], tf.int32, name="words"),
                "chars": tf.TensorSpec([None, None, None], tf.int32, name="chars"),
                "casing": tf.TensorSpec([None, None], tf.int32, name="casing"),
            }
        ]

        @tf.function(input_signature=signature)
        def decode(features):
            tags, _ = model.decode(features)  # [B, T]
            return tags

        @tf.function(input_signature=signature)
        def analyse(features):
            emissions = model(features, training=False)  # [B, T, K] float32
            mask = model.feature_mask(features)  # [B, T]
            lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)  # [B]
            tags, _ = crf.decode(emissions, mask=mask)  # [B, T]
            log_alpha, log_beta, log_z = crf_forward_backward(
                tf.cast(emissions, tf.float64), trans_tensor, lengths, **fb_kwargs
            )  # [B, T, K], [B, T, K], [B]
            out = {
                "tags": tags,
                "emissions": emissions,
                "alpha": log_alpha,
                "beta": log_beta,
                "log_z": log_z,
            }
            if n_best > 0:
                best_tags, best_scores = crf.decode_nbest(emissions, n_best, mask=mask)
                out["nbest_tags"] = best_tags  # [B, k, T]
                out["nbest_scores"] = best_scores  # [B, k]
            return out

        self._decode = decode  # features -> int32 [B, T] tags
        self._analyse = analyse  # features -> dict of tags, emissions, alpha, beta, log_z, ...

    def _decode_arrays(self, features: dict[str, np.ndarray]) -> np.ndarray:
        with self._graphs():
            return self._decode(features).numpy()

    def _analyse_arrays(self, features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self._graphs():
            return {key: value.numpy() for key, value in self._analyse(features).items()}


def float64_crf_arguments(params: dict[str, np.ndarray]) -> tuple[Any, dict[str, Any]]:
    """``(transitions, keyword arguments)`` for the CRF functions, scores as float64 tensors.

    ``params`` is :meth:`CRF.numpy_parameters`; the keywords are the start/end scores and the
    transition, start and end masks (the one place that turns them into float64 tensors).
    """
    import tensorflow as tf

    kwargs = {
        "start_transitions": tf.constant(params["start"], tf.float64),
        "end_transitions": tf.constant(params["end"], tf.float64),
        "transition_mask": tf.constant(params["transition_mask"]),
        "start_mask": tf.constant(params["start_mask"]),
        "end_mask": tf.constant(params["end_mask"]),
    }
    return tf.constant(params["transitions"], tf.float64), kwargs
