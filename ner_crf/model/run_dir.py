"""The run directory: atomic writes while training, and loading a finished run.

Layout of ``RUN/``::

    config.yaml          resolved config (after overrides), `ner_crf.config.dump_config`
    vocab/               words.txt, chars.txt, tags.txt (+ counts), `Vocabularies.save`;
                         extension.json when words.txt ends with words that only the
                         pretrained vectors file has (their frozen rows are in model.keras)
    model.keras          best weights: the model evaluate / predict load
    last.keras           weights at the end of the last epoch
    metrics.json         final / best metrics
    checkpoints/         the trainer's resume state
    tensorboard/         TensorBoard logs

Every file here is written through a temporary file in the same directory that is fsynced and
then renamed over the final name (``os.replace`` is atomic on POSIX and Windows), so killing the
process at any moment leaves either the old file or the new one under the final name, never a
half-written one. A kill can leave a hidden ``.NAME.*.tmp*`` file behind; it is harmless.
"""

from __future__ import annotations

import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ner_crf.atomic import (  # noqa: F401 (re-exported)
    atomic_write,
    atomic_write_bytes,
    atomic_write_text,
    write_json_atomic,
)
from ner_crf.errors import ModelError, NerCrfError

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
VOCAB_DIR = "vocab"
VOCAB_FILES = ("words.txt", "chars.txt", "tags.txt")
MODEL_FILE = "model.keras"
LAST_MODEL_FILE = "last.keras"
METRICS_FILE = "metrics.json"
CHECKPOINT_DIR = "checkpoints"
TENSORBOARD_DIR = "tensorboard"

_REASON_LIMIT = 160


# Atomic writes live in `ner_crf.atomic` (shared with config, vocab and checkpoints); re-exported
# here because the run directory is where most of them happen.


def save_model_atomic(model, path: str | Path) -> Path:
    """Saves a Keras model to a ``.keras`` file atomically (see `atomic_write`).

    Args:
        model: The Keras model.
        path: Destination, ending in ``.keras``.

    Raises:
        ValueError: ``path`` does not end in ``.keras``.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"a Keras model file must end in .keras, got {path}")
    return atomic_write(path, lambda tmp: model.save(tmp))


# --------------------------------------------------------------------------------------------
# Writing a run directory
# --------------------------------------------------------------------------------------------


def prepare_run_dir(run_dir: str | Path, config, vocabs) -> Path:
    """Creates ``run_dir`` and writes its ``config.yaml`` and ``vocab/`` (atomically).

    Args:
        run_dir: The run directory (created with its parents when missing).
        config: The resolved `ExperimentConfig`.
        vocabs: The `Vocabularies` built from the training data.

    Returns:
        ``run_dir`` as a `Path`.
    """
    from ner_crf.config import dump_config

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    dump_config(config, run_dir / CONFIG_FILE)
    vocabs.save(run_dir / VOCAB_DIR)
    return run_dir


# --------------------------------------------------------------------------------------------
# Loading a run directory
# --------------------------------------------------------------------------------------------


@dataclass
class LoadedRun:
    """Everything needed to evaluate or predict with a trained run.

    Attributes:
        config: The resolved `ExperimentConfig` the run was trained with.
        vocabs: The `Vocabularies` (words, chars, tags).
        encoder: A `SentenceEncoder` built from ``config`` and ``vocabs``.
        model: The `NerModel` from ``model.keras`` (not compiled).
        scheme: The tag scheme the model was trained in (``config.data.scheme``).
        tag_names: Tag strings, index = tag id.
        metrics: The content of ``metrics.json``, or None when it is absent or unreadable.
        path: The run directory.
    """

    config: Any
    vocabs: Any
    encoder: Any
    model: Any
    scheme: str
    tag_names: list[str]
    metrics: dict | None
    path: Path


def _short_reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    reason = f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
    if len(reason) > _REASON_LIMIT:
        reason = reason[: _REASON_LIMIT - 3] + "..."
    return reason


def load_keras_model(path: str | Path):
    """Loads a ``.keras`` model file (not compiled) with a `ModelError` on any failure.

    Raises:
        ModelError: The file is missing, truncated, corrupted or not a ner-crf model.
    """
    import keras

    import ner_crf.crf.layer  # noqa: F401  (registers CRF)
    import ner_crf.model.builder  # noqa: F401  (registers NerModel and its layers)

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path} is missing; training may not have finished")
    hint = "re-run training or restore the file"
    if not zipfile.is_zipfile(path):  # Keras would call this "File not found"
        raise ModelError(
            f"{path} is corrupted or truncated: not a .keras (zip) archive "
            f"({path.stat().st_size} bytes); {hint}"
        )
    try:
        return keras.saving.load_model(path, compile=False)
    except NerCrfError:
        raise
    except Exception as error:  # zipfile, h5py, json and Keras all raise their own types
        raise ModelError(
            f"{path} is corrupted or truncated: {_short_reason(error)}; {hint}"
        ) from error


def _read_metrics(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        logger.warning("ignoring unreadable %s: %s", path, _short_reason(error))
        return None
    if not isinstance(metrics, dict):
        logger.warning("ignoring %s: expected a JSON object", path)
        return None
    return metrics


def load_run(run_dir: str | Path) -> LoadedRun:
    """Loads the config, vocabularies and best model (``model.keras``) of a run directory.

    Args:
        run_dir: A directory written by training.

    Returns:
        The `LoadedRun`.

    Raises:
        ModelError: A missing directory or file (``config.yaml``, a vocabulary file,
            ``model.keras``), a corrupted model file, or vocabularies that do not match the model.
        ConfigError: The saved ``config.yaml`` is invalid.
    """
    from ner_crf.config import load_config
    from ner_crf.data.pipeline import SentenceEncoder
    from ner_crf.data.vocab import Vocabularies

    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise ModelError(f"run directory {run_dir} does not exist")
    if not run_dir.is_dir():
        raise ModelError(f"{run_dir} is not a run directory (it is a file)")
    config_path = run_dir / CONFIG_FILE
    if not config_path.is_file():
        raise ModelError(
            f"{config_path} is missing: {run_dir} is not a run directory "
            "or training did not get past its start"
        )
    config = load_config(config_path)

    vocab_dir = run_dir / VOCAB_DIR
    for name in VOCAB_FILES:
        if not (vocab_dir / name).is_file():
            raise ModelError(
                f"{vocab_dir / name} is missing; training may not have finished "
                "(the vocabularies are written when training starts)"
            )
    vocabs = Vocabularies.load(vocab_dir)

    model_path = run_dir / MODEL_FILE
    if not model_path.is_file():
        raise ModelError(
            f"{model_path} is missing; training may not have finished "
            "(or has not saved a model yet)"
        )
    model = load_keras_model(model_path)
    tag_names = list(vocabs.tags.tokens)
    _check_model_matches(model, vocabs, tag_names, model_path, vocab_dir)

    encoder = SentenceEncoder.from_config(vocabs, config.vocab)
    metrics = _read_metrics(run_dir / METRICS_FILE)
    logger.info("loaded run %s (%d tags, scheme %s)", run_dir, len(tag_names), config.data.scheme)
    return LoadedRun(
        config=config,
        vocabs=vocabs,
        encoder=encoder,
        model=model,
        scheme=config.data.scheme,
        tag_names=tag_names,
        metrics=metrics,
        path=run_dir,
    )


def _check_model_matches(model, vocabs, tag_names, model_path: Path, vocab_dir: Path) -> None:
    """Raises `ModelError` when the vocabularies do not fit the model's embedding/output sizes."""
    num_words = getattr(model, "num_words", None)
    if num_words is not None:  # training words + words only the vectors file has
        num_words = int(num_words) + int(getattr(model, "num_pretrained_words", 0))
        if int(getattr(model, "num_pretrained_words", 0)) and int(model.num_words) != int(
            vocabs.num_trained_words
        ):
            raise ModelError(
                f"{model_path} has {model.num_words} trainable word rows but {vocab_dir} lists "
                f"{vocabs.num_trained_words} training words; the files come from different runs"
            )
    expected = {
        "word": (num_words, len(vocabs.words)),
        "character": (getattr(model, "num_chars", None), len(vocabs.chars)),
        "tag": (getattr(model, "num_tags", None), len(vocabs.tags)),
    }
    for what, (in_model, in_vocab) in expected.items():
        if in_model is None:
            raise ModelError(f"{model_path} is not a ner-crf model ({type(model).__name__})")
        if int(in_model) != int(in_vocab):
            raise ModelError(
                f"{what} vocabulary size mismatch: {vocab_dir} has {in_vocab} entries but "
                f"{model_path} was built for {in_model}; the files come from different runs"
            )
    model_tags = list(getattr(model, "tag_names", tag_names))
    if model_tags != tag_names:
        raise ModelError(
            f"tag mismatch: {vocab_dir / 'tags.txt'} lists {tag_names} but {model_path} was "
            f"trained with {model_tags}; the files come from different runs"
        )
