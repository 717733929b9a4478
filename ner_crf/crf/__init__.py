"""Linear-chain CRF: TensorFlow functions (``tfa.text`` compatible), tag-scheme constraints.

The names below are loaded on first use (PEP 562), so the TensorFlow-free submodules
(:mod:`ner_crf.crf.constraints`, :mod:`ner_crf.crf.entity_probs`) can be imported without
importing TensorFlow.
"""

from __future__ import annotations

from ner_crf.lazy import lazy_exports

# Public name -> the submodule that defines it.
_SOURCES = {
    "TransitionConstraints": "constraints",
    "allowed_end": "constraints",
    "allowed_start": "constraints",
    "allowed_transitions": "constraints",
    "transition_constraints": "constraints",
    "CRF": "layer",
    "CRFAccuracy": "layer",
    "CRFLoss": "layer",
    "nll_loss": "layer",
    "FORBIDDEN_SCORE": "constraints",
    "CrfDecodeForwardRnnCell": "layer",
    "bucket_size": "ops",
    "crf_binary_score": "ops",
    "crf_constrained_decode": "ops",
    "crf_decode_backward": "ops",
    "crf_decode_forward": "ops",
    "crf_filtered_inputs": "ops",
    "crf_multitag_sequence_score": "ops",
    "xla_disabled": "ops",
    "crf_decode": "ops",
    "crf_decode_nbest": "ops",
    "crf_forward": "ops",
    "crf_forward_backward": "ops",
    "crf_log_likelihood": "ops",
    "crf_log_norm": "ops",
    "crf_marginals": "ops",
    "crf_segment_log_prob": "ops",
    "crf_sequence_score": "ops",
    "crf_unary_score": "ops",
    "viterbi_decode": "ops",
}

__all__ = sorted(_SOURCES)


__getattr__, __dir__ = lazy_exports(__name__, _SOURCES)
