"""Checks before a run starts or resumes: the run directory and config differences.

A new run refuses a directory that already holds a run; a resumed run needs its checkpoint and
its saved ``config.yaml``, and the config it is given may differ from the saved one only in
:data:`RESUMABLE_DIFFERENCES`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ner_crf.config import config_to_dict, load_config
from ner_crf.errors import ConfigError
from ner_crf.training.checkpoints import POINTER, ResumeError

if TYPE_CHECKING:
    from ner_crf.config import ExperimentConfig

__all__ = ["RESUMABLE_DIFFERENCES", "check_run_dir", "config_differences"]

# Keys that may differ between the interrupted run and the resumed one.
RESUMABLE_DIFFERENCES = ("training.epochs", "training.patience", "output.dir", "output.tensorboard")


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def config_differences(saved: ExperimentConfig, current: ExperimentConfig) -> list[str]:
    """Dotted keys whose values differ between two configs (resume-tolerant keys excluded).

    Args:
        saved: The config of the interrupted run.
        current: The config given to the resumed run.

    Returns:
        Sorted list of differing keys.
    """
    return [key for key, _, _ in _differences(saved, current)]


def _differences(saved: ExperimentConfig, current: ExperimentConfig) -> list[tuple[str, Any, Any]]:
    """``(dotted key, saved value, current value)`` of every differing key, sorted by key."""
    old = _flatten(config_to_dict(saved))
    new = _flatten(config_to_dict(current))
    return [
        (key, old.get(key), new.get(key))
        for key in sorted(set(old) | set(new))
        if key not in RESUMABLE_DIFFERENCES and old.get(key) != new.get(key)
    ]


def check_run_dir(cfg: ExperimentConfig, run_dir: Path, resume: bool) -> None:
    """Checks that ``run_dir`` can take a new run, or that the run in it can be resumed.

    Raises:
        ConfigError: A new run in a directory that holds one, or a resumed config that differs
            from the saved one in a key outside :data:`RESUMABLE_DIFFERENCES`.
        ResumeError: Nothing to resume (no checkpoint, or no saved ``config.yaml``).
    """
    pointer = run_dir / "checkpoints" / POINTER
    if not resume:
        if pointer.exists():
            raise ConfigError(
                f"run directory {run_dir} already holds a training run; resume it "
                "(train --resume) or choose another output directory",
                key="output.dir",
            )
        return
    if not pointer.exists():
        raise ResumeError(
            f"cannot resume: no checkpoint in {run_dir / 'checkpoints'} (the run never completed "
            "an epoch, or the directory is wrong); start it without --resume"
        )
    saved_path = run_dir / "config.yaml"
    if not saved_path.exists():
        raise ResumeError(f"cannot resume: {saved_path} is missing")
    saved = load_config(saved_path)
    differing = _differences(saved, cfg)
    if differing:
        details = "; ".join(f"{key}: {old!r} -> {new!r}" for key, old, new in differing)
        raise ConfigError(
            f"cannot resume {run_dir}: the config differs from the saved {saved_path} in "
            f"{len(differing)} key(s): {details}. Resume with the same config (only "
            f"{', '.join(RESUMABLE_DIFFERENCES)} may change)",
            key=differing[0][0],
        )
