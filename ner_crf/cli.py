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
from pathlib import Path

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


@app.command()
def validate(
    files: list[Path] = typer.Argument(..., help="CoNLL files to check.", show_default=False),
    tag_column: int = typer.Option(
        -1, "--tag-column", help="Index of the tag column (negative counts from the end)."
    ),
    scheme: str | None = typer.Option(
        None, "--scheme", help="Tag scheme the files are written in (default: detect per file)."
    ),
    max_length: int | None = typer.Option(
        None, "--max-length", min=1, help="Also report how many sentences exceed this length."
    ),
) -> None:
    """Check CoNLL files and print counts, tag scheme, illegal tags and length statistics."""
    from ner_crf.data.tags import normalize_scheme
    from ner_crf.validate import format_validation, validate_files

    if scheme is not None:
        try:
            scheme = normalize_scheme(scheme)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--scheme") from None
    with handle_errors():
        result = validate_files(
            files, tag_column=tag_column, source_scheme=scheme, max_length=max_length
        )
    typer.echo(format_validation(result))
