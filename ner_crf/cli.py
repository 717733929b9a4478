"""The ``ner-crf`` command line.

This is the only module that prints to the console or exits. Each command is a thin wrapper that
parses its options and calls a plain function of the library; TensorFlow is imported inside the
commands that need it, so ``ner-crf --help`` stays fast. Results go to stdout; progress, warnings
and errors go to stderr. Exit codes: 0 success, 2 usage or config error, 1 data or runtime error.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from ner_crf import __version__
from ner_crf.errors import NerCrfError, require_file, require_new_output
from ner_crf.predict import DEFAULT_BATCH_SIZE
from ner_crf.predict.formats import FORMATS

app = typer.Typer(
    name="ner-crf",
    help="Train, evaluate and run BiLSTM-CRF named-entity taggers from one YAML config.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


class _StderrHandler(logging.StreamHandler):
    """Logs to whatever ``sys.stderr`` is at the time of each record (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


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
    global _VERBOSE
    _VERBOSE = verbose
    if not verbose:
        # TensorFlow's C++ logs below ERROR are not ours to show; set before a command imports
        # TensorFlow (see _start_tensorflow for the lines it prints before reading this).
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    root = logging.getLogger()
    if not any(isinstance(handler, _StderrHandler) for handler in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        root.addHandler(handler)
    # Our own progress at INFO; other libraries (TensorFlow, absl) only from WARNING unless -v.
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("ner_crf").setLevel(logging.DEBUG if verbose else logging.INFO)


_VERBOSE = False


def _start_tensorflow(before_first_op: Any = None) -> None:
    """Imports TensorFlow for a command; its C++ start-up lines are dropped unless --verbose.

    Called by every command that uses TensorFlow before it imports the modules that need it;
    ``before_first_op(tf)`` makes settings TensorFlow takes only before its runtime starts.
    """
    from ner_crf._tf_quiet import import_tensorflow

    import_tensorflow(quiet=not _VERBOSE, before_first_op=before_first_op)


@contextlib.contextmanager
def handle_errors() -> Iterator[None]:
    """Turn expected errors into one line on stderr and the right exit code (no traceback)."""
    try:
        yield
    except NerCrfError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=error.exit_code) from None


def _choice(*choices: str) -> Any:
    """An option callback that accepts only ``choices`` (a usage error, exit 2, otherwise)."""

    def check(value: str | None) -> str | None:
        if value is not None and value not in choices:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(choices)}")
        return value

    return check


def _load_run(model_dir: Path) -> Any:
    """Loads a run directory (TensorFlow is imported here, not at startup)."""
    _start_tensorflow()
    from ner_crf.model.run_dir import load_run

    return load_run(model_dir)


def _load_tagger(model_dir: Path, **options: Any) -> tuple[Any, str, int]:
    """The tagger for ``--model``: an ONNX export runs on ONNX Runtime (no TensorFlow import),
    a run directory on TensorFlow.

    Returns:
        ``(tagger, evaluation mode, tag column)`` of the model's training config.
    """
    from ner_crf.onnx import is_onnx_export

    if is_onnx_export(model_dir):
        from ner_crf.onnx.runtime import load_export

        tagger = load_export(model_dir, **options)
        return tagger, tagger.meta["evaluation_mode"], int(tagger.meta["tag_column"])
    from ner_crf.predict import Predictor

    run = _load_run(model_dir)
    # No XLA compiles for a one-shot command: they cost more than they save on a file.
    tagger = Predictor(run, xla=False, **options)
    return tagger, run.config.evaluation.mode, run.config.data.tag_column


# --------------------------------------------------------------------------------------------
# train
# --------------------------------------------------------------------------------------------


def _train_summary(result: Any, dev_path: Path | None) -> str:
    """The summary ``train`` prints on stdout (``result.dev``: scored by the trainer)."""
    lines = [f"model: {result.run_dir / 'model.keras'}"]
    epochs = f"{result.epochs_completed} epoch(s) completed"
    if result.stopped_early:
        epochs += " (stopped early)"
    lines.append(epochs)
    if result.best_dev_f1 is not None:
        lines.append(f"best epoch: {result.best_epoch} (dev F1 {result.best_dev_f1:.4f})")
    else:
        lines.append(f"best epoch: {result.best_epoch} (no dev set: the last epoch)")
    if result.dev is not None:
        lines.append(f"dev scores of the best model ({dev_path}):")
        lines.append(result.dev.format().rstrip("\n"))
    if result.test is not None:
        test = result.test
        lines.append(
            f"test: P {test['precision']:.4f}  R {test['recall']:.4f}  F1 {test['f1']:.4f} "
            f"({test['mode']})"
        )
    return "\n".join(lines)


@app.command()
def train(
    config: Path = typer.Option(
        ..., "--config", "-c", help="YAML config file (see init-config).", show_default=False
    ),
    overrides: list[str] = typer.Option(
        [], "--set", help="Override a config key: --set training.epochs=20 (repeatable)."
    ),
    output_dir: Path | None = typer.Option(
        None, "--output-dir", "-o", help="Run directory (default: output.dir of the config)."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the interrupted run in the run directory."
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace an existing run in the run directory (start afresh)."
    ),
) -> None:
    """Train a BiLSTM-CRF tagger; progress on stderr, a summary on stdout.

    \b
    Example:
      ner-crf train --config configs/default.yaml --set training.epochs=20 -o runs/try1
    """
    from ner_crf.config import check_paths, load_config

    if force and resume:
        raise typer.BadParameter(
            "--force and --resume cannot be used together", param_hint="--force"
        )
    with handle_errors():
        cfg = load_config(config, overrides)
        check_paths(cfg, config_path=config)
        if force:
            _remove_run_dir(output_dir if output_dir is not None else cfg.output.dir)
        from ner_crf.training.trainer import set_cpu_threads

        _start_tensorflow(before_first_op=set_cpu_threads)
        from ner_crf.training.trainer import train as run_training

        result = run_training(
            cfg, output_dir=output_dir, resume=resume, progress=sys.stderr.isatty()
        )
    typer.echo(_train_summary(result, cfg.data.dev))


def _remove_run_dir(run_dir: Path) -> None:
    """Delete a previous run for ``train --force``; refuse anything that is not a run directory."""
    import shutil

    if not run_dir.exists():
        return
    markers = ("config.yaml", "checkpoints", "model.keras", "metrics.json")
    if not run_dir.is_dir() or not any((run_dir / name).exists() for name in markers):
        raise NerCrfError(
            f"--force: {run_dir} exists but is not a ner-crf run directory; not deleting it"
        )
    shutil.rmtree(run_dir)


# --------------------------------------------------------------------------------------------
# evaluate
# --------------------------------------------------------------------------------------------


@app.command()
def evaluate(
    files: list[Path] = typer.Argument(..., help="CoNLL files with gold tags.", show_default=False),
    model: Path = typer.Option(
        ..., "--model", "-m", help="Run directory or ONNX export.", show_default=False
    ),
    mode: str | None = typer.Option(
        None,
        "--mode",
        callback=_choice("strict", "conlleval", "both"),
        help="Entity matching: strict, conlleval or both (default: the run's evaluation.mode).",
        show_default=False,
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the scores as JSON."),
    predictions: Path | None = typer.Option(
        None, "--predictions", help="Also write 'token gold predicted' lines to this file."
    ),
    batch_size: int = typer.Option(
        DEFAULT_BATCH_SIZE, "--batch-size", min=1, help="Sentences per model call."
    ),
) -> None:
    """Score a trained model on CoNLL files: per-type P/R/F1/support, micro and macro averages.

    Gold tags in any scheme are converted to the model's scheme.

    \b
    Example:
      ner-crf evaluate --model runs/default data/test.txt --mode both --json
    """
    with handle_errors():
        if predictions is not None:
            require_new_output(predictions, overwrite=True)
        for file in files:  # fail before loading TensorFlow
            require_file(file)
        from ner_crf.evaluation import resolve_mode
        from ner_crf.predict import evaluate_files

        tagger, run_mode, tag_column = _load_tagger(model, batch_size=batch_size)
        if mode is None:
            modes = [resolve_mode(run_mode, tagger.scheme)]
        elif mode == "both":
            modes = ["strict", "conlleval"]
        else:
            modes = [mode]
        per_file, combined = evaluate_files(
            tagger, files, modes=modes, tag_column=tag_column, predictions_path=predictions
        )
    if as_json:
        report = {
            "model": str(model),
            "scheme": tagger.scheme,
            "modes": modes,
            "files": [item.to_dict() for item in per_file],
            "combined": None if combined is None else combined.to_dict(),
        }
        typer.echo(json.dumps(report, indent=2))
        return
    blocks = []
    for item in [*per_file, *([combined] if combined else [])]:
        for result in item.results.values():
            blocks.append(f"== {item.path}\n{result.format()}")
    typer.echo("\n".join(blocks).rstrip("\n"))


# --------------------------------------------------------------------------------------------
# predict
# --------------------------------------------------------------------------------------------


@app.command()
def predict(
    inputs: list[str] = typer.Argument(
        None, help="Input files; '-' or nothing reads stdin.", show_default=False
    ),
    model: Path = typer.Option(
        ..., "--model", "-m", help="Run directory or ONNX export.", show_default=False
    ),
    output_format: str = typer.Option(
        "jsonl",
        "--format",
        "-f",
        callback=_choice(*FORMATS),
        help="jsonl: one object per input line; conll: token<TAB>tag; inline: [LABEL text].",
    ),
    pretokenized: bool = typer.Option(
        False, "--pretokenized", help="Input lines are whitespace-separated tokens (one sentence)."
    ),
    conll: bool = typer.Option(
        False, "--conll", help="Input is CoNLL (token in the first column, blank line = sentence)."
    ),
    n_best: int = typer.Option(
        0, "--n-best", min=0, help="Add the K best tag sequences with their probabilities."
    ),
    batch_size: int = typer.Option(
        DEFAULT_BATCH_SIZE, "--batch-size", min=1, help="Sentences per model call."
    ),
) -> None:
    """Tag raw text: entities with character offsets and CRF posterior probabilities.

    Input is read line by line and written as it goes. jsonl objects hold text, tokens (text,
    start, end), tags, entities (start, end, label, text, score) and sentences.

    \b
    Example:
      echo "John Smith lives in Paris." | ner-crf predict --model runs/default
      ner-crf predict -m runs/default notes.txt --format inline
    """
    if pretokenized and conll:
        raise typer.BadParameter("use either --pretokenized or --conll", param_hint="--conll")
    if n_best and output_format == "inline":
        raise typer.BadParameter("needs --format jsonl or conll", param_hint="--n-best")
    sources = list(inputs) if inputs else ["-"]
    out = typer.get_binary_stream("stdout")
    with handle_errors():
        from ner_crf.predict import (
            conll_documents,
            format_document,
            iter_lines,
            predict_documents,
            pretokenized_documents,
            raw_documents,
        )

        for source in sources:  # fail on a missing file before loading TensorFlow
            if source != "-":
                require_file(source, what="input file")
        predictor, _, _ = _load_tagger(model, batch_size=batch_size, n_best=n_best)
        lines = iter_lines(sources, stdin=typer.get_binary_stream("stdin"))
        if conll:
            documents = conll_documents(lines)
        elif pretokenized:
            documents = pretokenized_documents(lines)
        else:
            documents = raw_documents(lines)
        scores = output_format == "jsonl" or n_best > 0
        tagged = predict_documents(predictor, documents, scores=scores)
        try:
            for written, document in enumerate(tagged, start=1):
                text = format_document(document, output_format, n_best=n_best > 0)
                out.write(text.encode("utf-8"))
                if written == 1 or written % batch_size == 0:  # the first line goes out at once
                    out.flush()
            out.flush()
        except BrokenPipeError:
            # The reader went away (`ner-crf predict ... | head`): stop quietly.
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(code=0) from None


# --------------------------------------------------------------------------------------------
# export, info
# --------------------------------------------------------------------------------------------


@app.command()
def export(
    output: Path = typer.Argument(..., help="Directory to create.", show_default=False),
    model: Path = typer.Option(..., "--model", "-m", help="Run directory.", show_default=False),
    export_format: str = typer.Option(
        "savedmodel",
        "--format",
        "-f",
        callback=_choice("savedmodel", "onnx"),
        help="savedmodel: TensorFlow SavedModel for TF Serving; onnx: model.onnx for ONNX "
        "Runtime (needs the onnx extra).",
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing output directory."),
) -> None:
    """Export a TensorFlow SavedModel (tokens in, tags out) for TF Serving, or ONNX.

    SavedModel signature serving_default: inputs tokens (tf.string [batch, time], padded with
    "") and lengths (tf.int32 [batch]); outputs tags (tf.string [batch, time]), tag_ids and
    scores. Vocabulary lookup, normalisation, character ids, the network and Viterbi run in the
    graph.

    ONNX (--format onnx): model.onnx takes int64 words, chars, casing ids and lengths and
    returns Viterbi tags, path scores and per-token marginals (CRF decoding in the graph), next
    to the vocabularies and settings; `ner-crf predict --model OUTPUT` runs it without
    TensorFlow.

    \b
    Example:
      ner-crf export --model runs/default exported/ner/1
      ner-crf export --model runs/default exported/onnx --format onnx
    """
    with handle_errors():
        require_new_output(output, overwrite=force)
        if export_format == "onnx":
            from ner_crf.onnx import require_onnx

            require_onnx(export=True)  # before loading TensorFlow
            from ner_crf.onnx.export import export_onnx

            path = export_onnx(_load_run(model), output, overwrite=force)
            typer.echo(f"exported ONNX to {path} (model.onnx: words, chars, casing, lengths)")
            return
        from ner_crf.export import export_saved_model

        path = export_saved_model(_load_run(model), output, overwrite=force)
    typer.echo(f"exported SavedModel to {path} (signature serving_default: tokens, lengths)")


@app.command()
def info(
    model: Path = typer.Option(
        ..., "--model", "-m", help="Run directory or .keras file.", show_default=False
    ),
    plot: Path | None = typer.Option(
        None, "--plot", help="Write the transition scores as a heat map PNG."
    ),
) -> None:
    """Show a run (or a .keras file): config, labels, metrics and the learned transition scores.

    \b
    Example:
      ner-crf info --model runs/default --plot transitions.png
    """
    with handle_errors():
        from ner_crf.info import format_info, heatmap_png, keras_file_info, run_info

        if plot is not None:
            require_new_output(plot, overwrite=True)
        if model.suffix == ".keras" and not model.is_dir():  # a saved model file, not a run
            _start_tensorflow()
            details = keras_file_info(model)
        else:
            details = run_info(_load_run(model))
        if plot is not None:
            from ner_crf.model.run_dir import atomic_write_bytes

            atomic_write_bytes(plot, heatmap_png(details["transitions"]))
    typer.echo(format_info(details))
    if plot is not None:
        typer.echo(f"heat map written to {plot}", err=True)


# --------------------------------------------------------------------------------------------
# init-config
# --------------------------------------------------------------------------------------------


@app.command("init-config")
def init_config(
    output: Path = typer.Argument(..., help="Config file to write.", show_default=False),
    preset: str = typer.Option(
        "default",
        "--preset",
        "-p",
        help="Shipped config: default, conll2003, conll2003-cnn, conll2003-glove.",
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a commented config file from a shipped preset.

    \b
    Example:
      ner-crf init-config --preset conll2003 my.yaml
    """
    from ner_crf.config import preset_text

    with handle_errors():
        text = preset_text(preset)
        require_new_output(output, overwrite=force)
        if output.exists() and not output.is_file():
            raise NerCrfError(f"{output} is not a regular file")
        from ner_crf.model.run_dir import atomic_write_text

        atomic_write_text(output, text)
    typer.echo(f"wrote {output} (preset {preset})")


# --------------------------------------------------------------------------------------------
# validate
# --------------------------------------------------------------------------------------------


@app.command()
def validate(
    files: list[Path] = typer.Argument(None, help="CoNLL files to check.", show_default=False),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Also check this config and its train/dev/test files."
    ),
    overrides: list[str] = typer.Option(
        [], "--set", help="Override a config key (with --config), repeatable."
    ),
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
    """Check CoNLL files and print counts, tag scheme, illegal tags and length statistics.

    With --config: load the config, check its paths, validate train/dev/test, and report dev/test
    labels missing in train, out-of-vocabulary rates (against the training vocabulary and the
    embeddings file) and sentences shared between train and dev/test.

    \b
    Example:
      ner-crf validate data/train.txt data/dev.txt
      ner-crf validate --config configs/default.yaml
    """
    from ner_crf.data.tags import normalize_scheme
    from ner_crf.validate import format_validation, validate_files

    if not files and config is None:
        raise typer.BadParameter("give CoNLL files, --config, or both", param_hint="FILES")
    if overrides and config is None:
        raise typer.BadParameter("--set needs --config", param_hint="--set")
    if scheme is not None:
        try:
            scheme = normalize_scheme(scheme)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--scheme") from None
    blocks = []
    with handle_errors():
        if config is not None:
            from ner_crf.config import check_paths, load_config
            from ner_crf.validate import format_config_validation, validate_config

            cfg = load_config(config, overrides)
            check_paths(cfg, config_path=config)
            blocks.append(format_config_validation(validate_config(cfg, config_path=config)))
        if files:
            result = validate_files(
                files, tag_column=tag_column, source_scheme=scheme, max_length=max_length
            )
            blocks.append(format_validation(result))
    typer.echo("\n\n".join(blocks))
