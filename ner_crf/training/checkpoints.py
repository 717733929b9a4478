"""Resume checkpoints in ``RUN/checkpoints/``, written so that a kill never corrupts them.

Layout::

    RUN/checkpoints/ckpt-3.index, ckpt-3.data-00000-of-00001   (tf.train.Checkpoint of epoch 3)
    RUN/checkpoints/latest.json                                 (the pointer)

A save writes a NEW checkpoint prefix first, then replaces ``latest.json`` atomically (temp file,
fsync, ``os.replace``), and only then deletes checkpoints older than the ``keep`` newest. A process
killed at any moment therefore leaves ``latest.json`` pointing at a complete checkpoint: either
the previous one or the new one.

``latest.json`` also carries the Python-side state (epoch, step, best metric, patience counter,
history, the resolved config) so a human can see where a run stands.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ner_crf.atomic import write_json_atomic
from ner_crf.errors import NerCrfError

logger = logging.getLogger(__name__)

POINTER = "latest.json"


class ResumeError(NerCrfError):
    """Resuming is impossible: no checkpoint, or a damaged one."""


class CheckpointKeeper:
    """Saves and restores a ``tf.train.Checkpoint`` with an atomic JSON pointer.

    Args:
        directory: ``RUN/checkpoints``.
        checkpoint: The ``tf.train.Checkpoint`` holding everything to save.
        keep: How many checkpoints to keep on disk (>= 1).
    """

    def __init__(self, directory: str | Path, checkpoint: Any, *, keep: int = 2):
        self.directory = Path(directory)
        self.checkpoint = checkpoint
        self.keep = max(int(keep), 1)

    @property
    def pointer_path(self) -> Path:
        """Path of ``latest.json``."""
        return self.directory / POINTER

    def latest(self) -> dict[str, Any] | None:
        """The pointer's content, or ``None`` when no checkpoint was ever completed.

        Raises:
            ResumeError: When the pointer exists but is unreadable or names a missing checkpoint.
        """
        if not self.pointer_path.exists():
            return None
        try:
            meta = json.loads(self.pointer_path.read_text(encoding="utf-8"))
            prefix = self.directory / meta["checkpoint"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ResumeError(
                f"{self.pointer_path}: unreadable checkpoint pointer ({error})"
            ) from None
        if not Path(f"{prefix}.index").exists():
            raise ResumeError(
                f"{self.pointer_path} points at {prefix.name}, whose files are missing "
                f"from {self.directory}"
            )
        return meta

    def save(self, name: str, meta: dict[str, Any]) -> Path:
        """Writes checkpoint ``name`` and then points ``latest.json`` at it.

        Args:
            name: The new prefix, e.g. ``ckpt-3`` (must differ from the current one).
            meta: JSON-able state stored in the pointer next to the checkpoint name.

        Returns:
            The checkpoint prefix path.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        prefix = self.directory / name
        self.checkpoint.write(str(prefix))
        write_json_atomic(self.pointer_path, {"checkpoint": name, **meta})
        self._prune(keep_name=name)
        return prefix

    def restore(self, meta: dict[str, Any]) -> None:
        """Restores the checkpoint named in ``meta`` (as returned by :meth:`latest`).

        Raises:
            ResumeError: When the checkpoint cannot be read or does not match the model.
        """
        prefix = self.directory / meta["checkpoint"]
        try:
            status = self.checkpoint.read(str(prefix))
            status.assert_existing_objects_matched()
        except (ValueError, AssertionError) as error:
            raise ResumeError(
                f"{prefix}: the checkpoint does not match the model built from the config "
                f"({str(error).splitlines()[0]})"
            ) from None
        except Exception as error:  # tf.errors.* (corrupted files) have no common base we import
            if type(error).__module__.startswith("tensorflow"):
                raise ResumeError(f"{prefix}: cannot read the checkpoint ({error})") from None
            raise

    def _prune(self, keep_name: str) -> None:
        names = sorted(
            {path.name.split(".")[0] for path in self.directory.glob("ckpt-*.index")},
            key=_checkpoint_number,
        )
        stale = [name for name in names if name != keep_name][: max(len(names) - self.keep, 0)]
        for name in stale:
            for path in self.directory.glob(f"{name}.*"):
                path.unlink(missing_ok=True)


def _checkpoint_number(name: str) -> int:
    try:
        return int(name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return -1
