"""Tagging raw text, pre-tokenised text or CoNLL files with a trained run, as a stream.

One module per job:

* :mod:`~ner_crf.predict.documents`: reading input into documents (no TensorFlow);
* :mod:`~ner_crf.predict.tagging`: batching, entity probabilities, the document stream, with
  any backend (no TensorFlow);
* :mod:`~ner_crf.predict.predictor`: the TensorFlow backend, :class:`Predictor`;
* :mod:`~ner_crf.predict.formats`: the jsonl / conll / inline output (no TensorFlow);
* :mod:`~ner_crf.predict.evaluate`: tagging and scoring CoNLL files, the one evaluation path.

The public names are re-exported here; importing this package does not import TensorFlow.
"""

from __future__ import annotations

from ner_crf.predict.documents import (
    INPUT_MODES,
    Document,
    Entity,
    conll_documents,
    iter_lines,
    pretokenized_documents,
    raw_documents,
)
from ner_crf.predict.evaluate import (
    FileEvaluation,
    evaluate_files,
    evaluate_sentences,
    score_tags,
)
from ner_crf.predict.formats import FORMATS, format_document
from ner_crf.predict.predictor import Predictor
from ner_crf.predict.tagging import (
    DEFAULT_BATCH_SIZE,
    SentenceResult,
    Tagger,
    predict_documents,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "FORMATS",
    "INPUT_MODES",
    "Document",
    "Entity",
    "FileEvaluation",
    "Predictor",
    "SentenceResult",
    "Tagger",
    "conll_documents",
    "evaluate_files",
    "evaluate_sentences",
    "format_document",
    "iter_lines",
    "predict_documents",
    "pretokenized_documents",
    "raw_documents",
    "score_tags",
]
