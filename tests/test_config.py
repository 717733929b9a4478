"""Tests of ner_crf.config: defaults, shipped configs, overrides, errors, dump/load round trip."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ner_crf.config import (
    CharConfig,
    ExperimentConfig,
    LSTMConfig,
    ModelConfig,
    TrainConfig,
    check_paths,
    config_from_dict,
    config_to_dict,
    dump_config,
    load_config,
    load_preset,
    parse_override,
    preset_names,
    preset_text,
    schema_keys,
)
from ner_crf.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str, name: str = "cfg.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# Defaults and shipped configs
# ---------------------------------------------------------------------------------------------


def test_defaults_match_schema() -> None:
    cfg = ExperimentConfig()
    assert cfg.data.train == Path("data/train.txt")
    assert cfg.data.dev == Path("data/dev.txt")
    assert cfg.data.scheme == "IOBES"
    assert cfg.data.max_length is None
    assert cfg.model.word_dim == 100
    assert cfg.model.char.encoder == "lstm"
    assert cfg.model.lstm.units == 100
    assert cfg.training.learning_rate == 0.001
    assert cfg.training.devices == ()
    assert cfg.evaluation.mode == "auto"
    assert cfg.output.dir == Path("runs/default")


def test_empty_sections_take_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "model:\n  lstm:\n    units: 7\ntraining:\n")
    cfg = load_config(path)
    assert cfg.model.lstm.units == 7
    assert cfg.model.lstm.layers == 1
    assert cfg.training == TrainConfig()
    assert cfg.data == ExperimentConfig().data


def test_config_is_frozen() -> None:
    cfg = ExperimentConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.model.word_dim = 3  # type: ignore[misc]


def test_direct_construction_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"model\.lstm\.units: expected a value > 0, got 0"):
        ModelConfig(lstm=LSTMConfig(units=0))
    cfg = ModelConfig(word_dim=3, dropout=0)  # an int is fine for a float
    assert isinstance(cfg.dropout, float)


@pytest.mark.parametrize("name", ["default", "conll2003", "conll2003-cnn", "conll2003-glove"])
def test_shipped_configs_load(name: str) -> None:
    cfg = load_config(REPO / "configs" / f"{name}.yaml")
    assert cfg == load_preset(name)
    assert cfg.data.scheme == "IOBES"
    assert cfg.crf.constrain is True


def test_shipped_config_values() -> None:
    default = load_preset("default")
    assert default.data.train == Path("data/train.txt")
    assert default.model.word_dim == 50
    assert (default.model.lstm.layers, default.model.lstm.units) == (1, 64)
    assert default.output.dir == Path("runs/default")

    lample = load_preset("conll2003")
    assert lample.data.train == Path("../shared/data/conll2003/train.txt")
    assert lample.data.dev == Path("../shared/data/conll2003/dev.txt")
    assert lample.data.test is None
    assert lample.embeddings.path is None
    assert lample.model.word_dim == 100
    assert lample.model.char == CharConfig(encoder="lstm", dim=25, units=50)
    assert lample.model.lstm == LSTMConfig(layers=1, units=100)
    assert (lample.model.dropout, lample.model.word_dropout) == (0.5, 0.5)
    t = lample.training
    assert (t.batch_size, t.optimizer, t.learning_rate, t.clip_norm) == (16, "adam", 1e-3, 5.0)
    assert (t.patience, t.epochs) == (10, 50)
    assert lample.output.dir == Path("runs/conll2003")

    cnn = load_preset("conll2003-cnn")
    assert cnn.model.char.encoder == "cnn"
    assert (cnn.model.char.filters, cnn.model.char.kernel_size) == (30, 3)
    assert (cnn.training.batch_size, cnn.training.patience) == (32, 5)
    same = dataclasses.replace(cnn, model=lample.model, output=lample.output, training=t)
    assert same == lample

    glove = load_preset("conll2003-glove")
    assert glove.embeddings.path == Path("../shared/data/glove/glove.6B.50d.txt.gz")
    assert glove.embeddings.extend_vocab is True and glove.embeddings.max_vectors is None
    assert glove.model.word_dim == 50
    assert glove.training.epochs <= 30
    assert (glove.training.learning_rate, glove.training.patience) == (2e-3, 0)
    assert (glove.model.word_dropout, glove.model.char.units) == (0.1, 25)


@pytest.mark.parametrize("name", ["default", "conll2003", "conll2003-cnn", "conll2003-glove"])
def test_lstm_implementation_key(name: str, tmp_path: Path) -> None:
    assert load_preset(name).model.lstm.implementation == "auto"
    assert LSTMConfig().implementation == "auto"
    cfg = load_config(REPO / "configs" / f"{name}.yaml", ["model.lstm.implementation=keras"])
    assert cfg.model.lstm.implementation == "keras"
    path = write(tmp_path, "model:\n  lstm:\n    implementation: fused\n")
    assert load_config(path).model.lstm.implementation == "fused"
    bad = write(tmp_path, "model:\n  lstm:\n    implementation: cudnn\n", name="bad.yaml")
    with pytest.raises(ConfigError, match="implementation") as error:
        load_config(bad)
    assert error.value.key == "model.lstm.implementation"


def test_presets_identical_to_configs_dir() -> None:
    assert preset_names() == ["conll2003", "conll2003-cnn", "conll2003-glove", "default"]
    for name in preset_names():
        shipped = REPO / "configs" / f"{name}.yaml"
        assert shipped.is_symlink()
        assert preset_text(name) == shipped.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["default", "conll2003", "conll2003-cnn", "conll2003-glove"])
def test_every_key_in_shipped_yaml_has_a_comment(name: str) -> None:
    lines = preset_text(name).splitlines()
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        assert ":" in stripped, line
        assert lines[index - 1].strip().startswith("#"), f"no comment above {line!r}"
    keys = {line.strip().split(":")[0] for line in lines if line.strip() and line[0] != "#"}
    assert {key.rsplit(".", 1)[-1] for key in schema_keys(sections=True)} <= keys


def test_unknown_preset() -> None:
    with pytest.raises(ConfigError, match=r"unknown preset 'conll2030'.*did you mean 'conll2003'"):
        preset_text("conll2030")


def test_config_module_does_not_import_tensorflow() -> None:
    code = "import sys, ner_crf.config, ner_crf.errors; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------------
# Overrides
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("training.epochs=30", "training.epochs", 30),
        ("training.learning_rate=1e-3", "training.learning_rate", 0.001),
        ("training.learning_rate=5E-4", "training.learning_rate", 0.0005),
        ("training.learning_rate=2.5e+2", "training.learning_rate", 250.0),
        ("training.learning_rate=.5e-1", "training.learning_rate", 0.05),
        ("training.learning_rate=0.01", "training.learning_rate", 0.01),
        ("vocab.lowercase=true", "vocab.lowercase", True),
        ("vocab.lowercase=False", "vocab.lowercase", False),
        ("training.devices=[a, b]", "training.devices", ["a", "b"]),
        ("training.devices=[]", "training.devices", []),
        ("data.test=null", "data.test", None),
        ("data.test=", "data.test", None),
        ("data.scheme=BIO", "data.scheme", "BIO"),
        ("output.dir=runs/x=y", "output.dir", "runs/x=y"),
        (" model.lstm.units = 12", "model.lstm.units", 12),
        ("data.tag_column=-1", "data.tag_column", -1),
    ],
)
def test_parse_override(text: str, key: str, value: object) -> None:
    parsed_key, parsed_value = parse_override(text)
    assert parsed_key == key
    assert parsed_value == value
    assert type(parsed_value) is type(value)


def test_overrides_applied_and_later_wins(tmp_path: Path) -> None:
    path = write(tmp_path, "training:\n  epochs: 3\n")
    cfg = load_config(
        path,
        [
            "training.epochs=10",
            "model.lstm.units=8",
            "training.learning_rate=1e-2",
            "training.epochs=20",
            "training.devices=[/cpu:0, /cpu:1]",
            "data.dev=null",
        ],
    )
    assert cfg.training.epochs == 20
    assert cfg.model.lstm.units == 8
    assert cfg.training.learning_rate == pytest.approx(0.01)
    assert cfg.training.devices == ("/cpu:0", "/cpu:1")
    assert cfg.data.dev is None


def test_exponent_floats_in_files(tmp_path: Path) -> None:
    path = write(tmp_path, "training:\n  learning_rate: 1e-3\n  weight_decay: 0\n")
    assert load_config(path).training.learning_rate == pytest.approx(1e-3)


# ---------------------------------------------------------------------------------------------
# Errors: each names the file and the dotted key
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("yaml_text", "key", "message"),
    [
        (
            "model:\n  lstm:\n    unit: 5\n",
            "model.lstm.unit",
            "unknown key 'model.lstm.unit'; did you mean 'model.lstm.units'?",
        ),
        ("trainin:\n  epochs: 3\n", "trainin", "did you mean 'training'?"),
        ("training:\n  epochs: abc\n", "training.epochs", "expected an integer, got 'abc'"),
        ("training:\n  epochs: true\n", "training.epochs", "expected an integer, got true"),
        ("training:\n  epochs: 2.5\n", "training.epochs", "expected an integer, got 2.5"),
        ("model:\n  dropout: high\n", "model.dropout", "expected a number, got 'high'"),
        ("vocab:\n  lowercase: 'yes'\n", "vocab.lowercase", "expected true or false, got 'yes'"),
        ("data:\n  max_length: x\n", "data.max_length", "expected an integer or null, got 'x'"),
        ("data:\n  train: null\n", "data.train", "expected a path, got null"),
        ("training:\n  devices: [1]\n", "training.devices", "expected a list of strings"),
        ("model: 5\n", "model", "expected a mapping of keys for section 'model', got 5"),
        ("model:\n  lstm:\n    units: 0\n", "model.lstm.units", "expected a value > 0, got 0"),
        ("model:\n  dropout: 1.0\n", "model.dropout", "expected a value in [0, 1), got 1.0"),
        ("training:\n  patience: -1\n", "training.patience", "expected a value >= 0, got -1"),
        (
            "data:\n  scheme: BIOES\n",
            "data.scheme",
            "expected one of 'BIO', 'IOB1', 'IOBES', got 'BIOES'",
        ),
        (
            "model:\n  char:\n    encoder: gru\n",
            "model.char.encoder",
            "expected one of 'lstm', 'cnn', 'none', got 'gru'",
        ),
        ("data:\n  tag_column: 0\n", "data.tag_column", "column 0 holds the token"),
        (
            "training:\n  lr_schedule: linear_warmup\n",
            "training.warmup_steps",
            "warmup_steps is 0",
        ),
        (
            "training:\n  weight_decay: 0.01\n",
            "training.weight_decay",
            "only 'adamw' uses it",
        ),
        (
            "training:\n  strategy: cpu\n  devices: [/gpu:0]\n",
            "training.devices",
            "only used by the mirrored strategy",
        ),
    ],
)
def test_config_errors(tmp_path: Path, yaml_text: str, key: str, message: str) -> None:
    path = write(tmp_path, yaml_text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    error = info.value
    assert error.path == str(path)
    assert error.key == key
    assert message in error.message
    assert str(error).startswith(f"{path}: {key}: ")


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    path = write(tmp_path, "model:\n  word_dim: 3\n  lstm: [1, 2\ntraining: {}\n")
    with pytest.raises(ConfigError, match=r"invalid YAML: line 4, column 9") as info:
        load_config(path)
    assert info.value.path == str(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "expected a mapping of sections (data:, model:, ...) at the top level"),
        ("just a string\n", "at the top level, got 'just a string'"),
        ("", "the file is empty"),
    ],
)
def test_top_level_not_a_mapping(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value)
    assert str(info.value).startswith(str(path))


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file does not exist"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.epochs", "--set training.epochs: expected key=value"),
        ("=3", "--set =3: expected key=value"),
        (
            "training.epoch=3",
            "--set training.epoch: unknown key 'training.epoch'; did you mean 'training.epochs'?",
        ),
        ("model.lstm=3", "--set model.lstm: 'model.lstm' is a section; set one of its keys"),
        ("training.devices=[a, b", "--set training.devices: cannot parse value"),
    ],
)
def test_override_syntax_errors(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_override(override)
    assert str(info.value).startswith(message)


def test_override_value_errors_name_the_override(tmp_path: Path) -> None:
    path = write(tmp_path, "training:\n  epochs: 3\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, ["training.epochs=abc"])
    assert str(info.value) == "--set training.epochs: expected an integer, got 'abc'"
    with pytest.raises(ConfigError, match=r"^--set model.dropout: expected a value in \[0, 1\)"):
        load_config(path, ["model.dropout=1.5"])


def test_check_paths(tmp_path: Path) -> None:
    train = tmp_path / "train.txt"
    train.write_text("EU B-ORG\n", encoding="utf-8")
    cfg = config_from_dict({"data": {"train": str(train), "dev": None, "test": None}})
    check_paths(cfg)  # everything present: no error

    missing = tmp_path / "dev.txt"
    cfg = config_from_dict({"data": {"train": str(train), "dev": str(missing), "test": None}})
    with pytest.raises(DataError) as info:
        check_paths(cfg, config_path="my.yaml")
    assert str(info.value) == f"my.yaml: data.dev: file not found: {missing}"

    cfg = config_from_dict({"data": {"train": str(tmp_path / "none.txt")}})
    with pytest.raises(DataError, match=r"data\.train: file not found"):
        check_paths(cfg)

    cfg = config_from_dict({"data": {"train": str(tmp_path), "dev": None, "test": None}})
    with pytest.raises(DataError, match=r"data\.train: not a regular file"):
        check_paths(cfg)

    cfg = config_from_dict(
        {"data": {"train": str(train), "dev": None, "test": None}, "embeddings": {"path": "x.vec"}}
    )
    with pytest.raises(DataError, match=r"embeddings\.path: file not found: x\.vec"):
        check_paths(cfg)


def test_loading_does_not_require_data(tmp_path: Path) -> None:
    path = write(tmp_path, "data:\n  train: /nonexistent/train.txt\n")
    assert load_config(path).data.train == Path("/nonexistent/train.txt")


def test_config_from_dict_names_path() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"vocab": {"min_count": 0}}, path="inline.yaml")
    assert str(info.value) == "inline.yaml: vocab.min_count: expected a value >= 1, got 0"


# ---------------------------------------------------------------------------------------------
# Dump / load round trip
# ---------------------------------------------------------------------------------------------


def test_dump_load_round_trip(tmp_path: Path) -> None:
    cfg = load_preset(
        "conll2003-cnn",
        [
            "training.learning_rate=3e-5",
            "training.devices=[/cpu:0, /cpu:1]",
            "data.max_length=40",
            "embeddings.path=vectors/glove.txt",
            "training.optimizer=adamw",
            "training.weight_decay=0.01",
        ],
    )
    out = tmp_path / "config.yaml"
    dump_config(cfg, out)
    assert load_config(out) == cfg
    assert config_from_dict(config_to_dict(cfg)) == cfg
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]  # no temp file left

    as_dict = config_to_dict(cfg)
    assert as_dict["training"]["devices"] == ["/cpu:0", "/cpu:1"]
    assert as_dict["embeddings"]["path"] == "vectors/glove.txt"
    assert list(as_dict) == [
        "data",
        "vocab",
        "embeddings",
        "model",
        "crf",
        "training",
        "evaluation",
        "output",
    ]


def test_dump_replaces_existing_file(tmp_path: Path) -> None:
    out = tmp_path / "config.yaml"
    out.write_text("old: content\n", encoding="utf-8")
    dump_config(ExperimentConfig(), out)
    assert load_config(out) == ExperimentConfig()


def test_unknown_key_without_close_match_lists_the_section() -> None:
    with pytest.raises(ConfigError) as info:
        parse_override("model.zzz=3")
    assert str(info.value) == (
        "--set model.zzz: unknown key 'model.zzz'; "
        "model has: word_dim, casing_dim, char, lstm, dropout, word_dropout"
    )
