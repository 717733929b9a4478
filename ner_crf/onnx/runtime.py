"""Running an ONNX export with ONNX Runtime, without TensorFlow.

:func:`load_export` reads an export directory (``ner_crf.onnx.export``) and returns an
:class:`OnnxTagger`: the backend-free :class:`~ner_crf.predict.tagging.Tagger` (tokenisation,
batching, long-sentence pieces, entity probabilities, output formats are shared with the
TensorFlow path) whose network is one ``onnxruntime.InferenceSession``. Nothing here imports
TensorFlow, so ``ner-crf predict --model EXPORT_DIR`` needs only the ``onnx`` extra.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ner_crf.errors import ModelError, NerCrfError
from ner_crf.onnx import (
    FORMAT_VERSION,
    META_FILE,
    MODEL_FILE,
    VOCAB_DIR,
    is_onnx_export,
    require_onnx,
)
from ner_crf.predict.tagging import Tagger

logger = logging.getLogger(__name__)

__all__ = ["OnnxTagger", "load_export", "pad_batch"]


def pad_batch(encoded: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Right-pads encoded sentences (``SentenceEncoder.encode``) into the graph's int64 inputs.

    Returns:
        ``words`` [B, T], ``chars`` [B, T, W] (W >= 1), ``casing`` [B, T], ``lengths`` [B].
    """
    batch = len(encoded)
    time = max((len(e["words"]) for e in encoded), default=0)
    width = max(max((e["chars"].shape[1] for e in encoded), default=0), 1)
    words = np.zeros((batch, time), np.int64)  # [B, T]
    chars = np.zeros((batch, time, width), np.int64)  # [B, T, W]
    casing = np.zeros((batch, time), np.int64)  # [B, T]
    lengths = np.zeros((batch,), np.int64)  # [B]
    for row, e in enumerate(encoded):
        n = len(e["words"])
        words[row, :n] = e["words"]
        chars[row, :n, : e["chars"].shape[1]] = e["chars"]
        casing[row, :n] = e["casing"]
        lengths[row] = n
    return {"words": words, "chars": chars, "casing": casing, "lengths": lengths}


def _read_meta(directory: Path) -> dict[str, Any]:
    path = directory / META_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ModelError(f"{path} is unreadable: {error}") from None
    if not isinstance(meta, dict) or meta.get("format") != "ner-crf-onnx":
        raise ModelError(f"{path} is not a ner-crf ONNX export description")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelError(
            f"{path} has format version {meta.get('format_version')}; this ner-crf reads "
            f"version {FORMAT_VERSION}: export the run again"
        )
    return meta


def _features(features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The Tagger's int32 padded batch -> the graph's int64 inputs with lengths."""
    words = features["words"].astype(np.int64)  # [B, T]
    return {
        "words": words,
        "chars": features["chars"].astype(np.int64),  # [B, T, W]
        "casing": features["casing"].astype(np.int64),  # [B, T]
        "lengths": (words != 0).sum(axis=1).astype(np.int64),  # [B]; real words are never 0
    }


class OnnxTagger(Tagger):
    """A :class:`~ner_crf.predict.tagging.Tagger` running an ONNX export with ONNX Runtime.

    Args:
        session: The ``onnxruntime.InferenceSession`` of ``model.onnx``.
        encoder: The ``SentenceEncoder`` of the export's vocabularies and normalisation.
        meta: The export description (``ner_crf_onnx.json``).
        **kwargs: ``batch_size``, ``max_batch_tokens``, ``max_sentence_length`` as for
            ``Tagger``; ``n_best`` must be 0 (the graph returns the single best path).
    """

    def __init__(self, session: Any, encoder: Any, meta: dict[str, Any], **kwargs: Any):
        if kwargs.get("n_best", 0):
            raise NerCrfError(
                "--n-best needs a run directory (TensorFlow); ONNX exports give the best path"
            )
        crf = meta["crf"]
        parameters = {
            "transitions": np.asarray(crf["transitions"], np.float64),
            "start": np.asarray(crf["start"], np.float64),
            "end": np.asarray(crf["end"], np.float64),
            "transition_mask": np.asarray(crf["transition_mask"], bool),
            "start_mask": np.asarray(crf["start_mask"], bool),
            "end_mask": np.asarray(crf["end_mask"], bool),
        }
        super().__init__(encoder, meta["tag_names"], meta["scheme"], parameters, **kwargs)
        self.session = session
        self.meta = meta

    def _decode_arrays(self, features: dict[str, np.ndarray]) -> np.ndarray:
        (tags,) = self.session.run(["tags"], _features(features))
        return tags  # [B, T]

    def _analyse_arrays(self, features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = ["tags", "emissions", "log_alpha", "log_beta", "log_z"]
        tags, emissions, alpha, beta, log_z = self.session.run(names, _features(features))
        return {"tags": tags, "emissions": emissions, "alpha": alpha, "beta": beta, "log_z": log_z}


def load_export(directory: str | Path, **kwargs: Any) -> OnnxTagger:
    """Loads an ONNX export directory into an :class:`OnnxTagger`.

    Args:
        directory: Written by ``ner-crf export --format onnx``.
        **kwargs: Passed to :class:`OnnxTagger` (batch sizes, ``n_best``).

    Raises:
        NerCrfError: ``onnxruntime`` is not installed.
        ModelError: A file is missing or unreadable, or the vocabularies do not fit the graph.
    """
    require_onnx()
    import onnxruntime as ort

    from ner_crf.data.encoding import SentenceEncoder
    from ner_crf.data.vocab import Vocabularies

    directory = Path(directory)
    if not is_onnx_export(directory):
        raise ModelError(f"{directory} is not an ONNX export (no {MODEL_FILE} / {META_FILE})")
    meta = _read_meta(directory)
    vocabs = Vocabularies.load(directory / VOCAB_DIR)
    if list(vocabs.tags.tokens) != list(meta["tag_names"]):
        raise ModelError(f"{directory / VOCAB_DIR / 'tags.txt'} does not match {META_FILE}")
    if len(vocabs.words) > int(meta["num_words"]):
        raise ModelError(
            f"{directory / VOCAB_DIR / 'words.txt'} has {len(vocabs.words)} words but the graph "
            f"has {meta['num_words']} embedding rows; the files come from different exports"
        )
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only on stderr
    try:
        session = ort.InferenceSession(
            str(directory / MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )
    except Exception as error:  # onnxruntime raises its own exception types
        raise ModelError(f"cannot load {directory / MODEL_FILE}: {error}") from None
    encoder = SentenceEncoder(
        vocabs.words,
        vocabs.chars,
        vocabs.tags,
        lowercase=bool(meta["lowercase"]),
        normalize_digits=bool(meta["normalize_digits"]),
        max_word_length=int(meta["max_word_length"]),
    )
    logger.info(
        "loaded ONNX export %s (%d tags, scheme %s)", directory, len(vocabs.tags), meta["scheme"]
    )
    return OnnxTagger(session, encoder, meta, **kwargs)
