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

Side by side with the PyTorch peer (``--peer torch``): the Lample et al. BiLSTM-CRF in PyTorch +
pytorch-crf from the peer harness in ``../shared/bench`` (``--bench-dir``; its worker runs in the
harness's torch venv, see its README) trains on the same files. Each round, in an order that
rotates, the peer trains ``--epochs`` more epochs and ner-crf trains ``--epochs`` epochs in a
fresh subprocess, with the peer's batch size (32) and character BiLSTM (25 per direction) set
over the config's (``PEER_SETTINGS``); the speed-up of a round is the peer's median s/epoch over
ner-crf's median s/epoch of epochs 2+ (epoch 1 traces the step). Printed: one row per system
with s/epoch, train tokens/s, the median speed-up over rounds, peak RSS and dev F1 (strict,
seqeval; the peer's after all its epochs, ner-crf's after ``--epochs``)::

    /work/cpu bench scripts/benchmark.py --peer torch --epochs 5 --rounds 2
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
    decode = _decode_speed(out_dir, cfg) if cfg.data.dev and not args.no_decode else None
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


def _child_run(args: argparse.Namespace, seed: int, out_dir: Path, decode: bool = True):
    """Trains in a fresh subprocess; its measurements, or None (reported) if it failed."""
    child = [sys.executable, __file__, "--config", args.config, "--epochs", str(args.epochs)]
    for item in args.set:
        child += ["--set", item]
    if not decode:
        child.append("--no-decode")
    child += ["--_child", f"{seed}:{out_dir}"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(child, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
    if done.returncode != 0:
        print(f"seed {seed}: training failed (exit {done.returncode})", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _side_by_side(args: argparse.Namespace) -> int:
    """ner-crf and the peer alternated round by round; prints one comparison table."""
    bench = Path(args.bench_dir).resolve()
    sys.path.insert(0, str(bench))
    import benchlib  # the harness's worker protocol (run from there, not copied)
    import run_e2e

    os.chdir(REPO)  # the config's data paths are relative to the repository root
    from ner_crf.config import load_config

    cfg = load_config(args.config, args.set)
    train, dev = str(Path(cfg.data.train).resolve()), str(Path(cfg.data.dev).resolve())
    gold = [tags for _, tags in run_e2e.conll.read_conll(dev)]
    peer_rows: list[dict] = []
    ours: list[dict] = []
    ratios: list[float] = []
    with tempfile.TemporaryDirectory(prefix="ner-crf-bench-") as tmp:
        argv = [
            benchlib.venv_python(args.peer),
            str(bench / "e2e_peer.py"),
            "--peer",
            args.peer,
            "--threads",
            str(os.cpu_count()),
        ]
        worker = benchlib.Worker(args.peer, argv, str(Path(tmp) / "peer.log"))
        try:
            worker.call("load", train=train, dev=dev, seed=1, batch_size=32, lr=1e-3, clip=5.0)
            for round_ in range(args.rounds):
                round_peer: list[float] = []
                round_ours: list[float] = []
                for who in benchlib.rotated(["peer", "ner-crf"], round_):
                    if who == "peer":
                        for _ in range(args.epochs):
                            row = worker.call("epoch", epoch=len(peer_rows) + 1, pool_batches=50)
                            peer_rows.append(row)
                            round_peer.append(row["secs"])
                            print(
                                f"round {round_ + 1} {args.peer} epoch {len(peer_rows)}: "
                                f"{row['secs']:.1f} s",
                                file=sys.stderr,
                                flush=True,
                            )
                    else:
                        last = round_ == args.rounds - 1 and args.keep_run
                        out_dir = Path(args.keep_run) if last else Path(tmp) / f"r{round_}"
                        run = _child_run(args, round_ + 1, out_dir, False)
                        if run is None:
                            return 1
                        ours.append(run)
                        round_ours += [e["seconds"] for e in run["epochs"][1:]]
                        times = " ".join(f"{e['seconds']:.1f}" for e in run["epochs"])
                        print(
                            f"round {round_ + 1} ner-crf epochs: {times} s",
                            file=sys.stderr,
                            flush=True,
                        )
                ratios.append(statistics.median(round_peer) / statistics.median(round_ours))
            peer_dev = run_e2e.evaluate(worker, gold)
            peer_info = worker.call("info")
        finally:
            worker.close()

    tokens = peer_rows[0]["tokens"]
    peer_secs = statistics.median(r["secs"] for r in peer_rows)
    our_epochs = [e for run in ours for e in run["epochs"][1:]]
    our_secs = statistics.median(e["seconds"] for e in our_epochs)
    our_tok = statistics.median(e["tokens_per_second"] for e in our_epochs)
    our_f1 = [100 * (run["epochs"][-1].get("dev_f1") or 0) for run in ours]
    print(
        f"{args.config} {' '.join(args.set)}; {tokens} train tokens; {args.rounds} rounds of "
        f"{args.epochs} epochs each, alternated; {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f}"
    )
    header = ("system", "s/epoch", "train tok/s", "speed-up", "peak RSS GiB", "dev F1")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    print(
        f"| {args.peer} (peer, {len(peer_rows)} epochs) | {peer_secs:.2f} | "
        f"{tokens / peer_secs:.0f} | 1.00 | {peer_info['peak_rss_mib'] / 1024:.2f} | "
        f"{100 * peer_dev['f1_strict']:.2f} (after {len(peer_rows)} epochs) |"
    )
    print(
        f"| ner-crf ({len(ours)} x {args.epochs} epochs, epochs 2+) | {our_secs:.2f} | "
        f"{our_tok:.0f} | {statistics.median(ratios):.2f} "
        f"({', '.join(f'{r:.2f}' for r in ratios)}) | "
        f"{max(run['peak_rss_gib'] for run in ours):.2f} | "
        f"{', '.join(f'{f:.2f}' for f in our_f1)} (after {args.epochs} epochs) |"
    )
    print(f"per-epoch s, {args.peer}: " + " ".join(f"{r['secs']:.1f}" for r in peer_rows))
    for i, run in enumerate(ours, 1):
        print(
            f"per-epoch s, ner-crf round {i}: "
            + " ".join(f"{e['seconds']:.1f}" for e in run["epochs"])
        )
        print(
            f"per-epoch dev F1, ner-crf round {i}: "
            + " ".join(f"{100 * (e.get('dev_f1') or 0):.2f}" for e in run["epochs"])
        )
    return 0


def _stats(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.4g}"
    return f"{statistics.mean(values):.4g} ± {statistics.stdev(values):.2g}"


# What the torch peer trains (see ../shared/bench/README.md), for the side-by-side run.
PEER_SETTINGS = ("training.batch_size=32", "model.char.units=25")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "conll2003.yaml"))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=1, help="number of seeds (1, 2, ...)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", action="store_true", help="also print the raw results as JSON")
    parser.add_argument("--peer", choices=["torch"], help="train side by side with this peer")
    parser.add_argument("--rounds", type=int, default=2, help="with --peer: alternated rounds")
    parser.add_argument(
        "--bench-dir",
        default=str(REPO.parent / "shared" / "bench"),
        help="the peer harness (with --peer)",
    )
    parser.add_argument(
        "--keep-run", metavar="DIR", help="with --peer: keep ner-crf's last run directory here"
    )
    parser.add_argument("--no-decode", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--_child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args._child:  # inside the per-seed subprocess
        seed, out_dir = args._child.split(":", 1)
        print(json.dumps(_one_run(args, int(seed), Path(out_dir))))
        return 0

    if args.peer:
        # The peer's batch size and character BiLSTM (the config's own are tuned for accuracy):
        # both systems train the same model on the same batches; later --set items still win.
        args.set = [*PEER_SETTINGS, *args.set]
        return _side_by_side(args)
    runs = []
    with tempfile.TemporaryDirectory(prefix="ner-crf-bench-") as tmp:
        for seed in range(1, args.seeds + 1):
            run = _child_run(args, seed, Path(tmp) / f"seed{seed}")
            if run is None:
                return 1
            runs.append(run)

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
