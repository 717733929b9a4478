#!/usr/bin/env python
"""Trains a config with several seeds and prints the best dev F1 table (mean +- std).

Each seed is one ``ner-crf train`` run into ``OUT/seed-N`` (a run that already finished there
is not trained again, so an interrupted series can be continued and the table printed again).
``--prefix`` is put in front of every training command, e.g. a CPU arbiter or ``nice``.

Example::

    scripts/train_seeds.py --config configs/conll2003-glove.yaml --seeds 1 2 3 \\
        --out runs/glove-seeds --set training.epochs=30
    scripts/train_seeds.py --out runs/glove-seeds --seeds 1 2 3 --table-only

Prints, per seed: best dev F1, the epoch it was reached, epochs run, seconds per epoch and
train tokens/s (median over epochs); then the mean and std of the best dev F1 and best epoch.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _train(args: argparse.Namespace, seed: int, run_dir: Path) -> None:
    command = [
        *shlex.split(args.prefix),
        str(Path(sys.executable).with_name("ner-crf")),
        "train",
        "--config",
        args.config,
        "--output-dir",
        str(run_dir),
        "--set",
        f"training.seed={seed}",
        "--set",
        "output.tensorboard=false",
    ]
    for override in args.set:
        command += ["--set", override]
    if run_dir.exists():
        command.append("--force")
    print(f"[seed {seed}] {shlex.join(command)}", file=sys.stderr, flush=True)
    log = run_dir.parent / f"{run_dir.name}.log"
    with log.open("w") as handle:
        code = subprocess.call(command, stdout=handle, stderr=subprocess.STDOUT, cwd=REPO)
    if code != 0:
        print(f"[seed {seed}] failed with exit code {code}, see {log}", file=sys.stderr)


def _finished(run_dir: Path) -> dict | None:
    path = run_dir / "metrics.json"
    if not path.is_file():
        return None
    metrics = json.loads(path.read_text(encoding="utf-8"))
    return metrics if metrics.get("status") == "completed" else None


def _row(seed: int, metrics: dict) -> tuple[str, float, int]:
    history = metrics["history"]
    seconds = statistics.median(row["seconds"] for row in history)
    tokens = statistics.median(row["tokens_per_second"] for row in history)
    best, epoch = float(metrics["best_dev_f1"]), int(metrics["best_epoch"])
    line = (
        f"{seed:>4}  {100 * best:7.2f}  {epoch:>10}  {len(history):>10}  {seconds:9.1f}"
        f"  {tokens:9.0f}"
    )
    return line, best, epoch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/conll2003.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--out", required=True, help="directory of the runs (seed-N each)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--prefix", default="", help="put in front of each training command")
    parser.add_argument("--table-only", action="store_true", help="train nothing, print table")
    args = parser.parse_args(argv)

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        run_dir = out / f"seed-{seed}"
        if not args.table_only and _finished(run_dir) is None:
            _train(args, seed, run_dir)

    print(f"{out}  config {args.config}  {' '.join(args.set)}")
    print("seed  dev F1  best epoch  epochs run  s/epoch  tokens/s")
    bests, epochs = [], []
    for seed in args.seeds:
        metrics = _finished(out / f"seed-{seed}")
        if metrics is None:
            print(f"{seed:>4}  (no finished run)")
            continue
        line, best, epoch = _row(seed, metrics)
        print(line)
        bests.append(100 * best)
        epochs.append(epoch)
    if bests:
        std = statistics.stdev(bests) if len(bests) > 1 else 0.0
        print(
            f"mean over {len(bests)} seeds: dev F1 {statistics.mean(bests):.2f} +- {std:.2f}, "
            f"best epoch {statistics.mean(epochs):.1f}"
        )
    return 0 if len(bests) == len(args.seeds) else 1


if __name__ == "__main__":
    sys.exit(main())
