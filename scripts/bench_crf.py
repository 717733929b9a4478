"""Benchmark the CRF functions of ``ner_crf.crf`` against a plain ``tf.scan`` reference on CPU.

For each shape (batch x time x tags) it prints the median milliseconds per call of

* NLL forward + backward (gradient w.r.t. the inputs and the transition matrix), and
* Viterbi decoding,

for (a) ``ner_crf.crf`` as users call it: decoding is ``ner_crf.crf.compiled.crf_decode`` itself,
and NLL + gradient is one training-step-like function (``GradientTape`` around
``ner_crf.crf.crf_log_likelihood``) compiled with ``ner_crf.crf.compiled.jit``; and (b) a
straightforward Addons-style reference written below (``tf.scan`` over time, gather at
``length - 1``, ``tf.function`` without XLA), with the speed-up ratio, plus the TF Addons numbers
measured earlier on this machine. Every timed call includes fetching the outputs (``.numpy()``).

Usage: ``python scripts/bench_crf.py [--reps 30] [--shapes 32x40x9,32x40x17,256x128x17]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ner_crf.crf import compiled, crf_log_likelihood  # noqa: E402

# TF Addons 0.23 on TF 2.15, tf.function, this machine (given in the task): NLL fwd+bwd, Viterbi.
ADDONS_MS = {
    (32, 40, 9): (2.2, 1.3),
    (32, 40, 17): (2.8, 1.4),
    (256, 128, 17): (41.0, 16.0),
}


# --------------------------------------------------------------------------------------------
# Reference implementation: the plain approach (scan over time, gather at length - 1, no XLA).
# --------------------------------------------------------------------------------------------


def ref_log_likelihood(inputs, tags, lengths, trans):
    """Log-likelihood with ``tf.scan``; lengths >= 1 assumed."""
    batch, max_len, num_tags = tf.unstack(tf.shape(inputs))
    mask = tf.sequence_mask(lengths, max_len, dtype=inputs.dtype)  # [B, T]
    unary = tf.reduce_sum(tf.gather(inputs, tags, batch_dims=2) * mask, axis=1)  # [B]
    pairs = tf.gather(tf.reshape(trans, [-1]), tags[:, :-1] * num_tags + tags[:, 1:])  # [B, T-1]
    binary = tf.reduce_sum(pairs * mask[:, 1:], axis=1)  # [B]

    def step(alpha, x_t):
        return x_t + tf.reduce_logsumexp(alpha[:, :, None] + trans[None], axis=1)  # [B, K]

    rest = tf.transpose(inputs[:, 1:], [1, 0, 2])  # [T-1, B, K]
    alphas = tf.scan(step, rest, initializer=inputs[:, 0])  # [T-1, B, K]
    alphas = tf.concat([inputs[:, 0][None], alphas], axis=0)  # [T, B, K]
    last = tf.stack([lengths - 1, tf.range(batch)], axis=1)  # [B, 2]
    log_z = tf.reduce_logsumexp(tf.gather_nd(alphas, last), axis=1)  # [B]
    return unary + binary - log_z


def ref_decode(inputs, trans, lengths):
    """Viterbi with ``tf.scan`` forward and backward; lengths >= 1 assumed."""
    batch, max_len, _ = tf.unstack(tf.shape(inputs))

    def step(carry, x_t):
        alpha, _ = carry
        scores = alpha[:, :, None] + trans[None]  # [B, K, K]
        return x_t + tf.reduce_max(scores, axis=1), tf.argmax(scores, axis=1, output_type=tf.int32)

    rest = tf.transpose(inputs[:, 1:], [1, 0, 2])  # [T-1, B, K]
    init = (inputs[:, 0], tf.zeros_like(inputs[:, 0], tf.int32))
    alphas, backs = tf.scan(step, rest, initializer=init)  # [T-1, B, K] each
    alphas = tf.concat([inputs[:, 0][None], alphas], axis=0)  # [T, B, K]
    last = tf.gather_nd(alphas, tf.stack([lengths - 1, tf.range(batch)], axis=1))  # [B, K]
    best_score = tf.reduce_max(last, axis=1)  # [B]
    last_tag = tf.argmax(last, axis=1, output_type=tf.int32)  # [B]
    # Reverse each sequence's back-pointers so the backtrack starts at its own last position.
    backs = tf.transpose(backs, [1, 0, 2])  # [B, T-1, K]
    backs = tf.reverse_sequence(backs, lengths - 1, seq_axis=1, batch_axis=0)

    def back_step(tag, back_t):
        return tf.gather(back_t, tag[:, None], batch_dims=1)[:, 0]  # [B]

    prev = tf.scan(back_step, tf.transpose(backs, [1, 0, 2]), initializer=last_tag)  # [T-1, B]
    path = tf.concat([last_tag[:, None], tf.transpose(prev)], axis=1)  # [B, T] reversed
    path = tf.reverse_sequence(path, lengths, seq_axis=1, batch_axis=0)
    path = path * tf.sequence_mask(lengths, max_len, dtype=tf.int32)
    return path, best_score


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------


def _fetch(outputs) -> None:
    """Copies the outputs (a tensor or a flat tuple / list of tensors) to NumPy."""
    if isinstance(outputs, tf.Tensor):
        outputs.numpy()
    else:
        for out in outputs:
            out.numpy()


def median_ms(fn, args, reps: int) -> float:
    """Median wall time of ``fn(*args)`` plus fetching its outputs in ms, after 3 warm-up calls."""
    for _ in range(3):
        _fetch(fn(*args))
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        _fetch(fn(*args))
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def nll_and_grad(ll_fn):
    """A function returning the mean NLL and its gradient w.r.t. the inputs and transitions."""

    def step(inputs, tags, lengths, trans):
        with tf.GradientTape() as tape:
            tape.watch([inputs, trans])
            ll = ll_fn(inputs, tags, lengths, trans)
            loss = -tf.reduce_mean(ll)
        return [loss, *tape.gradient(loss, [inputs, trans])]

    return step


def ours_fns():
    """What users call: a compiled training step, and ``compiled.crf_decode``."""
    return compiled.jit(nll_and_grad(lambda *a: crf_log_likelihood(*a)[0])), compiled.crf_decode


def ref_fns():
    """The scan reference, each wrapped in a plain ``tf.function``."""
    return tf.function(nll_and_grad(ref_log_likelihood)), tf.function(ref_decode)


def _tiny(a):
    return tf.reduce_sum(a)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30, help="timed repetitions per measurement")
    parser.add_argument("--shapes", default="32x40x9,32x40x17,256x128x17")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    ours = ours_fns()
    ref = ref_fns()
    print(
        f"TensorFlow {tf.__version__}, "
        f"CPU threads: inter={tf.config.threading.get_inter_op_parallelism_threads()} "
        f"intra={tf.config.threading.get_intra_op_parallelism_threads()}, "
        f"load average {os.getloadavg()[0]:.2f}, reps={args.reps}"
    )
    # Floor: the cost of dispatching a trivial compiled call and fetching its result.
    tiny = (tf.zeros([32, 40, 9]),)
    tf_floor = median_ms(tf.function(_tiny, jit_compile=True), tiny, args.reps)
    jit_floor = median_ms(compiled.jit(_tiny), tiny, args.reps)
    print(
        f"overhead of a trivial XLA call: {tf_floor:.3f} ms via tf.function, "
        f"{jit_floor:.3f} ms via ner_crf.crf.compiled.jit"
    )
    header = (
        f"{'shape':>14} {'what':>8} {'ours':>10} {'scan ref':>10} {'ref/ours':>9} "
        f"{'Addons':>8} {'Addons/ours':>12}"
    )
    print(header)
    for shape in args.shapes.split(","):
        batch, max_len, num_tags = (int(v) for v in shape.split("x"))
        rng = np.random.default_rng(args.seed)
        inputs = tf.constant(rng.normal(size=(batch, max_len, num_tags)), tf.float32)
        trans = tf.constant(rng.normal(size=(num_tags, num_tags)), tf.float32)
        lengths = tf.constant(rng.integers(5, max_len + 1, size=batch), tf.int32)
        tags = tf.constant(rng.integers(0, num_tags, size=(batch, max_len)), tf.int32)
        reps = args.reps if batch * max_len < 10000 else max(5, args.reps // 3)
        # Sanity check: both implementations agree before they are timed.
        ours_ll = ours[0](inputs, tags, lengths, trans)[0].numpy()
        ref_ll = ref[0](inputs, tags, lengths, trans)[0].numpy()
        ours_tags = ours[1](inputs, trans, lengths)[0].numpy()
        ref_tags = ref[1](inputs, trans, lengths)[0].numpy()
        if not np.isclose(ours_ll, ref_ll, rtol=1e-4) or (ours_tags != ref_tags).any():
            raise SystemExit(f"{shape}: ner_crf.crf and the reference disagree")
        addons = ADDONS_MS.get((batch, max_len, num_tags), (float("nan"), float("nan")))
        for what, idx, call_args in (
            ("nll+grad", 0, (inputs, tags, lengths, trans)),
            ("decode", 1, (inputs, trans, lengths)),
        ):
            ours_ms = median_ms(ours[idx], call_args, reps)
            ref_ms = median_ms(ref[idx], call_args, reps)
            print(
                f"{shape:>14} {what:>8} {ours_ms:10.2f} {ref_ms:10.2f} {ref_ms / ours_ms:8.1f}x "
                f"{addons[idx]:8.1f} {addons[idx] / ours_ms:11.1f}x"
            )
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
