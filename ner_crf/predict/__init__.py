"""Tagging raw text, pre-tokenised text or CoNLL files with a trained run, as a stream.

One module per job:

* :mod:`~ner_crf.predict.documents`: reading input into documents (no TensorFlow);
* :mod:`~ner_crf.predict.tagging`: batching, entity probabilities and the document stream, for
  any backend (no TensorFlow);
* :mod:`~ner_crf.predict.predictor`: the TensorFlow backend, :class:`Predictor`;
* :mod:`~ner_crf.predict.formats`: the jsonl / conll / inline output (no TensorFlow);
* :mod:`~ner_crf.predict.evaluate`: tagging and scoring sentences and CoNLL files, the one
  evaluation path of ``train``, ``evaluate`` and the trainer.

The public names below are loaded on first use (PEP 562): importing the package, or one of its
TensorFlow-free modules, imports neither TensorFlow nor seqeval.
"""

from __future__ import annotations

from ner_crf.lazy import lazy_exports

# Defaults of the predictor's batching (``ner-crf predict`` / ``evaluate`` options).
DEFAULT_BATCH_SIZE = 256  # sentences per model call
DEFAULT_MAX_BATCH_TOKENS = 16384  # padded words (sentences x longest) per model call
DEFAULT_MAX_SENTENCE_LENGTH = 2000  # longer sentences are tagged in pieces of this length

# Public name -> the submodule that defines it.
_SOURCES = {
    "INPUT_MODES": "documents",
    "Document": "documents",
    "Entity": "documents",
    "conll_documents": "documents",
    "iter_lines": "documents",
    "pretokenized_documents": "documents",
    "raw_documents": "documents",
    "SentenceResult": "tagging",
    "Tagger": "tagging",
    "predict_documents": "tagging",
    "Predictor": "predictor",
    "FORMATS": "formats",
    "format_document": "formats",
    "FileEvaluation": "evaluate",
    "evaluate_files": "evaluate",
    "evaluate_sentences": "evaluate",
    "score_tags": "evaluate",
}

__all__ = sorted(
    [*_SOURCES, "DEFAULT_BATCH_SIZE", "DEFAULT_MAX_BATCH_TOKENS", "DEFAULT_MAX_SENTENCE_LENGTH"]
)


__getattr__, __dir__ = lazy_exports(__name__, _SOURCES)
