"""The training engine: a custom ``tf.distribute`` loop with early stopping and exact resume.

:func:`train` runs a whole experiment from an :class:`~ner_crf.config.ExperimentConfig`:

1. check the data paths, create the strategy (before any other TensorFlow work);
2. read train/dev/test (tags converted to ``data.scheme``), build the vocabularies from TRAIN
   only, load pretrained embeddings when configured;
3. seed everything (``keras.utils.set_random_seed``), enable op determinism when
   ``training.deterministic``, set the ``mixed_float16`` policy when ``training.mixed_precision``;
4. build the model and optimizer inside ``strategy.scope()``;
5. per epoch: the data order is a function of ``(seed, epoch)``; each step runs on every replica
   with ``strategy.run``; the per-replica loss is the SUM of sentence negative log-likelihoods
   divided by the GLOBAL batch size, so summing the replicas' gradients gives the gradient of the
   global-batch mean; gradients are all-reduced, clipped by their global norm and applied;
6. after each epoch: Viterbi-decode dev, entity-level F1 (``evaluate_tags``), early stopping on dev
   F1 with ``patience``; write ``RUN/last.keras``, ``RUN/model.keras`` (when dev F1 improves),
   ``RUN/metrics.json`` and the resume checkpoint (``RUN/checkpoints/``), TensorBoard summaries;
7. at the end: evaluate test with the best weights when configured.

Exact resume: the checkpoint holds the model weights, the optimizer (slots, iteration count), the
epoch/step counters, the best F1 and its epoch, the patience counter and the RNG state (the
models' Keras ``SeedGenerator`` states). Because the epoch order is recreated from
``(seed, epoch)``, an interrupted and resumed deterministic run ends with the same weights as an
uninterrupted one.

Multi-worker: every worker runs the same loop (collectives need all of them); only the chief writes
the run directory, the others write into a temporary directory that is deleted at the end (the
pattern of the TensorFlow multi-worker guide).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ner_crf.errors import NerCrfError
from ner_crf.evaluation import resolve_mode
from ner_crf.training.checkpoints import CheckpointKeeper, ResumeError
from ner_crf.training.resume import check_run_dir
from ner_crf.training.step import make_train_step

if TYPE_CHECKING:
    from ner_crf.config import ExperimentConfig
    from ner_crf.evaluation import EvalResult
    from ner_crf.predict.predictor import Predictor

logger = logging.getLogger(__name__)

# Steps between two host reads of the running totals: the progress bar, the train-loss
# TensorBoard scalar (mean over those steps) and the NaN check. Between reads a step costs no
# read-back: the step counter and the totals are updated in the step's own graph.
READ_EVERY = 20


class TrainingDivergedError(NerCrfError):
    """The training loss became NaN or infinite."""


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        run_dir: The run directory.
        best_epoch: Epoch (1-based) with the best dev F1; the last epoch when there is no dev set.
        best_dev_f1: Best dev micro F1 in [0, 1], ``None`` without a dev set.
        history: One dict per epoch (``epoch``, ``loss``, ``dev_precision``, ``dev_recall``,
            ``dev_f1``, ``learning_rate``, ``seconds``, ``tokens_per_second``, ``steps``).
        test: Test-set metrics (``EvalResult.to_dict()``) when ``data.test`` is set.
        dev: The best epoch's dev scores (an ``EvalResult``) when ``data.dev`` is set.
        epochs_completed: Number of epochs trained in total (including resumed ones).
        stopped_early: Whether early stopping ended training.
    """

    run_dir: Path
    best_epoch: int | None
    best_dev_f1: float | None
    history: list[dict[str, Any]] = field(default_factory=list)
    test: dict[str, Any] | None = None
    dev: EvalResult | None = None
    epochs_completed: int = 0
    stopped_early: bool = False


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


def train(
    cfg: ExperimentConfig,
    *,
    output_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Trains a tagger as described by ``cfg`` and writes its run directory.

    Args:
        cfg: The experiment config.
        output_dir: Run directory; overrides ``cfg.output.dir`` (and is written into the saved
            ``config.yaml``).
        resume: Continue the run in the run directory from its last completed epoch.
        progress: Show a tqdm progress bar on stderr.

    Returns:
        The :class:`TrainResult`.

    Raises:
        ConfigError: Missing data files, a bad strategy, a run directory that already holds a
            run (without ``resume``), or a resumed config that differs from the saved one.
        DataError: Unreadable training data.
        ResumeError: ``resume`` without a checkpoint, or a damaged checkpoint.
        TrainingDivergedError: The loss became NaN or infinite (the last good checkpoint is kept).
    """
    from ner_crf.config import check_paths

    if output_dir is not None:
        cfg = dataclasses.replace(cfg, output=dataclasses.replace(cfg.output, dir=Path(output_dir)))
    run_dir = Path(cfg.output.dir)
    check_paths(cfg)
    check_run_dir(cfg, run_dir, resume)

    from ner_crf.training.strategy import make_strategy, worker_info

    set_cpu_threads()
    strategy = make_strategy(cfg.training)  # before any other TensorFlow work
    worker = worker_info(strategy)
    scratch = None
    write_dir = run_dir
    if not worker.is_chief:
        scratch = Path(tempfile.mkdtemp(prefix=f"ner-crf-worker{worker.task_id}-"))
        write_dir = scratch
    try:
        trainer = _Trainer(cfg, strategy, write_dir, is_chief=worker.is_chief, progress=progress)
        # Every worker resumes from the chief's checkpoint (a shared file system is assumed).
        trainer.resume_keeper_dir = run_dir / "checkpoints"
        result = trainer.run(resume=resume)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    result.run_dir = run_dir
    return result


def set_cpu_threads(tf: Any = None) -> None:
    """One intra-op thread per 4 CPUs (at least 1) for training on CPU, unless chosen elsewhere.

    The model's ops are small (batch 32, 100 LSTM units): splitting one op across threads costs
    more than it gains, while TensorFlow's inter-op pool runs independent ops (the two LSTM
    directions, the character and word branches) side by side. Measured on 2 cores
    (scripts/profile_train_step.py): 18.2 ms per step with 1 intra-op thread against 22.7 ms
    with TensorFlow's default (one per CPU). Left alone when ``TF_NUM_INTRAOP_THREADS`` is set,
    a GPU is visible, or TensorFlow already runs in this process (the setting is then fixed).
    ``ner-crf train`` calls it while starting TensorFlow (``_tf_quiet.import_tensorflow``).

    Args:
        tf: The ``tensorflow`` module (imported here if not given).
    """
    import os

    if tf is None:
        import tensorflow as tf

    if os.environ.get("TF_NUM_INTRAOP_THREADS") or tf.config.list_physical_devices("GPU"):
        return
    if tf.config.threading.get_intra_op_parallelism_threads():
        return  # set by the caller
    try:
        tf.config.threading.set_intra_op_parallelism_threads(max(1, (os.cpu_count() or 1) // 4))
    except RuntimeError:
        logger.debug("TensorFlow is already initialised: intra-op threads left as they are")


class _Trainer:
    """One training run (internal: :func:`train` is the API)."""

    def __init__(
        self,
        cfg: ExperimentConfig,
        strategy: Any,
        run_dir: Path,
        *,
        is_chief: bool,
        progress: bool,
    ):
        self.cfg = cfg
        self.strategy = strategy
        self.run_dir = run_dir
        self.is_chief = is_chief
        self.progress = progress and is_chief
        self.replicas = strategy.num_replicas_in_sync

    # === Setup ===

    def _read_data(self) -> None:
        from ner_crf.data.conll import read_conll

        data = self.cfg.data
        kwargs = {
            "tag_column": data.tag_column,
            "scheme": data.scheme,
            "illegal": data.illegal,
            "max_length": data.max_length,
        }
        self.train_sentences = read_conll(data.train, **kwargs)
        self.dev_sentences = read_conll(data.dev, **kwargs) if data.dev else None
        self.test_sentences = read_conll(data.test, **kwargs) if data.test else None
        logger.info(
            "data: %d train, %s dev, %s test sentences (scheme %s)",
            len(self.train_sentences),
            "-" if self.dev_sentences is None else len(self.dev_sentences),
            "-" if self.test_sentences is None else len(self.test_sentences),
            data.scheme,
        )

    def _build(self) -> None:
        import keras
        import tensorflow as tf

        from ner_crf.data.pipeline import DatasetBuilder, SentenceEncoder
        from ner_crf.data.vocab import build_vocabularies
        from ner_crf.model.builder import build_model
        from ner_crf.training.optim import make_optimizer

        cfg = self.cfg
        self.vocabs = build_vocabularies(
            self.train_sentences,
            min_count=cfg.vocab.min_count,
            max_size=cfg.vocab.max_size,
            lowercase=cfg.vocab.lowercase,
            normalize_digits=cfg.vocab.normalize_digits,
        )
        matrix = frozen = None
        with_vector: Any = ()
        if cfg.embeddings.path is not None:
            from ner_crf.data.embeddings import load_pretrained_words

            # Extends the word vocabulary with the words only the vectors file has (frozen rows).
            words = load_pretrained_words(
                self.vocabs, cfg.embeddings, cfg.vocab, seed=cfg.training.seed
            )
            self.vocabs, matrix, frozen = words.vocabs, words.matrix, words.frozen
            with_vector = words.with_vector
        self._log_coverage(with_vector)
        self.tag_names = list(self.vocabs.tags.tokens)
        self.encoder = SentenceEncoder.from_config(self.vocabs, cfg.vocab)

        keras.utils.set_random_seed(cfg.training.seed)
        if cfg.training.deterministic:
            tf.config.experimental.enable_op_determinism()
        # Every sentence is encoded once; each epoch only reorders the batches.
        self.train_builder = DatasetBuilder(
            self.train_sentences,
            self.encoder,
            batch_size=cfg.training.batch_size,
            shuffle=True,
            seed=cfg.training.seed,
        )
        self.steps_per_epoch = max(1, self.train_builder.num_batches)
        previous_policy = keras.config.dtype_policy()
        if cfg.training.mixed_precision:
            keras.config.set_dtype_policy("mixed_float16")
        try:
            with self.strategy.scope():
                self.model = build_model(
                    cfg,
                    num_words=self.vocabs.num_trained_words,
                    num_chars=len(self.vocabs.chars),
                    num_tags=len(self.vocabs.tags),
                    tag_names=self.tag_names,
                    embedding_matrix=matrix,
                    singleton_ids=self.vocabs.singletons,
                    pretrained_matrix=frozen,
                )
                self.optimizer = make_optimizer(cfg.training, self.steps_per_epoch)
                self.optimizer.build(self.model.trainable_variables)
        finally:
            keras.config.set_dtype_policy(previous_policy)
        self.mixed = bool(cfg.training.mixed_precision)

        # Resume state, saved next to the model and optimizer in the tf.train.Checkpoint.
        self.state = tf.Module()
        self.state.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.state.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.state.best_f1 = tf.Variable(-1.0, dtype=tf.float64, trainable=False, name="best_f1")
        self.state.best_epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="best_epoch")
        self.state.bad_epochs = tf.Variable(0, dtype=tf.int64, trainable=False, name="bad_epochs")
        # RNG: the Keras SeedGenerator states (dropout, word dropout) are non-trainable
        # variables that tf.train.Checkpoint(model=...) does not reach on its own.
        self.state.rng = [variable.value for variable in self.model.non_trainable_variables]
        self.checkpoint = tf.train.Checkpoint(
            model=self.model, optimizer=self.optimizer, state=self.state
        )
        self.keeper = CheckpointKeeper(self.run_dir / "checkpoints", self.checkpoint, keep=2)

    def _log_coverage(self, with_vector: Any) -> None:
        from ner_crf.data.coverage import format_coverage, vocabulary_coverage

        splits = {"train": self.train_sentences, "dev": self.dev_sentences}
        splits["test"] = self.test_sentences
        rows = vocabulary_coverage(
            splits,
            self.vocabs,
            lowercase=self.cfg.vocab.lowercase,
            normalize_digits=self.cfg.vocab.normalize_digits,
            with_vector=with_vector,
        )
        for line in format_coverage(rows):
            logger.info("%s", line)

    # === Steps ===

    def _make_train_step(self, element_spec: Any) -> Any:
        """The train step plus its bookkeeping, in one graph: returns nothing to read.

        Each call adds 1 to ``state.step`` and to ``self.epoch_steps``, adds the step's
        ``(nll_sum, tokens, sentences)`` to ``self.epoch_totals`` and records the epoch step and
        value of the first non-finite loss in ``self.first_bad`` (step 0 = none). ``_run_epoch``
        resets them and reads them every ``READ_EVERY`` steps.
        """
        import tensorflow as tf

        from ner_crf.crf import xla_disabled

        step = make_train_step(
            self.strategy,
            self.model,
            self.optimizer,
            element_spec,
            clip_norm=float(self.cfg.training.clip_norm),
            mixed_precision=self.mixed,
            jit_compile=bool(self.cfg.training.jit_compile),
        )
        global_step = self.state.step
        totals = self.epoch_totals = tf.Variable(tf.zeros([3], tf.float64), trainable=False)
        epoch_steps = self.epoch_steps = tf.Variable(0, dtype=tf.int64, trainable=False)
        bad_step = tf.Variable(0, dtype=tf.int64, trainable=False)  # [] epoch step
        bad_value = tf.Variable(0.0, dtype=tf.float32, trainable=False)  # [] its nll_sum
        self.first_bad = (bad_step, bad_value)

        @tf.function(input_signature=[element_spec])
        def counted_step(batch):
            nll_sum, tokens, sentences = step(batch)  # [] each, summed over replicas
            global_step.assign_add(1)
            count = epoch_steps.assign_add(1)
            first = tf.logical_and(
                tf.equal(bad_step, 0), tf.logical_not(tf.math.is_finite(nll_sum))
            )
            bad_step.assign(tf.where(first, count, bad_step))
            bad_value.assign(tf.where(first, nll_sum, bad_value))
            totals.assign_add(tf.cast(tf.stack([nll_sum, tokens, sentences]), tf.float64))

        # Traced now, with the CRF in plain graphs: its XLA cores compile once per bucket of
        # batch shapes, which on CoNLL-2003 (a quarter of train, 2 epochs) took epoch 1 from
        # 7.7 s to 68.5 s and peak RSS from 0.98 to 1.20 GiB, for the same epoch 2 (3.6 / 3.7 s).
        with xla_disabled():
            counted_step.get_concrete_function()
        return counted_step

    def _make_predictor(self) -> Predictor:
        """The model as ``evaluate`` and ``predict`` run it (Viterbi tags follow the training
        weights; only dev/test tags are asked of it, no entity probabilities)."""
        from ner_crf.model.run_dir import LoadedRun
        from ner_crf.predict.predictor import Predictor

        run = LoadedRun(
            config=self.cfg,
            vocabs=self.vocabs,
            encoder=self.encoder,
            model=self.model,
            scheme=self.cfg.data.scheme,
            tag_names=self.tag_names,
            metrics=None,
            path=self.run_dir,
        )
        return Predictor(run, xla=False)  # no per-bucket compiles (see _make_train_step)

    def _train_dataset(self, epoch: int) -> Any:
        import tensorflow as tf

        dataset = self.train_builder.dataset(epoch)  # order = f(seed, epoch)
        if self.replicas > 1:
            # A batch smaller than the number of replicas would leave a replica without data.
            replicas = self.replicas
            dataset = dataset.filter(lambda features, tags: tf.shape(tags)[0] >= replicas)
        return self.strategy.experimental_distribute_dataset(dataset)

    # === Evaluation ===

    def _evaluate(self, sentences: list[Any]) -> EvalResult:
        """Scores the model on ``sentences`` (read with the config's options), as ``evaluate``
        does."""
        from ner_crf.predict.evaluate import evaluate_sentences

        mode = resolve_mode(self.cfg.evaluation.mode, self.cfg.data.scheme)
        _, results = evaluate_sentences(self.predictor, sentences, modes=[mode])
        return results[mode]

    # === Loop ===

    def run(self, *, resume: bool) -> TrainResult:
        from ner_crf.training.optim import current_learning_rate
        from ner_crf.training.tensorboard import SummaryLogger

        cfg = self.cfg
        self._read_data()
        self._build()
        self.best_weights: list[Any] | None = None
        self.best_dev: EvalResult | None = None
        history = self._resume() if resume else self._start()
        self.predictor = self._make_predictor()
        summaries = SummaryLogger(
            self.run_dir / "tensorboard", enabled=self.is_chief and cfg.output.tensorboard
        )
        stopped_early = self._patience_exhausted()  # the interrupted run had already stopped
        start_epoch = cfg.training.epochs + 1 if stopped_early else self._epoch() + 1
        train_step = None
        for epoch in range(start_epoch, cfg.training.epochs + 1):
            dataset = self._train_dataset(epoch)
            if train_step is None:
                train_step = self._make_train_step(dataset.element_spec)
            record = self._run_epoch(epoch, dataset, train_step, summaries)
            record["learning_rate"] = current_learning_rate(self.optimizer)
            dev = self._score_dev(epoch, record, summaries)
            improved = dev is None or dev.f1 > float(self.state.best_f1.numpy())
            if improved:
                self.best_dev = dev
            history.append(record)
            self._end_epoch(epoch, record, improved, history, summaries)
            if self._patience_exhausted():
                logger.info(
                    "early stopping after epoch %d: no dev F1 improvement for %d epochs "
                    "(best %.4f at epoch %d)",
                    epoch,
                    cfg.training.patience,
                    float(self.state.best_f1.numpy()),
                    int(self.state.best_epoch.numpy()),
                )
                stopped_early = True
                break

        best_epoch = int(self.state.best_epoch.numpy()) or None
        test = self._score_test(best_epoch)
        dev = self._best_dev(best_epoch)
        self._write_metrics(history, status="completed", test=test, stopped_early=stopped_early)
        summaries.close()
        return TrainResult(
            run_dir=self.run_dir,
            best_epoch=best_epoch,
            best_dev_f1=float(self.state.best_f1.numpy()) if self._has_dev() else None,
            history=history,
            test=test,
            dev=dev,
            epochs_completed=self._epoch(),
            stopped_early=stopped_early,
        )

    # === Loop pieces ===

    def _epoch(self) -> int:
        """The last completed epoch (0 before the first)."""
        return int(self.state.epoch.numpy())

    def _has_dev(self) -> bool:
        return self.dev_sentences is not None

    def _patience_exhausted(self) -> bool:
        patience = self.cfg.training.patience
        return self._has_dev() and patience > 0 and int(self.state.bad_epochs.numpy()) >= patience

    def _start(self) -> list[dict[str, Any]]:
        """A new run: creates the run directory (config, vocabularies); no history yet."""
        from ner_crf.model.run_dir import prepare_run_dir

        self.run_dir.mkdir(parents=True, exist_ok=True)
        prepare_run_dir(self.run_dir, self.cfg, self.vocabs)
        return []

    def _resume(self) -> list[dict[str, Any]]:
        """Restores the latest checkpoint (weights, optimizer, counters, RNG); its history."""
        source = CheckpointKeeper(
            getattr(self, "resume_keeper_dir", self.keeper.directory), self.checkpoint
        )
        meta = source.latest()
        if meta is None:  # checked in train(); the pointer vanished since
            raise ResumeError(f"cannot resume: no checkpoint in {source.directory}")
        self._check_resumed_vocabulary()
        source.restore(meta)
        logger.info(
            "resumed %s after epoch %d (step %d, best dev F1 %s)",
            self.run_dir,
            self._epoch(),
            int(self.state.step.numpy()),
            _fmt(float(self.state.best_f1.numpy())),
        )
        return list(meta.get("history", []))

    def _check_resumed_vocabulary(self) -> None:
        """The words rebuilt from the data and vectors file must be the run's (``vocab/``): the
        frozen pretrained rows are not in the checkpoint, they come from the file again."""
        from ner_crf.data.vocab import Vocabularies
        from ner_crf.model.run_dir import VOCAB_DIR

        # The chief's run directory (workers resume from its checkpoints).
        vocab_dir = Path(getattr(self, "resume_keeper_dir", self.keeper.directory)).parent
        vocab_dir = vocab_dir / VOCAB_DIR
        saved = Vocabularies.load(vocab_dir)
        if saved.words != self.vocabs.words or saved.trained_words != self.vocabs.trained_words:
            raise ResumeError(
                f"cannot resume: the word vocabulary built from the training data and embeddings "
                f"file ({len(self.vocabs.words)} words) differs from {vocab_dir} "
                f"({len(saved.words)} words); did the training data or the vectors file change?"
            )

    def _score_dev(self, epoch: int, record: dict[str, Any], summaries: Any) -> EvalResult | None:
        """Scores dev into ``record`` and the summaries; the scores (None without dev)."""
        if not self._has_dev():
            return None
        result = self._evaluate(self.dev_sentences)
        micro = result.micro
        record.update(dev_precision=micro.precision, dev_recall=micro.recall, dev_f1=micro.f1)
        summaries.scalars(
            epoch,
            {"dev/precision": micro.precision, "dev/recall": micro.recall, "dev/f1": micro.f1},
        )
        return result

    def _end_epoch(
        self,
        epoch: int,
        record: dict[str, Any],
        improved: bool,
        history: list[dict[str, Any]],
        summaries: Any,
    ) -> None:
        """Best-epoch bookkeeping, summaries, then the files (the checkpoint pointer last)."""
        from ner_crf.model.run_dir import LAST_MODEL_FILE, MODEL_FILE, save_model_atomic
        from ner_crf.training.tensorboard import to_numpy

        if improved:
            if self.test_sentences is not None:
                self.best_weights = self.model.get_weights()  # for the final test score
            self.state.best_f1.assign(record.get("dev_f1", 0.0))
            self.state.best_epoch.assign(epoch)
            self.state.bad_epochs.assign(0)
        else:
            self.state.bad_epochs.assign_add(1)
        self.state.epoch.assign(epoch)
        summaries.scalars(
            epoch,
            {
                "epoch/loss": record["loss"],
                "train/learning_rate": record["learning_rate"],
                "train/tokens_per_second": record["tokens_per_second"],
            },
        )
        summaries.transitions(epoch, to_numpy(self.model.crf.transitions), self.tag_names)
        summaries.flush()

        # Files: models first, then metrics, then the checkpoint pointer (the commit point).
        if self.is_chief:
            save_model_atomic(self.model, self.run_dir / LAST_MODEL_FILE)
            if improved:
                save_model_atomic(self.model, self.run_dir / MODEL_FILE)
        self._write_metrics(history, status="running")
        self._save_checkpoint(epoch, history)
        has_dev = self._has_dev()
        logger.info(
            "epoch %d/%d: loss %.4f%s, lr %.3g, %.1fs, %.0f tokens/s%s",
            epoch,
            self.cfg.training.epochs,
            record["loss"],
            f", dev P/R/F1 {record['dev_precision']:.4f}/{record['dev_recall']:.4f}/"
            f"{record['dev_f1']:.4f}"
            if has_dev
            else "",
            record["learning_rate"],
            record["seconds"],
            record["tokens_per_second"],
            " (best)" if improved and has_dev else "",
        )

    def _restore_best(self, best_epoch: int | None) -> None:
        """Puts the best epoch's weights back into the model (no-op when they are current)."""
        import keras

        from ner_crf.model.run_dir import MODEL_FILE

        if best_epoch == self._epoch():
            return
        model_path = self.run_dir / MODEL_FILE
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)
        elif model_path.exists():  # best epoch before a resume: read it back
            best = keras.saving.load_model(model_path, compile=False)
            self.model.set_weights(best.get_weights())

    def _score_test(self, best_epoch: int | None) -> dict[str, Any] | None:
        """Test scores of the best weights (``EvalResult.to_dict()``), None without test."""
        if self.test_sentences is None:
            return None
        self._restore_best(best_epoch)
        result = self._evaluate(self.test_sentences)
        logger.info("test (epoch %s weights): F1 %.4f", best_epoch, result.f1)
        return result.to_dict()

    def _best_dev(self, best_epoch: int | None) -> EvalResult | None:
        """The best epoch's dev scores (scored again only when that epoch ran before a resume)."""
        if not self._has_dev() or self.best_dev is not None:
            return self.best_dev
        self._restore_best(best_epoch)
        return self._evaluate(self.dev_sentences)

    def _run_epoch(self, epoch: int, dataset: Any, train_step: Any, summaries: Any) -> dict:
        self.epoch_totals.assign(self.epoch_totals * 0.0)
        self.epoch_steps.assign(0)
        self.first_bad[0].assign(0)
        first_step = int(self.state.step.numpy())
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(
                total=self.steps_per_epoch,
                desc=f"epoch {epoch}/{self.cfg.training.epochs}",
                unit="batch",
                file=sys.stderr,
                leave=False,
                dynamic_ncols=True,
            )
        last = {"steps": 0, "nll": 0.0, "sentences": 0.0}  # at the previous read

        def read(steps: int) -> tuple[float, float, float]:
            """Reads the totals (one sync with the device), checks them, shows progress."""
            bad_step, bad_value = (int(self.first_bad[0].numpy()), float(self.first_bad[1].numpy()))
            if bad_step:
                self._diverged(epoch, bad_step, bad_value)
            nll, tokens, sentences = (float(x) for x in self.epoch_totals.numpy())
            if steps > last["steps"] and (first_step + steps) % READ_EVERY == 0:
                recent = (nll - last["nll"]) / max(sentences - last["sentences"], 1.0)
                summaries.scalars(first_step + steps, {"train/loss": recent})
            if bar is not None:
                bar.update(steps - last["steps"])
                bar.set_postfix(
                    loss=f"{nll / max(sentences, 1.0):.3f}",
                    tok_s=f"{tokens / max(time.perf_counter() - start, 1e-9):.0f}",
                    refresh=False,
                )
            last.update(steps=steps, nll=nll, sentences=sentences)
            return nll, tokens, sentences

        steps = 0
        start = time.perf_counter()
        try:
            for batch in dataset:
                train_step(batch)
                steps += 1
                if (first_step + steps) % READ_EVERY == 0:
                    read(steps)
            total_nll, total_tokens, total_sentences = read(steps)
        finally:
            if bar is not None:
                bar.refresh()  # show the final loss and speed even on very short epochs
                bar.close()
        seconds = time.perf_counter() - start
        return {
            "epoch": epoch,
            "loss": total_nll / max(total_sentences, 1.0),
            "steps": steps,
            "seconds": seconds,
            "tokens_per_second": total_tokens / max(seconds, 1e-9),
        }

    def _diverged(self, epoch: int, step: int, value: float) -> None:
        meta = self.keeper.latest()
        if meta is not None:
            kept = (
                f"the last good checkpoint (epoch {meta.get('epoch')}) is kept in "
                f"{self.keeper.directory / meta['checkpoint']}"
            )
        else:
            kept = "no checkpoint was written yet (epoch 1 never completed)"
        what = "NaN" if math.isnan(value) else "infinite"
        raise TrainingDivergedError(
            f"loss became {what} at epoch {epoch} step {step}; {kept}; try a lower "
            f"training.learning_rate (now {self.cfg.training.learning_rate:g}) or a smaller "
            "training.clip_norm"
        )

    def _save_checkpoint(self, epoch: int, history: list[dict[str, Any]]) -> None:
        meta = {
            "epoch": epoch,
            "step": int(self.state.step.numpy()),
            "optimizer_iterations": int(_iterations(self.optimizer)),
            "best_epoch": int(self.state.best_epoch.numpy()),
            "best_dev_f1": float(self.state.best_f1.numpy()),
            "bad_epochs": int(self.state.bad_epochs.numpy()),
            "history": history,
        }
        # Every worker writes (saving can involve collectives); non-chiefs write to scratch.
        self.keeper.save(f"ckpt-{epoch}", meta)

    def _write_metrics(
        self,
        history: list[dict[str, Any]],
        *,
        status: str,
        test: dict[str, Any] | None = None,
        stopped_early: bool = False,
    ) -> None:
        from ner_crf.model.run_dir import METRICS_FILE, write_json_atomic

        if not self.is_chief:
            return
        best_epoch = int(self.state.best_epoch.numpy())
        best = next((row for row in history if row["epoch"] == best_epoch), None)
        metrics = {
            "status": status,
            "epochs_completed": int(self.state.epoch.numpy()),
            "best_epoch": best_epoch or None,
            "best_dev_f1": best.get("dev_f1") if best else None,
            "best": best,
            "stopped_early": stopped_early,
            "history": history,
            "test": test,
            "replicas": self.replicas,
            "evaluation_mode": resolve_mode(self.cfg.evaluation.mode, self.cfg.data.scheme),
            "scheme": self.cfg.data.scheme,
        }
        write_json_atomic(self.run_dir / METRICS_FILE, metrics)


def _iterations(optimizer: Any) -> int:
    from ner_crf.training.tensorboard import to_numpy

    return int(to_numpy(optimizer.iterations))


def _fmt(value: float) -> str:
    return "-" if value < 0 else f"{value:.4f}"
