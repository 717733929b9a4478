"""Entity posterior probabilities (NumPy) against brute-force enumeration of every tag path."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from ner_crf.crf.constraints import FORBIDDEN_SCORE
from ner_crf.crf.entity_probs import CrfTables, entity_log_prob
from ner_crf.data.tags import get_spans

TAGS = {
    "BIO": ["O", "B-X", "I-X", "B-Y", "I-Y"],
    "IOB1": ["O", "B-X", "I-X", "I-Y"],
    "IOBES": ["O", "B-X", "I-X", "E-X", "S-X", "S-Y"],
}


def _tables(emissions, trans, start, end) -> CrfTables:
    import tensorflow as tf

    from ner_crf.crf import crf_forward_backward

    alpha, beta, log_z = crf_forward_backward(
        tf.constant(emissions[None]),
        tf.constant(trans),
        tf.constant([emissions.shape[0]]),
        start_transitions=tf.constant(start),
        end_transitions=tf.constant(end),
    )
    return CrfTables(
        emissions=emissions,
        alpha=alpha.numpy()[0],
        beta=beta.numpy()[0],
        log_z=float(log_z.numpy()[0]),
        transitions=trans,
        start=start,
        end=end,
    )


@pytest.mark.parametrize(
    ("scheme", "constrained"),
    [("BIO", False), ("BIO", True), ("IOB1", False), ("IOBES", False), ("IOBES", True)],
)
def test_entity_probability_matches_brute_force(scheme, constrained):
    """P(entity in the lenient span reading) = sum over all paths, for every possible span."""
    from ner_crf.crf import allowed_end, allowed_start, allowed_transitions

    names = TAGS[scheme]
    k, length = len(names), 4
    rng = np.random.default_rng(7)
    emissions = rng.uniform(-2, 2, (length, k))  # float64
    trans = rng.uniform(-2, 2, (k, k))
    start = rng.uniform(-1, 1, k)
    end = rng.uniform(-1, 1, k)
    if constrained:  # forbidden entries as the forward-backward pass sees them
        allowed = np.zeros((k, k), bool)
        for frm, to in allowed_transitions(scheme, names):
            allowed[frm, to] = True
        trans = np.where(allowed, trans, FORBIDDEN_SCORE)
        ids = np.arange(k)
        start = np.where(np.isin(ids, allowed_start(scheme, names)), start, FORBIDDEN_SCORE)
        end = np.where(np.isin(ids, allowed_end(scheme, names)), end, FORBIDDEN_SCORE)
    tables = _tables(emissions, trans, start, end)

    scores = {}
    for path in itertools.product(range(k), repeat=length):
        score = start[path[0]] + end[path[-1]] + emissions[np.arange(length), path].sum()
        score += sum(trans[a, b] for a, b in itertools.pairwise(path))
        scores[path] = score
    log_z = np.logaddexp.reduce(np.array(list(scores.values())))
    assert tables.log_z == pytest.approx(log_z, rel=1e-5)
    expected: dict[tuple[int, int, str], float] = {}
    for path, score in scores.items():
        for span in get_spans([names[i] for i in path], scheme):
            expected[span] = expected.get(span, 0.0) + math.exp(score - log_z)
    checked = 0
    for s in range(length):
        for e in range(s + 1, length + 1):
            for label in ("X", "Y"):
                got = math.exp(entity_log_prob(tables, names, scheme, s, e, label))
                assert got == pytest.approx(expected.get((s, e, label), 0.0), abs=2e-5), (
                    s,
                    e,
                    label,
                )
                checked += expected.get((s, e, label), 0.0) > 1e-3
    assert checked >= 5  # the test exercises non-trivial probabilities
