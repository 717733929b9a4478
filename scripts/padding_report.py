"""Padding and speed of the input pipeline on a CoNLL file.

Usage::

    python scripts/padding_report.py [--path ../shared/data/conll2003/train.txt] [--batch-size 32]

Builds the vocabularies and an encoder from the file, then one shuffled training epoch with and
without bucketing, and prints the padding fraction (padded word positions / all word positions)
and the time to encode the corpus once, to build an epoch's dataset and to iterate over it
(eagerly, in Python: an upper bound on what a training loop waits for).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _read(path: Path) -> list:
    try:
        from ner_crf.data import read_conll
    except ImportError:  # the reader is not there yet: whitespace columns, blank-line sentences
        read_conll = None
    if read_conll is not None:
        return read_conll(path)
    from ner_crf.data.conll import Sentence

    sentences, tokens, tags = [], [], []
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if tokens:
                sentences.append(Sentence(tokens, tags))
            tokens, tags = [], []
            continue
        tokens.append(fields[0])
        tags.append(fields[-1])
    return sentences


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", type=Path, default=Path("../shared/data/conll2003/train.txt"))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from ner_crf.data.pipeline import DatasetBuilder, SentenceEncoder
    from ner_crf.data.vocab import build_vocabularies

    start = time.perf_counter()
    sentences = _read(args.path)
    read_time = time.perf_counter() - start
    vocabs = build_vocabularies(sentences)
    encoder = SentenceEncoder(vocabs.words, vocabs.chars, vocabs.tags)
    print(
        f"{args.path}: {len(sentences)} sentences, {sum(len(s.tokens) for s in sentences)} "
        f"tokens (read in {read_time:.2f} s); vocab {len(vocabs.words)} words, "
        f"{len(vocabs.chars)} chars, {len(vocabs.tags)} tags"
    )
    for bucket in (False, True):
        start = time.perf_counter()
        builder = DatasetBuilder(
            sentences,
            encoder,
            batch_size=args.batch_size,
            shuffle=True,
            seed=args.seed,
            bucket=bucket,
        )
        encode_time = time.perf_counter() - start
        build_times, iterate_times = [], []
        for epoch in range(3):
            start = time.perf_counter()
            dataset = builder.dataset(epoch)
            build_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            batches = sum(1 for _ in dataset)
            iterate_times.append(time.perf_counter() - start)
            assert batches == builder.num_batches
        fractions = ", ".join(f"{100 * builder.padding_fraction(e):.1f}%" for e in range(3))
        print(
            f"bucket={bucket!s:5}  batches/epoch {builder.num_batches}  padding (epochs 0-2) "
            f"{fractions}\n  encode once {encode_time:.2f} s; per epoch (0-2): build "
            f"{' / '.join(f'{t:.3f}' for t in build_times)} s, iterate all batches "
            f"{' / '.join(f'{t:.2f}' for t in iterate_times)} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
