"""Tagging batches of sentences with any CRF backend, and tagging a document stream (no TensorFlow).

:class:`Tagger` holds everything about prediction that does not depend on how the network runs:
sentences longer than ``max_sentence_length`` tokens are tagged in consecutive pieces of that
length (the BiLSTM does not see across a piece boundary and no entity spans one); the pieces are
sorted by length and cut into batches of at most ``batch_size`` sentences and ``max_batch_tokens``
padded words (so one very long sentence is never padded together with 255 others); the results
are put back in input order. A backend (:class:`ner_crf.predict.predictor.Predictor` for
TensorFlow) supplies two functions of a padded feature batch: Viterbi tags, and the
forward-backward tables the entity probabilities come from.

Entity scores are exact posterior probabilities under the CRF:
``score = P(the tagging contains the entity (start, end, label) | sentence)``, summed over every
tag sequence in which the entity appears under the lenient reading of
:func:`ner_crf.data.tags.get_spans` (see :func:`ner_crf.crf.entity_probs.entity_log_prob`). With
``n_best = K`` the ``K`` best tag sequences of each sentence are added with their probabilities
``exp(score - log Z)``.

:func:`predict_documents` buffers documents until they hold ``batch_size`` sentences, tags them
and yields them in input order: memory stays flat whatever the size of the input.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ner_crf.crf.entity_probs import CrfTables, effective_scores, entity_log_prob
from ner_crf.data.tags import get_spans
from ner_crf.predict import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_BATCH_TOKENS,
    DEFAULT_MAX_SENTENCE_LENGTH,
)
from ner_crf.predict.documents import Document, Entity

__all__ = [
    "SentenceResult",
    "Tagger",
    "predict_documents",
]


@dataclass
class SentenceResult:
    """Tags of one sentence, its entity spans with probabilities, and the n-best list.

    Attributes:
        tags: One tag per token.
        entities: ``(token_start, token_end, label, probability)``; the probability is None
            when it was not computed.
        n_best: ``(tags, probability)`` best first (empty unless asked for).
    """

    tags: list[str]
    entities: list[tuple[int, int, str, float | None]] = field(default_factory=list)
    n_best: list[tuple[list[str], float]] = field(default_factory=list)


class Tagger:
    """Tags batches of token lists; subclasses run the network (``_decode_arrays``,
    ``_analyse_arrays``).

    Args:
        encoder: The run's ``SentenceEncoder`` (``encode(tokens)`` -> words, chars, casing).
        tag_names: Tag strings, index = tag id.
        scheme: The model's tag scheme.
        crf_parameters: ``CRF.numpy_parameters()`` of the model (scores and constraint masks).
        batch_size: Maximum sentences per model call.
        max_batch_tokens: Maximum padded words (sentences x longest) per model call.
        max_sentence_length: Longer sentences are tagged in pieces of this many tokens.
        n_best: Also return this many best tag sequences per sentence (0 = none).
    """

    def __init__(
        self,
        encoder: Any,
        tag_names: Sequence[str],
        scheme: str,
        crf_parameters: dict[str, np.ndarray],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        max_sentence_length: int = DEFAULT_MAX_SENTENCE_LENGTH,
        n_best: int = 0,
    ):
        if batch_size < 1 or max_batch_tokens < 1 or max_sentence_length < 1 or n_best < 0:
            raise ValueError("batch sizes and lengths must be positive, n_best >= 0")
        self.encoder = encoder
        self.tag_names = list(tag_names)
        self.scheme = scheme
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.max_sentence_length = max_sentence_length
        self.n_best = n_best
        # The effective parameters of the forward-backward pass (forbidden -> FORBIDDEN_SCORE).
        self._trans, self._start, self._end = effective_scores(crf_parameters)

    # --- the backend -----------------------------------------------------------------------------

    def _decode_arrays(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """Viterbi tag ids int [B, T] of a padded batch (``words``, ``chars``, ``casing``)."""
        raise NotImplementedError

    def _analyse_arrays(self, features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``tags`` [B, T], ``emissions`` / ``alpha`` / ``beta`` [B, T, K], ``log_z`` [B] and,
        with ``n_best``, ``nbest_tags`` [B, k, T] and ``nbest_scores`` [B, k] of a padded batch."""
        raise NotImplementedError

    # --- batching ------------------------------------------------------------------------------

    def _pieces(self, sentences: Sequence[Sequence[str]]) -> list[tuple[int, int, int]]:
        """``(sentence, first token, end token)`` pieces of at most ``max_sentence_length``."""
        pieces = []
        for index, tokens in enumerate(sentences):
            for first in range(0, len(tokens), self.max_sentence_length):
                pieces.append((index, first, min(len(tokens), first + self.max_sentence_length)))
        return pieces

    def _batches(self, lengths: Sequence[int]) -> Iterator[list[int]]:
        """Groups of piece indices, sorted by length, within the size and token budgets."""
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        batch: list[int] = []
        for index in order:
            longest = lengths[index]  # sorted: the new piece is the longest of the batch
            if batch and (
                len(batch) >= self.batch_size or (len(batch) + 1) * longest > self.max_batch_tokens
            ):
                yield batch
                batch = []
            batch.append(index)
        if batch:
            yield batch

    def _features(self, token_lists: Sequence[Sequence[str]]) -> dict[str, np.ndarray]:
        encoded = [self.encoder.encode(tokens) for tokens in token_lists]
        batch = len(encoded)
        time = max(len(e["words"]) for e in encoded)
        width = max(max(e["chars"].shape[1] for e in encoded), 1)
        words = np.zeros((batch, time), np.int32)  # [B, T]
        chars = np.zeros((batch, time, width), np.int32)  # [B, T, W]
        casing = np.zeros((batch, time), np.int32)  # [B, T]
        for row, e in enumerate(encoded):
            n = len(e["words"])
            words[row, :n] = e["words"]
            chars[row, :n, : e["chars"].shape[1]] = e["chars"]
            casing[row, :n] = e["casing"]
        return {"words": words, "chars": chars, "casing": casing}

    # --- public ----------------------------------------------------------------------------------

    def tag(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        """Viterbi tags of every sentence (no probabilities; what evaluation needs).

        Args:
            sentences: Token lists; empty ones get no tags.

        Returns:
            One tag list per sentence.
        """
        return [r.tags for r in self.predict(sentences, scores=False)]

    def predict(
        self, sentences: Sequence[Sequence[str]], *, scores: bool = True
    ) -> list[SentenceResult]:
        """Tags, entities with probabilities and (optionally) n-best lists of every sentence.

        Args:
            sentences: Token lists; empty ones give an empty result.
            scores: Compute entity probabilities and n-best lists (forward-backward); without
                it only the Viterbi tags are computed and entities get probability None.

        Returns:
            One :class:`SentenceResult` per sentence.
        """
        names = self.tag_names
        results = [SentenceResult(tags=[]) for _ in sentences]
        # Pieces are batched by length, so fill one result per piece and merge them in order.
        pieces = self._pieces(sentences)
        parts = [SentenceResult(tags=[]) for _ in pieces]
        lengths = [end - first for _, first, end in pieces]
        for batch in self._batches(lengths):
            token_lists = [sentences[pieces[i][0]][pieces[i][1] : pieces[i][2]] for i in batch]
            features = self._features(token_lists)
            if not scores:
                tags = self._decode_arrays(features)  # [B, T]
                for row, index in enumerate(batch):
                    _, first, _ = pieces[index]
                    piece_tags = [names[t] for t in tags[row, : lengths[index]]]
                    parts[index].entities.extend(
                        (first + s, first + e, label, None)
                        for s, e, label in get_spans(piece_tags, self.scheme)
                    )
                    parts[index].tags.extend(piece_tags)
                continue
            out = self._analyse_arrays(features)
            for row, index in enumerate(batch):
                _, first, _ = pieces[index]
                n = lengths[index]
                piece_tags = [names[t] for t in out["tags"][row, :n]]
                tables = CrfTables(
                    emissions=out["emissions"][row, :n].astype(np.float64),
                    alpha=out["alpha"][row, :n].astype(np.float64),
                    beta=out["beta"][row, :n].astype(np.float64),
                    log_z=float(out["log_z"][row]),
                    transitions=self._trans,
                    start=self._start,
                    end=self._end,
                )
                result = parts[index]
                for span_start, span_end, label in get_spans(piece_tags, self.scheme):
                    log_p = entity_log_prob(tables, names, self.scheme, span_start, span_end, label)
                    # Clip rounding noise: a probability, and never 0 for the Viterbi path.
                    probability = min(1.0, max(math.exp(min(log_p, 0.0)), 1e-300))
                    result.entities.append(
                        (first + span_start, first + span_end, label, probability)
                    )
                result.tags.extend(piece_tags)
                if self.n_best and first == 0:
                    # n-best lists describe the first piece of a split sentence only.
                    for rank in range(self.n_best):
                        score = float(out["nbest_scores"][row, rank])
                        if not math.isfinite(score):
                            break
                        path = [names[t] for t in out["nbest_tags"][row, rank, :n]]
                        probability = math.exp(min(score - tables.log_z, 0.0))
                        result.n_best.append((path, probability))
        for (sentence, _, _), part in zip(pieces, parts, strict=True):
            results[sentence].tags.extend(part.tags)
            results[sentence].entities.extend(part.entities)
            results[sentence].n_best.extend(part.n_best)
        return results


# --------------------------------------------------------------------------------------------
# Streaming documents
# --------------------------------------------------------------------------------------------


def _annotate(document: Document, results: Sequence[SentenceResult]) -> None:
    tokens = document.tokens
    for (first, _), result in zip(document.sentences, results, strict=True):
        document.tags.extend(result.tags)
        for span_start, span_end, label, probability in result.entities:
            start = tokens[first + span_start].start
            end = tokens[first + span_end - 1].end
            document.entities.append(
                Entity(
                    start=start,
                    end=end,
                    label=label,
                    text=document.text[start:end],
                    score=probability,
                    token_start=first + span_start,
                    token_end=first + span_end,
                )
            )
        document.n_best.append(result.n_best)


def predict_documents(
    predictor: Tagger, documents: Iterable[Document], *, scores: bool = True
) -> Iterator[Document]:
    """Tags a stream of documents, ``predictor.batch_size`` sentences at a time, in order.

    Args:
        predictor: A :class:`Tagger` (such as the TensorFlow ``Predictor``).
        documents: Documents from :func:`raw_documents`, :func:`pretokenized_documents` or
            :func:`conll_documents`.
        scores: Compute entity probabilities (and n-best lists).

    Yields:
        The same documents with ``tags``, ``entities`` and ``n_best`` filled in.
    """
    buffer: list[Document] = []
    pending = 0

    def flush() -> Iterator[Document]:
        sentences = [
            [t.text for t in doc.tokens[first:end]]
            for doc in buffer
            for first, end in doc.sentences
        ]
        results = predictor.predict(sentences, scores=scores) if sentences else []
        position = 0
        for doc in buffer:
            count = len(doc.sentences)
            _annotate(doc, results[position : position + count])
            position += count
            yield doc

    for document in documents:
        buffer.append(document)
        pending += len(document.sentences)
        if pending >= predictor.batch_size:
            yield from flush()
            buffer, pending = [], 0
    if buffer:
        yield from flush()
