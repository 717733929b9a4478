"""Linear-chain CRF: TensorFlow functions (``tfa.text`` compatible), tag-scheme constraints."""

from __future__ import annotations

from ner_crf.crf.constraints import (
    TransitionConstraints,
    allowed_end,
    allowed_start,
    allowed_transitions,
    transition_constraints,
)
from ner_crf.crf.layer import CRF, CRFLoss
from ner_crf.crf.ops import (
    FORBIDDEN_SCORE,
    crf_binary_score,
    crf_decode,
    crf_decode_nbest,
    crf_forward,
    crf_forward_backward,
    crf_log_likelihood,
    crf_log_norm,
    crf_marginals,
    crf_segment_log_prob,
    crf_sequence_score,
    crf_unary_score,
    viterbi_decode,
)

__all__ = [
    "CRF",
    "CRFLoss",
    "FORBIDDEN_SCORE",
    "TransitionConstraints",
    "allowed_end",
    "allowed_start",
    "allowed_transitions",
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
    "transition_constraints",
    "viterbi_decode",
]
