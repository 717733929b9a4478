"""Checks an ONNX export against the TensorFlow model on a CoNLL file read as raw text.

Each sentence of the CoNLL file becomes one line of raw text (its tokens joined by spaces), which
both paths tokenise and tag exactly as ``ner-crf predict`` does: the TensorFlow ``Predictor`` on
the run directory and the ONNX Runtime ``OnnxTagger`` on its export (written to a temporary
directory unless ``--export`` names one). Prints the token agreement of the Viterbi tags (every
token of every document), the largest difference of the entity probabilities, and the largest
difference of the per-token marginals (ONNX ``marginals`` output vs TensorFlow's, in float64 as
the predictor computes them and in float32 as ``NerModel.marginals`` does).

    python scripts/check_onnx.py --run RUN [DATA] [--export EXPORT_DIR] [--limit N]

DATA defaults to ../shared/data/conll2003/dev.txt. Exit status 1 when a tag differs or an entity
probability differs by more than 1e-4.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DEFAULT_DATA = "../shared/data/conll2003/dev.txt"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=DEFAULT_DATA, help="CoNLL file")
    parser.add_argument("--run", required=True, help="trained run directory")
    parser.add_argument("--export", help="ONNX export of the run (default: export to a temp dir)")
    parser.add_argument("--limit", type=int, default=0, help="first N sentences only")
    args = parser.parse_args()

    from ner_crf.data.conll import read_conll
    from ner_crf.model.run_dir import load_run
    from ner_crf.onnx.export import export_onnx
    from ner_crf.onnx.runtime import load_export
    from ner_crf.predict import Predictor, predict_documents, raw_documents

    sentences = read_conll(args.data, illegal="repair")
    if args.limit:
        sentences = sentences[: args.limit]
    lines = [(args.data, s.line, " ".join(s.tokens)) for s in sentences]
    run = load_run(args.run)
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(args.export) if args.export else export_onnx(run, Path(tmp) / "onnx")
        tf_tagger = Predictor(run)
        onnx_tagger = load_export(export)
        start = time.perf_counter()
        tf_docs = list(predict_documents(tf_tagger, raw_documents(lines)))
        tf_time = time.perf_counter() - start
        start = time.perf_counter()
        onnx_docs = list(predict_documents(onnx_tagger, raw_documents(lines)))
        onnx_time = time.perf_counter() - start
        marginal64, marginal32 = _marginal_diff(run, onnx_tagger, [d.tokens for d in tf_docs])

    tokens = same = 0
    entities = 0
    prob_diff = 0.0
    span_mismatch = 0
    for a, b in zip(tf_docs, onnx_docs, strict=True):
        tokens += len(a.tags)
        same += sum(x == y for x, y in zip(a.tags, b.tags, strict=True))
        spans_a = [(e.token_start, e.token_end, e.label) for e in a.entities]
        spans_b = [(e.token_start, e.token_end, e.label) for e in b.entities]
        if spans_a != spans_b:
            span_mismatch += 1
            continue
        for ea, eb in zip(a.entities, b.entities, strict=True):
            entities += 1
            prob_diff = max(prob_diff, abs(ea.score - eb.score))
    print(f"data: {args.data}")
    print(f"documents (raw-text lines): {len(lines)}, tokens: {tokens}")
    print(f"token agreement: {same}/{tokens} = {100.0 * same / max(tokens, 1):.4f}%")
    print(f"entities compared: {entities}, documents with different entity spans: {span_mismatch}")
    print(f"max |entity probability TF - ONNX|: {prob_diff:.3e}")
    print(f"max |token marginal TF - ONNX|: {marginal64:.3e} (TF crf_marginals, float64)")
    print(f"max |token marginal NerModel.marginals (float32) - ONNX|: {marginal32:.3e}")
    print(f"tagging time (warm, incl. tokenisation): TF {tf_time:.2f}s, ONNX {onnx_time:.2f}s")
    ok = same == tokens and span_mismatch == 0 and prob_diff <= 1e-4
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


def _marginal_diff(run, onnx_tagger, token_lists, batch: int = 128) -> tuple[float, float]:
    """Largest |marginal| difference between the ONNX ``marginals`` output and TensorFlow's:
    ``crf_marginals`` in float64 on the Keras emissions (the same maths), and
    ``NerModel.marginals`` (the CRF layer, float32)."""
    import tensorflow as tf

    from ner_crf.crf import crf_marginals
    from ner_crf.onnx.runtime import pad_batch
    from ner_crf.predict.predictor import float64_crf_arguments

    params = run.model.crf.numpy_parameters()
    trans, kwargs = float64_crf_arguments(params)
    sentences = [[t.text for t in tokens] for tokens in token_lists if tokens]
    worst64 = worst32 = 0.0
    for first in range(0, len(sentences), batch):
        feeds = pad_batch([run.encoder.encode(s) for s in sentences[first : first + batch]])
        (onnx_marginals,) = onnx_tagger.session.run(["marginals"], feeds)
        features = {k: feeds[k].astype(np.int32) for k in ("words", "chars", "casing")}
        emissions = tf.cast(run.model(features, training=False), tf.float64)
        tf64 = crf_marginals(emissions, trans, tf.constant(feeds["lengths"]), **kwargs).numpy()
        tf32 = np.asarray(run.model.marginals(features))
        worst64 = max(worst64, float(np.max(np.abs(tf64 - onnx_marginals))))
        worst32 = max(worst32, float(np.max(np.abs(tf32 - onnx_marginals))))
    return worst64, worst32


if __name__ == "__main__":
    sys.exit(main())
