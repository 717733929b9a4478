"""Throughput of ``ner-crf predict`` on raw text made from a CoNLL file.

The CoNLL file is turned into raw text (tokens joined by spaces, one sentence per line), then
run through the same code path as the command (``raw_documents`` -> ``predict_documents`` ->
``format_document``), output discarded. Prints sentences/s and tokens/s, with and without entity
probabilities (the forward-backward pass that ``--format jsonl`` needs).

Example::

    .venv/bin/python scripts/bench_predict.py --model runs/default \\
        --input ../shared/data/conll2003/dev.txt
"""

from __future__ import annotations

import argparse
import logging
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="run directory")
    parser.add_argument("--input", default="../shared/data/conll2003/dev.txt", help="CoNLL file")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--format", default="jsonl", choices=["jsonl", "conll", "inline"])
    parser.add_argument("--repeats", type=int, default=2, help="timed passes (best is kept)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from ner_crf.data.conll import read_conll
    from ner_crf.model.run_dir import load_run
    from ner_crf.predict import Predictor, format_document, predict_documents, raw_documents

    sentences = read_conll(args.input)
    lines = [("bench", i + 1, " ".join(s.tokens)) for i, s in enumerate(sentences)]
    tokens = sum(len(s.tokens) for s in sentences)
    run = load_run(args.model)
    predictor = Predictor(run, batch_size=args.batch_size)
    scores = args.format == "jsonl"

    def one_pass() -> float:
        start = time.perf_counter()
        size = 0
        for doc in predict_documents(predictor, raw_documents(lines), scores=scores):
            size += len(format_document(doc, args.format))
        return time.perf_counter() - start

    warm = one_pass()  # includes tracing
    best = min(one_pass() for _ in range(args.repeats))
    print(
        f"{args.input}: {len(sentences)} sentences, {tokens} tokens; format {args.format}, "
        f"batch {args.batch_size}, CPU threads {os.cpu_count()}"
    )
    print(f"first pass (with tracing): {len(sentences) / warm:,.0f} sentences/s")
    print(
        f"best of {args.repeats}: {best:.2f}s = {len(sentences) / best:,.0f} sentences/s, "
        f"{tokens / best:,.0f} tokens/s"
    )


if __name__ == "__main__":
    main()
