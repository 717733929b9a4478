"""The TensorFlow predictor on the trained sample run (``trained`` / ``loaded`` fixtures)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest


def test_entity_scores_match_brute_force(loaded):
    """On a 3-token sentence, enumerate all K^3 tag paths of the trained CRF."""
    import tensorflow as tf

    from ner_crf.data.tags import get_spans
    from ner_crf.predict import Predictor

    run = loaded
    tokens = ["Smith", "visited", "Ostrava"]
    predictor = Predictor(run)
    (result,) = predictor.predict([tokens])
    features = predictor._features([tokens])
    emissions = (
        run.model({k: tf.constant(v) for k, v in features.items()}, training=False)
        .numpy()[0]
        .astype(np.float64)
    )  # [3, K]
    crf = run.model.crf
    k = len(run.tag_names)
    trans = crf.transitions.numpy().astype(np.float64)
    start = crf.start_transitions.numpy().astype(np.float64)
    end = crf.end_transitions.numpy().astype(np.float64)
    allowed = np.zeros((k, k), bool)
    for frm, to in crf.allowed_transitions:
        allowed[frm, to] = True
    trans = np.where(allowed, trans, -1e4)
    start = np.where(np.isin(np.arange(k), crf.allowed_start), start, -1e4)
    end = np.where(np.isin(np.arange(k), crf.allowed_end), end, -1e4)
    scores = {}
    for path in itertools.product(range(k), repeat=3):
        s = start[path[0]] + end[path[-1]] + sum(emissions[t, y] for t, y in enumerate(path))
        s += sum(trans[a, b] for a, b in itertools.pairwise(path))
        scores[path] = s
    log_z = np.logaddexp.reduce(np.array(list(scores.values())))
    expected = {}
    for path, s in scores.items():
        for span in get_spans([run.tag_names[y] for y in path], run.scheme):
            expected[span] = expected.get(span, 0.0) + math.exp(s - log_z)
    assert result.entities, "nothing predicted: the comparison below would check nothing"
    for first, end_, label, probability in result.entities:
        assert probability == pytest.approx(expected[(first, end_, label)], rel=1e-3, abs=1e-6)
    # Every possible span, not only the predicted ones.
    from ner_crf.crf.entity_probs import CrfTables, entity_log_prob

    out = {key: v.numpy() for key, v in predictor._analyse(features).items()}
    tables = CrfTables(
        emissions=out["emissions"][0].astype(np.float64),
        alpha=out["alpha"][0].astype(np.float64),
        beta=out["beta"][0].astype(np.float64),
        log_z=float(out["log_z"][0]),
        transitions=trans,
        start=start,
        end=end,
    )
    for (first, end_, label), probability in expected.items():
        got = math.exp(entity_log_prob(tables, run.tag_names, run.scheme, first, end_, label))
        assert got == pytest.approx(probability, rel=1e-3, abs=1e-6), (first, end_, label)


def test_plain_graphs_predict_what_xla_cores_predict(loaded):
    """``xla=False`` (one-shot commands) gives the trainer's (``xla=True``) tags and scores."""
    from ner_crf.predict import Predictor

    sentences = [
        ["John", "Smith", "visited", "Ostrava", "and", "Paris", "."],
        ["Acme", "staff", "met", "in", "Dunmere"],
        ["OK"],
    ]
    fast, plain = Predictor(loaded, n_best=2), Predictor(loaded, xla=False, n_best=2)
    for got, want in zip(plain.predict(sentences), fast.predict(sentences), strict=True):
        assert got.tags == want.tags
        assert [e[:3] for e in got.entities] == [e[:3] for e in want.entities]
        for (*_, p_got), (*_, p_want) in zip(got.entities, want.entities, strict=True):
            assert p_got == pytest.approx(p_want, rel=1e-6)
    assert any(result.entities for result in fast.predict(sentences))
