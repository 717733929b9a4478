"""Entity posterior probabilities of a linear-chain CRF, in NumPy (no TensorFlow).

:func:`entity_log_prob` generalises :func:`ner_crf.crf.crf_segment_log_prob` (the probability of
one fixed tag segment) to the probability that a tagging *contains an entity*: the union of every
tag pattern that :func:`ner_crf.data.tags.get_spans` reads as that entity. It works on the
forward-backward tables of one sentence (:class:`CrfTables`), which the TensorFlow predictor and a
TensorFlow-free runtime both produce; brute-force enumeration of every tag path checks it
(``tests/crf/test_entity_probs.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ner_crf.crf.constraints import FORBIDDEN_SCORE

__all__ = ["CrfTables", "effective_scores", "entity_log_prob"]


def effective_scores(params: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The transition / start / end scores the forward-backward pass uses, as NumPy arrays.

    Args:
        params: ``CRF.numpy_parameters()``: ``transitions`` [K, K], ``start`` [K], ``end`` [K]
            and their bool masks ``transition_mask``, ``start_mask``, ``end_mask``.

    Returns:
        ``(transitions [K, K], start [K], end [K])`` float64 with every forbidden entry replaced
        by :data:`~ner_crf.crf.constraints.FORBIDDEN_SCORE`, as the TensorFlow functions do.
    """
    return (
        np.where(params["transition_mask"], params["transitions"], FORBIDDEN_SCORE),
        np.where(params["start_mask"], params["start"], FORBIDDEN_SCORE),
        np.where(params["end_mask"], params["end"], FORBIDDEN_SCORE),
    )


def _logsumexp(values: np.ndarray) -> float:
    if values.size == 0:
        return -math.inf
    top = float(values.max())
    if not math.isfinite(top):
        return top
    return top + math.log(float(np.exp(values - top).sum()))


@dataclass(frozen=True)
class CrfTables:
    """Forward-backward results of one sentence (float64), with the constraints applied.

    ``alpha[t, j]`` includes the start score and the emission at ``t``; ``beta[t, i]`` excludes
    the emission at ``t`` and includes the end score (``ner_crf.crf.crf_forward_backward``).
    ``transitions`` / ``start`` / ``end`` are the effective scores of that pass
    (:func:`effective_scores`).
    """

    emissions: np.ndarray  # [L, K]
    alpha: np.ndarray  # [L, K]
    beta: np.ndarray  # [L, K]
    log_z: float
    transitions: np.ndarray  # [K, K] [from, to], forbidden entries = FORBIDDEN_SCORE
    start: np.ndarray  # [K]
    end: np.ndarray  # [K]


def _pattern_log_prob(
    tables: CrfTables,
    start: int,
    tags: Sequence[int],
    left_excluded: Sequence[int],
    right_excluded: Sequence[int],
) -> float:
    """``log P(y[start:start+n] = tags, y[start-1] not in left_excluded, y[end] not in right...)``.

    A missing neighbour (sentence start or end) satisfies its condition.
    """
    x, alpha, beta, trans = tables.emissions, tables.alpha, tables.beta, tables.transitions
    length = x.shape[0]
    end = start + len(tags)
    first, last = tags[0], tags[-1]
    if start == 0 or not left_excluded:
        left = alpha[start, first]
    else:
        allowed = np.ones(x.shape[1], dtype=bool)
        allowed[list(left_excluded)] = False
        left = _logsumexp(alpha[start - 1, allowed] + trans[allowed, first]) + x[start, first]
    inner = 0.0
    for t in range(start + 1, end):
        inner += trans[tags[t - start - 1], tags[t - start]] + x[t, tags[t - start]]
    if end == length or not right_excluded:
        right = beta[end - 1, last]
    else:
        allowed = np.ones(x.shape[1], dtype=bool)
        allowed[list(right_excluded)] = False
        right = _logsumexp(trans[last, allowed] + x[end, allowed] + beta[end, allowed])
    return float(left + inner + right - tables.log_z)


def entity_log_prob(
    tables: CrfTables, tag_names: Sequence[str], scheme: str, start: int, end: int, label: str
) -> float:
    """Exact log-probability that the tagging contains the entity ``(start, end, label)``.

    The entity is read leniently, as :func:`ner_crf.data.tags.get_spans` does, so the event is
    a union of disjoint tag patterns on ``[start - 1, end]``; for BIO / IOB1 (``X`` = label):

    * ``B-X I-X ... I-X`` followed by anything but ``I-X``;
    * ``I-X I-X ... I-X`` preceded by anything but ``B-X`` / ``I-X`` and followed by anything
      but ``I-X``;

    and for IOBES the first token is ``B-X`` (or ``I-X`` after neither ``B-X`` nor ``I-X``), the
    inner ones ``I-X``, the last ``E-X`` (or ``I-X`` before neither ``I-X`` nor ``E-X``), and a
    one-token entity is ``S-X``, ``B-X`` / ``I-X`` / ``E-X`` with the matching conditions. Each
    pattern's probability comes from the forward-backward tables; under transition constraints
    only the legal pattern has non-zero probability.

    Args:
        tables: The sentence's forward-backward tables.
        tag_names: Tag strings, index = tag id.
        scheme: ``BIO``, ``IOB1`` or ``IOBES``.
        start: First token of the entity.
        end: Token just past the entity.
        label: The entity type.

    Returns:
        The log-probability (<= 0 up to rounding).
    """
    ids = {name: i for i, name in enumerate(tag_names)}
    b, i_, e, s = (ids.get(f"{p}-{label}") for p in "BIES")
    cont = [t for t in (b, i_) if t is not None]  # tags an I-X / E-X continues
    n = end - start
    terms: list[float] = []

    def add(tags: list[int | None], left: list[int], right: list[int]) -> None:
        if any(t is None for t in tags):
            return  # a tag the model does not have: the pattern has probability 0
        terms.append(_pattern_log_prob(tables, start, tags, left, right))  # type: ignore[arg-type]

    if scheme in ("BIO", "IOB1"):
        right = [i_] if i_ is not None else []
        add([b] + [i_] * (n - 1), [], right)
        add([i_] * n, cont, right)
    else:
        after = [t for t in (i_, e) if t is not None]  # tags that continue a B-X / I-X
        if n == 1:
            add([s], [], [])
            add([b], [], after)
            add([i_], cont, after)
            add([e], cont, [])
        else:
            inner = [i_] * (n - 2)
            add([b, *inner, e], [], [])
            add([b, *inner, i_], [], after)
            add([i_, *inner, e], cont, [])
            add([i_, *inner, i_], cont, after)
    if not terms:
        return -math.inf
    return _logsumexp(np.array(terms))
