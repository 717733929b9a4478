#!/usr/bin/env python
"""Time :func:`ner_crf.data.read_conll` on CoNLL files.

For every file: sentences, tokens, illegal tags repaired, and the median wall time of 5 reads.

Usage:
    python scripts/bench_reader.py [PATH ...]   (default: ../shared/data/conll2003/train.txt)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from ner_crf.data import ReadReport, read_conll
from ner_crf.errors import DataError

DEFAULT = Path("../shared/data/conll2003/train.txt")


def bench(path: Path, repeats: int) -> tuple[ReadReport, float]:
    """Read ``path`` ``repeats`` times; return the last report and the median seconds."""
    times = []
    report = ReadReport()
    for _ in range(repeats):
        report = ReadReport()
        start = time.perf_counter()
        read_conll(path, report=report)
        times.append(time.perf_counter() - start)
    return report, statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description="Time read_conll on CoNLL files.")
    parser.add_argument("paths", nargs="*", type=Path, default=[DEFAULT], help="CoNLL files")
    parser.add_argument("--repeats", type=int, default=5, help="reads per file (default 5)")
    args = parser.parse_args(argv)
    print(f"{'file':<48} {'sentences':>10} {'tokens':>10} {'illegal':>8} {'median s':>9}")
    for path in args.paths:
        try:
            report, seconds = bench(path, args.repeats)
        except DataError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(
            f"{str(path):<48} {report.sentences:>10,} {report.tokens:>10,} "
            f"{report.illegal:>8} {seconds:>9.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
