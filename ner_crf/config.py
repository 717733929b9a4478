"""Experiment configuration: YAML files -> frozen dataclasses, with ``--set`` overrides.

The schema is documented in ``docs/CONFIG_SCHEMA.md``; attribute access mirrors the YAML
(``cfg.model.lstm.units``, ``cfg.training.batch_size``). Raw dictionaries exist only inside this
module, between :func:`yaml.load` and :func:`config_from_dict`.

Every section is a frozen dataclass whose ``__post_init__`` checks types, ranges and choices, so a
config built in code (``ExperimentConfig(model=ModelConfig(word_dim=8))``) is validated exactly
like one read from a file. Problems raise :class:`~ner_crf.errors.ConfigError` naming the file
and the dotted key. File existence is checked separately by :func:`check_paths`, so a config can
be loaded for inspection on a machine without the data.

Values are converted as follows: paths become :class:`pathlib.Path` (relative paths are kept
relative, i.e. resolved against the working directory when used), an integer is accepted where a
float is expected (a boolean is never a number), and YAML lists become tuples (``devices``).
The YAML loader also reads floats written without a dot, such as ``1e-3``, as numbers (plain
PyYAML follows YAML 1.1 and reads them as strings).

This module must not import TensorFlow.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.resources
import logging
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from ner_crf.atomic import atomic_write_text
from ner_crf.errors import ConfigError, require_file

logger = logging.getLogger(__name__)

__all__ = [
    "CRFConfig",
    "CharConfig",
    "DataConfig",
    "EmbeddingConfig",
    "EvalConfig",
    "ExperimentConfig",
    "LSTMConfig",
    "ModelConfig",
    "OutputConfig",
    "TrainConfig",
    "VocabConfig",
    "check_paths",
    "config_from_dict",
    "config_to_dict",
    "dump_config",
    "load_config",
    "load_preset",
    "parse_override",
    "preset_names",
    "preset_text",
    "schema_keys",
]

SCHEMES = ("BIO", "IOB1", "IOBES")


# --------------------------------------------------------------------------------------------
# YAML loading (with YAML 1.2-style floats such as 1e-3)
# --------------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """``SafeLoader`` that also resolves exponent floats without a dot (``1e-3``, ``5E+2``)."""


# Only the forms YAML 1.1 misses: a mantissa without a dot, or with a dot, and an exponent.
_EXPONENT_FLOAT = re.compile(
    r"""^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$""", re.VERBOSE
)
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+.0123456789"))


def _yaml_load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader subclass


# --------------------------------------------------------------------------------------------
# Field helpers and validation
# --------------------------------------------------------------------------------------------


def _opt(
    default: Any = dataclasses.MISSING,
    *,
    factory: Any = dataclasses.MISSING,
    choices: tuple[str, ...] | None = None,
    ge: float | None = None,
    gt: float | None = None,
    lt: float | None = None,
) -> Any:
    """A dataclass field with validation metadata (choices and numeric bounds)."""
    metadata = {"choices": choices, "ge": ge, "gt": gt, "lt": lt}
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def _show(value: Any) -> str:
    """Render a value the way it would be written in YAML, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    return str(value)


_TYPE_NAMES = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    Path: "a path",
}


def _expected_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        names = [_expected_name(arg) for arg in typing.get_args(hint) if arg is not type(None)]
        return " or ".join(names) + " or null"
    if origin is tuple:
        return "a list of strings"
    if dataclasses.is_dataclass(hint):
        return "a mapping"
    return _TYPE_NAMES.get(hint, str(hint))


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Check ``value`` against the type ``hint`` and return it converted (str -> Path, ...).

    Raises:
        ConfigError: ``value`` does not have the expected type.
    """
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        (inner,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        try:
            return _coerce(value, inner, key)
        except ConfigError:
            pass
    elif origin is tuple:
        if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
            return tuple(value)
    elif dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
    elif hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif hint is Path:
        if isinstance(value, str | os.PathLike) and str(value):
            return Path(value)
    else:  # pragma: no cover - a schema bug, not a user error
        raise TypeError(f"unsupported config type {hint!r} for {key}")
    raise ConfigError(f"expected {_expected_name(hint)}, got {_show(value)}", key=key)


def _check_bounds(value: Any, meta: Mapping[str, Any], key: str) -> None:
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        options = ", ".join(repr(choice) for choice in choices)
        raise ConfigError(f"expected one of {options}, got {_show(value)}", key=key)
    ge, gt, lt = meta.get("ge"), meta.get("gt"), meta.get("lt")
    if ge is not None and lt is not None:
        if not ge <= value < lt:
            raise ConfigError(f"expected a value in [{ge:g}, {lt:g}), got {_show(value)}", key=key)
    elif ge is not None and value < ge:
        raise ConfigError(f"expected a value >= {ge:g}, got {_show(value)}", key=key)
    elif gt is not None and value <= gt:
        raise ConfigError(f"expected a value > {gt:g}, got {_show(value)}", key=key)


def _validate_fields(obj: Any) -> None:
    """Type-check, convert and range-check every field of a config dataclass (in place)."""
    section = type(obj).SECTION
    hints = typing.get_type_hints(type(obj))
    for spec in dataclasses.fields(obj):
        key = f"{section}.{spec.name}"
        value = _coerce(getattr(obj, spec.name), hints[spec.name], key)
        if value is not None and not dataclasses.is_dataclass(value):
            _check_bounds(value, spec.metadata, key)
        object.__setattr__(obj, spec.name, value)


class _Section:
    """Mixin: validate on construction. ``SECTION`` is the dotted name of the section."""

    SECTION: ClassVar[str] = ""

    def __post_init__(self) -> None:
        _validate_fields(self)
        self._check()

    def _check(self) -> None:
        """Cross-field checks of the section (override in subclasses)."""


# --------------------------------------------------------------------------------------------
# The schema
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataConfig(_Section):
    """``data``: the CoNLL files and how their tags are read.

    Attributes:
        train: Training file (required to exist for training, see :func:`check_paths`).
        dev: Development file for early stopping and model selection, or None.
        test: Test file evaluated once at the end of training, or None.
        tag_column: Column holding the tag (-1 = last); column 0 holds the token.
        scheme: Tag scheme the tags are converted to for training: BIO, IOB1 or IOBES.
        illegal: What to do with illegal tag sequences in the input: repair, warn or error.
        max_length: Split longer sentences (with a warning); None keeps them whole.
    """

    SECTION: ClassVar[str] = "data"

    train: Path = _opt(Path("data/train.txt"))
    dev: Path | None = _opt(Path("data/dev.txt"))
    test: Path | None = _opt(Path("data/test.txt"))
    tag_column: int = _opt(-1)
    scheme: str = _opt("IOBES", choices=SCHEMES)
    illegal: str = _opt("repair", choices=("repair", "warn", "error"))
    max_length: int | None = _opt(None, gt=0)

    def _check(self) -> None:
        if self.tag_column == 0:
            raise ConfigError(
                "column 0 holds the token, not the tag; use -1 for the last column",
                key="data.tag_column",
            )


@dataclass(frozen=True)
class VocabConfig(_Section):
    """``vocab``: how the word and character vocabularies are built (from training data only).

    Attributes:
        min_count: Training words seen fewer times map to UNK.
        max_size: Keep at most this many words (most frequent first), or None for all.
        lowercase: Lowercase words before lookup.
        normalize_digits: Replace every digit by 0 before lookup.
        max_word_length: Characters per word kept for the character encoder.
    """

    SECTION: ClassVar[str] = "vocab"

    min_count: int = _opt(1, ge=1)
    max_size: int | None = _opt(None, gt=0)
    lowercase: bool = _opt(False)
    normalize_digits: bool = _opt(True)
    max_word_length: int = _opt(30, gt=0)


@dataclass(frozen=True)
class EmbeddingConfig(_Section):
    """``embeddings``: pre-trained word vectors.

    Attributes:
        path: GloVe / word2vec / fastText file, or None for random initialisation.
        format: File format: auto, glove, word2vec, word2vec_binary or fasttext.
        trainable: Fine-tune the embeddings of the training words during training.
        extend_vocab: Words that only the vectors file has join the word vocabulary, with their
            pretrained vectors as frozen rows (never trained, no optimizer state).
        max_vectors: Read only the first this many vectors of the file (files are sorted by
            frequency), or None for all.
    """

    SECTION: ClassVar[str] = "embeddings"

    path: Path | None = _opt(None)
    format: str = _opt("auto", choices=("auto", "glove", "word2vec", "word2vec_binary", "fasttext"))
    trainable: bool = _opt(True)
    extend_vocab: bool = _opt(True)
    max_vectors: int | None = _opt(None, gt=0)


@dataclass(frozen=True)
class CharConfig(_Section):
    """``model.char``: the character-level word encoder.

    Attributes:
        encoder: lstm (a BiLSTM over characters), cnn (convolution + max pooling) or none.
        dim: Character embedding size.
        units: Character BiLSTM units per direction (encoder lstm).
        filters: Number of convolution filters (encoder cnn).
        kernel_size: Convolution width in characters (encoder cnn).
    """

    SECTION: ClassVar[str] = "model.char"

    encoder: str = _opt("lstm", choices=("lstm", "cnn", "none"))
    dim: int = _opt(25, gt=0)
    units: int = _opt(25, gt=0)
    filters: int = _opt(30, gt=0)
    kernel_size: int = _opt(3, gt=0)


@dataclass(frozen=True)
class LSTMConfig(_Section):
    """``model.lstm``: the word-level BiLSTM stack.

    Attributes:
        layers: Number of stacked BiLSTM layers.
        units: Units per direction in each layer.
        implementation: How the word and character BiLSTMs run: fused (TensorFlow's fused
            BlockLSTMV2 CPU kernel), keras (Keras LSTM layers, cuDNN on GPU) or auto (keras when
            a GPU is visible or under training.jit_compile, else fused). Weights are the same.
    """

    SECTION: ClassVar[str] = "model.lstm"

    layers: int = _opt(1, ge=1)
    units: int = _opt(100, gt=0)
    implementation: str = _opt("auto", choices=("auto", "keras", "fused"))


@dataclass(frozen=True)
class ModelConfig(_Section):
    """``model``: the BiLSTM-CRF network.

    Attributes:
        word_dim: Word embedding size (must equal the embeddings' dimension when a file is given).
        casing_dim: Casing-feature embedding size; 0 disables casing features.
        char: The character encoder.
        lstm: The word BiLSTM.
        dropout: Dropout on the embeddings and on each BiLSTM output, in [0, 1).
        word_dropout: Probability of replacing a singleton training word by UNK, in [0, 1).
    """

    SECTION: ClassVar[str] = "model"

    word_dim: int = _opt(100, gt=0)
    casing_dim: int = _opt(0, ge=0)
    char: CharConfig = _opt(factory=CharConfig)
    lstm: LSTMConfig = _opt(factory=LSTMConfig)
    dropout: float = _opt(0.5, ge=0.0, lt=1.0)
    word_dropout: float = _opt(0.0, ge=0.0, lt=1.0)


@dataclass(frozen=True)
class CRFConfig(_Section):
    """``crf``: the CRF output layer.

    Attributes:
        constrain: Forbid transitions that are illegal under ``data.scheme`` (training and
            decoding).
        boundary: Learn start and end transition scores.
    """

    SECTION: ClassVar[str] = "crf"

    constrain: bool = _opt(True)
    boundary: bool = _opt(True)


@dataclass(frozen=True)
class TrainConfig(_Section):
    """``training``: optimisation, early stopping and distribution.

    Attributes:
        epochs: Maximum number of epochs.
        batch_size: GLOBAL batch size, split across replicas.
        optimizer: adam, adamw or sgd.
        learning_rate: Initial learning rate.
        lr_schedule: constant, exponential, cosine or linear_warmup.
        decay_rate: Decay rate of the exponential schedule.
        warmup_steps: Warm-up steps (required > 0 by linear_warmup).
        weight_decay: Decoupled weight decay (adamw only).
        momentum: SGD momentum.
        clip_norm: Global gradient-norm clipping threshold; 0 disables clipping.
        patience: Epochs without dev entity-F1 improvement before stopping; 0 disables it.
        seed: Random seed.
        deterministic: Enable TensorFlow op determinism (slower) and seed everything.
        strategy: auto, cpu, mirrored or multi_worker.
        devices: Devices for the mirrored strategy (empty = all GPUs / logical CPUs).
        logical_cpu_devices: Split the CPU into this many logical devices (0 = off).
        mixed_precision: Use the mixed_float16 policy (the CRF stays float32).
        jit_compile: XLA-compile the train step.
    """

    SECTION: ClassVar[str] = "training"

    epochs: int = _opt(30, ge=1)
    batch_size: int = _opt(32, ge=1)
    optimizer: str = _opt("adam", choices=("adam", "adamw", "sgd"))
    learning_rate: float = _opt(0.001, gt=0.0)
    lr_schedule: str = _opt(
        "constant", choices=("constant", "exponential", "cosine", "linear_warmup")
    )
    decay_rate: float = _opt(0.05, ge=0.0)
    warmup_steps: int = _opt(0, ge=0)
    weight_decay: float = _opt(0.0, ge=0.0)
    momentum: float = _opt(0.9, ge=0.0, lt=1.0)
    clip_norm: float = _opt(5.0, ge=0.0)
    patience: int = _opt(5, ge=0)
    seed: int = _opt(42, ge=0)
    deterministic: bool = _opt(False)
    strategy: str = _opt("auto", choices=("auto", "cpu", "mirrored", "multi_worker"))
    devices: tuple[str, ...] = _opt(factory=tuple)
    logical_cpu_devices: int = _opt(0, ge=0)
    mixed_precision: bool = _opt(False)
    jit_compile: bool = _opt(False)

    def _check(self) -> None:
        if self.lr_schedule == "linear_warmup" and self.warmup_steps == 0:
            raise ConfigError(
                "lr_schedule is 'linear_warmup' but warmup_steps is 0; set training.warmup_steps "
                "to a positive number of steps",
                key="training.warmup_steps",
            )
        if self.weight_decay > 0 and self.optimizer != "adamw":
            raise ConfigError(
                f"weight_decay is {self.weight_decay:g} but optimizer is {self.optimizer!r}; "
                "only 'adamw' uses it (set training.optimizer=adamw or training.weight_decay=0)",
                key="training.weight_decay",
            )
        if self.devices and self.strategy not in ("auto", "mirrored"):
            raise ConfigError(
                f"devices are only used by the mirrored strategy, but strategy is "
                f"{self.strategy!r}",
                key="training.devices",
            )


@dataclass(frozen=True)
class EvalConfig(_Section):
    """``evaluation``: how entity-level scores are computed (seqeval).

    Attributes:
        mode: strict, conlleval or auto (strict unless ``data.scheme`` is IOB1, see
            :func:`ner_crf.evaluation.resolve_mode`).
    """

    SECTION: ClassVar[str] = "evaluation"

    mode: str = _opt("auto", choices=("auto", "strict", "conlleval"))


@dataclass(frozen=True)
class OutputConfig(_Section):
    """``output``: where a run is written.

    Attributes:
        dir: The run directory.
        tensorboard: Write TensorBoard logs into the run directory.
    """

    SECTION: ClassVar[str] = "output"

    dir: Path = _opt(Path("runs/default"))
    tensorboard: bool = _opt(True)


@dataclass(frozen=True)
class ExperimentConfig(_Section):
    """The whole experiment: one attribute per top-level YAML section."""

    SECTION: ClassVar[str] = ""

    data: DataConfig = _opt(factory=DataConfig)
    vocab: VocabConfig = _opt(factory=VocabConfig)
    embeddings: EmbeddingConfig = _opt(factory=EmbeddingConfig)
    model: ModelConfig = _opt(factory=ModelConfig)
    crf: CRFConfig = _opt(factory=CRFConfig)
    training: TrainConfig = _opt(factory=TrainConfig)
    evaluation: EvalConfig = _opt(factory=EvalConfig)
    output: OutputConfig = _opt(factory=OutputConfig)

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for spec in dataclasses.fields(self):
            _coerce(getattr(self, spec.name), hints[spec.name], spec.name)
        # crf.constrain needs a scheme whose legal transitions are known; every value allowed
        # for data.scheme (BIO, IOB1, IOBES) has them, so the choices check above covers it.
        if self.crf.constrain and self.data.scheme not in SCHEMES:  # pragma: no cover
            raise ConfigError(
                f"crf.constrain is true but data.scheme {self.data.scheme!r} has no known "
                "transition constraints",
                key="crf.constrain",
            )


# --------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------


def _section_types() -> dict[str, type]:
    """Map every section's dotted name to its dataclass ("" is the root)."""
    result: dict[str, type] = {}

    def walk(cls: type, prefix: str) -> None:
        result[prefix] = cls
        hints = typing.get_type_hints(cls)
        for spec in dataclasses.fields(cls):
            hint = hints[spec.name]
            if dataclasses.is_dataclass(hint):
                walk(hint, f"{prefix}.{spec.name}" if prefix else spec.name)

    walk(ExperimentConfig, "")
    return result


_SECTIONS = _section_types()


def schema_keys(*, sections: bool = False) -> list[str]:
    """Every dotted key of the schema, in schema order.

    Args:
        sections: Also list the section keys (``model``, ``model.lstm``, ...).

    Returns:
        Keys such as ``"training.epochs"``.
    """
    keys: list[str] = []
    for prefix, cls in _SECTIONS.items():
        hints = typing.get_type_hints(cls)
        for spec in dataclasses.fields(cls):
            key = f"{prefix}.{spec.name}" if prefix else spec.name
            if sections or not dataclasses.is_dataclass(hints[spec.name]):
                keys.append(key)
    return keys


_LEAF_KEYS = frozenset(schema_keys())
_ALL_KEYS = schema_keys(sections=True)


def _unknown_key_message(key: str) -> str:
    """``unknown key 'x'`` plus the closest known key, or the keys the section has."""
    message = f"unknown key {key!r}"
    parent, _, name = key.rpartition(".")
    siblings = (
        [spec.name for spec in dataclasses.fields(_SECTIONS[parent])] if parent in _SECTIONS else []
    )
    # 1. A typo in the last component: compare with the keys of the same section.
    matches = difflib.get_close_matches(name, siblings, n=1, cutoff=0.6)
    if matches:
        return f"{message}; did you mean {'.'.join(filter(None, (parent, matches[0])))!r}?"
    # 2. A typo elsewhere ('model.lstm_units'): compare whole keys, never suggesting a section
    #    that already contains the key ('model' for 'model.zzz').
    candidates = [k for k in _ALL_KEYS if not key.startswith(k + ".")]
    matches = difflib.get_close_matches(key, candidates, n=1, cutoff=0.8)
    if matches:
        return f"{message}; did you mean {matches[0]!r}?"
    if siblings:
        message += f"; {parent or 'the top level'} has: {', '.join(siblings)}"
    return message


# --------------------------------------------------------------------------------------------
# Dict <-> dataclasses
# --------------------------------------------------------------------------------------------


def _build(cls: type, raw: Any, prefix: str) -> Any:
    """Build the section dataclass ``cls`` from the raw mapping ``raw`` (recursively)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        what = f"section {prefix!r}" if prefix else "the top level"
        raise ConfigError(
            f"expected a mapping of keys for {what}, got {_show(raw)}", key=prefix or None
        )
    hints = typing.get_type_hints(cls)
    names = {spec.name for spec in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for name, value in raw.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if name not in names:
            raise ConfigError(_unknown_key_message(key), key=key)
        hint = hints[name]
        kwargs[name] = _build(hint, value, key) if dataclasses.is_dataclass(hint) else value
    return cls(**kwargs)


def config_from_dict(data: Mapping[str, Any], path: str | Path | None = None) -> ExperimentConfig:
    """Build and validate an :class:`ExperimentConfig` from a nested mapping.

    Missing keys take their defaults.

    Args:
        data: Nested mapping as read from YAML (``{"model": {"lstm": {"units": 50}}}``).
        path: The file the mapping came from, named in error messages.

    Returns:
        The validated config.

    Raises:
        ConfigError: Unknown key, wrong type, value out of range, or conflicting values.
    """
    try:
        return _build(ExperimentConfig, data, "")
    except ConfigError as error:
        if path is not None and error.path is None:
            raise ConfigError(error.message, path=path, key=error.key) from None
        raise


def config_to_dict(cfg: ExperimentConfig) -> dict[str, Any]:
    """Convert a config to plain YAML/JSON-able types (paths -> str, tuples -> lists).

    Args:
        cfg: The config.

    Returns:
        A nested dict in schema order that :func:`config_from_dict` turns back into ``cfg``.
    """

    def convert(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {
                spec.name: convert(getattr(value, spec.name)) for spec in dataclasses.fields(value)
            }
        if isinstance(value, Path):
            return value.as_posix()
        if isinstance(value, tuple):
            return [convert(item) for item in value]
        return value

    return convert(cfg)


def dump_config(cfg: ExperimentConfig, path: str | Path) -> None:
    """Write a config as YAML, atomically (temporary file + ``os.replace``).

    Args:
        cfg: The config.
        path: Destination file; its directory must exist.
    """
    text = yaml.safe_dump(config_to_dict(cfg), sort_keys=False, default_flow_style=False)
    atomic_write_text(path, text)


# --------------------------------------------------------------------------------------------
# Overrides and loading
# --------------------------------------------------------------------------------------------


def parse_override(text: str) -> tuple[str, Any]:
    """Parse one ``--set`` override ``"key=value"``.

    The text is split on the first ``=``; the value is parsed as YAML, so ``1e-3`` is a float,
    ``true`` a bool, ``[a, b]`` a list, ``null`` None and anything else a string.

    Args:
        text: The override, e.g. ``"training.epochs=30"``.

    Returns:
        ``(dotted_key, value)``.

    Raises:
        ConfigError: No ``=``, an unknown key, a section instead of a key, or unparsable YAML.
    """
    key, sep, raw_value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(
            f"expected key=value (e.g. training.epochs=30), got {text!r}", key=f"--set {text}"
        )
    if key not in _LEAF_KEYS:
        if key in _SECTIONS:
            example = next(k for k in _ALL_KEYS if k.startswith(key + ".") and k in _LEAF_KEYS)
            raise ConfigError(
                f"{key!r} is a section; set one of its keys, e.g. {example}", key=f"--set {key}"
            )
        raise ConfigError(_unknown_key_message(key), key=f"--set {key}")
    try:
        value = _yaml_load(raw_value) if raw_value.strip() else None
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(
            f"cannot parse value {raw_value!r} as YAML: {problem}", key=f"--set {key}"
        ) from None
    return key, value


def _apply_override(raw: dict[str, Any], key: str, value: Any) -> None:
    *parents, last = key.split(".")
    node = raw
    for name in parents:
        child = node.get(name)
        if not isinstance(child, dict):
            child = {}
            node[name] = child
        node = child
    node[last] = value


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise ConfigError(f"config file {what}", path=path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config file: {error}", path=path) from None
    try:
        raw = _yaml_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise ConfigError(f"invalid YAML: {where}{problem}", path=path) from None
    if raw is None:
        raise ConfigError("the file is empty; expected a mapping of sections", path=path)
    if not isinstance(raw, dict):
        raise ConfigError(
            f"expected a mapping of sections (data:, model:, ...) at the top level, got "
            f"{_show(raw) if not isinstance(raw, list) else 'a list'}",
            path=path,
        )
    return raw


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> ExperimentConfig:
    """Load a YAML config file, apply ``--set`` overrides and validate the result.

    Data files are not required to exist; call :func:`check_paths` before training.

    Args:
        path: The YAML file.
        overrides: ``"key=value"`` strings (see :func:`parse_override`); later ones win.

    Returns:
        The validated config.

    Raises:
        ConfigError: A missing or unreadable file, invalid YAML, a top level that is not a
            mapping, an unknown key, a wrong type, a value out of range, conflicting values or
            a bad override. Errors caused by an override name ``--set <key>``.
    """
    path = Path(path)
    return _from_raw(_read_yaml(path), overrides, path)


def _from_raw(
    raw: dict[str, Any], overrides: Iterable[str], source: str | Path
) -> ExperimentConfig:
    """Apply overrides to a raw mapping and build the config; errors name the source."""
    overridden: set[str] = set()
    for text in overrides:
        key, value = parse_override(text)
        _apply_override(raw, key, value)
        overridden.add(key)
    try:
        return _build(ExperimentConfig, raw, "")
    except ConfigError as error:
        if error.key in overridden:
            raise ConfigError(error.message, key=f"--set {error.key}") from None
        raise ConfigError(error.message, path=source, key=error.key) from None


def check_paths(cfg: ExperimentConfig, *, config_path: str | Path | None = None) -> None:
    """Check that the files a config refers to exist.

    ``data.train`` must exist; ``data.dev``, ``data.test`` and ``embeddings.path`` must exist
    when they are set.

    Args:
        cfg: The config.
        config_path: The config file, named in error messages.

    Raises:
        DataError: A file is missing or is not a regular file (a data problem: exit code 1). The
            message names the config file and the key, e.g. ``my.yaml: data.dev: file not found``.
    """
    checks = [
        ("data.train", cfg.data.train),
        ("data.dev", cfg.data.dev),
        ("data.test", cfg.data.test),
        ("embeddings.path", cfg.embeddings.path),
    ]
    for key, file in checks:
        if file is None:
            continue
        require_file(file, where=f"{config_path}: {key}" if config_path else key)


# --------------------------------------------------------------------------------------------
# Presets (shipped configs, also available as configs/<name>.yaml)
# --------------------------------------------------------------------------------------------


def _presets_dir() -> Any:
    return importlib.resources.files("ner_crf").joinpath("presets")


def preset_names() -> list[str]:
    """Names of the shipped configs (``ner_crf/presets/<name>.yaml``), sorted."""
    return sorted(
        entry.name[: -len(".yaml")]
        for entry in _presets_dir().iterdir()
        if entry.name.endswith(".yaml")
    )


def preset_text(name: str) -> str:
    """The YAML text of a shipped config, comments included (for ``init-config``).

    Args:
        name: A name from :func:`preset_names`, e.g. ``"conll2003"``.

    Returns:
        The file's text.

    Raises:
        ConfigError: No preset has that name (the message lists the available ones).
    """
    names = preset_names()
    if name not in names:
        message = f"unknown preset {name!r}; available: {', '.join(names)}"
        matches = difflib.get_close_matches(name, names, n=1)
        if matches:
            message += f" (did you mean {matches[0]!r}?)"
        raise ConfigError(message)
    return _presets_dir().joinpath(f"{name}.yaml").read_text(encoding="utf-8")


def load_preset(name: str, overrides: Iterable[str] = ()) -> ExperimentConfig:
    """Load a shipped config by name, with optional ``--set`` overrides.

    Args:
        name: A name from :func:`preset_names`.
        overrides: ``"key=value"`` strings.

    Returns:
        The validated config.
    """
    return _from_raw(_yaml_load(preset_text(name)), overrides, f"preset {name}")
