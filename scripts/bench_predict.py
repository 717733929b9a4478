"""Speed of ``ner-crf predict`` on raw text made from a CoNLL file: cold start and throughput.

The CoNLL file is turned into raw text (tokens joined by spaces, one sentence per line).

1. Cold start, as a user runs it: ``ner-crf predict --model RUN`` in a new process, the raw text
   on stdin; prints the time to the first output line and to the last, and the same for one
   sentence (the interactive case).
2. Where a cold start's time goes, in this process: importing TensorFlow, loading the run,
   building the predictor, and the first pass over the text (which traces the model).
3. Throughput once warm: the same code path as the command (``raw_documents`` ->
   ``predict_documents`` -> ``format_document``), output discarded; sentences/s and tokens/s.

Example::

    .venv/bin/python scripts/bench_predict.py --model runs/conll2003 \\
        --input ../shared/data/conll2003/dev.txt
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def cold_start(model: str, text: bytes, output_format: str) -> tuple[float, float, int]:
    """Runs ``ner-crf predict`` in a new process on ``text``.

    Returns:
        Seconds to the first output line, seconds to the end, number of output lines.
    """
    command = [str(Path(sys.executable).parent / "ner-crf"), "predict", "--model", model]
    command += ["--format", output_format]
    start = time.perf_counter()
    proc = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )

    def feed() -> None:
        assert proc.stdin is not None
        proc.stdin.write(text)
        proc.stdin.close()

    threading.Thread(target=feed, daemon=True).start()
    first = None
    lines = 0
    assert proc.stdout is not None
    for _ in proc.stdout:
        if first is None:
            first = time.perf_counter() - start
        lines += 1
    if proc.wait() != 0:
        raise SystemExit(f"ner-crf predict failed (exit {proc.returncode})")
    total = time.perf_counter() - start
    return (first if first is not None else total), total, lines


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

    sentences = read_conll(args.input)
    texts = [" ".join(s.tokens) for s in sentences]
    tokens = sum(len(s.tokens) for s in sentences)
    n = len(sentences)
    print(
        f"{args.input}: {n} sentences, {tokens} tokens; format {args.format}, "
        f"batch {args.batch_size}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )

    # 1. Cold start of the command (before this process imports TensorFlow).
    first, total, _ = cold_start(args.model, ("\n".join(texts) + "\n").encode(), args.format)
    print(
        f"cold `ner-crf predict` on all {n} sentences: first output line after {first:.2f} s, "
        f"done after {total:.2f} s ({n / total:,.0f} sentences/s including start-up)"
    )
    first, total, _ = cold_start(args.model, (texts[0] + "\n").encode(), args.format)
    print(f"cold `ner-crf predict` on one sentence: output after {first:.2f} s")

    # 2. The phases of a start-up, in this process.
    start = time.perf_counter()
    from ner_crf._tf_quiet import import_tensorflow

    import_tensorflow()
    t_import = time.perf_counter() - start

    from ner_crf.model.run_dir import load_run
    from ner_crf.predict import Predictor, format_document, predict_documents, raw_documents

    start = time.perf_counter()
    run = load_run(args.model)
    t_load = time.perf_counter() - start
    start = time.perf_counter()
    predictor = Predictor(run, xla=False, batch_size=args.batch_size)  # as `ner-crf predict`
    t_predictor = time.perf_counter() - start
    scores = args.format == "jsonl"
    lines = [("bench", i + 1, text) for i, text in enumerate(texts)]

    def one_pass() -> tuple[float, float]:
        """Seconds to the first formatted document and to the last."""
        start = time.perf_counter()
        first = None
        for doc in predict_documents(predictor, raw_documents(lines), scores=scores):
            format_document(doc, args.format)
            if first is None:
                first = time.perf_counter() - start
        return first or 0.0, time.perf_counter() - start

    warm_first, warm = one_pass()  # includes tracing
    print(
        f"start-up phases in one process: import TensorFlow {t_import:.2f} s, load run "
        f"{t_load:.2f} s, build predictor {t_predictor:.2f} s, first pass {warm:.2f} s "
        f"(first document after {warm_first:.2f} s; includes tracing)"
    )

    # 3. Throughput once warm.
    best = min(one_pass()[1] for _ in range(args.repeats))
    print(
        f"warm, best of {args.repeats}: {best:.2f} s = {n / best:,.0f} sentences/s, "
        f"{tokens / best:,.0f} tokens/s"
    )


if __name__ == "__main__":
    main()
