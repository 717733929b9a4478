"""Error types of ner-crf.

The CLI catches :class:`NerCrfError` subclasses and prints ``str(error)`` as one line on stderr,
so every message must be complete on its own: where (file, line, key), what is wrong, and how to
fix it where that is not obvious.
"""

from __future__ import annotations

from pathlib import Path


class NerCrfError(Exception):
    """Base class of every expected failure (bad input, bad config, missing model)."""

    exit_code = 1


class ConfigError(NerCrfError):
    """A configuration problem: unknown key, wrong type, value out of range, bad override.

    Args:
        message: What is wrong.
        path: The config file, when there is one.
        key: The dotted key, e.g. ``model.lstm.units``.
    """

    exit_code = 2

    def __init__(self, message: str, *, path: str | Path | None = None, key: str | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.key = key
        where = ": ".join(part for part in (self.path, key) if part)
        super().__init__(f"{where}: {message}" if where else message)


class DataError(NerCrfError):
    """A problem in an input file, reported as ``path:line: message``.

    Args:
        message: What is wrong, quoting the offending text where useful.
        path: The file.
        line: The 1-based line number, when the problem has one.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        where = self.path or ""
        if line is not None:
            where = f"{where}:{line}" if where else f"line {line}"
        super().__init__(f"{where}: {message}" if where else message)


class ModelError(NerCrfError):
    """A model directory that is missing, incomplete or corrupted, or a model that cannot run."""


def require_file(path: str | Path, *, what: str = "file", where: str | None = None) -> Path:
    """Checks that ``path`` is an existing regular file: the one file-exists check of ner-crf.

    Args:
        path: The file.
        what: What the file is, for the message (``"file"``, ``"input file"``, ...).
        where: Where the path came from (``"my.yaml: data.dev"``); the message then reads
            ``<where>: <what> not found: <path>``, otherwise ``<path>: <what> not found``.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        DataError: The file does not exist, or is not a regular file (a directory, ...).
    """
    path = Path(path)
    if path.is_file():
        return path
    problem = f"{what} not found" if not path.exists() else "not a regular file"
    if where is None:
        raise DataError(problem, path=path)
    raise DataError(f"{where}: {problem}: {path}")


def require_new_output(path: str | Path, *, overwrite: bool = False) -> Path:
    """Checks that ``path`` can be written: its parent is a directory, and it does not exist yet
    (or ``overwrite``): the one output-path check of ner-crf.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        NerCrfError: ``path`` exists (without ``overwrite``) or its parent is not a directory.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise NerCrfError(f"{path} already exists; choose another path or pass --force")
    if not path.parent.is_dir():
        raise NerCrfError(f"cannot write {path}: directory {path.parent} does not exist")
    return path
