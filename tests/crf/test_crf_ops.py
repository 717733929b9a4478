"""Brute-force tests of the CRF functions in ``ner_crf.crf.ops``.

The oracle enumerates every tag path with ``itertools.product`` and scores it in NumPy (float64).
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
import tensorflow as tf

from ner_crf.crf import (
    TransitionConstraints,
    crf_binary_score,
    crf_decode,
    crf_decode_nbest,
    crf_forward,
    crf_forward_backward,
    crf_log_likelihood,
    crf_log_norm,
    crf_marginals,
    crf_segment_log_prob,
    crf_sequence_score,
    crf_unary_score,
    viterbi_decode,
)

# --------------------------------------------------------------------------------------------
# Oracle
# --------------------------------------------------------------------------------------------


@functools.cache
def all_paths(num_tags: int, length: int) -> np.ndarray:
    """Every tag path of ``length`` as a [num_paths, length] int array (one empty path for 0)."""
    paths = list(itertools.product(range(num_tags), repeat=length))
    return np.array(paths, dtype=np.int64).reshape(len(paths), length)


def path_scores(x, paths, trans, start, end):
    """Scores of ``paths`` [P, L] under emissions ``x`` [T, K]; float64 [P]."""
    num, length = paths.shape
    if length == 0:
        return np.zeros(num)
    score = start[paths[:, 0]] + end[paths[:, -1]]
    score = score + x[np.arange(length), paths].sum(axis=1)
    if length > 1:
        score = score + trans[paths[:, :-1], paths[:, 1:]].sum(axis=1)
    return score


def path_allowed(paths, tmask, smask, emask):
    """Bool [P]: the path uses only allowed transitions, first and last tags."""
    num, length = paths.shape
    if length == 0:
        return np.ones(num, dtype=bool)
    ok = smask[paths[:, 0]] & emask[paths[:, -1]]
    if length > 1:
        ok &= tmask[paths[:, :-1], paths[:, 1:]].all(axis=1)
    return ok


def logsumexp(v):
    v = np.asarray(v, dtype=np.float64)
    if v.size == 0:
        return -np.inf
    m = v.max()
    return m + np.log(np.exp(v - m).sum())


class Case:
    """A random padded batch with transitions, start/end scores and optional constraints."""

    def __init__(self, num_tags, max_len, seed, *, boundary=True, constraints=None, batch=5):
        rng = np.random.default_rng(seed)
        self.k, self.t = num_tags, max_len
        self.x = rng.uniform(-3, 3, (batch, max_len, num_tags))
        self.trans = rng.uniform(-5, 5, (num_tags, num_tags))
        self.start = rng.uniform(-5, 5, num_tags) if boundary else np.zeros(num_tags)
        self.end = rng.uniform(-5, 5, num_tags) if boundary else np.zeros(num_tags)
        self.boundary = boundary
        # Lengths cover 0, 1 and the full length; padded positions hold garbage.
        lengths = [max_len, 0, 1, rng.integers(1, max_len + 1), rng.integers(0, max_len + 1)]
        self.lengths = np.array(lengths[:batch], dtype=np.int32)
        self.tags = rng.integers(0, num_tags, (batch, max_len))
        for b, n in enumerate(self.lengths):
            self.x[b, n:] = rng.uniform(50, 100, (max_len - n, num_tags))  # garbage
            self.tags[b, n:] = -1  # out of range on purpose: must be ignored
        self.constraints = constraints
        if constraints is None:
            self.tmask = np.ones((num_tags, num_tags), bool)
            self.smask = np.ones(num_tags, bool)
            self.emask = np.ones(num_tags, bool)
        else:
            self.tmask, self.smask, self.emask = (
                constraints.transitions,
                constraints.start,
                constraints.end,
            )
            # Make the gold tags legal so the likelihood comparison is meaningful.
            for b, n in enumerate(self.lengths):
                paths = all_paths(num_tags, int(n))
                legal = paths[path_allowed(paths, self.tmask, self.smask, self.emask)]
                self.tags[b, :n] = legal[rng.integers(len(legal))]

    def kwargs(self):
        kw = {}
        if self.boundary:
            kw.update(start_transitions=self.start, end_transitions=self.end)
        if self.constraints is not None:
            kw.update(self.constraints.as_kwargs())
        return kw

    def tensors(self):
        return (
            tf.constant(self.x, tf.float32),
            tf.constant(self.trans, tf.float32),
            tf.constant(self.lengths),
        )

    def brute(self, b):
        """(paths, scores) of the allowed paths of row ``b``."""
        n = int(self.lengths[b])
        paths = all_paths(self.k, n)
        scores = path_scores(self.x[b], paths, self.trans, self.start, self.end)
        ok = path_allowed(paths, self.tmask, self.smask, self.emask)
        return paths[ok], scores[ok]


def bio(types=("PER",)):
    tags = ["O"] + [f"{p}-{t}" for t in types for p in "BI"]
    return TransitionConstraints.from_scheme("BIO", tags)


def iobes(types=("PER",)):
    tags = ["O"] + [f"{p}-{t}" for t in types for p in "BIES"]
    return TransitionConstraints.from_scheme("IOBES", tags)


SHAPES = [(2, 6), (3, 5), (4, 4), (5, 3)]
CONSTRAINED = [
    ("bio3", bio(), 6),
    ("bio5", bio(("PER", "LOC")), 4),
    ("iobes5", iobes(), 5),
]


def make_cases():
    cases = []
    for i, (k, t) in enumerate(SHAPES):
        cases.append(pytest.param(Case(k, t, seed=i, boundary=i % 2 == 0), id=f"K{k}T{t}"))
    cases.append(pytest.param(Case(3, 4, seed=7, boundary=True), id="K3T4-start-end"))
    # Time 9 is padded to the bucket size 10 before the XLA cores run.
    cases.append(pytest.param(Case(2, 9, seed=8, boundary=True), id="K2T9-padded"))
    for i, (name, cons, t) in enumerate(CONSTRAINED):
        case = Case(len(cons.tags), t, seed=100 + i, constraints=cons)
        cases.append(pytest.param(case, id=name))
    return cases


CASES = make_cases()


# --------------------------------------------------------------------------------------------
# Brute-force comparisons
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_log_norm_score_and_likelihood_match_brute_force(case):
    x, trans, lengths = case.tensors()
    kw = case.kwargs()
    log_z = crf_log_norm(x, lengths, trans, **kw).numpy()
    score = crf_sequence_score(x, case.tags, lengths, trans, **kw).numpy()
    ll, returned = crf_log_likelihood(x, case.tags, lengths, trans, **kw)
    assert returned is trans
    assert ll.dtype == tf.float32 and ll.shape == (len(case.lengths),)
    for b, n in enumerate(case.lengths):
        paths, scores = case.brute(b)
        gold = path_scores(case.x[b], case.tags[b : b + 1, :n], case.trans, case.start, case.end)[0]
        want_z = 0.0 if n == 0 else logsumexp(scores)
        np.testing.assert_allclose(log_z[b], want_z, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(score[b], gold, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(ll.numpy()[b], gold - want_z, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("case", CASES)
def test_all_path_probabilities_sum_to_one(case):
    """logsumexp over every allowed path of its log-likelihood is 0, for each row."""
    kw = case.kwargs()
    for b, n in enumerate(case.lengths):
        paths, _ = case.brute(b)
        num = len(paths)
        x = np.repeat(case.x[b : b + 1], num, axis=0)  # [P, T, K]
        tags = np.zeros((num, case.t), np.int64)
        tags[:, :n] = paths
        ll, _ = crf_log_likelihood(x, tags, np.full(num, n), case.trans, **kw)
        np.testing.assert_allclose(logsumexp(ll.numpy()), 0.0, atol=1e-4)


@pytest.mark.parametrize("case", CASES)
def test_viterbi_matches_brute_force(case):
    x, trans, lengths = case.tensors()
    tags, best = crf_decode(x, trans, lengths, **case.kwargs())
    assert tags.dtype == tf.int32 and best.dtype == tf.float32
    tags, best = tags.numpy(), best.numpy()
    for b, n in enumerate(case.lengths):
        paths, scores = case.brute(b)
        assert (tags[b, n:] == 0).all()
        if n == 0:
            assert best[b] == 0.0
            continue
        np.testing.assert_allclose(best[b], scores.max(), rtol=1e-5, atol=1e-4)
        got = path_scores(case.x[b], tags[b : b + 1, :n], case.trans, case.start, case.end)[0]
        np.testing.assert_allclose(got, scores.max(), rtol=1e-5, atol=1e-4)
        assert path_allowed(tags[b : b + 1, :n], case.tmask, case.smask, case.emask)[0]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_nbest_matches_sorted_brute_force(case, k):
    x, trans, lengths = case.tensors()
    tags, scores = crf_decode_nbest(x, trans, lengths, k, **case.kwargs())
    assert tags.shape == (len(case.lengths), k, case.t) and scores.shape == (len(case.lengths), k)
    assert tags.dtype == tf.int32 and scores.dtype == tf.float32
    tags, scores = tags.numpy(), scores.numpy()
    for b, n in enumerate(case.lengths):
        _, brute = case.brute(b)
        want = np.sort(brute)[::-1][:k]
        want = np.concatenate([want, np.full(k - len(want), -np.inf)])
        np.testing.assert_allclose(scores[b], want, rtol=1e-5, atol=1e-4)
        assert (tags[b, :, n:] == 0).all()
        real = np.isfinite(want)
        assert (tags[b, ~real] == 0).all()
        got_paths = tags[b, real, :n]
        got = path_scores(case.x[b], got_paths, case.trans, case.start, case.end)
        np.testing.assert_allclose(got, scores[b, real], rtol=1e-5, atol=1e-4)
        assert path_allowed(got_paths, case.tmask, case.smask, case.emask).all()
        assert len({tuple(p) for p in got_paths}) == real.sum()  # distinct paths


@pytest.mark.parametrize("case", CASES)
def test_forward_backward_and_marginals_match_brute_force(case):
    x, trans, lengths = case.tensors()
    kw = case.kwargs()
    log_alpha, log_beta, log_z = (v.numpy() for v in crf_forward_backward(x, trans, lengths, **kw))
    marg = crf_marginals(x, trans, lengths, **kw).numpy()
    for b, n in enumerate(case.lengths):
        paths, scores = case.brute(b)
        assert (log_alpha[b, n:] == 0).all() and (log_beta[b, n:] == 0).all()
        assert (marg[b, n:] == 0).all()
        if n == 0:
            assert log_z[b] == 0.0
            continue
        want_z = logsumexp(scores)
        np.testing.assert_allclose(log_z[b], want_z, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(marg[b, :n].sum(axis=1), 1.0, atol=1e-5)
        probs = np.exp(scores - want_z)
        for t in range(n):
            for j in range(case.k):
                sel = paths[:, t] == j
                np.testing.assert_allclose(marg[b, t, j], probs[sel].sum(), atol=1e-5)
                if not sel.any():
                    continue
                # alpha: prefixes up to t (start + emissions + transitions), beta: the rest + end.
                prefix = paths[sel]
                pre = case.start[prefix[:, 0]] + case.x[
                    b, np.arange(t + 1), prefix[:, : t + 1]
                ].sum(1)
                pre += case.trans[prefix[:, :t], prefix[:, 1 : t + 1]].sum(1)
                post = scores[sel] - pre
                # Every suffix appears once per distinct prefix: de-duplicate by prefix/suffix.
                pre_u = {tuple(p[: t + 1]): s for p, s in zip(prefix, pre, strict=True)}
                post_u = {tuple(p[t:]): s for p, s in zip(prefix, post, strict=True)}
                np.testing.assert_allclose(
                    log_alpha[b, t, j], logsumexp(list(pre_u.values())), rtol=1e-5, atol=1e-3
                )
                np.testing.assert_allclose(
                    log_beta[b, t, j], logsumexp(list(post_u.values())), rtol=1e-5, atol=1e-3
                )


@pytest.mark.parametrize("case", CASES)
def test_segment_log_prob_matches_brute_force(case):
    x, trans, lengths = case.tensors()
    rng = np.random.default_rng(5)
    batch = len(case.lengths)
    starts = np.zeros((batch, 3), np.int32)
    ends = np.zeros((batch, 3), np.int32)  # unfilled segments stay empty (s = e = 0)
    tags = np.where(case.tags >= 0, case.tags, 0)
    for b, n in enumerate(case.lengths):
        for s in range(min(3, n)):
            starts[b, s] = rng.integers(0, n)
            ends[b, s] = rng.integers(starts[b, s] + 1, n + 1)
    got = crf_segment_log_prob(x, trans, lengths, tags, starts, ends, **case.kwargs()).numpy()
    for b in range(batch):
        paths, scores = case.brute(b)
        probs = np.exp(scores - logsumexp(scores)) if len(paths) else scores
        for s in range(3):
            lo, hi = starts[b, s], ends[b, s]
            if hi <= lo:
                assert got[b, s] == 0.0
                continue
            sel = (paths[:, lo:hi] == tags[b, lo:hi]).all(axis=1)
            want = np.log(probs[sel].sum())
            np.testing.assert_allclose(got[b, s], want, rtol=1e-4, atol=1e-3)


def test_unary_binary_scores_sum_to_sequence_score():
    case = Case(4, 5, seed=11)
    x, trans, lengths = case.tensors()
    kw = {"start_transitions": case.start, "end_transitions": case.end}
    unary = crf_unary_score(case.tags, lengths, x)
    binary = crf_binary_score(case.tags, lengths, trans, **kw)
    total = crf_sequence_score(x, case.tags, lengths, trans, **kw)
    np.testing.assert_allclose((unary + binary).numpy(), total.numpy(), rtol=1e-6)
    # Without start/end, the binary score is only the inner transitions.
    plain = crf_binary_score(case.tags, lengths, trans).numpy()
    for b, n in enumerate(case.lengths):
        want = sum(case.trans[case.tags[b, t - 1], case.tags[b, t]] for t in range(1, n))
        np.testing.assert_allclose(plain[b], want, rtol=1e-5, atol=1e-5)


def test_crf_forward_has_addons_semantics():
    case = Case(4, 5, seed=12, boundary=False)
    x, trans, lengths = case.tensors()
    alphas = crf_forward(x[:, 1:], x[:, 0], trans, lengths).numpy()  # [B, K]
    log_alpha, _, _ = crf_forward_backward(x, trans, lengths)
    for b, n in enumerate(case.lengths):
        want = log_alpha.numpy()[b, n - 1] if n > 0 else case.x[b, 0]
        np.testing.assert_allclose(alphas[b], want, rtol=1e-5, atol=1e-4)


def test_viterbi_decode_numpy_matches_graph():
    case = Case(5, 6, seed=13, boundary=False)
    x, trans, lengths = case.tensors()
    tags, best = crf_decode(x, trans, lengths)
    path, score = viterbi_decode(case.x[0], case.trans)
    assert path == tags.numpy()[0].tolist()
    np.testing.assert_allclose(score, best.numpy()[0], rtol=1e-5)


def test_viterbi_ties_take_the_first_maximum_like_numpy():
    # Small integer scores: sums are exact in float32, so ties are frequent and reproducible.
    rng = np.random.default_rng(14)
    x = rng.integers(-2, 3, (6, 7, 4)).astype(np.float32)
    trans = rng.integers(-2, 3, (4, 4)).astype(np.float32)
    lengths = np.array([7, 5, 1, 3, 7, 6], np.int32)
    tags, best = crf_decode(x, trans, lengths)
    for b, n in enumerate(lengths):
        path, score = viterbi_decode(x[b, :n], trans)
        assert tags.numpy()[b, :n].tolist() == path
        assert best.numpy()[b] == score


@pytest.mark.parametrize("num_tags", [70, None], ids=["many_tags", "unknown_num_tags"])
def test_viterbi_generic_path_matches_numpy(num_tags):
    # More than 64 tags, or num_tags unknown while tracing: reduction instead of unrolled steps.
    rng = np.random.default_rng(15)
    k = num_tags or 6
    x = rng.normal(size=(3, 5, k)).astype(np.float32)
    trans = rng.normal(size=(k, k)).astype(np.float32)
    lengths = np.array([5, 2, 4], np.int32)
    spec = [tf.TensorSpec([None, None, num_tags], tf.float32), tf.TensorSpec([None], tf.int32)]
    decode = tf.function(lambda x, n: crf_decode(x, trans, n), input_signature=spec)
    tags, best = decode(x, lengths)
    for b, n in enumerate(lengths):
        path, score = viterbi_decode(x[b, :n], trans)
        assert tags.numpy()[b, :n].tolist() == path
        assert (tags.numpy()[b, n:] == 0).all()
        np.testing.assert_allclose(best.numpy()[b], score, rtol=1e-5)


# --------------------------------------------------------------------------------------------
# Constraints
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme_fn", [bio, iobes], ids=["BIO", "IOBES"])
def test_constrained_decoding_never_emits_forbidden_pairs(scheme_fn):
    cons = scheme_fn(("PER", "LOC", "ORG"))
    num_tags = len(cons.tags)
    rng = np.random.default_rng(3)
    batch, max_len = 64, 12
    # Large emissions and transitions that favour forbidden moves make violations likely.
    x = rng.normal(0, 20, (batch, max_len, num_tags)).astype(np.float32)
    trans = np.where(cons.transitions, rng.normal(0, 5, (num_tags,) * 2), 30.0).astype(np.float32)
    start = np.where(cons.start, 0.0, 30.0).astype(np.float32)
    end = np.where(cons.end, 0.0, 30.0).astype(np.float32)
    lengths = rng.integers(0, max_len + 1, batch)
    kw = dict(start_transitions=start, end_transitions=end, **cons.as_kwargs())
    tags, best = crf_decode(x, trans, lengths, **kw)
    nbest, _ = crf_decode_nbest(x, trans, lengths, 3, **kw)
    assert np.isfinite(best.numpy()).all()
    candidates = [tags.numpy()] + [nbest.numpy()[:, r] for r in range(3)]
    for decoded in candidates:
        for b, n in enumerate(lengths):
            if n:
                assert path_allowed(decoded[b : b + 1, :n], cons.transitions, cons.start, cons.end)[
                    0
                ]
    # Unconstrained decoding does use forbidden pairs on these inputs (the test has teeth).
    free, _ = crf_decode(x, trans, lengths, start_transitions=start, end_transitions=end)
    free = free.numpy()
    assert not all(
        path_allowed(free[b : b + 1, :n], cons.transitions, cons.start, cons.end)[0]
        for b, n in enumerate(lengths)
        if n
    )


def test_nbest_pads_with_minus_inf_when_few_allowed_paths():
    cons = bio()  # O, B-PER, I-PER: length-1 sentences have two allowed paths (O, B-PER)
    x = np.zeros((1, 1, 3), np.float32)
    tags, scores = crf_decode_nbest(x, np.zeros((3, 3)), [1], 4, **cons.as_kwargs())
    np.testing.assert_array_equal(scores.numpy()[0], [0.0, 0.0, -np.inf, -np.inf])
    assert sorted(tags.numpy()[0, :2, 0].tolist()) == [0, 1]
    assert (tags.numpy()[0, 2:] == 0).all()


def test_fast_log_sum_exp_falls_back_exactly_on_underflow():
    """The best predecessor of I-PER is forbidden and the allowed ones are 100 nats lower."""
    cons = bio()  # O, B-PER, I-PER
    x = np.array([[[0.0, -100.0, -100.0], [0.0, 0.0, 200.0], [0.0, 0.0, 0.0]]])
    trans = np.zeros((3, 3))
    paths = all_paths(3, 3)
    ok = path_allowed(paths, cons.transitions, cons.start, cons.end)
    want = logsumexp(path_scores(x[0], paths[ok], trans, np.zeros(3), np.zeros(3)))
    xt = tf.constant(x, tf.float32)
    at = tf.constant(trans, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch([xt, at])
        log_z = crf_log_norm(xt, [3], at, **cons.as_kwargs())
    grads = tape.gradient(log_z, [xt, at])
    np.testing.assert_allclose(log_z.numpy()[0], want, rtol=1e-6)
    # d log Z / d x = marginals and d log Z / d A = expected transition counts (brute force).
    scores = path_scores(x[0], paths[ok], trans, np.zeros(3), np.zeros(3))
    probs = np.exp(scores - want)
    want_dx = np.zeros((3, 3))
    want_da = np.zeros((3, 3))
    for path, prob in zip(paths[ok], probs, strict=True):
        want_dx[np.arange(3), path] += prob
        for a, b in zip(path[:-1], path[1:], strict=True):
            want_da[a, b] += prob
    np.testing.assert_allclose(grads[0].numpy()[0], want_dx, atol=1e-5)
    np.testing.assert_allclose(grads[1].numpy(), want_da * cons.transitions, atol=1e-5)
    marg = crf_marginals(xt, at, [3], **cons.as_kwargs()).numpy()
    np.testing.assert_allclose(marg[0, 1, 2], 1.0, atol=1e-6)  # I-PER at t=1 is certain


# --------------------------------------------------------------------------------------------
# Gradients, dtypes, execution modes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("constrained", [False, True])
def test_gradients_match_finite_differences(constrained):
    cons = bio() if constrained else None
    case = Case(3, 4, seed=21, constraints=cons)
    kw = case.kwargs()
    variables = [
        tf.constant(case.x, tf.float64),
        tf.constant(case.trans, tf.float64),
        tf.constant(case.start, tf.float64),
        tf.constant(case.end, tf.float64),
    ]

    def loss(x, trans, start, end):
        extra = {k: v for k, v in kw.items() if k not in ("start_transitions", "end_transitions")}
        ll, _ = crf_log_likelihood(
            x, case.tags, case.lengths, trans, start_transitions=start, end_transitions=end, **extra
        )
        return tf.reduce_sum(ll * tf.constant([1.0, 2.0, -1.0, 0.5, 1.5], tf.float64))

    with tf.GradientTape() as tape:
        tape.watch(variables)
        value = loss(*variables)
    assert value.dtype == tf.float64
    grads = tape.gradient(value, variables)
    eps = 1e-6
    for i, (var, grad) in enumerate(zip(variables, grads, strict=True)):
        flat = var.numpy().ravel()
        numeric = np.zeros_like(flat)
        for j in range(flat.size):
            args_p, args_m = list(variables), list(variables)
            plus, minus = flat.copy(), flat.copy()
            plus[j] += eps
            minus[j] -= eps
            args_p[i] = tf.constant(plus.reshape(var.shape))
            args_m[i] = tf.constant(minus.reshape(var.shape))
            numeric[j] = (loss(*args_p).numpy() - loss(*args_m).numpy()) / (2 * eps)
        np.testing.assert_allclose(grad.numpy().ravel(), numeric, rtol=1e-5, atol=1e-6)
    if constrained:
        # Forbidden transitions are replaced by a constant: their gradient is exactly 0.
        assert (grads[1].numpy()[~cons.transitions] == 0).all()


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
def test_low_precision_inputs_give_float32_outputs(dtype):
    case = Case(4, 5, seed=31)
    x, trans, lengths = case.tensors()
    kw = case.kwargs()
    low = tf.cast(x, dtype)
    ref = tf.cast(low, tf.float32)  # same rounded inputs, computed in float32
    ll, _ = crf_log_likelihood(low, case.tags, lengths, trans, **kw)
    ll_ref, _ = crf_log_likelihood(ref, case.tags, lengths, trans, **kw)
    tags, best = crf_decode(low, trans, lengths, **kw)
    tags_ref, best_ref = crf_decode(ref, trans, lengths, **kw)
    marg = crf_marginals(low, trans, lengths, **kw)
    assert ll.dtype == best.dtype == marg.dtype == tf.float32
    np.testing.assert_allclose(ll.numpy(), ll_ref.numpy(), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(best.numpy(), best_ref.numpy(), rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(tags.numpy(), tags_ref.numpy())
    # And close to the unrounded float32 inputs.
    ll_f32, _ = crf_log_likelihood(x, case.tags, lengths, trans, **kw)
    tol = 0.1 if dtype == tf.float16 else 0.5
    np.testing.assert_allclose(ll.numpy(), ll_f32.numpy(), atol=tol)


def test_float64_stays_float64():
    case = Case(3, 4, seed=32)
    ll, _ = crf_log_likelihood(case.x, case.tags, case.lengths, case.trans, **case.kwargs())
    _, best = crf_decode(case.x, case.trans, case.lengths)
    assert ll.dtype == tf.float64 and best.dtype == tf.float64


def _all_outputs(x, trans, lengths, tags, start, end, tmask):
    kw = {"start_transitions": start, "end_transitions": end, "transition_mask": tmask}
    with tf.GradientTape() as tape:
        tape.watch([x, trans])
        ll, _ = crf_log_likelihood(x, tags, lengths, trans, **kw)
        total = tf.reduce_sum(ll)
    grads = tape.gradient(total, [x, trans])
    decoded, best = crf_decode(x, trans, lengths, **kw)
    nbest, nscores = crf_decode_nbest(x, trans, lengths, 3, **kw)
    marg = crf_marginals(x, trans, lengths, **kw)
    seg = crf_segment_log_prob(
        x, trans, lengths, decoded, tf.zeros_like(lengths)[:, None], lengths[:, None], **kw
    )
    return [ll, *grads, decoded, best, nbest, nscores, marg, seg]


def test_eager_function_and_xla_agree_with_int64_lengths():
    cons = iobes(("PER", "LOC"))
    case = Case(len(cons.tags), 6, seed=41, constraints=cons)
    x, trans, _ = case.tensors()
    lengths = tf.constant(case.lengths, tf.int64)
    tags = tf.constant(np.where(case.tags >= 0, case.tags, 0))
    args = (x, trans, lengths, tags, case.start, case.end, cons.transitions)
    eager = _all_outputs(*args)
    eager32 = _all_outputs(x, trans, tf.cast(lengths, tf.int32), *args[3:])
    for e, e32 in zip(eager, eager32, strict=True):
        np.testing.assert_array_equal(e.numpy(), e32.numpy())
    graph = tf.function(_all_outputs)(*args)
    xla = tf.function(_all_outputs, jit_compile=True)(*args)
    for e, g, j in zip(eager, graph, xla, strict=True):
        assert e.dtype == g.dtype == j.dtype and e.shape == g.shape == j.shape
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(j.numpy(), e.numpy(), rtol=1e-5, atol=1e-4)


def test_transition_variable_is_read_under_xla():
    case = Case(3, 4, seed=42)
    trans = tf.Variable(case.trans, dtype=tf.float32)
    x, _, lengths = case.tensors()

    @tf.function(jit_compile=True)
    def run(x):
        with tf.GradientTape() as tape:
            ll, _ = crf_log_likelihood(x, case.tags, lengths, trans)
        return crf_decode(x, trans, lengths)[1], tape.gradient(ll, trans)

    best, grad = run(x)
    assert np.isfinite(best.numpy()).all() and np.isfinite(grad.numpy()).all()


def test_default_transitions_are_created_like_addons():
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)
    ll, trans = crf_log_likelihood(x, np.zeros((2, 3), np.int32), [3, 2])
    assert isinstance(trans, tf.Variable) and trans.shape == (4, 4)
    ll2, _ = crf_log_likelihood(x, np.zeros((2, 3), np.int32), [3, 2], trans)
    np.testing.assert_allclose(ll.numpy(), ll2.numpy(), rtol=1e-6)


def test_invalid_arguments_raise_value_error():
    x = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match="transition_params"):
        crf_log_norm(x, [3, 3], np.zeros((3, 3)))
    with pytest.raises(ValueError, match="batch_size, max_seq_len, num_tags"):
        crf_decode(np.zeros((3, 4), np.float32), np.zeros((4, 4)), [3, 3])
    with pytest.raises(ValueError, match="`k` must be a positive integer"):
        crf_decode_nbest(x, np.zeros((4, 4)), [3, 3], 0)


def test_dynamic_time_dimension_in_graph():
    case = Case(3, 5, seed=61)
    x, trans, lengths = case.tensors()
    tags = np.where(case.tags >= 0, case.tags, 0)
    spec = [
        tf.TensorSpec([None, None, 3], tf.float32),
        tf.TensorSpec([None, None], tf.int64),
        tf.TensorSpec([None], tf.int32),
    ]

    @tf.function(input_signature=spec, autograph=False)
    def run(x, tags, lengths):
        ll, _ = crf_log_likelihood(x, tags, lengths, trans)
        decoded, best = crf_decode(x, trans, lengths)
        nbest, _ = crf_decode_nbest(x, trans, lengths, 2)
        return ll, decoded, best, nbest, crf_marginals(x, trans, lengths)

    got = run(x, tags, lengths)
    want = (
        crf_log_likelihood(x, tags, lengths, trans)[0],
        *crf_decode(x, trans, lengths),
        crf_decode_nbest(x, trans, lengths, 2)[0],
        crf_marginals(x, trans, lengths),
    )
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-5, atol=1e-5)


def test_empty_time_axis():
    x = np.zeros((2, 0, 3), np.float32)
    tags = np.zeros((2, 0), np.int32)
    kw = {"start_transitions": np.ones(3), "end_transitions": np.ones(3)}
    trans = np.ones((3, 3))
    ll, _ = crf_log_likelihood(x, tags, [0, 0], trans, **kw)
    decoded, best = crf_decode(x, trans, [0, 0], **kw)
    nbest, nscores = crf_decode_nbest(x, trans, [0, 0], 2, **kw)
    np.testing.assert_array_equal(ll.numpy(), [0.0, 0.0])
    assert decoded.shape == (2, 0) and nbest.shape == (2, 2, 0)
    np.testing.assert_array_equal(best.numpy(), [0.0, 0.0])
    np.testing.assert_array_equal(nscores.numpy(), [[0.0, -np.inf]] * 2)
    assert crf_marginals(x, trans, [0, 0], **kw).shape == (2, 0, 3)


def test_nan_and_inf_in_padding_do_not_leak():
    case = Case(4, 5, seed=71, constraints=None)
    x = case.x.copy()
    for b, n in enumerate(case.lengths):
        x[b, n:] = np.nan
        x[b, n:, 0] = np.inf
    xt = tf.constant(x, tf.float32)
    trans = tf.constant(case.trans, tf.float32)
    kw = case.kwargs()
    with tf.GradientTape() as tape:
        tape.watch([xt, trans])
        ll, _ = crf_log_likelihood(xt, case.tags, case.lengths, trans, **kw)
        total = tf.reduce_sum(ll)
    grads = tape.gradient(total, [xt, trans])
    clean, _ = crf_log_likelihood(
        np.nan_to_num(x, posinf=0.0), case.tags, case.lengths, trans, **kw
    )
    np.testing.assert_allclose(ll.numpy(), clean.numpy(), rtol=1e-6)
    assert all(np.isfinite(g.numpy()).all() for g in grads)
    for out in (
        crf_decode(xt, trans, case.lengths, **kw)[1],
        crf_decode_nbest(xt, trans, case.lengths, 2, **kw)[1][:, 0],
        crf_marginals(xt, trans, case.lengths, **kw),
    ):
        assert np.isfinite(out.numpy()).all()
