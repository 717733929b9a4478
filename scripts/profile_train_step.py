#!/usr/bin/env python
"""Profile of one training step of the real model on a fixed slice of CoNLL-2003 batches.

Builds the data, model, optimizer and train step exactly as the trainer does (``build_model``,
``make_optimizer``, ``make_train_step``, default strategy), takes the first ``--batches`` batches
of epoch 1 (kept in memory, so the input pipeline is timed separately) and reports:

* ``full step``: the real train step (forward, CRF loss, backward, clipping, fused Adam), called
  from Python with the three ``.numpy()`` reads the trainer does, as train tokens/s;
* ``full step, from tf.data``: the same step fed by the ``tf.data`` pipeline, as in training;
* with ``--compare-impl``: the step and Viterbi decoding again with the other LSTM
  implementation (``fused`` <-> ``keras``, same weights, same process);
* with ``--compare-groups``: the step with the character BiLSTM run on all distinct words at
  once instead of in ``length_groups`` groups of similar length;
* with ``--compare-unique``: the step with the character encoder encoding every word instead of
  each distinct word once;
* with ``--parts``: the parts, each its own ``tf.function`` timed over the same batches: the
  character encoder (forward + backward), the word BiLSTM stack (forward + backward), the CRF
  log-likelihood (forward + backward), the model up to the emissions (forward + backward),
  gradient clipping plus the optimizer update, the ``tf.data`` pipeline alone, and an empty
  ``tf.function`` with the same inputs (Python and dispatch overhead per call).

All timings of one process are interleaved round by round (A, B, C, A, B, C, ...), so background
load hits them alike; the best round and the median round are printed with the 1-minute load
average. Thread settings can only be set before TensorFlow starts, so compare them with
back-to-back runs (``--intra-op-threads`` / ``--inter-op-threads``, or TensorFlow's own
environment variables ``TF_NUM_INTRAOP_THREADS`` / ``TF_NUM_INTEROP_THREADS``, which also work
for ``ner-crf train``).

Usage::

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python scripts/profile_train_step.py [--batches 120] \
        [--rounds 3] [--parts] [--compare-impl] [--compare-unique] \
        [--set model.lstm.implementation=keras] [--intra-op-threads 1 --inter-op-threads 2]

The data files are read where they are (``../shared/data/conll2003`` by default).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "conll2003.yaml"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--batches", type=int, default=120, help="batches of epoch 1 timed")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over the batches")
    parser.add_argument("--parts", action="store_true", help="also time the parts of the step")
    parser.add_argument(
        "--compare-unique",
        action="store_true",
        help="also time the full step with the char encoder encoding every word (not each "
        "distinct word once)",
    )
    parser.add_argument(
        "--compare-groups",
        action="store_true",
        help="also time the full step with the char BiLSTM on all distinct words at once (one "
        "length group) instead of model.char length groups",
    )
    parser.add_argument(
        "--compare-impl",
        action="store_true",
        help="A/B in this process: also time the train step and decoding with the other LSTM "
        "implementation (fused <-> keras), same weights",
    )
    parser.add_argument("--intra-op-threads", type=int, default=None)
    parser.add_argument("--inter-op-threads", type=int, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:  # noqa: C901, PLR0915 (a linear script)
    args = _parse(argv)
    import tensorflow as tf

    if args.intra_op_threads is not None:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)
    if args.inter_op_threads is not None:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)

    import keras

    from ner_crf.config import load_config
    from ner_crf.data.conll import read_conll
    from ner_crf.data.pipeline import DatasetBuilder, SentenceEncoder
    from ner_crf.data.vocab import build_vocabularies
    from ner_crf.model.builder import build_model
    from ner_crf.training.optim import make_optimizer
    from ner_crf.training.step import make_train_step, merge_rows

    os.chdir(REPO)  # the config's data paths are relative to the repository root
    cfg = load_config(args.config, args.set)
    sentences = read_conll(cfg.data.train, scheme=cfg.data.scheme, illegal=cfg.data.illegal)
    vocabs = build_vocabularies(
        sentences,
        min_count=cfg.vocab.min_count,
        max_size=cfg.vocab.max_size,
        lowercase=cfg.vocab.lowercase,
        normalize_digits=cfg.vocab.normalize_digits,
    )
    encoder = SentenceEncoder.from_config(vocabs, cfg.vocab)
    keras.utils.set_random_seed(cfg.training.seed)
    builder = DatasetBuilder(
        sentences,
        encoder,
        batch_size=cfg.training.batch_size,
        shuffle=True,
        seed=cfg.training.seed,
    )
    batches = list(builder.dataset(1).take(args.batches))
    tokens = sum(int(tf.reduce_sum(tf.cast(f["words"] != 0, tf.int32))) for f, _ in batches)
    strategy = tf.distribute.get_strategy()
    model = build_model(
        cfg,
        num_words=len(vocabs.words),
        num_chars=len(vocabs.chars),
        num_tags=len(vocabs.tags),
        tag_names=list(vocabs.tags.tokens),
        singleton_ids=vocabs.singletons,
    )
    optimizer = make_optimizer(cfg.training, builder.num_batches)
    optimizer.build(model.trainable_variables)
    spec = builder.element_spec()
    train_step = make_train_step(
        strategy, model, optimizer, spec, clip_norm=float(cfg.training.clip_norm)
    )
    features_spec = spec[0]

    def run_full() -> None:
        for batch in batches:
            nll, tok, sent = train_step(batch)
            float(nll.numpy()), float(tok.numpy()), float(sent.numpy())

    cases = {"full step": run_full}

    def run_dataset(step) -> None:
        for batch in builder.dataset(1).take(args.batches):
            nll, tok, sent = step(batch)
            float(nll.numpy()), float(tok.numpy()), float(sent.numpy())

    cases["full step, from tf.data"] = lambda: run_dataset(train_step)

    if args.compare_impl:
        impl = model.bilstms[0].resolved_implementation()
        other = "keras" if impl == "fused" else "fused"

        def decode_fn():
            return tf.function(lambda f: model.decode(f)[0], input_signature=[features_spec])

        decode = decode_fn()
        for batch in batches:  # trace with the configured implementation
            train_step(batch)
            decode(batch[0])
        model.set_lstm_implementation(other)
        other_step = make_train_step(
            strategy, model, optimizer, spec, clip_norm=float(cfg.training.clip_norm)
        )
        other_decode = decode_fn()
        for batch in batches:
            other_step(batch)
            other_decode(batch[0])
        model.set_lstm_implementation(impl)

        def run_steps(step) -> None:
            for batch in batches:
                nll, tok, sent = step(batch)
                float(nll.numpy()), float(tok.numpy()), float(sent.numpy())

        def run_decode(fn) -> None:
            for features, _ in batches:
                fn(features).numpy()

        cases[f"full step, {other}"] = lambda: run_steps(other_step)
        cases[f"full step, tf.data, {other}"] = lambda: run_dataset(other_step)
        cases[f"decode, {impl}"] = lambda: run_decode(decode)
        cases[f"decode, {other}"] = lambda: run_decode(other_decode)

    if args.compare_unique and model.char_encoder is not None:
        every_word_step = make_train_step(
            strategy, model, optimizer, spec, clip_norm=float(cfg.training.clip_norm)
        )
        encoder_layer = model.char_encoder
        for batch in batches:  # trace both variants now (the flag is read while tracing)
            encoder_layer.unique_words = False
            every_word_step(batch)
            encoder_layer.unique_words = True
            train_step(batch)

        def run_every_word() -> None:
            for batch in batches:
                nll, tok, sent = every_word_step(batch)
                float(nll.numpy()), float(tok.numpy()), float(sent.numpy())

        cases["full step, every word"] = run_every_word
        words = [tf.boolean_mask(f["chars"], f["words"] != 0) for f, _ in batches]
        distinct = sum(
            int(tf.shape(tf.raw_ops.UniqueV2(x=w, axis=tf.zeros([1], tf.int64)).y)[0])
            for w in words
        )
        print(f"char encoder: {distinct} distinct words of {tokens} ({distinct / tokens:.0%})")

    if args.compare_groups and model.char_encoder is not None:
        one_group_step = make_train_step(
            strategy, model, optimizer, spec, clip_norm=float(cfg.training.clip_norm)
        )
        encoder_layer = model.char_encoder
        groups = encoder_layer.length_groups
        for batch in batches:  # trace both variants now (the setting is read while tracing)
            encoder_layer.length_groups = 1
            one_group_step(batch)
            encoder_layer.length_groups = groups
            train_step(batch)

        def run_one_group() -> None:
            for batch in batches:
                nll, tok, sent = one_group_step(batch)
                float(nll.numpy()), float(tok.numpy()), float(sent.numpy())

        cases["full step, 1 length group"] = run_one_group

    if args.parts:
        variables = model.trainable_variables
        mask_of = model.feature_mask
        concat_dim = model.word_dim + model.casing_dim
        if model.char_encoder is not None:
            concat_dim += model.char_encoder.output_dim

        @tf.function(input_signature=[features_spec])
        def char_part(features):
            with tf.GradientTape() as tape:
                out = model.char_encoder(features["chars"], mask_of(features))
                loss = tf.reduce_sum(tf.square(out))
            return tape.gradient(loss, model.char_encoder.trainable_variables)

        @tf.function(input_signature=[features_spec])
        def bilstm_part(features):
            mask = mask_of(features)
            shape = tf.shape(features["words"])
            x = tf.random.normal(tf.concat([shape, [concat_dim]], 0))
            lstm_vars = [v for layer in model.bilstms for v in layer.trainable_variables]
            with tf.GradientTape() as tape:
                tape.watch(x)
                hidden = x
                for layer in model.bilstms:
                    hidden = layer(hidden, mask=mask, training=True)
                loss = tf.reduce_sum(tf.square(hidden))
            return tape.gradient(loss, [x, *lstm_vars])

        @tf.function(input_signature=list(spec))
        def crf_part(features, tags):
            mask = mask_of(features)
            shape = tf.shape(features["words"])
            emissions = tf.random.normal(tf.concat([shape, [model.num_tags]], 0))
            with tf.GradientTape() as tape:
                tape.watch(emissions)
                loss = -tf.reduce_sum(
                    model.crf.log_likelihood(emissions, tf.cast(tags, tf.int32), mask=mask)
                )
            return tape.gradient(loss, [emissions, *model.crf.trainable_variables])

        @tf.function(input_signature=[features_spec])
        def emissions_part(features):
            with tf.GradientTape() as tape:
                emissions = model(features, training=True)
                loss = tf.reduce_sum(tf.square(emissions))
            return tape.gradient(loss, variables)

        @tf.function(input_signature=list(spec))
        def grads_of(features, tags):
            with tf.GradientTape() as tape:
                emissions = model(features, training=True)
                ll = model.crf.log_likelihood(emissions, tf.cast(tags, tf.int32), mask=None)
                loss = -tf.reduce_mean(ll)
            return tape.gradient(loss, variables)

        fixed_grads = [grads_of(*batch) for batch in batches[:8]]

        @tf.function(reduce_retracing=True)
        def update_part(grads):
            grads = [merge_rows(g) for g in grads]
            grads, _ = tf.clip_by_global_norm(grads, float(cfg.training.clip_norm))
            optimizer.apply(grads, variables)
            return optimizer.iterations

        @tf.function(input_signature=list(spec))
        def empty_part(features, tags):
            return tf.shape(tags)[0]

        def timer(fn, pass_tags: bool):
            def run() -> None:
                for batch in batches:
                    out = fn(*batch) if pass_tags else fn(batch[0])
                    [t for t in tf.nest.flatten(out, expand_composites=True) if t is not None][
                        -1
                    ].numpy()

            return run

        def run_update() -> None:
            for i in range(len(batches)):
                update_part(fixed_grads[i % len(fixed_grads)]).numpy()

        def run_pipeline() -> None:
            for _ in builder.dataset(1).take(args.batches):
                pass

        cases.update(
            {
                "char encoder fwd+bwd": timer(char_part, False),
                "word BiLSTM fwd+bwd": timer(bilstm_part, False),
                "CRF loglik fwd+bwd": timer(crf_part, True),
                "model->emissions fwd+bwd": timer(emissions_part, False),
                "clip + optimizer update": run_update,
                "tf.data pipeline": run_pipeline,
                "empty tf.function call": timer(empty_part, True),
            }
        )

    for run in cases.values():  # warm-up: trace every function once per shape
        run()
    times: dict[str, list[float]] = {name: [] for name in cases}
    load_before = os.getloadavg()[0]
    for _ in range(args.rounds):
        for name, run in cases.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    load_after = os.getloadavg()[0]

    impl = getattr(model.bilstms[0], "resolved_implementation", lambda: "keras")()
    print(
        f"TF {tf.__version__}; {args.config} {' '.join(args.set)}; lstm implementation {impl}; "
        f"threads intra={tf.config.threading.get_intra_op_parallelism_threads()} "
        f"inter={tf.config.threading.get_inter_op_parallelism_threads()} (0 = TF default)"
    )
    print(f"{len(batches)} batches, {tokens} tokens, {args.rounds} rounds")
    full_best = min(times["full step"])
    print(f"{'part':<26} {'best ms/batch':>13} {'median':>8} {'% of step':>9} {'tok/s best':>10}")
    for name, values in times.items():
        best, median = min(values), statistics.median(values)
        share = 100.0 * best / full_best
        print(
            f"{name:<26} {1000 * best / len(batches):>13.2f} "
            f"{1000 * median / len(batches):>8.2f} {share:>8.0f}% {tokens / best:>10.0f}"
        )
    print(f"load average (1 min): {load_before:.2f} -> {load_after:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
