"""Benchmark: Keras ``Bidirectional(LSTM)`` vs ``FusedBiLSTM``, forward + backward, on CPU.

Each case builds both layers with the same weights, compiles one ``tf.function`` per layer that
computes the output on a right-padded, masked batch, a scalar loss and the gradients with
respect to the inputs and all weights, and times it. Runs of the two layers are interleaved
(A, B, A, B, ...) so that background load hits both alike; the median over ``--runs`` calls is
reported, with the minimum (less sensitive to load spikes) and the 1-minute load average
before and after, because other processes on a shared machine distort the timings.

With ``--tagger`` it also times a whole (toy) tagger train step and prints train tokens/s.

Usage::

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python scripts/bench_lstm.py [--runs 60] [--warmup 5] \
        [--intra-op-threads N] [--inter-op-threads N] [--tagger]
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


TAGGER_BATCH, TAGGER_STEPS, TAGGER_CHARS = 32, 25, 12


def toy_tagger_batch(rng: np.random.Generator) -> tuple[tf.Tensor, ...]:
    """One right-padded batch: words, char ids, char mask, word mask, tags."""
    batch, steps, chars = TAGGER_BATCH, TAGGER_STEPS, TAGGER_CHARS
    lengths = rng.integers(1, steps + 1, size=batch)
    lengths[0] = steps
    word_mask = np.arange(steps)[None, :] < lengths[:, None]  # [batch, steps]
    word_lengths = rng.integers(1, chars + 1, size=(batch, steps)) * word_mask
    char_mask = np.arange(chars)[None, None, :] < word_lengths[:, :, None]
    words = rng.integers(2, 20000, size=(batch, steps)) * word_mask
    char_ids = rng.integers(2, 100, size=(batch, steps, chars)) * char_mask
    tags = rng.integers(0, 9, size=(batch, steps))
    return tuple(tf.constant(a) for a in (words, char_ids, char_mask, word_mask, tags))


def toy_tagger_step(fused: bool) -> tf.types.experimental.GenericFunction:
    """A Lample-style tagger train step with a softmax head instead of a CRF.

    Words (embedding 100) and characters (embedding 25, BiLSTM 25 per direction, final states)
    feed a word BiLSTM of 100 units per direction and a 9-tag softmax, trained with Adam.

    Args:
        fused: Use ``FusedBiLSTM`` layers, else Keras ``Bidirectional(LSTM)``.

    Returns:
        The compiled step, called with the tensors of :func:`toy_tagger_batch`.
    """
    batch, steps, chars = TAGGER_BATCH, TAGGER_STEPS, TAGGER_CHARS

    def make(units: int, return_sequences: bool) -> keras.layers.Layer:
        if fused:
            return FusedBiLSTM(units, return_sequences=return_sequences, implementation="fused")
        return keras.layers.Bidirectional(
            keras.layers.LSTM(units, return_sequences=return_sequences)
        )

    word_embedding = keras.layers.Embedding(20000, 100)
    char_embedding = keras.layers.Embedding(100, 25)
    char_lstm = make(25, False)
    word_lstm = make(100, True)
    head = keras.layers.Dense(9)
    optimizer = keras.optimizers.Adam(1e-3)

    @tf.function
    def step(
        words: tf.Tensor,
        char_ids: tf.Tensor,
        char_mask: tf.Tensor,
        mask: tf.Tensor,
        tags: tf.Tensor,
    ) -> tf.Tensor:
        with tf.GradientTape() as tape:
            flat_chars = tf.reshape(char_ids, [-1, chars])  # [batch * steps, chars]
            char_states = char_lstm(
                char_embedding(flat_chars), mask=tf.reshape(char_mask, [-1, chars])
            )  # [batch * steps, 50]
            features = tf.concat(
                [word_embedding(words), tf.reshape(char_states, [batch, steps, 50])], axis=-1
            )  # [batch, steps, 150]
            logits = head(word_lstm(features, mask=mask))  # [batch, steps, 9]
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(tags, logits)
            loss = tf.reduce_sum(losses * tf.cast(mask, tf.float32)) / batch
        weights = [
            w
            for layer in (word_embedding, char_embedding, char_lstm, word_lstm, head)
            for w in layer.trainable_weights
        ]
        optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights, strict=True))
        return loss

    return step


def bench_toy_tagger(args: argparse.Namespace, rng: np.random.Generator) -> None:
    """Prints train tokens/s of the toy tagger with Keras and with fused BiLSTMs."""
    inputs = toy_tagger_batch(rng)
    tokens = int(tf.reduce_sum(tf.cast(inputs[3], tf.int32)))
    steps = {"keras": toy_tagger_step(fused=False), "fused": toy_tagger_step(fused=True)}
    wall: dict[str, list[float]] = {"keras": [], "fused": []}
    for step in steps.values():
        for _ in range(args.warmup + 1):
            step(*inputs).numpy()
    for _ in range(args.runs):
        for name, step in steps.items():
            start = time.perf_counter()
            step(*inputs).numpy()
            wall[name].append(time.perf_counter() - start)
    print(
        f"toy tagger train step (char + word BiLSTM, softmax head, Adam), batch 32 x 25, "
        f"{tokens} tokens:"
    )
    for name in steps:
        median = statistics.median(wall[name])
        print(f"  {name:6s} {median * 1000:7.2f} ms/step  {tokens / median:9.0f} tokens/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60, help="timed calls per layer and case")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls after tracing")
    parser.add_argument("--intra-op-threads", type=int, default=0, help="0 = TensorFlow default")
    parser.add_argument("--inter-op-threads", type=int, default=0, help="0 = TensorFlow default")
    parser.add_argument(
        "--tagger", action="store_true", help="also time a toy tagger train step (tokens/s)"
    )
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
    if args.tagger:
        bench_toy_tagger(args, rng)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
