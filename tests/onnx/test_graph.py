"""The CRF part of the ONNX graph against brute-force enumeration of every tag path.

The weights are random NumPy arrays (no TensorFlow): the graph's own ``emissions`` output feeds a
plain-Python scorer that enumerates all ``K ** L`` paths of each row, with the IOBES constraints
(forbidden = ``-inf`` for Viterbi, ``FORBIDDEN_SCORE`` for forward-backward, as ``ner_crf.crf``).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from ner_crf.crf.constraints import (
    FORBIDDEN_SCORE,
    allowed_end,
    allowed_start,
    allowed_transitions,
)
from ner_crf.onnx.graph import LstmWeights, TaggerWeights, build_graph

TAGS = ["O", "B-X", "I-X", "E-X", "S-X"]


def _lstm(rng: np.random.Generator, inputs: int, units: int) -> tuple[LstmWeights, LstmWeights]:
    def one() -> LstmWeights:
        return LstmWeights(
            kernel=rng.normal(0, 0.5, (inputs, 4 * units)).astype(np.float32),
            recurrent_kernel=rng.normal(0, 0.5, (units, 4 * units)).astype(np.float32),
            bias=rng.normal(0, 0.5, (4 * units,)).astype(np.float32),
        )

    return one(), one()


def _weights(seed: int, *, char_encoder: str = "lstm", constrain: bool = True) -> TaggerWeights:
    rng = np.random.default_rng(seed)
    k = len(TAGS)
    mask = np.zeros((k, k), bool)
    for frm, to in allowed_transitions("IOBES", TAGS):
        mask[frm, to] = True
    start_mask = np.isin(np.arange(k), allowed_start("IOBES", TAGS))
    end_mask = np.isin(np.arange(k), allowed_end("IOBES", TAGS))
    if not constrain:
        mask[:], start_mask[:], end_mask[:] = True, True, True
    char: dict = {"char_encoder": char_encoder}
    char_out = 0
    if char_encoder != "none":
        char["char_embedding"] = rng.normal(0, 1, (12, 3)).astype(np.float32)
    if char_encoder == "lstm":
        char["char_lstm"] = _lstm(rng, 3, 2)
        char_out = 4
    elif char_encoder == "cnn":
        char["char_conv_kernel"] = rng.normal(0, 1, (4, 3, 5)).astype(np.float32)  # even width
        char["char_conv_bias"] = rng.normal(0, 1, (5,)).astype(np.float32)
        char_out = 5
    return TaggerWeights(
        word_embedding=rng.normal(0, 1, (20, 4)).astype(np.float32),
        casing_embedding=rng.normal(0, 1, (8, 2)).astype(np.float32),
        word_lstms=(_lstm(rng, 4 + 2 + char_out, 3),),
        dense_kernel=rng.normal(0, 1.5, (6, k)).astype(np.float32),
        dense_bias=rng.normal(0, 1, (k,)).astype(np.float32),
        transitions=rng.normal(0, 1, (k, k)),
        start=rng.normal(0, 1, (k,)),
        end=rng.normal(0, 1, (k,)),
        transition_mask=mask,
        start_mask=start_mask,
        end_mask=end_mask,
        **char,
    )


def _session(weights: TaggerWeights):
    import onnxruntime as ort

    model = build_graph(weights)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _feeds(rng: np.random.Generator, lengths: list[int], width: int = 5) -> dict[str, np.ndarray]:
    batch, time = len(lengths), max(lengths)
    words = np.zeros((batch, time), np.int64)
    chars = np.zeros((batch, time, width), np.int64)
    casing = np.zeros((batch, time), np.int64)
    for row, n in enumerate(lengths):
        words[row, :n] = rng.integers(1, 20, n)
        casing[row, :n] = rng.integers(1, 8, n)
        for t in range(n):
            chars[row, t, : rng.integers(1, width + 1)] = rng.integers(1, 12)
    return {"words": words, "chars": chars, "casing": casing, "lengths": np.array(lengths)}


def _brute_force(x: np.ndarray, w: TaggerWeights) -> tuple[list[int], float, float, np.ndarray]:
    """Best allowed path, its score, log Z and marginals of one row ``x`` [L, K] (float64)."""
    length, k = x.shape

    def score(path: tuple[int, ...], forbidden: float) -> float:
        def value(allowed: bool, s: float) -> float:
            return s if allowed else forbidden

        total = value(w.start_mask[path[0]], w.start[path[0]]) + x[0, path[0]]
        for t in range(1, length):
            a, b = path[t - 1], path[t]
            total += value(w.transition_mask[a, b], w.transitions[a, b]) + x[t, b]
        return total + value(w.end_mask[path[-1]], w.end[path[-1]])

    paths = list(itertools.product(range(k), repeat=length))
    viterbi = [score(p, -math.inf) for p in paths]
    best = int(np.argmax(viterbi))
    soft = np.array([score(p, FORBIDDEN_SCORE) for p in paths])
    log_z = float(np.logaddexp.reduce(soft))
    marginals = np.zeros((length, k))
    for path, s in zip(paths, soft, strict=True):
        for t, tag in enumerate(path):
            marginals[t, tag] += math.exp(s - log_z)
    return list(paths[best]), viterbi[best], log_z, marginals


@pytest.mark.parametrize(
    ("char_encoder", "constrain"), [("lstm", True), ("cnn", True), ("none", False)]
)
def test_crf_outputs_match_brute_force(char_encoder: str, constrain: bool) -> None:
    weights = _weights(3, char_encoder=char_encoder, constrain=constrain)
    session = _session(weights)
    rng = np.random.default_rng(7)
    lengths = [4, 1, 3, 0, 2]
    feeds = _feeds(rng, lengths)
    names = [o.name for o in session.get_outputs()]
    out = dict(zip(names, session.run(None, feeds), strict=True))
    for row, n in enumerate(lengths):
        assert (out["tags"][row, n:] == 0).all()
        assert (out["marginals"][row, n:] == 0).all()
        if n == 0:
            assert out["scores"][row] == 0 and out["log_z"][row] == 0
            continue
        x = out["emissions"][row, :n].astype(np.float64)
        path, best, log_z, marginals = _brute_force(x, weights)
        assert out["tags"][row, :n].tolist() == path
        assert out["scores"][row] == pytest.approx(best, abs=1e-4)
        assert out["log_z"][row] == pytest.approx(log_z, abs=1e-9)
        np.testing.assert_allclose(out["marginals"][row, :n], marginals, atol=1e-6)
        alpha_beta = out["log_alpha"][row, :n] + out["log_beta"][row, :n] - log_z
        np.testing.assert_allclose(np.exp(alpha_beta), marginals, atol=1e-9)


def test_rows_do_not_depend_on_padding_or_batch() -> None:
    """A row tagged alone equals the same row inside a longer, wider padded batch."""
    session = _session(_weights(5))
    rng = np.random.default_rng(11)
    feeds = _feeds(rng, [3, 9, 1], width=6)
    together = session.run(["tags", "emissions", "log_z"], feeds)
    for row, n in enumerate([3, 9, 1]):
        alone = {
            "words": feeds["words"][row : row + 1, :n],
            "chars": feeds["chars"][row : row + 1, :n, :],
            "casing": feeds["casing"][row : row + 1, :n],
            "lengths": feeds["lengths"][row : row + 1],
        }
        tags, emissions, log_z = session.run(["tags", "emissions", "log_z"], alone)
        assert tags[0].tolist() == together[0][row, :n].tolist()
        np.testing.assert_allclose(emissions[0], together[1][row, :n], atol=1e-5)
        np.testing.assert_allclose(log_z[0], together[2][row], atol=1e-9)
