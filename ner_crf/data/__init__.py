"""Data layer: CoNLL reading and tag schemes (no TensorFlow imports here)."""

from __future__ import annotations

from ner_crf.data.conll import ReadReport, Sentence, read_conll

__all__ = ["ReadReport", "Sentence", "read_conll"]
