"""CoNLL-format reader.

A CoNLL file has one token per line, columns separated by whitespace (spaces or tabs): the token
first, the NER tag in a configurable column (the last by default), anything else in between
(POS, chunk tags) ignored. Blank or whitespace-only lines separate sentences; several in a row
count as one break. ``-DOCSTART-`` lines are not sentences: each one ends the current sentence and
starts a new document. CRLF line endings and a missing final newline are accepted. The file must be
UTF-8.

Every problem in the file is reported as a one-line :class:`~ner_crf.errors.DataError`
``path:line: message`` quoting the offending text.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ner_crf.data import tags as tagging
from ner_crf.errors import DataError

__all__ = ["ILLEGAL_MODES", "ReadReport", "Sentence", "read_conll"]

logger = logging.getLogger(__name__)

DOCSTART = "-DOCSTART-"
ILLEGAL_MODES = ("repair", "warn", "error")
_MAX_WARNINGS = 20  # illegal="warn": log at most this many individual lines per file
_LONGEST = 5  # how many of the longest sentences ReadReport keeps


@dataclass
class Sentence:
    """One sentence of a CoNLL file.

    Attributes:
        tokens: The tokens (first column).
        tags: One tag per token.
        doc: Index of the ``-DOCSTART-`` document the sentence belongs to (0 when there is none).
            Documents are numbered from 0 in file order; a ``-DOCSTART-`` line opens a new one
            only once the current one holds a sentence, so a leading marker (or several markers
            in a row) does not create empty documents.
        line: 1-based line number of the sentence's first token in its file.
    """

    tokens: list[str]
    tags: list[str] = field(default_factory=list)
    doc: int = 0
    line: int = 0


@dataclass
class ReadReport:
    """What :func:`read_conll` found in a file; pass an instance as ``report=`` to get it filled.

    Counts describe the sentences returned (after repair, conversion and splitting) unless noted.

    Attributes:
        path: The file read.
        sentences: Sentences returned.
        tokens: Tokens (``-DOCSTART-`` lines excluded).
        documents: Documents holding at least one sentence (1 for a file without markers).
        docstart_lines: ``-DOCSTART-`` lines in the file.
        columns: Columns per token line.
        source_scheme: The scheme the file is written in (detected, or as forced).
        scheme: The scheme of the returned tags (``source_scheme`` unless converted).
        illegal: Illegal tags found in the file (all repaired unless ``illegal="error"``).
        illegal_lines: Line numbers of the first illegal tags (at most 20).
        sentences_split: Sentences longer than ``max_length`` that were split.
        chunks_added: Extra sentences created by splitting.
        entities_cut: Entities that had to be cut by a split (no boundary nearby).
        entities: Entities per type.
        labels: Tag counts.
        lengths: Length of every sentence before splitting, in file order.
        longest: ``(length, line)`` of the longest sentences before splitting, longest first.
    """

    path: str = ""
    sentences: int = 0
    tokens: int = 0
    documents: int = 0
    docstart_lines: int = 0
    columns: int = 0
    source_scheme: str = ""
    scheme: str = ""
    illegal: int = 0
    illegal_lines: list[int] = field(default_factory=list)
    sentences_split: int = 0
    chunks_added: int = 0
    entities_cut: int = 0
    entities: dict[str, int] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    lengths: list[int] = field(default_factory=list, repr=False)
    longest: list[tuple[int, int]] = field(default_factory=list)


def read_conll(
    path: str | Path,
    *,
    tag_column: int = -1,
    scheme: str | None = None,
    source_scheme: str | None = None,
    illegal: str = "repair",
    max_length: int | None = None,
    report: ReadReport | None = None,
) -> list[Sentence]:
    """Read a CoNLL file into sentences.

    Args:
        path: The file.
        tag_column: Index of the tag column (negative counts from the end; 0 is the token).
        scheme: Convert the tags to this scheme (``IOB1``, ``BIO``, ``IOBES`` or an alias);
            ``None`` keeps them as written, after repair (BILOU ``U-``/``L-`` become ``S-``/``E-``).
        source_scheme: The scheme the file is written in; ``None`` detects it
            (:func:`~ner_crf.data.tags.detect_scheme`).
        illegal: What to do with illegal tag sequences (``I-X`` after ``O`` in BIO, ...):
            ``"repair"`` repairs and counts them, ``"warn"`` also logs a warning per line,
            ``"error"`` raises a :class:`DataError` at the first one.
        max_length: Split sentences longer than this into chunks of at most this many tokens,
            cutting between entities where possible (within the last half of a chunk) and
            repairing the tags of each chunk otherwise; one warning is logged. ``None`` keeps
            sentences whole.
        report: Filled in place with counts, when given.

    Returns:
        The sentences in file order.

    Raises:
        DataError: missing or unreadable file, not UTF-8, empty, no sentences, inconsistent
            column count, tag column out of range, malformed tag, tag not valid in the source
            scheme, or an illegal sequence with ``illegal="error"``.
        ValueError: bad ``scheme``, ``source_scheme``, ``illegal`` or ``max_length`` argument.
    """
    if illegal not in ILLEGAL_MODES:
        raise ValueError(f"illegal must be one of {', '.join(ILLEGAL_MODES)}, got {illegal!r}")
    if max_length is not None and max_length < 1:
        raise ValueError(f"max_length must be a positive integer or None, got {max_length!r}")
    target = None if scheme is None else tagging.normalize_scheme(scheme)
    forced = None if source_scheme is None else tagging.normalize_scheme(source_scheme)
    path = Path(path)
    text = _read_text(path)
    sentences, columns, docstarts = _parse(text, path, tag_column)
    _check_tags(sentences, path)

    source = forced or tagging.detect_scheme(s.tags for s in sentences)
    found, illegal_lines = _repair(sentences, path, source, illegal)
    out_scheme = target or source
    if out_scheme != source:
        for sentence in sentences:
            sentence.tags = tagging.convert_tags(sentence.tags, out_scheme, source)

    lengths = [len(s.tokens) for s in sentences]
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))[:_LONGEST]
    longest = [(lengths[i], sentences[i].line) for i in order]
    split = added = cut = 0
    if max_length is not None and max(lengths) > max_length:
        sentences, split, added, cut = _split_long(sentences, max_length, out_scheme)
        logger.warning(
            "%s: split %d sentence(s) longer than %d tokens into %d chunks (%d entities cut)",
            path,
            split,
            max_length,
            split + added,
            cut,
        )

    if report is not None:
        _fill_report(report, path, sentences, out_scheme, lengths, columns, docstarts)
        report.longest = longest
        report.source_scheme = source
        report.illegal = found
        report.illegal_lines = illegal_lines
        report.sentences_split, report.chunks_added, report.entities_cut = split, added, cut
    return sentences


def _read_text(path: Path) -> str:
    """Read ``path`` as UTF-8 text, with errors as :class:`DataError`."""
    if path.is_dir():
        raise DataError("is a directory, expected a CoNLL file", path=path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError("no such file", path=path) from None
    except OSError as error:
        raise DataError(f"cannot read file: {error.strerror or error}", path=path) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        line_start = data.rfind(b"\n", 0, error.start) + 1
        line_end = data.find(b"\n", error.start)
        raw = data[line_start : line_end if line_end >= 0 else len(data)].rstrip(b"\r")
        bad = data[error.start : error.end]
        raise DataError(
            f"not valid UTF-8 (byte {bad[0]:#04x} at column {error.start - line_start + 1}) in "
            f"'{raw.decode('utf-8', 'backslashreplace')}'; re-encode the file as UTF-8, "
            "e.g. iconv -f latin1 -t utf-8",
            path=path,
            line=line,
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]  # a UTF-8 byte-order mark is not part of the first token
    if not text.strip():
        raise DataError("file is empty", path=path)
    return text


def _parse(text: str, path: Path, tag_column: int) -> tuple[list[Sentence], int, int]:
    """Split ``text`` into sentences; returns (sentences, columns per line, -DOCSTART- lines)."""
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    columns = 0
    first_line = 0  # line that fixed ``columns``
    tag_index = 0
    start = 0
    doc = 0
    doc_used = False
    docstarts = 0
    # split("\n") rather than splitlines(): the latter also breaks on \x1c, \x85, \u2028, ...
    for number, line in enumerate(text.split("\n"), 1):
        cols = line.split()
        if not cols:
            if tokens:
                sentences.append(Sentence(tokens, tags, doc, start))
                tokens, tags = [], []
            continue
        if cols[0] == DOCSTART:
            if tokens:
                sentences.append(Sentence(tokens, tags, doc, start))
                tokens, tags = [], []
            docstarts += 1
            if doc_used:
                doc += 1
                doc_used = False
            continue
        if len(cols) != columns:
            if columns:
                raise DataError(
                    f"expected {columns} columns (as on line {first_line}) but got "
                    f"{len(cols)}: {line.strip()!r}",
                    path=path,
                    line=number,
                )
            columns, first_line = len(cols), number
            tag_index = _tag_index(tag_column, columns, line, path, number)
        if not tokens:
            start = number
            doc_used = True
        tokens.append(cols[0])
        tags.append(cols[tag_index])
    if tokens:
        sentences.append(Sentence(tokens, tags, doc, start))
    if not sentences:
        raise DataError("no sentences in file (only -DOCSTART- lines)", path=path)
    return sentences, columns, docstarts


def _tag_index(tag_column: int, columns: int, line: str, path: Path, number: int) -> int:
    """Resolve ``tag_column`` against a line of ``columns`` columns."""
    if columns < 2:
        raise DataError(
            f"expected at least 2 columns (token and tag) but got 1: {line.strip()!r}",
            path=path,
            line=number,
        )
    index = tag_column + columns if tag_column < 0 else tag_column
    if not 0 <= index < columns:
        raise DataError(
            f"tag column {tag_column} is out of range for {columns} columns: {line.strip()!r}",
            path=path,
            line=number,
        )
    if index == 0:
        raise DataError(
            f"tag column {tag_column} is the token column; pick one of 1..{columns - 1}",
            path=path,
            line=number,
        )
    return index


def _check_tags(sentences: list[Sentence], path: Path) -> None:
    """Validate every distinct tag; map BILOU spellings to IOBES."""
    seen: set[str] = set()
    for sentence in sentences:
        seen.update(sentence.tags)
    renamed: dict[str, str] = {}
    for tag in seen:
        try:
            canonical = tagging.normalize_tag(tag)
        except ValueError as error:
            raise DataError(str(error), path=path, line=_first_line_of(sentences, tag)) from None
        if canonical != tag:
            renamed[tag] = canonical
    if renamed:
        for sentence in sentences:
            sentence.tags = [renamed.get(tag, tag) for tag in sentence.tags]


def _first_line_of(sentences: list[Sentence], tag: str) -> int:
    """Line of the first occurrence of ``tag``."""
    for sentence in sentences:
        if tag in sentence.tags:
            return sentence.line + sentence.tags.index(tag)
    raise AssertionError(f"tag {tag!r} not found")  # pragma: no cover


def _repair(
    sentences: list[Sentence], path: Path, scheme: str, illegal: str
) -> tuple[int, list[int]]:
    """Repair illegal sequences in place; returns (count, first lines)."""
    found = 0
    lines: list[int] = []
    quick = scheme != "IOBES" and _check_prefixes(sentences, path, scheme)
    # In BIO an I- tag, in IOB1 a B- tag, must follow a tag of the same type.
    opener = "I" if scheme == "BIO" else "B"
    for sentence in sentences:
        if quick:
            tags = sentence.tags
            if all(
                tag[0] != opener or prev[2:] == tag[2:]
                for prev, tag in zip(["O", *tags], tags, strict=False)
            ):
                continue
        bad = tagging.find_illegal(sentence.tags, scheme)
        if not bad:
            continue
        for index in bad:
            line = sentence.line + index
            context = _describe(sentence.tags, index)
            if illegal == "error":
                raise DataError(
                    f"illegal {scheme} tag sequence: {context}; fix the tag or read with "
                    "illegal='repair'",
                    path=path,
                    line=line,
                )
            if illegal == "warn" and found < _MAX_WARNINGS:
                logger.warning(
                    "%s:%d: repaired illegal %s tag sequence: %s", path, line, scheme, context
                )
            if len(lines) < _MAX_WARNINGS:
                lines.append(line)
            found += 1
        sentence.tags = tagging.convert_tags(sentence.tags, scheme, scheme)
    if illegal == "warn" and found > _MAX_WARNINGS:
        logger.warning("%s: %d more illegal tag sequences repaired", path, found - _MAX_WARNINGS)
    return found, lines


def _check_prefixes(sentences: list[Sentence], path: Path, scheme: str) -> bool:
    """Raise if a BIO/IOB1 file has E-/S- tags; returns True (tags are then O, B-X, I-X)."""
    distinct: set[str] = set()
    for sentence in sentences:
        distinct.update(sentence.tags)
    for tag in sorted(distinct):
        if tag[:2] in ("E-", "S-"):
            sentence_line = _first_line_of(sentences, tag)
            raise DataError(
                f"tag {tag!r} is not valid in the {scheme} scheme", path=path, line=sentence_line
            )
    return True


def _describe(tags: list[str], index: int) -> str:
    """Quote an illegal tag with its neighbours."""
    before = repr(tags[index - 1]) if index > 0 else "the sentence start"
    after = repr(tags[index + 1]) if index + 1 < len(tags) else "the sentence end"
    return f"{tags[index]!r} after {before}, before {after}"


def _split_long(
    sentences: list[Sentence], max_length: int, scheme: str
) -> tuple[list[Sentence], int, int, int]:
    """Split sentences longer than ``max_length``; returns (sentences, split, added, cut)."""
    result: list[Sentence] = []
    split = cut = 0
    for sentence in sentences:
        n = len(sentence.tokens)
        if n <= max_length:
            result.append(sentence)
            continue
        split += 1
        # Positions inside an entity (not its first token) are bad places to cut before.
        inside = set()
        for start, end, _ in tagging.get_spans(sentence.tags, scheme):
            inside.update(range(start + 1, end))
        begin = 0
        while begin < n:
            end = min(begin + max_length, n)
            if end < n and end in inside:
                lowest = begin + max(1, max_length // 2)
                end = next((k for k in range(end - 1, lowest - 1, -1) if k not in inside), end)
                cut += end in inside
            tags, _ = tagging.repair_tags(sentence.tags[begin:end], scheme)
            result.append(
                Sentence(sentence.tokens[begin:end], tags, sentence.doc, sentence.line + begin)
            )
            begin = end
    return result, split, len(result) - len(sentences), cut


def _fill_report(
    report: ReadReport,
    path: Path,
    sentences: list[Sentence],
    scheme: str,
    lengths: list[int],
    columns: int,
    docstarts: int,
) -> None:
    """Fill the counts of ``report`` from the returned sentences."""
    labels: Counter[str] = Counter()
    entities: Counter[str] = Counter()
    for sentence in sentences:
        labels.update(sentence.tags)
    for tag, count in labels.items():
        if tag != "O" and (tag[0] == "B" or tag[0] == "S") and scheme != "IOB1":
            entities[tag[2:]] += count
    if scheme == "IOB1":
        for sentence in sentences:
            entities.update(t for _, _, t in tagging.get_spans(sentence.tags, scheme))
    report.path = str(path)
    report.sentences = len(sentences)
    report.tokens = sum(lengths)
    report.documents = len({s.doc for s in sentences})
    report.docstart_lines = docstarts
    report.columns = columns
    report.scheme = scheme
    report.entities = dict(sorted(entities.items()))
    report.labels = dict(sorted(labels.items()))
    report.lengths = lengths
