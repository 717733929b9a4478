#!/usr/bin/env python
"""Pretrained vectors: training speed and memory with and without them, side by side, plus the
vector-file load time, run-directory size and ``.keras`` save / load / SavedModel export times.

Each variant trains ``--epochs`` epochs of the real config in a fresh subprocess (so peak RSS
and TensorFlow state are per variant) through `ner_crf.training.trainer.train`, the function
``ner-crf train`` calls. Train tokens/s is the median over epochs 2.. (epoch 1 includes
tracing); peak RSS is ``ru_maxrss`` after training. Variants:

* ``no vectors``: ``configs/conll2003.yaml`` (random 100-d word embeddings) with the batch size
  and character BiLSTM of ``configs/conll2003-glove.yaml``;
* ``no vectors 50d``: the same with ``model.word_dim=50`` (the size of the vectors below);
* ``glove, train vocab``: ``configs/conll2003-glove.yaml`` with ``embeddings.extend_vocab=false``
  (vectors for the training words only);
* ``glove, extended``: ``configs/conll2003-glove.yaml`` (every GloVe word; frozen extra rows).

Example::

    scripts/bench_vectors.py --epochs 2
    scripts/bench_vectors.py --glove ../shared/data/glove/glove.6B.50d.txt.gz --only load

Run it from the repository root: data and vectors stay where they are (``../shared/data/...``
by default, relative to the working directory); nothing is copied.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GLOVE = "../shared/data/glove/glove.6B.50d.txt.gz"

VARIANTS = {
    "no vectors": ("configs/conll2003.yaml", []),
    "no vectors 50d": ("configs/conll2003.yaml", ["model.word_dim=50"]),
    "glove, train vocab": ("configs/conll2003-glove.yaml", ["embeddings.extend_vocab=false"]),
    "glove, extended": ("configs/conll2003-glove.yaml", []),
}


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _size_mib(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 2**20
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def _child_load(glove: str) -> dict:
    """Times reading the vectors file for the CoNLL-2003 training vocabulary."""
    from ner_crf.config import load_config
    from ner_crf.data.conll import read_conll
    from ner_crf.data.embeddings import load_pretrained_words
    from ner_crf.data.vocab import build_vocabularies

    cfg = load_config(REPO / "configs/conll2003-glove.yaml", [f"embeddings.path={glove}"])
    train = read_conll(cfg.data.train, scheme=cfg.data.scheme)
    vocabs = build_vocabularies(
        train, lowercase=cfg.vocab.lowercase, normalize_digits=cfg.vocab.normalize_digits
    )
    start = time.perf_counter()
    words = load_pretrained_words(vocabs, cfg.embeddings, cfg.vocab)
    seconds = time.perf_counter() - start
    return {
        "load_seconds": seconds,
        "vectors_read": words.report.vectors_read,
        "added_words": words.vocabs.num_pretrained_words,
        "peak_rss_gib": _peak_gib(),
    }


def _child_train(name: str, epochs: int, glove: str, out_dir: Path) -> dict:
    from ner_crf.config import load_config
    from ner_crf.training.trainer import train

    config, overrides = VARIANTS[name]
    if "glove" not in config:
        # The GloVe recipe's batch size and character BiLSTM (the configs differ there), so that
        # the variants differ only in their word vectors.
        glove_cfg = load_config(REPO / VARIANTS["glove, extended"][0])
        overrides = [
            f"training.batch_size={glove_cfg.training.batch_size}",
            f"model.char.units={glove_cfg.model.char.units}",
            *overrides,
        ]
    overrides = [
        *overrides,
        f"training.epochs={epochs}",
        "training.patience=0",
        "output.tensorboard=false",
        f"output.dir={out_dir}",
    ]
    if "glove" in config:
        overrides.append(f"embeddings.path={glove}")
    cfg = load_config(REPO / config, overrides)
    start = time.perf_counter()
    result = train(cfg, progress=False)
    wall = time.perf_counter() - start
    history = result.history
    later = history[1:] or history
    row = {
        "tokens_per_second": statistics.median(r["tokens_per_second"] for r in later),
        "epoch_seconds": statistics.median(r["seconds"] for r in later),
        "dev_f1_last": history[-1].get("dev_f1"),
        "wall_seconds": wall,
        "peak_rss_gib": _peak_gib(),
        "word_dim": cfg.model.word_dim,
    }
    if name == "glove, extended":
        row.update(_save_load_export(out_dir))
    return row


def _save_load_export(run_dir: Path) -> dict:
    """Run-directory sizes and the times of loading, saving and exporting its model."""
    from ner_crf.export import export_saved_model
    from ner_crf.model.run_dir import load_run, save_model_atomic

    sizes = {
        name: _size_mib(run_dir / name)
        for name in ("model.keras", "last.keras", "checkpoints", "vocab")
        if (run_dir / name).exists()
    }
    sizes["total"] = _size_mib(run_dir)
    start = time.perf_counter()
    run = load_run(run_dir)
    load_seconds = time.perf_counter() - start
    scratch = Path(tempfile.mkdtemp(prefix="bench-vectors-"))
    try:
        start = time.perf_counter()
        save_model_atomic(run.model, scratch / "copy.keras")
        save_seconds = time.perf_counter() - start
        start = time.perf_counter()
        export_saved_model(run, scratch / "exported")
        export_seconds = time.perf_counter() - start
        exported_mib = _size_mib(scratch / "exported")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "sizes_mib": sizes,
        "load_run_seconds": load_seconds,
        "save_keras_seconds": save_seconds,
        "export_seconds": export_seconds,
        "exported_mib": exported_mib,
    }


def _spawn(args: list[str]) -> dict:
    command = [sys.executable, __file__, *args]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True)  # data paths: cwd
    if done.returncode != 0:
        raise SystemExit(f"child {args} failed with exit code {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--glove", default=GLOVE)
    parser.add_argument("--only", choices=("load", "train"), help="run one part only")
    parser.add_argument("--_child", help=argparse.SUPPRESS)
    parser.add_argument("--_out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args._child == "load":
        print(json.dumps(_child_load(args.glove)))
        return 0
    if args._child:
        import logging

        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
        print(json.dumps(_child_train(args._child, args.epochs, args.glove, Path(args._out))))
        return 0

    if args.only in (None, "load"):
        load = _spawn(["--_child", "load", "--glove", args.glove])
        print(
            f"vector file {args.glove}: {load['vectors_read']} vectors read, "
            f"{load['added_words']} words added, load {load['load_seconds']:.2f} s, "
            f"peak RSS {load['peak_rss_gib']:.2f} GiB"
        )
    if args.only == "load":
        return 0
    rows = {}
    with tempfile.TemporaryDirectory(prefix="bench-vectors-") as scratch:
        for i, name in enumerate(VARIANTS):
            child = ["--_child", name, "--epochs", str(args.epochs), "--glove", args.glove]
            rows[name] = _spawn([*child, "--_out", str(Path(scratch) / f"run{i}")])
    base = rows["no vectors"]["tokens_per_second"]
    print(f"training, {args.epochs} epochs each (tokens/s: median of epochs 2..)")
    print("variant               word_dim  tokens/s  vs no vectors  s/epoch  peak RSS GiB  dev F1")
    for name, row in rows.items():
        f1 = row["dev_f1_last"]
        print(
            f"{name:<21} {row['word_dim']:>8}  {row['tokens_per_second']:8.0f}"
            f"  {100 * row['tokens_per_second'] / base - 100:+12.1f}%  {row['epoch_seconds']:7.1f}"
            f"  {row['peak_rss_gib']:12.2f}  {'-' if f1 is None else f'{100 * f1:.2f}'}"
        )
    extended = rows["glove, extended"]
    sizes = ", ".join(f"{k} {v:.1f}" for k, v in extended["sizes_mib"].items())
    print(f"run directory (glove, extended), MiB: {sizes}")
    print(
        f"load_run {extended['load_run_seconds']:.2f} s, save .keras "
        f"{extended['save_keras_seconds']:.2f} s, export SavedModel "
        f"{extended['export_seconds']:.2f} s ({extended['exported_mib']:.1f} MiB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
