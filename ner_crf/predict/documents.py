"""Reading prediction input into :class:`Document` objects, one line at a time (no TensorFlow).

* raw text (default): one document per input line; the line is split into sentences and tokens
  with character offsets by :func:`ner_crf.tokenize.tokenize_sentences`;
* pre-tokenised text: one document (= one sentence) per line, tokens separated by whitespace;
* CoNLL: one document per sentence (first column; blank lines separate sentences,
  ``-DOCSTART-`` lines are skipped); the document text is the tokens joined by single spaces.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ner_crf.errors import DataError, require_file
from ner_crf.tokenize import Token, tokenize_sentences

__all__ = [
    "INPUT_MODES",
    "Document",
    "Entity",
    "conll_documents",
    "iter_lines",
    "pretokenized_documents",
    "raw_documents",
]

INPUT_MODES = ("text", "pretokenized", "conll")


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
        path = require_file(name, what="input file")
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
