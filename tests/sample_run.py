"""The sample run the CLI and predictor tests share: a tiny model on the corpus in ``data/``.

``tests/conftest.py`` trains it once per session (fixtures ``trained`` and ``loaded``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from ner_crf.cli import app

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
CONFIG = REPO / "configs" / "default.yaml"

TINY = [
    f"data.train={DATA / 'train.txt'}",
    f"data.dev={DATA / 'dev.txt'}",
    f"data.test={DATA / 'test.txt'}",
    "training.epochs=1",
    "training.batch_size=8",
    "training.learning_rate=0.02",
    "model.word_dim=16",
    "model.char.dim=8",
    "model.char.units=8",
    "model.lstm.units=16",
    "output.tensorboard=false",
]


def invoke(args: list[str], input: str | bytes | None = None):
    """Runs ``ner-crf ARGS`` in-process (stdout and stderr kept apart)."""
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def sets(overrides: list[str]) -> list[str]:
    """``["a=1", "b=2"]`` -> ``["--set", "a=1", "--set", "b=2"]``."""
    return [item for override in overrides for item in ("--set", override)]


def train_sample(run_dir: Path) -> Any:
    """``ner-crf train`` of the default config with :data:`TINY` into ``run_dir``."""
    return invoke(["train", "--config", CONFIG, *sets(TINY), "--output-dir", run_dir])
