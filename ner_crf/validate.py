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

__all__ = ["LENGTH_BUCKETS", "FileSummary", "Validation", "format_validation", "validate_files"]

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
