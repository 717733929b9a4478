"""``ner-crf predict`` on TensorFlow (run directory) vs ONNX Runtime (ONNX export), in one run.

Both paths are timed as users run them: a fresh ``ner-crf predict --model M`` process reading raw
text on stdin and writing jsonl (entity probabilities included) to stdout.

* cold start: one sentence on stdin, time from process start to its first output line;
* throughput: every sentence of DATA as one raw-text line, sentences per second end to end
  (process start to exit) and after the first output line (start-up excluded);
* sizes: the ONNX export directory, the SavedModel export and the run's model.keras, and the
  installed ``tensorflow`` / ``onnxruntime`` packages.

    python scripts/bench_predict_onnx.py --run RUN [DATA] [--export EXPORT_DIR] [--repeat 3]

Run it under ``/work/cpu bench`` on a shared machine. DATA defaults to
../shared/data/conll2003/dev.txt. The ONNX (and SavedModel, for its size) exports are written to
a temporary directory unless ``--export`` names an ONNX export.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_DATA = "../shared/data/conll2003/dev.txt"


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _package_size(name: str) -> int | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return _size(Path(next(iter(spec.submodule_search_locations))))


def _run(command: list[str], text: str) -> tuple[float, float, int]:
    """(seconds to the first stdout line, seconds to exit, output lines) of one process."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    start = time.perf_counter()
    proc = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    with tempfile.TemporaryFile() as feed:  # write stdin from a file: no pipe dead-lock
        feed.write(text.encode("utf-8"))
        feed.seek(0)
        writer = subprocess.Popen(["cat"], stdin=feed, stdout=proc.stdin)
        proc.stdin.close()
        first = proc.stdout.readline()
        first_time = time.perf_counter() - start
        lines = 1 if first else 0
        for _ in proc.stdout:
            lines += 1
        writer.wait()
    if proc.wait() != 0:
        raise SystemExit(f"{' '.join(command)} failed with status {proc.returncode}")
    return first_time, time.perf_counter() - start, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=DEFAULT_DATA, help="CoNLL file")
    parser.add_argument("--run", required=True, help="trained run directory")
    parser.add_argument("--export", help="ONNX export of the run (default: export to a temp dir)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement")
    args = parser.parse_args()

    from ner_crf.data.conll import read_conll

    sentences = read_conll(args.data, illegal="repair")
    text = "".join(" ".join(s.tokens) + "\n" for s in sentences)
    one = " ".join(sentences[0].tokens) + "\n"
    cli = str(Path(sys.executable).parent / "ner-crf")
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(args.export) if args.export else Path(tmp) / "onnx"
        saved = Path(tmp) / "savedmodel"
        steps = [] if args.export else [[cli, "export", "--model", args.run, export, "-f", "onnx"]]
        steps.append([cli, "export", "--model", args.run, saved])
        for step in steps:
            subprocess.run([str(s) for s in step], check=True, capture_output=True)
        paths = {"TensorFlow": args.run, "ONNX Runtime": str(export)}
        rows = []
        for name, model in paths.items():
            command = [cli, "predict", "--model", model]
            _run(command, one)  # warm the file cache
            cold = [_run(command, one)[0] for _ in range(args.repeat)]
            full = [_run(command, text) for _ in range(args.repeat)]
            assert all(lines == len(sentences) for _, _, lines in full)
            wall = statistics.median(t for _, t, _ in full)
            after_first = statistics.median(t - f for f, t, _ in full)
            rows.append((name, statistics.median(cold), min(cold), wall, after_first))
        sizes = {
            "ONNX export directory": _size(export),
            "  of which model.onnx": _size(export / "model.onnx"),
            "SavedModel export directory": _size(saved),
            "run model.keras": _size(Path(args.run) / "model.keras"),
        }
    n = len(sentences)
    print(f"data: {args.data} ({n} sentences as raw-text lines, {args.repeat} runs each, median)")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    print()
    print("| path | cold start to 1st line (s) | dev wall (s) | sent/s end to end |", end="")
    print(" sent/s after 1st line |")
    print("|---|---|---|---|---|")
    for name, cold, _, wall, after in rows:
        print(f"| {name} | {cold:.2f} | {wall:.2f} | {n / wall:.0f} | {n / after:.0f} |")
    print()
    for label, value in sizes.items():
        print(f"{label}: {value / 1e6:.2f} MB")
    for package in ("tensorflow", "onnxruntime"):
        size = _package_size(package)
        if size is not None:
            print(f"installed package {package}: {size / 1e6:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
