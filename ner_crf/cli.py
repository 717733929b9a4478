"""The ``ner-crf`` command line.

This is the only module that prints to the console or exits. Each command is a thin wrapper that
parses its options and calls a plain function of the library; TensorFlow is imported inside the
commands that need it, so ``ner-crf --help`` stays fast. Results go to stdout; progress, warnings
and errors go to stderr. Exit codes: 0 success, 2 usage or config error, 1 data or runtime error.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

import typer

from ner_crf import __version__
from ner_crf.errors import NerCrfError

app = typer.Typer(
    name="ner-crf",
    help="Train, evaluate and run BiLSTM-CRF named-entity taggers from one YAML config.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"ner-crf {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Show the version."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages to stderr."),
) -> None:
    """Train, evaluate and run BiLSTM-CRF named-entity taggers from one YAML config."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s: %(message)s",
        stream=sys.stderr,
    )


@contextlib.contextmanager
def handle_errors() -> Iterator[None]:
    """Turn expected errors into one line on stderr and the right exit code (no traceback)."""
    try:
        yield
    except NerCrfError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=error.exit_code) from None
