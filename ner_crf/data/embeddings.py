"""Streaming loader for pretrained word vectors (GloVe, word2vec text/binary, fastText ``.vec``).

The file is read once, entry by entry; only the vectors of vocabulary words are kept, so memory
is ``O(len(vocab) * dim)`` whatever the size of the file. Files ending in ``.gz`` (or starting
with the gzip magic bytes) are decompressed on the fly.

Vocabulary extension (``extend=True``, :func:`load_pretrained_words` with
``embeddings.extend_vocab``): the file's words whose normalised form is not a vocabulary word
are kept too (the first vector of each form, in file order; ``max_vectors`` reads only the head
of the file). Only the file chooses them, never dev or test data. The model gives them frozen
rows (`ner_crf.model.pretrained`), so a word training never saw is looked up through its vector
instead of ``<unk>``. Memory is then ``O(words kept * dim)``.

Formats:

- ``glove``: ``word v1 v2 ... vD`` per line, no header.
- ``word2vec`` / ``fasttext``: a header line ``<count> <dim>``, then lines as in GloVe.
- ``word2vec_binary``: the same header, then per entry ``word`` + one space + ``D`` little-endian
  float32 values (an optional newline before the next word is skipped).
- ``auto``: a first line of two integers is a header; the entry after it is text when it parses
  as ``word`` + ``D`` numbers, binary otherwise. Without a header the file is GloVe.

Matching, per vocabulary word ``v`` and file word ``f`` (the best match is kept; among equal
matches the first one in the file wins, as files are usually sorted by frequency):

1. exact: ``f == v``;
2. lowercase: ``f.lower() == v.lower()`` (a cased vocabulary with lowercased GloVe, or the
   other way round);
3. digits: ``normalize_word(f)`` equals ``normalize_word(v)`` with lowercasing and digit
   normalisation (``"1996"`` provides the vector of ``"0000"``). Only when
   ``normalize_digits=True``: with it off, the vocabulary keeps numbers apart and borrowing
   another number's vector would be wrong.

Rows of vocabulary words without a vector are drawn from ``uniform(-a, a)`` with a seeded
generator, where ``a = scale`` or, by default, ``sqrt(3) * std`` of the vectors found (so the
random rows have the same standard deviation as the pretrained ones). The ``<pad>`` row is zero.

Without extension, values of lines whose word matches no vocabulary word are not parsed (that
would make loading a few-GB file several times slower); their number of fields is still checked.

This module must not import TensorFlow (the CLI imports the data package at startup).
"""

from __future__ import annotations

import gzip
import logging
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ner_crf.data.vocab import (
    PAD,
    PAD_TOKEN,
    UNK,
    UNK_TOKEN,
    Vocabularies,
    Vocabulary,
    normalize_word,
)
from ner_crf.errors import DataError

logger = logging.getLogger(__name__)

FORMATS = ("auto", "glove", "word2vec", "word2vec_binary", "fasttext")

_EXACT, _LOWER, _DIGITS, _NONE = 0, 1, 2, 3
_MAX_LINE = 1 << 20  # bytes read when probing a line (a header or a first vector)
_MAX_WORD = 1 << 16  # longest word accepted in a binary file
_CHUNK = 1 << 20


@dataclass(frozen=True)
class EmbeddingReport:
    """What :func:`load_embeddings` read and matched.

    Attributes:
        path: The embedding file.
        format: The format used (after ``auto`` detection).
        dim: Vector size.
        vectors_read: Entries in the file.
        vocab_types: Ordinary vocabulary words (``<pad>``/``<unk>`` not counted).
        found_exact: Vocabulary words with an exact match.
        found_lower: ... matched only case-insensitively.
        found_digits: ... matched only after digit normalisation.
        token_coverage: Fraction of training tokens whose word got a pretrained vector, or
            ``None`` when no word counts were given.
        oov_scale: Half-width ``a`` of the ``uniform(-a, a)`` rows of words without a vector.
        added: Words the file adds to the vocabulary (``extend``), 0 without extension.
    """

    path: str
    format: str
    dim: int
    vectors_read: int
    vocab_types: int
    found_exact: int
    found_lower: int
    found_digits: int
    token_coverage: float | None
    oov_scale: float
    added: int = 0

    @property
    def found(self) -> int:
        """Vocabulary words that got a pretrained vector."""
        return self.found_exact + self.found_lower + self.found_digits

    @property
    def type_coverage(self) -> float:
        """Fraction of vocabulary words that got a pretrained vector."""
        return self.found / self.vocab_types if self.vocab_types else 0.0

    def summary(self) -> str:
        """One line for the log, e.g. ``glove.txt (glove, dim 100): 400000 vectors; ...``."""
        tokens = "n/a" if self.token_coverage is None else f"{100 * self.token_coverage:.1f}%"
        return (
            f"{Path(self.path).name} ({self.format}, dim {self.dim}): {self.vectors_read} vectors "
            f"read; {self.found}/{self.vocab_types} vocabulary words found "
            f"({100 * self.type_coverage:.1f}%: {self.found_exact} exact, {self.found_lower} "
            f"lowercase, {self.found_digits} digits); token coverage {tokens}; "
            f"OOV rows uniform(+-{self.oov_scale:.4g})"
            + (f"; {self.added} words added with frozen vectors" if self.added else "")
        )


# --- opening and format detection ----------------------------------------------------------------


def _open(path: Path) -> BinaryIO:
    """Opens ``path`` for binary reading, through gzip when it is gzip-compressed."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise DataError("embedding file not found", path=path) from None
    except OSError as error:
        raise DataError(f"cannot open embedding file: {error}", path=path) from None
    if handle.read(2) == b"\x1f\x8b":
        handle.close()
        return gzip.open(path, "rb")  # type: ignore[return-value]
    handle.seek(0)
    return handle


def _parse_header(line: bytes) -> tuple[int, int] | None:
    """Returns ``(count, dim)`` when ``line`` is a word2vec header, else ``None``."""
    fields = line.split()
    if len(fields) != 2:
        return None
    try:
        count, dim = int(fields[0]), int(fields[1])
    except ValueError:
        return None
    return (count, dim) if count >= 0 and dim > 0 else None


def _looks_like_vector(line: bytes, dim: int | None) -> bool:
    """Whether ``line`` is ``word v1 .. vD`` in text (with ``D == dim`` when ``dim`` is given)."""
    try:
        fields = line.decode("utf-8").split()
    except UnicodeDecodeError:
        return False
    if len(fields) < 2 or (dim is not None and len(fields) != dim + 1):
        return False
    try:
        for value in fields[1:]:
            float(value)
    except ValueError:
        return False
    return True


def _detect_format(path: Path) -> str:
    with _open(path) as handle:
        first = _read_probe_line(handle, path)
        if not first.strip():
            raise DataError("embedding file is empty", path=path)
        header = _parse_header(first)
        if header is None:
            if _looks_like_vector(first, None):
                return "glove"
            raise DataError(
                f"first line {_shorten(first)} is neither a '<count> <dim>' header nor a "
                "'<word> <values...>' vector",
                path=path,
                line=1,
            )
        second = _read_probe_line(handle, path)
        if not second:
            return "word2vec"  # header only: the text reader reports the missing vectors
        return "word2vec" if _looks_like_vector(second, header[1]) else "word2vec_binary"


def _read_probe_line(handle: BinaryIO, path: Path) -> bytes:
    try:
        return handle.readline(_MAX_LINE)
    except (OSError, EOFError) as error:
        raise DataError(f"cannot read embedding file: {error}", path=path) from None


def _shorten(raw: bytes, limit: int = 60) -> str:
    text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
    return repr(text if len(text) <= limit else text[:limit] + "...")


# --- entry readers -------------------------------------------------------------------------


class _Entry:
    """A lazily parsed file entry: the word is decoded, the values only on demand."""

    __slots__ = ("word", "_values", "_line", "_path", "_binary")

    def __init__(self, word: str, values: object, line: int | None, path: Path, binary: bool):
        self.word = word
        self._values = values
        self._line = line
        self._path = path
        self._binary = binary

    @property
    def line(self) -> int | None:
        return self._line

    def fill(self, out: np.ndarray) -> None:
        """Writes the values into ``out`` float32 [dim] without checking they are finite (the
        caller checks whole matrices: a per-row check would slow loading a large file down)."""
        if self._binary:
            out[:] = np.frombuffer(self._values, dtype="<f4")  # type: ignore[arg-type]
            return
        try:
            with np.errstate(over="ignore"):
                out[:] = list(map(float, self._values))  # type: ignore[call-overload]
        except ValueError:
            out[:] = self.vector()  # raises the DataError naming the bad value

    def vector(self) -> np.ndarray:
        if self._binary:
            vector = np.frombuffer(self._values, dtype="<f4").astype(np.float32)  # [dim]
            if not np.all(np.isfinite(vector)):
                raise DataError(f"vector of {self.word!r} has a non-finite value", path=self._path)
            return vector
        values: list[bytes] = self._values  # type: ignore[assignment]
        out = np.empty(len(values), dtype=np.float32)  # [dim]
        for i, raw in enumerate(values):
            try:
                number = float(raw)
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                raise DataError(
                    f"value {raw.decode('utf-8', errors='replace')!r} (number {i + 1} of "
                    f"{self.word!r}) is not a finite number",
                    path=self._path,
                    line=self._line,
                )
            out[i] = number
        return out


def _decode_word(raw: bytes, path: Path, line: int | None, where: str = "") -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"word {raw!r}{where} is not valid UTF-8", path=path, line=line) from None


def _iter_text(handle: BinaryIO, path: Path, has_header: bool) -> Iterator[tuple[int, _Entry]]:
    """Yields ``(dim, entry)`` for each line of a GloVe or word2vec text file."""
    line_no = 0
    dim: int | None = None
    expected: int | None = None
    read = 0
    try:
        if has_header:
            header_line = handle.readline(_MAX_LINE)
            line_no = 1
            if not header_line.strip():
                raise DataError("embedding file is empty", path=path)
            header = _parse_header(header_line)
            if header is None:
                raise DataError(
                    f"header {_shorten(header_line)} does not parse: expected '<count> <dim>' "
                    "with count >= 0 and dim > 0",
                    path=path,
                    line=1,
                )
            expected, dim = header
        for raw in handle:
            line_no += 1
            fields = raw.split()
            if not fields:
                continue
            if dim is None:
                dim = len(fields) - 1
                if dim < 1:
                    raise DataError(
                        f"line {_shorten(raw)} has a word but no values", path=path, line=line_no
                    )
            if len(fields) != dim + 1:
                if len(fields) > dim + 1 and not _is_number(fields[-dim - 1]):
                    # A word containing spaces (a few entries of GloVe 840B): keep it whole.
                    fields = [b" ".join(fields[:-dim]), *fields[-dim:]]
                else:
                    hint = ""
                    if line_no == 2 and not has_header and dim == 1:
                        hint = " (is line 1 a '<count> <dim>' header? use format word2vec)"
                    raise DataError(
                        f"expected {dim} values after the word, got {len(fields) - 1}{hint}",
                        path=path,
                        line=line_no,
                    )
            if expected is not None and read >= expected:
                raise DataError(
                    f"more vectors than the {expected} announced by the header",
                    path=path,
                    line=line_no,
                )
            word = _decode_word(fields[0], path, line_no)
            read += 1
            yield dim, _Entry(word, fields[1:], line_no, path, binary=False)
    except (OSError, EOFError) as error:  # gzip: truncated stream or bad CRC
        raise DataError(
            f"cannot read embedding file after line {line_no}: {error}", path=path
        ) from None
    if read == 0:
        raise DataError("embedding file has no vectors", path=path)
    if expected is not None and read < expected:
        raise DataError(
            f"truncated: the header announces {expected} vectors but the file has {read}",
            path=path,
        )


def _is_number(raw: bytes) -> bool:
    try:
        float(raw)
    except ValueError:
        return False
    return True


def _iter_binary(handle: BinaryIO, path: Path) -> Iterator[tuple[int, _Entry]]:
    """Yields ``(dim, entry)`` for each entry of a word2vec binary file."""
    header_line = handle.readline(_MAX_LINE)
    if not header_line.strip():
        raise DataError("embedding file is empty", path=path)
    header = _parse_header(header_line)
    if header is None:
        raise DataError(
            f"header {_shorten(header_line)} does not parse: expected '<count> <dim>'",
            path=path,
            line=1,
        )
    count, dim = header
    if count == 0:
        raise DataError("embedding file has no vectors (header count is 0)", path=path)
    nbytes = 4 * dim
    buffer = b""
    pos = 0

    def fill() -> bool:
        nonlocal buffer, pos
        try:
            more = handle.read(_CHUNK)
        except (OSError, EOFError) as error:
            raise DataError(f"cannot read embedding file: {error}", path=path) from None
        if not more:
            return False
        buffer = buffer[pos:] + more
        pos = 0
        return True

    for number in range(1, count + 1):
        truncated = DataError(
            f"truncated binary file: the header announces {count} vectors of dim {dim}, "
            f"the data ends inside vector {number}",
            path=path,
        )
        # Word: skip the newline some writers put after each vector, then read up to a space.
        while True:
            while pos < len(buffer) and buffer[pos] in b"\n\r":
                pos += 1
            end = buffer.find(b" ", pos)
            if end != -1:
                break
            if len(buffer) - pos > _MAX_WORD:
                raise DataError(
                    f"garbled binary file: no word separator near vector {number}", path=path
                )
            if not fill():
                raise truncated
        raw_word = buffer[pos:end]
        pos = end + 1
        while len(buffer) - pos < nbytes:
            if not fill():
                raise truncated
        values = buffer[pos : pos + nbytes]
        pos += nbytes
        word = _decode_word(raw_word, path, None, where=f" (vector {number})")
        yield dim, _Entry(word, values, None, path, binary=True)


# --- public API ----------------------------------------------------------------------------


@dataclass
class PretrainedVectors:
    """Everything :func:`read_pretrained` got from a vectors file.

    Attributes:
        matrix: float32 ``[len(vocab), dim]``: the vector of each vocabulary word, or a random
            row (see the module docstring); row ``PAD`` is zero.
        found_ids: int64 ``[found]``: sorted ids of the vocabulary words that got a vector.
        extra_words: Normalised words that have a vector but are not in the vocabulary, in
            file order (empty unless ``extend``).
        extra_matrix: float32 ``[len(extra_words), dim]``: their vectors.
        report: The :class:`EmbeddingReport`.
    """

    matrix: np.ndarray
    found_ids: np.ndarray
    extra_words: list[str]
    extra_matrix: np.ndarray
    report: EmbeddingReport


def load_embeddings(
    path: str | Path,
    vocab: Vocabulary,
    *,
    format: str = "auto",
    lowercase: bool = False,
    normalize_digits: bool = True,
    seed: int = 0,
    scale: float | None = None,
    word_counts: Mapping[str, int] | None = None,
    max_vectors: int | None = None,
) -> tuple[np.ndarray, EmbeddingReport]:
    """Builds an embedding matrix aligned with ``vocab`` from a pretrained vector file.

    The same as :func:`read_pretrained` without vocabulary extension; returns
    ``(matrix, report)``: a float32 ``[len(vocab), dim]`` matrix (row ``PAD`` zero) and an
    :class:`EmbeddingReport`.
    """
    result = read_pretrained(
        path,
        vocab,
        format=format,
        lowercase=lowercase,
        normalize_digits=normalize_digits,
        seed=seed,
        scale=scale,
        word_counts=word_counts,
        max_vectors=max_vectors,
    )
    return result.matrix, result.report


def read_pretrained(
    path: str | Path,
    vocab: Vocabulary,
    *,
    format: str = "auto",
    lowercase: bool = False,
    normalize_digits: bool = True,
    seed: int = 0,
    scale: float | None = None,
    word_counts: Mapping[str, int] | None = None,
    max_vectors: int | None = None,
    extend: bool = False,
) -> PretrainedVectors:
    """Reads a pretrained vector file once: rows for ``vocab`` and, optionally, the other words.

    Args:
        path: The vector file (optionally gzip-compressed).
        vocab: The word vocabulary (its ids are the matrix rows).
        format: One of ``auto``, ``glove``, ``word2vec``, ``word2vec_binary``, ``fasttext``.
        lowercase: Whether ``vocab`` was built with lowercasing. Words the file adds
            (``extend``) are normalised with it; otherwise only used to warn when the vocabulary
            does not look like it (the lowercase fallback is always tried).
        normalize_digits: Whether ``vocab`` was built with digit normalisation; enables the
            digits fallback (see the module docstring) and normalises the added words.
        seed: Seed of the random rows of words without a pretrained vector.
        scale: Half-width of their ``uniform(-scale, scale)`` distribution; ``None`` =
            ``sqrt(3) * std`` of the vectors found (``sqrt(3 / dim)`` when none is found).
        word_counts: Training word counts (``Vocabularies.word_counts``) for the token coverage.
        max_vectors: Read only the first this many vectors of the file (files are sorted by
            frequency); ``None`` reads them all.
        extend: Also keep every file word whose normalised form (:func:`normalize_word` with
            ``lowercase`` and ``normalize_digits``) is not in ``vocab``: the first vector of
            each such form, in file order (``extra_words`` / ``extra_matrix``).

    Returns:
        The :class:`PretrainedVectors`.

    Raises:
        DataError: Missing or empty file, unparsable header, a line with the wrong number of
            values, a value that is not a number, a truncated file, a word that is not UTF-8.
        ValueError: Unknown ``format`` or ``max_vectors`` < 1.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown embedding format {format!r}; expected one of {FORMATS}")
    if max_vectors is not None and max_vectors < 1:
        raise ValueError(f"max_vectors must be a positive integer or None, got {max_vectors}")
    path = Path(path)
    if format == "auto":
        format = _detect_format(path)
    if format == "fasttext":
        format = "word2vec"  # the .vec text format is word2vec text
    _check_vocab_options(vocab, lowercase=lowercase, normalize_digits=normalize_digits)

    first_id = UNK + 1 if vocab.specials else 0
    tokens = vocab.tokens
    exact: dict[str, int] = {}
    by_lower: dict[str, list[int]] = {}
    by_digits: dict[str, list[int]] = {}
    for i in range(first_id, len(tokens)):
        word = tokens[i]
        exact[word] = i
        by_lower.setdefault(word.lower(), []).append(i)
        if normalize_digits:
            key = normalize_word(word, lowercase=True, normalize_digits=True)
            by_digits.setdefault(key, []).append(i)

    rank = np.full(len(tokens), _NONE, dtype=np.int8)  # [vocab] best match so far
    vectors: dict[int, np.ndarray] = {}  # vocab id -> [dim]
    extra = _ExtraRows(set(tokens))
    dim = 0
    vectors_read = 0
    with _open(path) as handle:
        entries = (
            _iter_binary(handle, path)
            if format == "word2vec_binary"
            else _iter_text(handle, path, has_header=format == "word2vec")
        )
        for entry_dim, entry in entries:
            if max_vectors is not None and vectors_read >= max_vectors:
                break
            dim = entry_dim
            vectors_read += 1
            word = entry.word
            lower = word.lower()
            hit = exact.get(word)
            by_case = by_lower.get(lower)
            digits_key = (
                lower  # most file words are letters only: skip the regex
                if lower.isalpha() or not normalize_digits
                else normalize_word(lower, lowercase=False, normalize_digits=True)
            )
            by_digit = by_digits.get(digits_key) if normalize_digits else None
            if hit is not None or by_case is not None or by_digit is not None:
                candidates: list[tuple[int, int]] = []  # (vocab id, rank)
                if hit is not None:
                    candidates.append((hit, _EXACT))
                candidates.extend((i, _LOWER) for i in by_case or ())
                candidates.extend((i, _DIGITS) for i in by_digit or ())
                vector = None
                for i, match in candidates:
                    if match < rank[i]:
                        if vector is None:
                            vector = entry.vector()
                        rank[i] = match
                        vectors[i] = vector
            if extend:
                if lowercase:  # the same normalisation as the vocabulary's
                    key = digits_key
                elif word.isalpha() or not normalize_digits:
                    key = word
                else:
                    key = normalize_word(word, lowercase=False, normalize_digits=True)
                if key not in extra.seen:
                    extra.add(key, entry, dim)
    extra_matrix = extra.finish(path, dim)

    found_ids = np.array(sorted(vectors), dtype=np.int64)  # [found]
    rng = np.random.default_rng(seed)
    noise = rng.uniform(-1.0, 1.0, size=(len(tokens), dim))  # [vocab, dim]
    if scale is not None:
        oov_scale = float(scale)
    elif len(found_ids):
        found_matrix = np.stack([vectors[int(i)] for i in found_ids])  # [found, dim]
        oov_scale = float(math.sqrt(3.0) * found_matrix.std())
    else:
        oov_scale = math.sqrt(3.0 / dim)
    matrix = (noise * oov_scale).astype(np.float32)  # [vocab, dim]
    for i in found_ids:
        matrix[i] = vectors[int(i)]
    if vocab.specials:
        matrix[PAD] = 0.0

    token_coverage = None
    if word_counts is not None:
        total = sum(word_counts.values())
        covered = sum(word_counts.get(tokens[int(i)], 0) for i in found_ids)
        token_coverage = covered / total if total else 0.0
    report = EmbeddingReport(
        path=str(path),
        format=format,
        dim=dim,
        vectors_read=vectors_read,
        vocab_types=len(tokens) - first_id,
        found_exact=int(np.sum(rank == _EXACT)),
        found_lower=int(np.sum(rank == _LOWER)),
        found_digits=int(np.sum(rank == _DIGITS)),
        token_coverage=token_coverage,
        oov_scale=oov_scale,
        added=len(extra.words),
    )
    if report.found == 0:
        logger.warning("no vocabulary word found in %s: every row is random", path)
    logger.info("embeddings: %s", report.summary())
    return PretrainedVectors(matrix, found_ids, extra.words, extra_matrix, report)


class _ExtraRows:
    """Collects the vectors of the words a file adds to the vocabulary, in chunks."""

    _ROWS = 1 << 15

    def __init__(self, seen: set[str]):
        self.seen = seen  # vocabulary words and words already added
        self.words: list[str] = []
        self.lines: list[int | None] = []
        self._chunks: list[np.ndarray] = []
        self._row = self._ROWS

    def add(self, key: str, entry: _Entry, dim: int) -> None:
        if key in (PAD_TOKEN, UNK_TOKEN):
            return
        if self._row == self._ROWS:
            self._chunks.append(np.empty((self._ROWS, dim), dtype=np.float32))
            self._row = 0
        entry.fill(self._chunks[-1][self._row])
        self._row += 1
        self.seen.add(key)
        self.words.append(key)
        self.lines.append(entry.line)

    def finish(self, path: Path, dim: int) -> np.ndarray:
        """Returns the float32 ``[len(words), dim]`` matrix; checks every value is finite."""
        if not self._chunks:
            return np.zeros((0, dim), dtype=np.float32)
        rows = (len(self._chunks) - 1) * self._ROWS + self._row
        matrix = np.empty((rows, dim), dtype=np.float32)  # [rows, dim]
        for i in range(len(self._chunks)):  # chunk by chunk: never two copies of the whole
            chunk = self._chunks[i][: rows - i * self._ROWS]
            matrix[i * self._ROWS : i * self._ROWS + len(chunk)] = chunk
            self._chunks[i] = None  # type: ignore[call-overload]  # release it now
        self._chunks = []
        finite = np.isfinite(matrix).all(axis=1)  # [rows]
        if not finite.all():
            bad = int(np.argmin(finite))
            raise DataError(
                f"vector of {self.words[bad]!r} has a value that is not a finite number",
                path=path,
                line=self.lines[bad],
            )
        return matrix


def _check_vocab_options(vocab: Vocabulary, *, lowercase: bool, normalize_digits: bool) -> None:
    """Warns when ``vocab`` cannot have been built with the given normalisation options."""
    first_id = UNK + 1 if vocab.specials else 0
    words = vocab.tokens[first_id:]
    if lowercase and any(w != w.lower() for w in words):
        logger.warning("lowercase=True but the vocabulary has uppercase words: options differ")
    if normalize_digits and any(
        w != normalize_word(w, lowercase=False, normalize_digits=True) for w in words
    ):
        logger.warning("normalize_digits=True but the vocabulary has digits other than 0")


@dataclass
class PretrainedWords:
    """The word vocabulary and embedding rows of a run with pretrained vectors.

    Attributes:
        vocabs: The vocabularies, with the words that only the file has appended to ``words``
            when the vocabulary is extended (see `Vocabularies.extend`).
        matrix: float32 ``[vocabs.num_trained_words, dim]``: initial trainable rows.
        frozen: float32 ``[vocabs.num_pretrained_words, dim]``: the frozen rows of the added
            words, or ``None`` when no word was added.
        with_vector: Ids of ``vocabs.words`` that have a pretrained vector (for coverage).
        report: What was read and matched.
    """

    vocabs: Vocabularies
    matrix: np.ndarray
    frozen: np.ndarray | None
    with_vector: np.ndarray
    report: EmbeddingReport


def load_pretrained_words(
    vocabs: Vocabularies, embeddings_config, vocab_config, *, seed: int = 0
) -> PretrainedWords:
    """Reads ``embeddings.path`` for a run's training vocabularies (the trainer and validate).

    Args:
        vocabs: The vocabularies built from the training data (not extended).
        embeddings_config: The ``embeddings`` config section (``path``, ``format``,
            ``extend_vocab``, ``max_vectors``).
        vocab_config: The ``vocab`` section (``lowercase``, ``normalize_digits``).
        seed: Seed of the random rows of training words without a vector.

    Returns:
        The :class:`PretrainedWords`.

    Raises:
        DataError: The vectors file is missing or malformed.
    """
    result = read_pretrained(
        embeddings_config.path,
        vocabs.words,
        format=embeddings_config.format,
        lowercase=vocab_config.lowercase,
        normalize_digits=vocab_config.normalize_digits,
        seed=seed,
        word_counts=vocabs.word_counts,
        max_vectors=embeddings_config.max_vectors,
        extend=embeddings_config.extend_vocab,
    )
    trained = len(vocabs.words)
    with_vector = result.found_ids
    frozen = None
    if result.extra_words:
        vocabs = vocabs.extend(result.extra_words)
        frozen = result.extra_matrix
        with_vector = np.concatenate(
            [with_vector, np.arange(trained, trained + len(result.extra_words))]
        )
    return PretrainedWords(vocabs, result.matrix, frozen, with_vector, result.report)
