"""Benchmark: Keras ``Bidirectional(LSTM)`` vs ``FusedBiLSTM``, forward + backward, on CPU.

Each case builds both layers with the same weights, compiles one ``tf.function`` per layer that
computes the output on a right-padded, masked batch, a scalar loss and the gradients with
respect to the inputs and all weights, and times it. Runs of the two layers are interleaved
(A, B, A, B, ...) so that background load hits both alike; the median over ``--runs`` calls is
reported, with the minimum (less sensitive to load spikes) and the 1-minute load average
before and after, because other processes on a shared machine distort the timings.

Usage::

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python scripts/bench_lstm.py [--runs 60] [--warmup 5] \
        [--intra-op-threads N] [--inter-op-threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ner_crf.model.fused_lstm import FusedBiLSTM  # noqa: E402

# (label, batch, time, features, units, return_sequences, share of all-padding rows)
CASES = [
    ("word [32, 25, 150] u=100", 32, 25, 150, 100, True, 0.0),
    ("word [32, 40, 150] u=100", 32, 40, 150, 100, True, 0.0),
    ("char [800, 12, 25] u=25 final", 800, 12, 25, 25, False, 0.0),
    # Character rows of padding words: a [32, 25] word batch has ~1/3 padding words.
    ("char [800, 12, 25] u=25 final, 1/3 empty", 800, 12, 25, 25, False, 1 / 3),
]


def make_step(layer: keras.layers.Layer) -> tf.types.experimental.GenericFunction:
    """Returns a compiled forward + backward step for ``layer``."""

    @tf.function
    def step(x: tf.Tensor, mask: tf.Tensor, probe: tf.Tensor) -> list[tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, mask=mask)
            loss = tf.reduce_sum(y * probe)
        return tape.gradient(loss, [x, *layer.trainable_weights])

    return step


def time_call(fn: tf.types.experimental.GenericFunction, *args: tf.Tensor) -> tuple[float, float]:
    """Returns the wall time and this process's CPU time of one call in ms."""
    wall, cpu = time.perf_counter(), time.process_time()
    grads = fn(*args)
    _ = [g.numpy() for g in grads[:1]]
    return (time.perf_counter() - wall) * 1000.0, (time.process_time() - cpu) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60, help="timed calls per layer and case")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls after tracing")
    parser.add_argument("--intra-op-threads", type=int, default=0, help="0 = TensorFlow default")
    parser.add_argument("--inter-op-threads", type=int, default=0, help="0 = TensorFlow default")
    args = parser.parse_args()
    if args.intra_op_threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)
    if args.inter_op_threads:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    print(
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, runs={args.runs}, "
        f"threads intra={args.intra_op_threads} inter={args.inter_op_threads} (0 = default), "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print("forward + backward per call: median wall ms (min wall ms) [median CPU ms, all threads]")
    header = f"{'case':42s} {'keras Bidirectional':>27s} {'FusedBiLSTM':>27s}"
    print(f"{header} {'speed-up wall':>14s} {'CPU':>6s}")
    for label, batch, steps, features, units, return_sequences, empty in CASES:
        # Right-padded batch with random lengths in [1, steps], at least one full row, and a
        # share of rows without any valid step.
        lengths = rng.integers(1, steps + 1, size=batch)
        lengths[rng.random(batch) < empty] = 0
        lengths[0] = steps
        mask = tf.constant(np.arange(steps)[None, :] < lengths[:, None])  # [batch, time]
        x = tf.constant(rng.normal(size=(batch, steps, features)).astype("float32"))
        reference = keras.layers.Bidirectional(
            keras.layers.LSTM(units, return_sequences=return_sequences)
        )
        fused = FusedBiLSTM(units, return_sequences=return_sequences, implementation="fused")
        reference.build(x.shape)
        fused.build(x.shape)
        fused.set_weights(reference.get_weights())
        probe = tf.constant(
            rng.normal(size=reference.compute_output_shape(x.shape)).astype("float32")
        )
        steps_fns = {"keras": make_step(reference), "fused": make_step(fused)}
        for fn in steps_fns.values():
            for _ in range(args.warmup + 1):
                time_call(fn, x, mask, probe)
        wall: dict[str, list[float]] = {"keras": [], "fused": []}
        cpu: dict[str, list[float]] = {"keras": [], "fused": []}
        for _ in range(args.runs):
            for name, fn in steps_fns.items():
                wall_ms, cpu_ms = time_call(fn, x, mask, probe)
                wall[name].append(wall_ms)
                cpu[name].append(cpu_ms)
        columns = []
        for name in ("keras", "fused"):
            columns.append(
                f"{statistics.median(wall[name]):.2f} ({min(wall[name]):.2f}) "
                f"[{statistics.median(cpu[name]):.2f}]"
            )
        wall_ratio = statistics.median(wall["keras"]) / statistics.median(wall["fused"])
        cpu_ratio = statistics.median(cpu["keras"]) / statistics.median(cpu["fused"])
        print(
            f"{label:42s} {columns[0]:>27s} {columns[1]:>27s} {wall_ratio:13.2f}x {cpu_ratio:5.2f}x"
        )
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
