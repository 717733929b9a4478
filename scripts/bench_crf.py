"""CRF speed against TF Addons in one run: functions in a plain tf.function, layer in predict.

Two tables, each measured side by side with TF Addons 0.23 (TF 2.15, its own venv), calls of the
two interleaved (rotating order, one process at a time), ratio = median over rounds of
our time / Addons' time (lower is better):

1. ``kernels``: NLL forward + backward and Viterbi, each inside the user's plain ``tf.function``
   (``ner_crf.crf.crf_log_likelihood`` / ``crf_decode`` against ``tfa.text``'s), measured by the
   shared peer harness ``run_crf_micro.py`` (run from its own folder, ``--harness``; it also
   checks both against a float64 NumPy CRF before timing).
2. ``predict``: the Keras layer inside ``model.predict`` on a small input (8 batches per call)
   and a corpus (64 batches per call) of potentials with a right-padded mask:
   ``ner_crf.crf.CRF`` (Keras 3) against ``tfa.layers.CRF(use_kernel=False,
   use_boundary=False)`` (Keras 2), same transitions; decoded tags are compared first. The same
   model with a trivial Lambda instead of the CRF is timed too (``no-CRF``): what each Keras
   predict loop costs by itself, the floor no CRF layer can go under.
3. ``floor``: a plain ``tf.function`` that does one trivial op on the same inputs, in each venv:
   what calling a graph function costs on each TensorFlow, the floor of the ``kernels`` table
   (``floor / tfa Viterbi`` is the lowest ratio any CRF could reach there).

``--what compile`` adds what a new input shape costs: the first call of each public function on
a new (batch, time) bucket, and a second shape falling in the same bucket.

Usage (peers set up by ``setup_peers.sh tfa`` in the harness folder)::

    python scripts/bench_crf.py [--harness ../shared/bench] [--rounds 8] [--what kernels,predict]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

CASES = {"B32xT40xN9": (32, 40, 9), "B32xT40xN17": (32, 40, 17), "B256xT128xN17": (256, 128, 17)}
PREDICT_BATCHES = (8, 64)  # batches per model.predict call: a small input, a corpus
HERE = os.path.dirname(os.path.abspath(__file__))


def make_case(batch: int, max_len: int, num_tags: int, seed: int) -> dict[str, np.ndarray]:
    """Random potentials [64B, T, K], transitions, right-padded lengths 5..T (one full per
    batch)."""
    rng = np.random.default_rng(seed)
    n = batch * max(PREDICT_BATCHES)
    lens = rng.integers(5, max_len + 1, size=n).astype(np.int32)
    lens[::batch] = max_len
    return {
        "em": rng.standard_normal((n, max_len, num_tags)).astype(np.float32),
        "trans": (0.5 * rng.standard_normal((num_tags, num_tags))).astype(np.float32),
        "mask": np.arange(max_len)[None, :] < lens[:, None],
        "batch": np.array(batch),
    }


# --------------------------------------------------------------------------------------------
# Worker side (runs in our venv, or in the TF Addons venv with --worker tfa)
# --------------------------------------------------------------------------------------------


class PredictWorker:
    """One Keras model: potentials + mask -> CRF layer -> decoded tags."""

    def __init__(self, kind: str, threads: int):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        self.tf, self.kind = tf, kind

    def setup(self, path: str) -> None:
        tf = self.tf
        with np.load(path) as z:
            data = {k: z[k] for k in z.files}
        self.em, self.mask, self.batch = data["em"], data["mask"], int(data["batch"])
        num_tags = self.em.shape[2]
        if self.kind == "tfa":
            import tensorflow_addons as tfa

            keras = tf.keras
            crf = tfa.layers.CRF(num_tags, use_kernel=False, use_boundary=False)
            x = keras.Input((None, num_tags))
            m = keras.Input((None,), dtype="bool")
            tags = crf(x, mask=m)[0]
            self.model = keras.Model([x, m], tags)
            crf.chain_kernel.assign(data["trans"])
            base = keras.layers.Lambda(lambda a: tf.cast(a[..., 0] > 0, "int32"))(x)
        else:
            import keras

            from ner_crf.crf import CRF

            crf = CRF(num_tags, use_boundary=False)
            x = keras.Input((None, num_tags))
            m = keras.Input((None,), dtype="bool")
            self.model = keras.Model([x, m], crf(x, mask=m))
            crf.transitions.assign(data["trans"])
            base = keras.layers.Lambda(lambda a: keras.ops.cast(a[..., 0] > 0, "int32"))(x)
        # The same model without the CRF: what the Keras predict loop costs by itself.
        self.base = keras.Model([x, m], base)
        # The floor of a user's plain tf.function on these inputs: one trivial op.
        self.floor = tf.function(
            lambda em, lengths: tf.cast(em[:, :, 0] > 0, tf.int32) + lengths[0]
        )
        self.em_t = tf.constant(self.em[: self.batch])
        self.len_t = tf.constant(self.mask[: self.batch].sum(axis=1).astype(np.int32))
        for batches in PREDICT_BATCHES:
            for _ in range(2):
                self.predict(batches)
                self.predict(batches, self.base)
        for _ in range(20):
            self.floor(self.em_t, self.len_t)

    def predict(self, batches: int, model=None):
        model = model or self.model
        n = batches * self.batch
        return model.predict([self.em[:n], self.mask[:n]], batch_size=self.batch, verbose=0)

    def timed(self, req: dict):
        """The call a timing request names: ``floor``, or ``crf`` / ``base`` with ``batches``."""
        if req["op"] == "floor":
            return lambda: self.floor(self.em_t, self.len_t)
        model = self.base if req["op"] == "base" else None
        return lambda: self.predict(int(req["batches"]), model)

    def outputs(self, path: str) -> None:
        tags = np.asarray(self.predict(max(PREDICT_BATCHES))).astype(np.int64) * self.mask
        np.savez(path, tags=tags)

    def info(self) -> dict:
        out = {"tensorflow": self.tf.__version__}
        if self.kind == "tfa":
            import tensorflow_addons as tfa

            out["tensorflow_addons"] = tfa.__version__
        else:
            import keras

            out["keras"] = keras.__version__
        return out


def serve_worker(kind: str, threads: int, harness: str) -> None:
    sys.path.insert(0, harness)
    import benchlib

    worker = PredictWorker(kind, threads)
    benchlib.serve(
        {
            "setup": lambda req: worker.setup(req["path"]),
            "outputs": lambda req: worker.outputs(req["path"]),
            "time": lambda req: {"secs": benchlib.time_calls(worker.timed(req), int(req["n"]))},
            "info": lambda req: worker.info(),
        }
    )


# --------------------------------------------------------------------------------------------
# Driver side
# --------------------------------------------------------------------------------------------


def run_kernels(args) -> None:
    """The shared harness, ner_crf from this venv against tfa; it prints its own table."""
    cmd = [
        sys.executable,
        os.path.join(args.harness, "run_crf_micro.py"),
        "--backends",
        f"tfa,ner_crf@{sys.prefix}",
        "--rounds",
        str(args.rounds),
        "--threads",
        str(args.threads),
    ]
    print(f"$ {' '.join(cmd)}", flush=True)
    subprocess.run(cmd, check=True, cwd=args.harness)


def run_predict(args) -> None:
    """The layer in ``model.predict`` (two input sizes, with the no-CRF model) and the plain
    ``tf.function`` floor, each venv's calls interleaved with the other's."""
    sys.path.insert(0, args.harness)
    import benchlib

    tmp = tempfile.mkdtemp(prefix="bench_crf_")
    me = os.path.abspath(__file__)
    pythons = {"tfa": benchlib.venv_python("tfa"), "ner_crf": sys.executable}
    workers = {}
    predict_rows, floor_rows = [], []
    try:
        for label, python in pythons.items():
            argv = [python, me, "--worker", label, "--threads", str(args.threads)]
            argv += ["--harness", args.harness]
            workers[label] = benchlib.Worker(label, argv, os.path.join(tmp, f"{label}.log"))
        for index, (name, (batch, max_len, num_tags)) in enumerate(CASES.items()):
            path = os.path.join(tmp, f"{name}.npz")
            np.savez(path, **make_case(batch, max_len, num_tags, seed=args.seed + index))
            outs = {}
            for label, worker in workers.items():
                worker.call("setup", path=path)
                out = os.path.join(tmp, f"{name}-{label}-out.npz")
                worker.call("outputs", path=out)
                with np.load(out) as z:
                    outs[label] = z["tags"]
            differ = int((outs["tfa"] != outs["ner_crf"]).sum())
            # (op, batches per call); the floor is one call of a plain tf.function, per call.
            ops = [(op, b) for b in PREDICT_BATCHES for op in ("crf", "base")] + [("floor", 1)]
            n = {}
            for label, worker in workers.items():
                for op, batches in ops:
                    request = {"op": op, "batches": batches}
                    per = benchlib.median(worker.call("time", n=3, **request)["secs"])
                    n[(label, op, batches)] = int(min(200, max(1, round(args.block_secs / per))))
            times = {(label, *key): [] for label in workers for key in ops}
            for r in range(args.rounds):
                for op, batches in ops:
                    for label in benchlib.rotated(list(workers), r):
                        secs = workers[label].call(
                            "time", op=op, batches=batches, n=n[(label, op, batches)]
                        )["secs"]
                        times[(label, op, batches)].append(benchlib.median(secs) / batches)

            def ms(label, op, batches, times=times):
                return f"{1e3 * benchlib.median(times[(label, op, batches)]):.3f}"

            def ratio(key, times=times):
                ours, theirs = times[("ner_crf", *key)], times[("tfa", *key)]
                return f"{benchlib.median([a / b for a, b in zip(ours, theirs, strict=True)]):.2f}"

            for batches in PREDICT_BATCHES:
                predict_rows.append(
                    [name, batches, ms("tfa", "crf", batches), ms("ner_crf", "crf", batches)]
                    + [ratio(("crf", batches)), ms("tfa", "base", batches)]
                    + [ms("ner_crf", "base", batches), ratio(("base", batches)), differ]
                )
            floor_rows.append([name, ms("tfa", "floor", 1), ms("ner_crf", "floor", 1)])
            print(f"  predict {name}: done", file=sys.stderr, flush=True)
        infos = {label: worker.call("info") for label, worker in workers.items()}
    finally:
        for worker in workers.values():
            worker.close()
    print(
        f"\nCRF layer inside model.predict (ms per batch; {args.rounds} interleaved rounds; "
        f"threads={args.threads}). no-CRF = the same model with a trivial Lambda instead of the "
        "CRF: the Keras predict loop alone. ratios = median over rounds of ner_crf / tfa"
    )
    for label, info in infos.items():
        print(f"- {label}: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    print()
    header = ["case", "batches per call", "tfa predict ms", "ner_crf predict ms", "ratio"]
    header += ["tfa no-CRF ms", "ner_crf no-CRF ms", "no-CRF ratio", "tag diffs"]
    print(benchlib.md_table(header, predict_rows))
    print(
        "\nFloor of the kernels table: one call of a plain tf.function doing one trivial op on "
        "the case's [B, T, K] input (ms per call; compare with the Viterbi times above)\n"
    )
    print(benchlib.md_table(["case", "tfa (TF 2.15) ms", "ner_crf (TF 2.21) ms"], floor_rows))


def run_compile_cost() -> None:
    """First call on a new bucket vs a later call, per public function, eagerly."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from ner_crf.crf import bucket_size, crf_decode, crf_log_likelihood, crf_marginals

    rng = np.random.default_rng(0)
    trans = tf.constant(rng.standard_normal((17, 17)), tf.float32)

    def nll(x, tags, lengths):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = -tf.reduce_sum(crf_log_likelihood(x, tags, lengths, trans)[0])
        return tape.gradient(loss, x)

    calls = {
        "nll fwd+bwd": lambda x, tags, lengths: nll(x, tags, lengths),
        "viterbi": lambda x, tags, lengths: crf_decode(x, trans, lengths)[0],
        "marginals": lambda x, tags, lengths: crf_marginals(x, trans, lengths),
    }
    print("\nWhat a new input shape costs (eager calls, K=17; ms):")
    print("| function | shape | bucket | 1st call | 2nd call | same bucket, new shape |")
    print("|---|---|---|---|---|---|")
    for name, fn in calls.items():
        for batch, max_len in ((32, 37), (256, 121)):
            cells = []
            for b, t in ((batch, max_len), (batch, max_len), (batch - 1, max_len + 1)):
                x = tf.constant(rng.standard_normal((b, t, 17)), tf.float32)
                tags = tf.constant(rng.integers(0, 17, (b, t)), tf.int32)
                lengths = tf.fill([b], t)
                start = time.perf_counter()
                np.asarray(fn(x, tags, lengths))
                cells.append(f"{1e3 * (time.perf_counter() - start):.1f}")
            bucket = f"{bucket_size(batch)}x{bucket_size(max_len)}"
            print(f"| {name} | {batch}x{max_len} | {bucket} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--harness", default=os.path.join(HERE, "..", "..", "shared", "bench"))
    parser.add_argument("--what", default="kernels,predict", help="kernels, predict, compile")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--block-secs", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--worker", choices=["tfa", "ner_crf"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.harness = os.path.abspath(args.harness)
    if args.worker:
        serve_worker(args.worker, args.threads, args.harness)
        return
    if not os.path.exists(os.path.join(args.harness, "run_crf_micro.py")):
        sys.exit(f"bench_crf: no peer harness at {args.harness} (pass --harness)")
    what = set(args.what.split(","))
    if "kernels" in what:
        run_kernels(args)
    if "predict" in what:
        run_predict(args)
    if "compile" in what:
        run_compile_cost()


if __name__ == "__main__":
    main()
