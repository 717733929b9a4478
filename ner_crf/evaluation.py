"""Entity-level evaluation with seqeval.

Two ways of matching entities are offered, because they give different numbers on the same tags:

* ``strict``: seqeval's strict mode with the scheme class of the tags (``IOB2`` for BIO,
  ``IOB1``, ``IOBES``). An entity counts only if it is well formed under the scheme, so a chunk
  that starts with ``I-`` in BIO, or a ``B-`` without its ``E-`` in IOBES, is not an entity.
* ``conlleval``: seqeval's default mode, which mimics the ``conlleval.pl`` script: ill-formed
  chunks are repaired leniently (``I-PER I-PER`` is one PER entity).

Scores are micro and macro averages over entity types plus per-type precision, recall, F1 and
support (gold entities), and token accuracy. Undefined ratios (no gold or no predicted entities
of a type) are 0 rather than a warning: a gold type the model never predicts has recall 0, a
predicted type absent from gold has precision 0 and support 0.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from seqeval.metrics import accuracy_score
from seqeval.metrics.sequence_labeling import get_entities
from seqeval.metrics.sequence_labeling import (
    precision_recall_fscore_support as conlleval_prfs,
)
from seqeval.metrics.v1 import precision_recall_fscore_support as strict_prfs
from seqeval.scheme import IOB1, IOB2, IOBES, Entities

from ner_crf.errors import DataError

logger = logging.getLogger(__name__)

__all__ = ["EvalResult", "TypeScores", "evaluate_tags", "resolve_mode"]

Mode = Literal["strict", "conlleval"]

# Tag scheme name -> (seqeval scheme class, prefixes allowed in strict mode).
_SCHEMES: dict[str, tuple[type, frozenset[str]]] = {
    "BIO": (IOB2, frozenset("BI")),
    "IOB2": (IOB2, frozenset("BI")),
    "IOB1": (IOB1, frozenset("BI")),
    "IOBES": (IOBES, frozenset("BIES")),
}
# The lenient (conlleval) chunker understands all four prefixes, whatever the scheme.
_LENIENT_PREFIXES = frozenset("BIES")


@dataclass(frozen=True)
class TypeScores:
    """Scores of one entity type, or of an average over types.

    Attributes:
        precision: Correct / predicted entities (0 when nothing was predicted).
        recall: Correct / gold entities (0 when there is no gold entity).
        f1: Harmonic mean of precision and recall (0 when both are 0).
        support: Number of gold entities.
        predicted: Number of predicted entities.
        correct: Number of predicted entities that exactly match a gold entity.
    """

    precision: float
    recall: float
    f1: float
    support: int
    predicted: int
    correct: int


@dataclass(frozen=True)
class EvalResult:
    """The result of :func:`evaluate_tags`.

    Attributes:
        per_type: Scores per entity type, sorted by type name.
        micro: Micro average (entity counts pooled over types): the usual "entity F1".
        macro: Unweighted mean of the per-type scores (counts are totals).
        accuracy: Token-level tag accuracy (0 for no tokens).
        mode: ``"strict"`` or ``"conlleval"``.
        scheme: The tag scheme the entities were read with.
        sentences: Number of sentences evaluated.
        tokens: Number of tokens evaluated.
    """

    per_type: dict[str, TypeScores]
    micro: TypeScores
    macro: TypeScores
    accuracy: float
    mode: str
    scheme: str
    sentences: int
    tokens: int

    @property
    def precision(self) -> float:
        """Micro-averaged entity precision."""
        return self.micro.precision

    @property
    def recall(self) -> float:
        """Micro-averaged entity recall."""
        return self.micro.recall

    @property
    def f1(self) -> float:
        """Micro-averaged entity F1 (the number used for model selection)."""
        return self.micro.f1

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict: ``mode``, ``scheme``, ``precision``/``recall``/``f1`` (micro),
        ``accuracy``, ``sentences``, ``tokens``, ``micro``, ``macro`` and ``per_type``."""
        return {
            "mode": self.mode,
            "scheme": self.scheme,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "accuracy": self.accuracy,
            "sentences": self.sentences,
            "tokens": self.tokens,
            "micro": asdict(self.micro),
            "macro": asdict(self.macro),
            "per_type": {name: asdict(scores) for name, scores in self.per_type.items()},
        }

    def format(self, digits: int = 4) -> str:
        """A text report in the style of seqeval's ``classification_report``.

        Args:
            digits: Decimal places of the ratios.

        Returns:
            A multi-line table ending in a newline, headed by the mode and scheme.
        """
        names = [*self.per_type, "micro avg", "macro avg"]
        width = max(len(name) for name in names)
        col = max(digits + 3, 9)
        header = (
            f"{'':<{width}}  {'precision':>{col}}  {'recall':>{col}}  {'f1-score':>{col}}"
            f"  {'support':>9}  {'predicted':>9}"
        )

        def row(name: str, s: TypeScores) -> str:
            return (
                f"{name:>{width}}  {s.precision:>{col}.{digits}f}  {s.recall:>{col}.{digits}f}"
                f"  {s.f1:>{col}.{digits}f}  {s.support:>9d}  {s.predicted:>9d}"
            )

        matching = (
            "strict: entities must be well formed under the scheme"
            if self.mode == "strict"
            else "conlleval: ill-formed chunks repaired leniently, like conlleval.pl"
        )
        lines = [
            f"Entity-level scores (seqeval), mode {self.mode} ({matching}), scheme {self.scheme}",
            f"{self.sentences} sentences, {self.tokens} tokens, "
            f"token accuracy {self.accuracy:.{digits}f}",
            "",
            header,
            "",
        ]
        lines += [row(name, scores) for name, scores in self.per_type.items()]
        if self.per_type:
            lines.append("")
        lines += [row("micro avg", self.micro), row("macro avg", self.macro), ""]
        return "\n".join(lines)


def resolve_mode(mode: str, scheme: str) -> Mode:
    """Turn the config's ``evaluation.mode`` into ``"strict"`` or ``"conlleval"``.

    ``auto`` is strict for BIO and IOBES (the tags a constrained CRF produces are always well
    formed, and strict matching is the right measure for them) and conlleval for IOB1, whose
    original CoNLL evaluation is conlleval.pl.

    Args:
        mode: ``"auto"``, ``"strict"`` or ``"conlleval"``.
        scheme: ``"BIO"``, ``"IOB2"``, ``"IOB1"`` or ``"IOBES"``.

    Returns:
        ``"strict"`` or ``"conlleval"``.
    """
    if mode in ("strict", "conlleval"):
        return mode  # type: ignore[return-value]
    if mode != "auto":
        raise ValueError(f"mode must be 'auto', 'strict' or 'conlleval', got {mode!r}")
    _scheme_info(scheme)
    return "conlleval" if scheme.upper() == "IOB1" else "strict"


def _scheme_info(scheme: str) -> tuple[type, frozenset[str]]:
    try:
        return _SCHEMES[scheme.upper()]
    except KeyError:
        raise ValueError(f"scheme must be one of {', '.join(_SCHEMES)}, got {scheme!r}") from None


def _check_tags(
    sequences: list[list[str]], prefixes: frozenset[str], which: str, scheme: str
) -> None:
    for index, tags in enumerate(sequences):
        for tag in tags:
            if tag == "O":
                continue
            prefix, dash, name = tag.partition("-")
            if not dash or prefix not in prefixes or not name:
                allowed = ", ".join(f"{p}-" for p in sorted(prefixes))
                raise DataError(
                    f"invalid tag {tag!r} in {which} sentence {index + 1}: expected 'O' or "
                    f"a tag with prefix {allowed} under scheme {scheme}"
                )


def evaluate_tags(
    gold: Sequence[Sequence[str]],
    pred: Sequence[Sequence[str]],
    *,
    scheme: str,
    mode: Mode,
) -> EvalResult:
    """Score predicted tag sequences against gold ones at the entity level.

    Args:
        gold: Gold tags, one list per sentence ``[sentences][tokens]``.
        pred: Predicted tags, same shape as ``gold``.
        scheme: Tag scheme of both: ``"BIO"`` (= ``"IOB2"``), ``"IOB1"`` or ``"IOBES"``.
        mode: ``"strict"`` or ``"conlleval"`` (see the module docstring and
            :func:`resolve_mode` for the config's ``auto``).

    Returns:
        Per-type, micro and macro scores plus token accuracy.

    Raises:
        DataError: The sequences differ in number or length, or a tag is not ``O`` or
            ``<prefix>-<type>`` with a prefix of the scheme.
        ValueError: Unknown ``scheme`` or ``mode``.
    """
    scheme_class, strict_prefixes = _scheme_info(scheme)
    if mode not in ("strict", "conlleval"):
        raise ValueError(f"mode must be 'strict' or 'conlleval', got {mode!r}")
    gold_lists = [list(tags) for tags in gold]
    pred_lists = [list(tags) for tags in pred]
    if len(gold_lists) != len(pred_lists):
        raise DataError(
            f"{len(gold_lists)} gold sentences but {len(pred_lists)} predicted sentences"
        )
    for index, (gold_tags, pred_tags) in enumerate(zip(gold_lists, pred_lists, strict=True)):
        if len(gold_tags) != len(pred_tags):
            raise DataError(
                f"sentence {index + 1} has {len(gold_tags)} gold tags but {len(pred_tags)} "
                "predicted tags"
            )
    prefixes = strict_prefixes if mode == "strict" else _LENIENT_PREFIXES
    _check_tags(gold_lists, prefixes, "gold", scheme)
    _check_tags(pred_lists, prefixes, "predicted", scheme)

    # Entity sets per type, as seqeval extracts them in this mode.
    gold_entities: dict[str, set[tuple[int, int, int]]] = {}
    pred_entities: dict[str, set[tuple[int, int, int]]] = {}
    if mode == "strict":
        for sequences, target in ((gold_lists, gold_entities), (pred_lists, pred_entities)):
            for sentence in Entities(sequences, scheme_class).entities:
                for entity in sentence:
                    target.setdefault(entity.tag, set()).add(
                        (entity.sent_id, entity.start, entity.end)
                    )
    else:
        for sequences, target in ((gold_lists, gold_entities), (pred_lists, pred_entities)):
            for index, tags in enumerate(sequences):
                for name, start, end in get_entities(tags):
                    target.setdefault(name, set()).add((index, start, end))
    types = sorted(set(gold_entities) | set(pred_entities))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zero_division=0 already; belt and braces
        if mode == "strict":

            def prfs(average: str | None) -> Any:
                return strict_prfs(
                    gold_lists, pred_lists, average=average, zero_division=0, scheme=scheme_class
                )
        else:

            def prfs(average: str | None) -> Any:
                return conlleval_prfs(gold_lists, pred_lists, average=average, zero_division=0)

        per_type: dict[str, TypeScores] = {}
        if types:
            precision, recall, f1, support = prfs(None)
            for position, name in enumerate(types):
                gold_set = gold_entities.get(name, set())
                pred_set = pred_entities.get(name, set())
                per_type[name] = TypeScores(
                    precision=float(precision[position]),
                    recall=float(recall[position]),
                    f1=float(f1[position]),
                    support=int(support[position]),
                    predicted=len(pred_set),
                    correct=len(gold_set & pred_set),
                )
        totals = {
            "support": sum(s.support for s in per_type.values()),
            "predicted": sum(s.predicted for s in per_type.values()),
            "correct": sum(s.correct for s in per_type.values()),
        }
        if types:
            micro_p, micro_r, micro_f, _ = prfs("micro")
            macro_p, macro_r, macro_f, _ = prfs("macro")
        else:  # no entity anywhere: seqeval's macro average would be the mean of nothing
            micro_p = micro_r = micro_f = macro_p = macro_r = macro_f = 0.0
        n_tokens = sum(len(tags) for tags in gold_lists)
        accuracy = float(accuracy_score(gold_lists, pred_lists)) if n_tokens else 0.0

    return EvalResult(
        per_type=per_type,
        micro=TypeScores(float(micro_p), float(micro_r), float(micro_f), **totals),
        macro=TypeScores(float(macro_p), float(macro_r), float(macro_f), **totals),
        accuracy=accuracy,
        mode=mode,
        scheme=scheme,
        sentences=len(gold_lists),
        tokens=n_tokens,
    )
