#!/usr/bin/env python
"""Training throughput / memory / accuracy benchmark on CoNLL-2003.

Trains the config (default ``configs/conll2003.yaml``, Lample et al. architecture) for a few
epochs per seed and prints, per epoch: seconds, train tokens/s and dev F1; per seed: peak RSS
(``resource.getrusage``) and decode sentences/s on dev; then mean and std over seeds.

Example::

    scripts/benchmark.py --epochs 5 --seeds 1
    scripts/benchmark.py --set model.char.encoder=cnn --set training.batch_size=64

Each seed trains in a fresh subprocess (so peak RSS and TensorFlow state are per run). The data
files stay where they are (``../shared/data/conll2003/...`` by default); nothing is copied.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _one_run(args: argparse.Namespace, seed: int, out_dir: Path) -> dict:
    """Trains once in this process and returns the measurements."""
    import logging

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    from ner_crf.config import load_config
    from ner_crf.training.trainer import train

    overrides = [
        f"training.epochs={args.epochs}",
        f"training.seed={seed}",
        "training.patience=0",
        f"output.dir={out_dir}",
        *args.set,
    ]
    cfg = load_config(args.config, overrides)
    start = time.perf_counter()
    result = train(cfg, progress=False)
    wall = time.perf_counter() - start
    decode = _decode_speed(out_dir, cfg) if cfg.data.dev else None
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "seed": seed,
        "wall_seconds": wall,
        "epochs": result.history,
        "peak_rss_gib": peak_kib / 2**20,
        "decode_sentences_per_second": decode,
        "best_dev_f1": result.best_dev_f1,
    }


def _decode_speed(run_dir: Path, cfg) -> float:
    """Dev sentences/s of batched Viterbi decoding with the trained weights (after warm-up)."""
    import tensorflow as tf

    from ner_crf.data.conll import read_conll
    from ner_crf.data.pipeline import DatasetBuilder, SentenceEncoder
    from ner_crf.data.vocab import Vocabularies
    from ner_crf.model.builder import build_model

    vocabs = Vocabularies.load(run_dir / "vocab")
    encoder = SentenceEncoder.from_config(vocabs, cfg.vocab)
    sentences = read_conll(cfg.data.dev, scheme=cfg.data.scheme)
    builder = DatasetBuilder(sentences, encoder, batch_size=128, with_tags=False)
    model = build_model(
        cfg,
        num_words=len(vocabs.words),
        num_chars=len(vocabs.chars),
        num_tags=len(vocabs.tags),
        tag_names=list(vocabs.tags.tokens),
    )
    # The trained weights (the model half of the resume checkpoint).
    tf.train.Checkpoint(model=model).read(str(_latest_checkpoint(run_dir))).expect_partial()
    decode = tf.function(lambda f: model.decode(f)[0], input_signature=[builder.element_spec()])
    for features in builder.dataset(0):  # warm-up: trace
        decode(features)
        break
    start = time.perf_counter()
    for features in builder.dataset(0):
        decode(features).numpy()
    return builder.num_sentences / (time.perf_counter() - start)


def _latest_checkpoint(run_dir: Path) -> Path:
    pointer = json.loads((run_dir / "checkpoints" / "latest.json").read_text())
    return run_dir / "checkpoints" / pointer["checkpoint"]


def _stats(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.4g}"
    return f"{statistics.mean(values):.4g} ± {statistics.stdev(values):.2g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "conll2003.yaml"))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=1, help="number of seeds (1, 2, ...)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", action="store_true", help="also print the raw results as JSON")
    parser.add_argument("--_child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args._child:  # inside the per-seed subprocess
        seed, out_dir = args._child.split(":", 1)
        print(json.dumps(_one_run(args, int(seed), Path(out_dir))))
        return 0

    runs = []
    with tempfile.TemporaryDirectory(prefix="ner-crf-bench-") as tmp:
        for seed in range(1, args.seeds + 1):
            child = [
                sys.executable,
                __file__,
                "--config",
                args.config,
                "--epochs",
                str(args.epochs),
            ]
            for item in args.set:
                child += ["--set", item]
            child += ["--_child", f"{seed}:{Path(tmp) / f'seed{seed}'}"]
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
            done = subprocess.run(child, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
            if done.returncode != 0:
                print(f"seed {seed}: training failed (exit {done.returncode})", file=sys.stderr)
                return done.returncode
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))

    print(f"config {args.config} {' '.join(args.set)}; {args.epochs} epochs, {len(runs)} seed(s)")
    print(f"{'seed':>4} {'epoch':>5} {'s/epoch':>8} {'train tok/s':>11} {'dev F1':>7}")
    for run in runs:
        for row in run["epochs"]:
            f1 = row.get("dev_f1")
            print(
                f"{run['seed']:>4} {row['epoch']:>5} {row['seconds']:>8.1f} "
                f"{row['tokens_per_second']:>11.0f} {'-' if f1 is None else f'{100 * f1:.2f}':>7}"
            )
    print("summary (mean ± std over seeds):")
    # Epoch 1 includes tracing; steady-state speed is measured on the later epochs.
    later = [r["epochs"][1:] or r["epochs"] for r in runs]
    rows = [
        ("s/epoch (epochs 2+)", [statistics.mean(x["seconds"] for x in e) for e in later]),
        (
            "train tokens/s (2+)",
            [statistics.mean(x["tokens_per_second"] for x in e) for e in later],
        ),
        ("epoch 1 s (incl. trace)", [r["epochs"][0]["seconds"] for r in runs]),
        ("peak RSS GiB", [r["peak_rss_gib"] for r in runs]),
        ("decode sentences/s (dev)", [r["decode_sentences_per_second"] for r in runs]),
        ("final dev F1 (%)", [100 * (r["epochs"][-1].get("dev_f1") or 0) for r in runs]),
    ]
    for label, values in rows:
        print(f"  {label + ':':<26}{_stats(values)}")
    print(f"  load average (1 min):     {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if args.json:
        print(json.dumps(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
