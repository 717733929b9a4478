"""Tagging raw text, pre-tokenised text or CoNLL files with a trained run, as a stream.

The input is read one line at a time and turned into :class:`Document` objects:

* raw text (default): one document per input line; the line is split into sentences and tokens
  with character offsets by :func:`ner_crf.tokenize.tokenize_sentences`;
* pre-tokenised text: one document (= one sentence) per line, tokens separated by whitespace;
* CoNLL: one document per sentence (first column; blank lines separate sentences,
  ``-DOCSTART-`` lines are skipped); the document text is the tokens joined by single spaces.

Documents are buffered until they hold ``batch_size`` sentences; the sentences are sorted by
length and cut into batches of at most ``batch_size`` sentences and ``max_batch_tokens`` padded
words (so one very long sentence is never padded together with 255 others), run through one
``tf.function`` (a single trace: every dimension of the input signature is dynamic), and the
documents are yielded in input order. Memory stays flat whatever the size of the input.
Sentences longer than ``max_sentence_length`` tokens are tagged in consecutive pieces of that
length (the BiLSTM does not see across a piece boundary and no entity spans one).

Entity scores are exact posterior probabilities under the CRF, from the forward-backward tables:
``score = P(the tagging contains the entity (start, end, label) | sentence)``, summed over every
tag sequence in which the entity appears under the lenient reading of
:func:`ner_crf.data.tags.get_spans` (see :func:`entity_log_prob`). With ``n_best = K`` the ``K``
best tag sequences of each sentence are added with their probabilities ``exp(score - log Z)``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ner_crf.data.tags import get_spans
from ner_crf.errors import DataError
from ner_crf.tokenize import Token, tokenize_sentences

logger = logging.getLogger(__name__)

__all__ = [
    "FORMATS",
    "INPUT_MODES",
    "Document",
    "Entity",
    "Predictor",
    "conll_documents",
    "entity_log_prob",
    "format_document",
    "iter_lines",
    "predict_documents",
    "pretokenized_documents",
    "raw_documents",
]

FORMATS = ("jsonl", "conll", "inline")
INPUT_MODES = ("text", "pretokenized", "conll")
DEFAULT_BATCH_SIZE = 256
DEFAULT_MAX_BATCH_TOKENS = 16384
DEFAULT_MAX_SENTENCE_LENGTH = 2000
FORBIDDEN_SCORE = -1e4  # what ner_crf.crf.ops gives forbidden transitions in forward-backward


# --------------------------------------------------------------------------------------------
# Documents
# --------------------------------------------------------------------------------------------


@dataclass
class Entity:
    """A predicted entity.

    Attributes:
        start: Character offset of its first character in the document text.
        end: Character offset just past its last character.
        label: The entity type (``PER``, ...).
        text: ``document.text[start:end]``.
        score: Posterior probability of the entity under the CRF, in (0, 1] (None when the
            prediction was made without probabilities).
        token_start: Index of its first token in ``document.tokens``.
        token_end: Index just past its last token.
    """

    start: int
    end: int
    label: str
    text: str
    score: float | None
    token_start: int
    token_end: int


@dataclass
class Document:
    """One unit of input and, after prediction, its tags and entities.

    Attributes:
        text: The text (an input line, or the tokens of a CoNLL sentence joined by spaces).
        tokens: Tokens with offsets into ``text``.
        sentences: ``(first token, end token)`` index ranges, one per sentence.
        source: Input file name (``-`` for stdin), for messages.
        line: 1-based line of the document in its input.
        tags: One predicted tag per token (the model's tag scheme).
        entities: Predicted entities in order.
        n_best: Per sentence, the best tag sequences and their probabilities, best first.
    """

    text: str
    tokens: list[Token]
    sentences: list[tuple[int, int]]
    source: str = "-"
    line: int = 0
    tags: list[str] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)
    n_best: list[list[tuple[list[str], float]]] = field(default_factory=list)


def iter_lines(
    sources: Sequence[str | Path], stdin: BinaryIO | None = None
) -> Iterator[tuple[str, int, str]]:
    """Reads input files (``-`` = ``stdin``) line by line as UTF-8, without loading them whole.

    Args:
        sources: File names; ``-`` stands for ``stdin``.
        stdin: The binary stream read for ``-``.

    Yields:
        ``(source, line number, line without its line break)``; a UTF-8 BOM at the start of a
        file is dropped.

    Raises:
        DataError: A file is missing or unreadable, or a line is not UTF-8.
    """
    for source in sources:
        name = str(source)
        if name == "-":
            if stdin is None:
                raise DataError("no standard input to read from", path="-")
            yield from _lines_of(stdin, "-")
            continue
        path = Path(name)
        if not path.exists():
            raise DataError("input file not found", path=path)
        if path.is_dir():
            raise DataError("is a directory, expected a text file", path=path)
        try:
            handle = path.open("rb")
        except OSError as error:
            raise DataError(f"cannot read: {error.strerror or error}", path=path) from None
        with handle:
            yield from _lines_of(handle, name)


def _lines_of(handle: BinaryIO, name: str) -> Iterator[tuple[str, int, str]]:
    for number, raw in enumerate(handle, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise DataError(
                f"not valid UTF-8 (byte {error.start + 1} of the line)", path=name, line=number
            ) from None
        if number == 1 and line.startswith("\ufeff"):
            line = line[1:]
        yield name, number, line.rstrip("\r\n")


def raw_documents(lines: Iterable[tuple[str, int, str]]) -> Iterator[Document]:
    """One document per line of raw text, split into sentences and tokens with offsets."""
    for source, number, line in lines:
        tokens: list[Token] = []
        sentences: list[tuple[int, int]] = []
        for sentence in tokenize_sentences(line):
            sentences.append((len(tokens), len(tokens) + len(sentence)))
            tokens.extend(sentence)
        yield Document(line, tokens, sentences, source=source, line=number)


def _whitespace_tokens(text: str) -> list[Token]:
    tokens = []
    position = 0
    for word in text.split():
        start = text.index(word, position)
        position = start + len(word)
        tokens.append(Token(word, start, position))
    return tokens


def pretokenized_documents(lines: Iterable[tuple[str, int, str]]) -> Iterator[Document]:
    """One document (one sentence) per line; tokens are separated by whitespace."""
    for source, number, line in lines:
        tokens = _whitespace_tokens(line)
        sentences = [(0, len(tokens))] if tokens else []
        yield Document(line, tokens, sentences, source=source, line=number)


def conll_documents(lines: Iterable[tuple[str, int, str]]) -> Iterator[Document]:
    """One document per CoNLL sentence (token = first column; other columns are ignored)."""
    words: list[str] = []
    first = 0
    source = "-"

    def flush() -> Document:
        text = " ".join(words)
        tokens = _whitespace_tokens(text)
        return Document(text, tokens, [(0, len(tokens))], source=source, line=first)

    for name, number, line in lines:
        if name != source and words:
            yield flush()
            words = []
        source = name
        fields = line.split()
        if not fields:
            if words:
                yield flush()
                words = []
            continue
        if fields[0] == "-DOCSTART-":
            if words:
                yield flush()
                words = []
            continue
        if not words:
            first = number
        words.append(fields[0])
    if words:
        yield flush()


# --------------------------------------------------------------------------------------------
# Entity probabilities
# --------------------------------------------------------------------------------------------


def _logsumexp(values: np.ndarray) -> float:
    if values.size == 0:
        return -math.inf
    top = float(values.max())
    if not math.isfinite(top):
        return top
    return top + math.log(float(np.exp(values - top).sum()))


@dataclass(frozen=True)
class _CrfTables:
    """Forward-backward results of one sentence (float64), with the constraints applied.

    ``alpha[t, j]`` includes the start score and the emission at ``t``; ``beta[t, i]`` excludes
    the emission at ``t`` and includes the end score (``ner_crf.crf.crf_forward_backward``).
    """

    emissions: np.ndarray  # [L, K]
    alpha: np.ndarray  # [L, K]
    beta: np.ndarray  # [L, K]
    log_z: float
    transitions: np.ndarray  # [K, K] [from, to], forbidden entries = FORBIDDEN_SCORE
    start: np.ndarray  # [K]
    end: np.ndarray  # [K]


def _pattern_log_prob(
    tables: _CrfTables,
    start: int,
    tags: Sequence[int],
    left_excluded: Sequence[int],
    right_excluded: Sequence[int],
) -> float:
    """``log P(y[start:start+n] = tags, y[start-1] not in left_excluded, y[end] not in right...)``.

    A missing neighbour (sentence start or end) satisfies its condition.
    """
    x, alpha, beta, trans = tables.emissions, tables.alpha, tables.beta, tables.transitions
    length = x.shape[0]
    end = start + len(tags)
    first, last = tags[0], tags[-1]
    if start == 0 or not left_excluded:
        left = alpha[start, first]
    else:
        allowed = np.ones(x.shape[1], dtype=bool)
        allowed[list(left_excluded)] = False
        left = _logsumexp(alpha[start - 1, allowed] + trans[allowed, first]) + x[start, first]
    inner = 0.0
    for t in range(start + 1, end):
        inner += trans[tags[t - start - 1], tags[t - start]] + x[t, tags[t - start]]
    if end == length or not right_excluded:
        right = beta[end - 1, last]
    else:
        allowed = np.ones(x.shape[1], dtype=bool)
        allowed[list(right_excluded)] = False
        right = _logsumexp(trans[last, allowed] + x[end, allowed] + beta[end, allowed])
    return float(left + inner + right - tables.log_z)


def entity_log_prob(
    tables: _CrfTables, tag_names: Sequence[str], scheme: str, start: int, end: int, label: str
) -> float:
    """Exact log-probability that the tagging contains the entity ``(start, end, label)``.

    The entity is read leniently, as :func:`ner_crf.data.tags.get_spans` does, so the event is
    a union of disjoint tag patterns on ``[start - 1, end]``; for BIO / IOB1 (``X`` = label):

    * ``B-X I-X ... I-X`` followed by anything but ``I-X``;
    * ``I-X I-X ... I-X`` preceded by anything but ``B-X`` / ``I-X`` and followed by anything
      but ``I-X``;

    and for IOBES the first token is ``B-X`` (or ``I-X`` after neither ``B-X`` nor ``I-X``), the
    inner ones ``I-X``, the last ``E-X`` (or ``I-X`` before neither ``I-X`` nor ``E-X``), and a
    one-token entity is ``S-X``, ``B-X`` / ``I-X`` / ``E-X`` with the matching conditions. Each
    pattern's probability comes from the forward-backward tables; under transition constraints
    only the legal pattern has non-zero probability.

    Args:
        tables: The sentence's forward-backward tables.
        tag_names: Tag strings, index = tag id.
        scheme: ``BIO``, ``IOB1`` or ``IOBES``.
        start: First token of the entity.
        end: Token just past the entity.
        label: The entity type.

    Returns:
        The log-probability (<= 0 up to rounding).
    """
    ids = {name: i for i, name in enumerate(tag_names)}
    b, i_, e, s = (ids.get(f"{p}-{label}") for p in "BIES")
    cont = [t for t in (b, i_) if t is not None]  # tags an I-X / E-X continues
    n = end - start
    terms: list[float] = []

    def add(tags: list[int | None], left: list[int], right: list[int]) -> None:
        if any(t is None for t in tags):
            return  # a tag the model does not have: the pattern has probability 0
        terms.append(_pattern_log_prob(tables, start, tags, left, right))  # type: ignore[arg-type]

    if scheme in ("BIO", "IOB1"):
        right = [i_] if i_ is not None else []
        add([b] + [i_] * (n - 1), [], right)
        add([i_] * n, cont, right)
    else:
        after = [t for t in (i_, e) if t is not None]  # tags that continue a B-X / I-X
        if n == 1:
            add([s], [], [])
            add([b], [], after)
            add([i_], cont, after)
            add([e], cont, [])
        else:
            inner = [i_] * (n - 2)
            add([b, *inner, e], [], [])
            add([b, *inner, i_], [], after)
            add([i_, *inner, e], cont, [])
            add([i_, *inner, i_], cont, after)
    if not terms:
        return -math.inf
    return _logsumexp(np.array(terms))


# --------------------------------------------------------------------------------------------
# The predictor
# --------------------------------------------------------------------------------------------


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


class Predictor:
    """Runs a loaded model on batches of token lists.

    Args:
        run: A :class:`~ner_crf.model.run_dir.LoadedRun`.
        batch_size: Maximum sentences per model call.
        max_batch_tokens: Maximum padded words (sentences x longest) per model call.
        max_sentence_length: Longer sentences are tagged in pieces of this many tokens.
        n_best: Also return this many best tag sequences per sentence (0 = none).
    """

    def __init__(
        self,
        run: Any,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        max_sentence_length: int = DEFAULT_MAX_SENTENCE_LENGTH,
        n_best: int = 0,
    ):
        import tensorflow as tf

        from ner_crf.crf import crf_forward_backward

        if batch_size < 1 or max_batch_tokens < 1 or max_sentence_length < 1 or n_best < 0:
            raise ValueError("batch sizes and lengths must be positive, n_best >= 0")
        self.run = run
        self.encoder = run.encoder
        self.tag_names = list(run.tag_names)
        self.scheme = run.scheme
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.max_sentence_length = max_sentence_length
        self.n_best = n_best

        model = run.model
        crf = model.crf
        params = crf.numpy_parameters()
        trans, start, end = params["transitions"], params["start"], params["end"]
        trans_mask = params["transition_mask"]  # [K, K]
        start_mask, end_mask = params["start_mask"], params["end_mask"]  # [K], [K]
        # The effective parameters of the forward-backward pass (forbidden -> FORBIDDEN_SCORE).
        self._trans = np.where(trans_mask, trans, FORBIDDEN_SCORE)
        self._start = np.where(start_mask, start, FORBIDDEN_SCORE)
        self._end = np.where(end_mask, end, FORBIDDEN_SCORE)
        fb_kwargs = {
            "start_transitions": tf.constant(start, tf.float32),
            "end_transitions": tf.constant(end, tf.float32),
            "transition_mask": tf.constant(trans_mask),
            "start_mask": tf.constant(start_mask),
            "end_mask": tf.constant(end_mask),
        }
        trans_tensor = tf.constant(trans, tf.float32)

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
                emissions, trans_tensor, lengths, **fb_kwargs
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
        """Viterbi tags of every sentence (no probabilities; what ``evaluate`` needs).

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
                tags = self._decode(features).numpy()  # [B, T]
                for row, index in enumerate(batch):
                    _, first, _ = pieces[index]
                    piece_tags = [names[t] for t in tags[row, : lengths[index]]]
                    parts[index].entities.extend(
                        (first + s, first + e, label, None)
                        for s, e, label in get_spans(piece_tags, self.scheme)
                    )
                    parts[index].tags.extend(piece_tags)
                continue
            out = {key: value.numpy() for key, value in self._analyse(features).items()}
            for row, index in enumerate(batch):
                _, first, _ = pieces[index]
                n = lengths[index]
                piece_tags = [names[t] for t in out["tags"][row, :n]]
                tables = _CrfTables(
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
# Streaming
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
    predictor: Predictor, documents: Iterable[Document], *, scores: bool = True
) -> Iterator[Document]:
    """Tags a stream of documents, ``predictor.batch_size`` sentences at a time, in order.

    Args:
        predictor: The :class:`Predictor`.
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


# --------------------------------------------------------------------------------------------
# Output formats
# --------------------------------------------------------------------------------------------


def _jsonl(document: Document, n_best: bool) -> str:
    import json

    sentences = []
    for (first, end), best in zip(
        document.sentences, document.n_best or [[]] * len(document.sentences), strict=True
    ):
        item: dict[str, Any] = {
            "start": document.tokens[first].start,
            "end": document.tokens[end - 1].end,
            "token_start": first,
            "token_end": end,
        }
        if n_best:
            item["n_best"] = [{"tags": tags, "probability": p} for tags, p in best]
        sentences.append(item)
    obj = {
        "text": document.text,
        "tokens": [{"text": t.text, "start": t.start, "end": t.end} for t in document.tokens],
        "tags": document.tags,
        "entities": [
            {
                "start": e.start,
                "end": e.end,
                "label": e.label,
                "text": e.text,
                "score": e.score,
                "token_start": e.token_start,
                "token_end": e.token_end,
            }
            for e in document.entities
        ],
        "sentences": sentences,
    }
    return json.dumps(obj, ensure_ascii=False) + "\n"


def _conll(document: Document, n_best: bool) -> str:
    lines = []
    for index, (first, end) in enumerate(document.sentences):
        best = document.n_best[index] if n_best and document.n_best else []
        if best:
            probabilities = " ".join(f"{p:.6g}" for _, p in best)
            lines.append(f"# n-best probabilities: {probabilities}")
        for position in range(first, end):
            columns = [document.tokens[position].text, document.tags[position]]
            columns += [tags[position - first] for tags, _ in best[1:]]
            lines.append("\t".join(columns))
        lines.append("")
    return "".join(line + "\n" for line in lines)


def _inline(document: Document) -> str:
    text = document.text
    parts = []
    position = 0
    for entity in document.entities:
        parts.append(text[position : entity.start])
        parts.append(f"[{entity.label} {text[entity.start : entity.end]}]")
        position = entity.end
    parts.append(text[position:])
    return "".join(parts) + "\n"


def format_document(document: Document, output_format: str, *, n_best: bool = False) -> str:
    """Renders a tagged document.

    * ``jsonl``: one JSON object per document with ``text``, ``tokens`` (``text``, ``start``,
      ``end``), ``tags``, ``entities`` (``start``, ``end`` character offsets, ``label``,
      ``text``, ``score``, ``token_start``, ``token_end``) and ``sentences`` (character and token
      ranges, plus ``n_best``: ``[{"tags", "probability"}]`` when asked for).
    * ``conll``: ``token<TAB>tag`` lines and a blank line after each sentence; with n-best, the
      2nd..Kth sequences are extra columns and a ``# n-best probabilities:`` line comes first.
    * ``inline``: the text with every entity written as ``[LABEL entity text]``.

    Args:
        document: A tagged document.
        output_format: ``jsonl``, ``conll`` or ``inline``.
        n_best: Include the n-best lists (jsonl, conll).

    Returns:
        The text, ending in a newline (empty for a conll document without tokens).
    """
    if output_format == "jsonl":
        return _jsonl(document, n_best)
    if output_format == "conll":
        return _conll(document, n_best)
    if output_format == "inline":
        return _inline(document)
    raise ValueError(f"unknown output format {output_format!r}; expected one of {FORMATS}")


# --------------------------------------------------------------------------------------------
# Evaluation of CoNLL files
# --------------------------------------------------------------------------------------------


@dataclass
class FileEvaluation:
    """Scores of one CoNLL file (or of all files together).

    Attributes:
        path: The file (``"all files"`` for the combined scores).
        sentences: Sentences evaluated.
        tokens: Tokens evaluated.
        results: ``EvalResult`` per mode (``strict`` and/or ``conlleval``).
    """

    path: str
    sentences: int
    tokens: int
    results: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: ``path``, ``sentences``, ``tokens`` and one entry per mode."""
        out: dict[str, Any] = {
            "path": self.path,
            "sentences": self.sentences,
            "tokens": self.tokens,
        }
        out.update({mode: result.to_dict() for mode, result in self.results.items()})
        return out


def evaluate_files(
    predictor: Predictor,
    paths: Sequence[str | Path],
    *,
    modes: Sequence[str],
    tag_column: int = -1,
    predictions_path: str | Path | None = None,
) -> tuple[list[FileEvaluation], FileEvaluation | None]:
    """Tags CoNLL files with the predictor's model and scores them against their gold tags.

    Gold tags may be in any scheme: they are read leniently (illegal sequences repaired) and
    converted to the model's scheme. Gold types the model never saw simply get recall 0.

    Args:
        predictor: The :class:`Predictor`.
        paths: CoNLL files.
        modes: ``strict`` and/or ``conlleval``.
        tag_column: Column of the gold tag.
        predictions_path: Also write ``token gold predicted`` lines (a blank line after each
            sentence, files one after the other) to this file, atomically.

    Returns:
        ``(per-file scores, combined scores or None for a single file)``.

    Raises:
        DataError: A file is missing or malformed.
    """
    from ner_crf.data.conll import read_conll
    from ner_crf.evaluation import evaluate_tags

    scheme = predictor.scheme
    per_file: list[FileEvaluation] = []
    all_gold: list[list[str]] = []
    all_pred: list[list[str]] = []
    all_tokens: list[list[str]] = []
    for path in paths:
        sentences = read_conll(path, tag_column=tag_column, scheme=scheme, illegal="repair")
        tokens = [s.tokens for s in sentences]
        gold = [list(s.tags) for s in sentences]
        pred = predictor.tag(tokens)
        results = {
            mode: evaluate_tags(gold, pred, scheme=scheme, mode=mode)  # type: ignore[arg-type]
            for mode in modes
        }
        per_file.append(
            FileEvaluation(str(path), len(sentences), sum(len(t) for t in tokens), results)
        )
        all_gold += gold
        all_pred += pred
        all_tokens += tokens
    combined = None
    if len(per_file) > 1:
        combined = FileEvaluation(
            "all files",
            len(all_gold),
            sum(len(t) for t in all_tokens),
            {
                mode: evaluate_tags(all_gold, all_pred, scheme=scheme, mode=mode)  # type: ignore[arg-type]
                for mode in modes
            },
        )
    if predictions_path is not None:
        from ner_crf.model.run_dir import atomic_write

        def write(tmp: Path) -> None:
            with tmp.open("w", encoding="utf-8") as handle:
                for tokens, gold, pred in zip(all_tokens, all_gold, all_pred, strict=True):
                    for token, g, p in zip(tokens, gold, pred, strict=True):
                        handle.write(f"{token} {g} {p}\n")
                    handle.write("\n")

        atomic_write(predictions_path, write)
    return per_file, combined
