"""Scoring a model's tags against gold ones: the one decode-and-score path.

:func:`evaluate_sentences` is what the trainer's dev/test evaluation, ``ner-crf train``'s summary
and ``ner-crf evaluate`` (through :func:`evaluate_files`) all call: Viterbi tags from a
:class:`~ner_crf.predict.tagging.Tagger`, entity-level scores from
:func:`ner_crf.evaluation.evaluate_tags`. The sentences are read by the caller, with its reading
options (the trainer: the config's ``data`` section).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # seqeval (behind ner_crf.evaluation) takes seconds to import: done on use
    from ner_crf.evaluation import EvalResult
    from ner_crf.predict.tagging import Tagger

__all__ = ["FileEvaluation", "evaluate_files", "evaluate_sentences", "score_tags"]


def score_tags(
    gold: Sequence[Sequence[str]],
    pred: Sequence[Sequence[str]],
    *,
    scheme: str,
    modes: Sequence[str],
) -> dict[str, EvalResult]:
    """:func:`~ner_crf.evaluation.evaluate_tags` once per mode (``strict`` / ``conlleval``)."""
    from ner_crf.evaluation import evaluate_tags

    return {
        mode: evaluate_tags(gold, pred, scheme=scheme, mode=mode)  # type: ignore[arg-type]
        for mode in modes
    }


def evaluate_sentences(
    tagger: Tagger, sentences: Sequence[Any], *, modes: Sequence[str]
) -> tuple[list[list[str]], dict[str, EvalResult]]:
    """Tags sentences with the tagger's model and scores them against their gold tags.

    Args:
        tagger: The :class:`~ner_crf.predict.predictor.Predictor` (any :class:`Tagger`).
        sentences: :class:`~ner_crf.data.conll.Sentence` objects with gold tags in the model's
            scheme.
        modes: ``strict`` and/or ``conlleval``.

    Returns:
        ``(predicted tags per sentence, EvalResult per mode)``.
    """
    pred = tagger.tag([s.tokens for s in sentences])
    gold = [list(s.tags) for s in sentences]
    return pred, score_tags(gold, pred, scheme=tagger.scheme, modes=modes)


@dataclass
class FileEvaluation:
    """Scores of one CoNLL file (or of all files together).

    Attributes:
        path: The file (``"all files"`` for the combined scores).
        sentences: Sentences evaluated.
        tokens: Tokens evaluated.
        results: ``EvalResult`` per mode (``strict`` and/or ``conlleval``).
    """

    path: str
    sentences: int
    tokens: int
    results: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: ``path``, ``sentences``, ``tokens`` and one entry per mode."""
        out: dict[str, Any] = {
            "path": self.path,
            "sentences": self.sentences,
            "tokens": self.tokens,
        }
        out.update({mode: result.to_dict() for mode, result in self.results.items()})
        return out


def evaluate_files(
    predictor: Tagger,
    paths: Sequence[str | Path],
    *,
    modes: Sequence[str],
    tag_column: int = -1,
    predictions_path: str | Path | None = None,
) -> tuple[list[FileEvaluation], FileEvaluation | None]:
    """Tags CoNLL files with the predictor's model and scores them against their gold tags.

    Gold tags may be in any scheme: they are read leniently (illegal sequences repaired) and
    converted to the model's scheme. Gold types the model never saw simply get recall 0.

    Args:
        predictor: The :class:`~ner_crf.predict.predictor.Predictor` (any :class:`Tagger`).
        paths: CoNLL files.
        modes: ``strict`` and/or ``conlleval``.
        tag_column: Column of the gold tag.
        predictions_path: Also write ``token gold predicted`` lines (a blank line after each
            sentence, files one after the other) to this file, atomically.

    Returns:
        ``(per-file scores, combined scores or None for a single file)``.

    Raises:
        DataError: A file is missing or malformed.
    """
    from ner_crf.data.conll import read_conll

    scheme = predictor.scheme
    per_file: list[FileEvaluation] = []
    all_gold: list[list[str]] = []
    all_pred: list[list[str]] = []
    all_tokens: list[list[str]] = []
    for path in paths:
        sentences = read_conll(path, tag_column=tag_column, scheme=scheme, illegal="repair")
        tokens = [s.tokens for s in sentences]
        gold = [list(s.tags) for s in sentences]
        pred, results = evaluate_sentences(predictor, sentences, modes=modes)
        per_file.append(
            FileEvaluation(str(path), len(sentences), sum(len(t) for t in tokens), results)
        )
        all_gold += gold
        all_pred += pred
        all_tokens += tokens
    combined = None
    if len(per_file) > 1:
        combined = FileEvaluation(
            "all files",
            len(all_gold),
            sum(len(t) for t in all_tokens),
            score_tags(all_gold, all_pred, scheme=scheme, modes=modes),
        )
    if predictions_path is not None:
        from ner_crf.atomic import atomic_write

        def write(tmp: Path) -> None:
            with tmp.open("w", encoding="utf-8") as handle:
                for tokens, gold, pred in zip(all_tokens, all_gold, all_pred, strict=True):
                    for token, g, p in zip(tokens, gold, pred, strict=True):
                        handle.write(f"{token} {g} {p}\n")
                    handle.write("\n")

        atomic_write(predictions_path, write)
    return per_file, combined
