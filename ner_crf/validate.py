"""``ner-crf validate``: read CoNLL files and summarise what is in them.

:func:`validate_files` returns plain data (dataclasses); :func:`format_validation` turns it into
the text report the CLI prints, so other output formats (JSON) only need another formatter.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ner_crf.data.conll import ReadReport, read_conll

__all__ = [
    "LENGTH_BUCKETS",
    "ConfigValidation",
    "FileSummary",
    "SplitCheck",
    "Validation",
    "format_config_validation",
    "format_validation",
    "validate_config",
    "validate_files",
]

logger = logging.getLogger(__name__)

# Upper bounds (inclusive) of the sentence-length histogram buckets; the last bucket is open.
LENGTH_BUCKETS: tuple[int, ...] = (10, 20, 50, 100, 200)


@dataclass
class FileSummary:
    """What one file holds.

    Attributes:
        path: The file.
        report: Counts from :func:`~ner_crf.data.conll.read_conll`.
        histogram: ``(bucket, sentences)`` pairs, e.g. ``("1-10", 812)``, ``(">200", 1)``; sentence
            lengths before any ``max_length`` split.
    """

    path: str
    report: ReadReport
    histogram: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class Validation:
    """The result of :func:`validate_files`.

    Attributes:
        files: One summary per file, in the order given.
        missing_labels: For every tag that appears in some files but not in all of them, the
            files that lack it (e.g. ``{"I-MISC": ["dev.txt"]}``); empty for a single file.
    """

    files: list[FileSummary]
    missing_labels: dict[str, list[str]] = field(default_factory=dict)


def length_histogram(lengths: Sequence[int]) -> list[tuple[str, int]]:
    """Count sentence lengths per :data:`LENGTH_BUCKETS` bucket.

    Args:
        lengths: Sentence lengths.

    Returns:
        ``(bucket label, count)`` for every bucket, empty ones included.
    """
    counts = [0] * (len(LENGTH_BUCKETS) + 1)
    for length in lengths:
        index = 0
        while index < len(LENGTH_BUCKETS) and length > LENGTH_BUCKETS[index]:
            index += 1
        counts[index] += 1
    labels = []
    low = 1
    for high in LENGTH_BUCKETS:
        labels.append(f"{low}-{high}")
        low = high + 1
    labels.append(f">{LENGTH_BUCKETS[-1]}")
    return list(zip(labels, counts, strict=True))


def validate_files(
    paths: Sequence[str | Path],
    *,
    tag_column: int = -1,
    source_scheme: str | None = None,
    max_length: int | None = None,
) -> Validation:
    """Read every file (repairing illegal tag sequences) and summarise it.

    Args:
        paths: CoNLL files.
        tag_column: Index of the tag column (negative counts from the end).
        source_scheme: Scheme the files are written in; ``None`` detects it per file.
        max_length: Report how many sentences would be split at this length.

    Returns:
        The summaries and the labels missing from some of the files.

    Raises:
        DataError: a file cannot be used (see :func:`~ner_crf.data.conll.read_conll`).
    """
    files = []
    for path in paths:
        report = ReadReport()
        read_conll(
            path,
            tag_column=tag_column,
            source_scheme=source_scheme,
            max_length=max_length,
            report=report,
        )
        files.append(FileSummary(str(path), report, length_histogram(report.lengths)))
    every_label = sorted({label for summary in files for label in summary.report.labels})
    missing = {}
    for label in every_label:
        lacking = [summary.path for summary in files if label not in summary.report.labels]
        if lacking:
            missing[label] = lacking
    return Validation(files, missing)


def format_validation(validation: Validation) -> str:
    """Format a :class:`Validation` as a plain-text report (no trailing newline).

    Args:
        validation: What :func:`validate_files` returned.

    Returns:
        The report.
    """
    lines: list[str] = []
    for summary in validation.files:
        report = summary.report
        lines.append(f"{summary.path}")
        # Counts before any max_length split (the split is reported below).
        lines.append(f"  sentences      {report.sentences - report.chunks_added:,}")
        lines.append(f"  tokens         {report.tokens:,}")
        lines.append(
            f"  documents      {report.documents:,} ({report.docstart_lines:,} -DOCSTART- lines)"
        )
        lines.append(f"  columns        {report.columns}")
        lines.append(f"  tag scheme     {report.source_scheme} (detected)")
        illegal = f"  illegal tags   {report.illegal:,} found and repaired"
        if report.illegal_lines:
            shown = ", ".join(str(line) for line in report.illegal_lines[:5])
            more = ", ..." if report.illegal > 5 else ""
            illegal += f" (lines {shown}{more})"
        lines.append(illegal)
        total = sum(report.entities.values())
        per_type = ", ".join(f"{name} {count:,}" for name, count in report.entities.items())
        lines.append(f"  entities       {total:,}" + (f": {per_type}" if per_type else ""))
        lines.append(f"  labels         {' '.join(report.labels)}")
        lines.append("  sentence lengths")
        for bucket, count in summary.histogram:
            lines.append(f"    {bucket:>8}  {count:,}")
        longest = ", ".join(f"{length} (line {line})" for length, line in report.longest)
        lines.append(f"  longest        {longest}")
        if report.sentences_split:
            lines.append(
                f"  max_length     {report.sentences_split:,} sentences would be split into "
                f"{report.sentences_split + report.chunks_added:,} chunks "
                f"({report.entities_cut:,} entities cut)"
            )
    if len(validation.files) > 1:
        if validation.missing_labels:
            lines.append("labels missing from some files")
            for label, lacking in validation.missing_labels.items():
                lines.append(f"  {label:<10} not in {', '.join(lacking)}")
        else:
            lines.append("all files have the same labels")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# validate --config
# --------------------------------------------------------------------------------------------

_DUPLICATE_EXAMPLES = 5


@dataclass
class SplitCheck:
    """How a dev or test file relates to the training file.

    Attributes:
        name: ``dev`` or ``test``.
        path: The file.
        tokens: Tokens in the file.
        types: Distinct normalised words.
        oov_tokens: Tokens whose normalised word is not in the training vocabulary.
        oov_types: Distinct normalised words not in the training vocabulary.
        missing_labels: Tags (in ``data.scheme``) that occur here but never in train.
        duplicates: Sentences (same token sequence) that also occur in train.
        duplicate_lines: Lines of the first few such sentences.
        embedding_oov_tokens: Tokens without a pretrained vector, or None without embeddings.
        embedding_oov_types: Distinct words without a pretrained vector, or None.
    """

    name: str
    path: str
    tokens: int = 0
    types: int = 0
    oov_tokens: int = 0
    oov_types: int = 0
    missing_labels: list[str] = field(default_factory=list)
    duplicates: int = 0
    duplicate_lines: list[int] = field(default_factory=list)
    embedding_oov_tokens: int | None = None
    embedding_oov_types: int | None = None


@dataclass
class ConfigValidation:
    """The result of :func:`validate_config`.

    Attributes:
        config_path: The config file (or None).
        files: :func:`validate_files` summary of train, dev and test (tags as written).
        vocabulary: Size of the training word vocabulary (with ``min_count`` / ``max_size``).
        embeddings: One-line summary of the embeddings file against the training vocabulary,
            or None when ``embeddings.path`` is not set.
        splits: One :class:`SplitCheck` per dev / test file.
        coverage: Token coverage of train, dev and test by the vocabulary with and without the
            vectors (see `ner_crf.data.coverage`).
        extend_vocab: ``embeddings.extend_vocab`` (whether training uses the extended vocabulary).
    """

    config_path: str | None
    files: Validation
    vocabulary: int
    embeddings: str | None
    splits: list[SplitCheck]
    coverage: list = field(default_factory=list)
    extend_vocab: bool = True


def validate_config(cfg, *, config_path: str | Path | None = None) -> ConfigValidation:
    """Checks the data a config refers to, the way training will read it.

    Reads train / dev / test (tags converted to ``data.scheme``), builds the training vocabulary
    as training does, and for dev and test counts out-of-vocabulary words (against the training
    vocabulary and, when ``embeddings.path`` is set, against the embeddings file), tags missing
    from train and sentences that also occur in train; the token coverage of every split by the
    vocabulary with and without the vectors (one read of the vectors file).

    Args:
        cfg: An ``ExperimentConfig`` whose paths exist (see ``config.check_paths``).
        config_path: The config file, for the report.

    Returns:
        The :class:`ConfigValidation`.

    Raises:
        DataError: A file cannot be read, or the embeddings file is malformed.
    """
    from collections import Counter

    from ner_crf.data.coverage import vocabulary_coverage
    from ner_crf.data.vocab import build_vocabularies, normalize_word

    data = cfg.data
    paths = [p for p in (data.train, data.dev, data.test) if p is not None]
    files = validate_files(paths, tag_column=data.tag_column, max_length=data.max_length)
    read = {
        "tag_column": data.tag_column,
        "scheme": data.scheme,
        "illegal": "repair",
        "max_length": data.max_length,
    }
    train = read_conll(data.train, **read)
    options = {"lowercase": cfg.vocab.lowercase, "normalize_digits": cfg.vocab.normalize_digits}
    vocabs = build_vocabularies(
        train, min_count=cfg.vocab.min_count, max_size=cfg.vocab.max_size, **options
    )
    train_tags = {tag for s in train for tag in s.tags}
    train_sentences = {tuple(s.tokens) for s in train}

    embeddings = None
    extended, with_vector = vocabs, set()
    if cfg.embeddings.path is not None:
        import dataclasses

        from ner_crf.data.embeddings import load_pretrained_words

        # One read of the file; always extended, to show what the extension brings.
        words = load_pretrained_words(
            vocabs, dataclasses.replace(cfg.embeddings, extend_vocab=True), cfg.vocab
        )
        embeddings = words.report.summary()
        extended, with_vector = words.vocabs, set(words.with_vector.tolist())

    splits = []
    split_sentences = {"train": train}
    for name, path in (("dev", data.dev), ("test", data.test)):
        if path is None:
            continue
        sentences = read_conll(path, **read)
        split_sentences[name] = sentences
        counts = Counter(normalize_word(t, **options) for s in sentences for t in s.tokens)
        check = SplitCheck(name=name, path=str(path))
        check.tokens = sum(counts.values())
        check.types = len(counts)
        unknown = [w for w in counts if w not in vocabs.words]
        check.oov_types = len(unknown)
        check.oov_tokens = sum(counts[w] for w in unknown)
        check.missing_labels = sorted({t for s in sentences for t in s.tags} - train_tags)
        for sentence in sentences:
            if tuple(sentence.tokens) in train_sentences:
                check.duplicates += 1
                if len(check.duplicate_lines) < _DUPLICATE_EXAMPLES:
                    check.duplicate_lines.append(sentence.line)
        if cfg.embeddings.path is not None:
            no_vector = [w for w in counts if extended.words.index(w) not in with_vector]
            check.embedding_oov_types = len(no_vector)
            check.embedding_oov_tokens = sum(counts[w] for w in no_vector)
        splits.append(check)
    coverage = vocabulary_coverage(split_sentences, extended, with_vector=with_vector, **options)
    return ConfigValidation(
        config_path=None if config_path is None else str(config_path),
        files=files,
        vocabulary=len(vocabs.words),
        embeddings=embeddings,
        splits=splits,
        coverage=coverage,
        extend_vocab=bool(cfg.embeddings.extend_vocab),
    )


def _rate(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.2f}%" if whole else "n/a"


def format_config_validation(result: ConfigValidation) -> str:
    """Formats a :class:`ConfigValidation` as a plain-text report (no trailing newline)."""
    lines = [f"config {result.config_path or '(in memory)'}: loaded, all paths exist"]
    lines.append(f"training vocabulary: {result.vocabulary:,} words (with <pad>, <unk>)")
    if result.embeddings is not None:
        lines.append(f"embeddings: {result.embeddings}")
    if result.coverage:
        from ner_crf.data.coverage import format_coverage

        lines.extend(format_coverage(result.coverage))
        if result.embeddings is not None:
            state = (
                "on" if result.extend_vocab else "OFF: training will not use the + vectors words"
            )
            lines.append(f"  (embeddings.extend_vocab {state})")
    for check in result.splits:
        lines.append(f"{check.name} ({check.path})")
        lines.append(
            f"  OOV vs train vocabulary   {_rate(check.oov_tokens, check.tokens)} of tokens "
            f"({check.oov_tokens:,}/{check.tokens:,}), {_rate(check.oov_types, check.types)} "
            f"of types ({check.oov_types:,}/{check.types:,})"
        )
        if check.embedding_oov_tokens is not None and check.embedding_oov_types is not None:
            lines.append(
                f"  OOV vs embeddings         "
                f"{_rate(check.embedding_oov_tokens, check.tokens)} of tokens, "
                f"{_rate(check.embedding_oov_types, check.types)} of types "
                f"({check.embedding_oov_types:,}/{check.types:,})"
            )
        if check.missing_labels:
            lines.append(f"  labels missing in train   {' '.join(check.missing_labels)}")
        else:
            lines.append("  labels missing in train   none")
        shown = ", ".join(str(line) for line in check.duplicate_lines)
        more = ", ..." if check.duplicates > len(check.duplicate_lines) else ""
        lines.append(
            f"  sentences also in train   {check.duplicates:,}"
            + (f" (lines {shown}{more})" if check.duplicates else "")
        )
    lines.append("")
    lines.append(format_validation(result.files))
    return "\n".join(lines)
