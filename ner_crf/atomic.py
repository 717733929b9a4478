"""Atomic file writes: a temporary file in the same directory, fsynced, then renamed.

``os.replace`` is atomic on POSIX and Windows, so a process killed at any moment leaves either the
old file or the new one under the final name, never a half-written one. A kill can leave a hidden
``.NAME.*.tmp*`` file behind; it is harmless. This module is a leaf (no TensorFlow import): the
config, vocabulary, checkpoint and run-directory code all write through it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _fsync_path(path: Path, *, directory: bool = False) -> None:
    """Flushes a file (or, best effort, a directory entry) to disk."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:
            return  # not supported on this platform (e.g. Windows)
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


def atomic_write(path: str | Path, writer: Callable[[Path], None]) -> Path:
    """Writes ``path`` atomically: ``writer(tmp)`` fills a temporary file that replaces ``path``.

    The temporary file is in the same directory (so the rename never crosses file systems), keeps
    the final suffix (``model.keras`` -> ``.model.keras.XXXX.tmp.keras``, Keras checks it), is
    fsynced, then ``os.replace``-d over ``path``. If ``writer`` raises, the temporary file is
    removed, ``path`` keeps its old content and the exception propagates.

    Args:
        path: The final file; missing parent directories are created.
        writer: Writes the complete content to the path it is given.

    Returns:
        ``path`` as a `Path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        writer(tmp)
        # mkstemp creates 0600 files: keep the old file's mode, or use the usual 0644.
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        os.chmod(tmp, mode)
        _fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_path(path.parent, directory=True)
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Writes ``data`` to ``path`` atomically (see `atomic_write`)."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Writes ``text`` to ``path`` atomically (see `atomic_write`)."""
    return atomic_write_bytes(path, text.encode(encoding))


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Writes ``obj`` as indented, key-sorted JSON to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")
