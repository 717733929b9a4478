"""The whole BiLSTM-CRF tagger as one ONNX graph, built from NumPy weights with ``onnx.helper``.

Nothing here imports TensorFlow: :class:`TaggerWeights` holds the weights as NumPy arrays (in the
Keras layouts) and :func:`build_graph` writes the graph. ``ner_crf.onnx.export`` fills the
weights from a trained Keras model.

Graph inputs (right-padded, every dimension dynamic)::

    words    int64 [batch, time]          word ids (PAD 0 past `lengths`)
    chars    int64 [batch, time, width]   character ids, right-padded with 0 (width >= 1)
    casing   int64 [batch, time]          casing feature ids (ignored without casing features)
    lengths  int64 [batch]                real tokens per row (clipped to [0, time])

Graph outputs::

    tags       int64   [batch, time]        Viterbi tags under the scheme's constraints (0: padding)
    scores     float32 [batch]              Viterbi path scores (0 for empty rows)
    marginals  float32 [batch, time, tags]  P(y_t = k | sentence) by forward-backward (0: padding)
    emissions  float32 [batch, time, tags]  CRF unary scores (the Dense output)
    log_alpha  float64 [batch, time, tags]  forward table (as ``ner_crf.crf.crf_forward_backward``)
    log_beta   float64 [batch, time, tags]  backward table
    log_z      float64 [batch]              log partition function (0 for empty rows)

How the layers map (opset 17):

* embeddings are ``Gather`` on the tables; the casing table only when the model has one;
* the character encoder runs on each distinct character row of the batch once (``Unique`` on the
  flattened ``[batch * time, width]`` ids, then ``Gather`` back), as the Keras layer does;
  ``lstm``: a bidirectional ONNX ``LSTM`` whose ``sequence_lens`` are the non-padding characters
  (at least 1), final states ``Y_h`` = forward after the last character, backward after the
  first; ``cnn``: ``Conv`` over zeroed padding characters with Keras' "same" padding, ``Tanh``,
  max over the real characters. Vectors of padding words are zero;
* each word BiLSTM is one bidirectional ``LSTM`` with ``sequence_lens = lengths``; the Keras gate
  order ``i, f, c, o`` is permuted to ONNX's ``i, o, f, c`` and the Keras bias goes into ``Wb``;
* the CRF runs in the graph: Viterbi is a ``Scan`` over time keeping max-plus scores and
  back-pointers (``ArgMax``, first maximum on ties, as ``ner_crf.crf`` does) and a reverse
  ``Scan`` for the backtrack, with forbidden transitions / first / last tags at ``-inf``;
  forward-backward are two ``Scan`` loops whose log-sum-exp steps are one small ``MatMul`` each
  (``log(exp(alpha - max) @ exp(A - colmax))``, as ``ner_crf.crf`` does), forbidden entries at
  ``FORBIDDEN_SCORE``, the conventions of ``ner_crf.crf.crf_forward_backward``. They run in
  float64: entity probabilities are differences of log-scores that grow with the sentence
  (``log_z`` ~ 1e4 for 2,000 tokens), where float32 rounding alone moved a probability by 0.03.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["INPUTS", "OPSET", "OUTPUTS", "LstmWeights", "TaggerWeights", "build_graph"]

OPSET = 17
INPUTS = ("words", "chars", "casing", "lengths")
OUTPUTS = ("tags", "scores", "marginals", "emissions", "log_alpha", "log_beta", "log_z")

_INT64_MAX = np.iinfo(np.int64).max


@dataclass(frozen=True)
class LstmWeights:
    """One Keras LSTM direction: ``kernel`` [D, 4u], ``recurrent_kernel`` [u, 4u], ``bias`` [4u].

    Gates in Keras order ``i, f, c, o``; activations sigmoid (gates) and tanh (cell, output).
    """

    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias: np.ndarray


@dataclass(frozen=True)
class TaggerWeights:
    """Every weight of a `NerModel` as NumPy arrays (Keras layouts), plus the CRF parameters.

    Attributes:
        word_embedding: float [num_words, word_dim] (rows past the trained table, e.g. frozen
            pretrained vectors of an extended vocabulary, are simply more rows).
        casing_embedding: float [num_casing, casing_dim] or None.
        char_encoder: ``lstm``, ``cnn`` or ``none``.
        char_embedding: float [num_chars, char_dim] (None with ``none``).
        char_lstm: (forward, backward) directions of the character BiLSTM (``lstm``).
        char_conv_kernel: float [kernel_size, char_dim, filters] (``cnn``).
        char_conv_bias: float [filters] (``cnn``).
        word_lstms: (forward, backward) per stacked word BiLSTM.
        dense_kernel: float [2 * units, num_tags].
        dense_bias: float [num_tags].
        transitions: float [K, K] ``[from, to]``.
        start: float [K] start scores (zeros without boundary scores).
        end: float [K] end scores.
        transition_mask: bool [K, K], False = forbidden.
        start_mask: bool [K].
        end_mask: bool [K].
    """

    word_embedding: np.ndarray
    dense_kernel: np.ndarray
    dense_bias: np.ndarray
    transitions: np.ndarray
    start: np.ndarray
    end: np.ndarray
    transition_mask: np.ndarray
    start_mask: np.ndarray
    end_mask: np.ndarray
    word_lstms: tuple[tuple[LstmWeights, LstmWeights], ...] = ()
    casing_embedding: np.ndarray | None = None
    char_encoder: str = "none"
    char_embedding: np.ndarray | None = None
    char_lstm: tuple[LstmWeights, LstmWeights] | None = None
    char_conv_kernel: np.ndarray | None = None
    char_conv_bias: np.ndarray | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def num_tags(self) -> int:
        return int(self.transitions.shape[0])


class _Builder:
    """Collects nodes and initializers of one graph (or subgraph) with unique names."""

    def __init__(self, prefix: str = ""):
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.prefix = prefix
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{self.prefix}{hint}_{self._count}"

    def const(self, value: Any, hint: str = "const", dtype: Any = None) -> str:
        from onnx import numpy_helper

        array = np.asarray(value, dtype=dtype)
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(
        self,
        op_type: str,
        inputs: list[str],
        hint: str | None = None,
        outputs: int = 1,
        **attrs: Any,
    ) -> Any:
        from onnx import helper

        names = [self.name(hint or op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, **attrs))
        return names[0] if outputs == 1 else names

    def lse(self, scores: str, axis: int) -> str:
        """log-sum-exp over ``axis`` (dropped), shifted by the maximum (finite inputs)."""
        top = self.op("ReduceMax", [scores], axes=[axis], keepdims=1)
        shifted = self.op("Exp", [self.op("Sub", [scores, top])])
        total = self.op("ReduceSum", [shifted, self.const([axis], "axis", np.int64)], keepdims=0)
        squeezed = self.op("Squeeze", [top, self.const([axis], "axis", np.int64)])
        return self.op("Add", [self.op("Log", [total]), squeezed])

    def lse_matmul(self, v: str, matrix: np.ndarray, hint: str) -> str:
        """``log(sum_i exp(v[b, i] + matrix[i, j]))`` [B, K] of ``v`` [B, K] (finite maximum).

        One small MatMul per step instead of exponentials of a [B, K, K] tensor:
        ``log(exp(v - max v) @ exp(matrix - colmax)) + max v + colmax``. A sum under float64's
        smallest number (terms e^-745 below the best one) gives -inf: a negligible tag.
        """
        colmax = matrix.max(axis=0)  # [K]
        top = self.op("ReduceMax", [v], axes=[1], keepdims=1)  # [B, 1]
        weights = self.const(np.exp(matrix - colmax[None, :]), hint)  # [K, K]
        total = self.op("MatMul", [self.op("Exp", [self.op("Sub", [v, top])]), weights])
        shift = self.op("Add", [top, self.const(colmax, hint + "_max")])  # [B, K]
        return self.op("Add", [self.op("Log", [total]), shift])


def _lstm_tensors(fw: LstmWeights, bw: LstmWeights) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ONNX ``W`` [2, 4u, D], ``R`` [2, 4u, u], ``B`` [2, 8u] from two Keras directions."""

    def permute(matrix: np.ndarray) -> np.ndarray:  # [..., 4u] Keras i,f,c,o -> ONNX i,o,f,c
        i, f, c, o = np.split(np.asarray(matrix, np.float32), 4, axis=-1)
        return np.concatenate([i, o, f, c], axis=-1)

    w = np.stack([permute(d.kernel).T for d in (fw, bw)])  # [2, 4u, D]
    r = np.stack([permute(d.recurrent_kernel).T for d in (fw, bw)])  # [2, 4u, u]
    b = np.stack(
        [np.concatenate([permute(d.bias), np.zeros_like(d.bias, np.float32)]) for d in (fw, bw)]
    )  # [2, 8u]
    return w, r, b


def _bilstm(
    g: _Builder, x_tm: str, seq_lens: str, fw: LstmWeights, bw: LstmWeights, hint: str
) -> tuple[str, str]:
    """Bidirectional LSTM on time-major ``x_tm`` [T, N, D]: returns (Y [T, 2, N, u], Y_h)."""
    w, r, b = _lstm_tensors(fw, bw)
    units = int(r.shape[2])
    y, y_h = g.op(
        "LSTM",
        [x_tm, g.const(w, f"{hint}_W"), g.const(r, f"{hint}_R"), g.const(b, f"{hint}_B"), seq_lens],
        hint=hint,
        outputs=2,
        direction="bidirectional",
        hidden_size=units,
    )
    return y, y_h


def _char_vectors(g: _Builder, w: TaggerWeights, chars: str, flat_mask: str, shape_bt: str) -> str:
    """Character encoder: [batch, time, out] word vectors, zero for padding words."""
    from onnx import TensorProto as P

    i64 = np.int64
    width = g.op("Slice", [g.op("Shape", [chars]), g.const([2], "s", i64), g.const([3], "e", i64)])
    flat = g.op("Reshape", [chars, g.op("Concat", [g.const([-1], "m1", i64), width], axis=0)])
    # Each distinct character row once (padding words share the all-zero row).
    unique, _, inverse, _ = g.op("Unique", [flat], hint="unique", outputs=4, axis=0, sorted=0)
    real = g.op("Not", [g.op("Equal", [unique, g.const(0, "zero", i64)])])  # [U, W] bool
    embedded = g.op("Gather", [g.const(w.char_embedding, "char_emb", np.float32), unique])
    if w.char_encoder == "lstm":
        count = g.op(
            "ReduceSum", [g.op("Cast", [real], to=P.INT32), g.const([1], "axis", i64)], keepdims=0
        )  # int32 [U]
        lens = g.op("Max", [count, g.const(1, "one", np.int32)])  # the first position counts
        x_tm = g.op("Transpose", [embedded], perm=[1, 0, 2])  # [W, U, dim]
        fw, bw = w.char_lstm  # type: ignore[misc]
        _, y_h = _bilstm(g, x_tm, lens, fw, bw, "char_lstm")  # Y_h [2, U, u]
        units = int(fw.recurrent_kernel.shape[0])
        encoded = g.op(
            "Reshape",
            [g.op("Transpose", [y_h], perm=[1, 0, 2]), g.const([-1, 2 * units], "shape", i64)],
        )  # [U, 2u]: forward final state, backward final state
        out_dim = 2 * units
    else:
        kernel = np.asarray(w.char_conv_kernel, np.float32)  # [k, dim, filters]
        size = int(kernel.shape[0])
        left = (size - 1) // 2  # Keras "same": the extra padding goes to the right
        real_f = g.op("Unsqueeze", [g.op("Cast", [real], to=P.FLOAT), g.const([2], "axis", i64)])
        zeroed = g.op("Mul", [embedded, real_f])  # [U, W, dim], padding characters zeroed
        conv = g.op(
            "Conv",
            [
                g.op("Transpose", [zeroed], perm=[0, 2, 1]),
                g.const(np.transpose(kernel, (2, 1, 0)), "conv_w"),
                g.const(np.asarray(w.char_conv_bias, np.float32), "conv_b"),
            ],
            pads=[left, size - 1 - left],
        )  # [U, filters, W]
        activated = g.op("Tanh", [conv])
        # The first position always counts (an all-padding row must not give -inf).
        positions = g.op("Range", [g.const(0, "z", i64), _scalar(g, width), g.const(1, "o", i64)])
        first = g.op("Equal", [positions, g.const(0, "zero", i64)])  # [W]
        keep = g.op("Unsqueeze", [g.op("Or", [real, first]), g.const([1], "axis", i64)])
        lowest = g.const(np.finfo(np.float32).min, "lowest", np.float32)
        masked = g.op("Where", [keep, activated, lowest])  # [U, filters, W]
        encoded = g.op("ReduceMax", [masked], axes=[2], keepdims=0)  # [U, filters]
        out_dim = int(kernel.shape[2])
    per_word = g.op("Gather", [encoded, inverse])  # [B*T, out]
    per_word = g.op("Mul", [per_word, g.op("Unsqueeze", [flat_mask, g.const([1], "axis", i64)])])
    out_shape = g.op("Concat", [shape_bt, g.const([out_dim], "dim", i64)], axis=0)
    return g.op("Reshape", [per_word, out_shape])  # [B, T, out]


def _scalar(g: _Builder, vector: str) -> str:
    """A [1] tensor as a scalar."""
    return g.op("Squeeze", [vector, g.const([0], "axis", np.int64)])


def _scan(
    g: _Builder,
    body_nodes: list[Any],
    body_inputs: list[tuple[str, int, list[Any]]],
    body_outputs: list[tuple[str, int, list[Any]]],
    states: list[str],
    scans: list[str],
    num_scan_outputs: int,
    reverse: bool,
    hint: str,
    initializers: list[Any],
) -> list[str]:
    from onnx import helper

    graph = helper.make_graph(
        body_nodes,
        g.name(hint + "_body"),
        [helper.make_tensor_value_info(n, t, s) for n, t, s in body_inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in body_outputs],
        initializer=initializers,
    )
    direction = 1 if reverse else 0
    n_out = len(states) + num_scan_outputs
    outs = g.op(
        "Scan",
        states + scans,
        hint=hint,
        outputs=n_out,
        body=graph,
        num_scan_inputs=len(scans),
        scan_input_directions=[direction] * len(scans),
        scan_output_directions=[direction] * num_scan_outputs,
    )
    return outs if isinstance(outs, list) else [outs]


def _viterbi(g: _Builder, w: TaggerWeights, x_tm: str, mask_tm: str) -> tuple[str, str]:
    """Returns (tags_tm int64 [T, B], best path scores [B]) with forbidden entries at -inf."""
    from onnx import TensorProto as P

    i64 = np.int64
    k = w.num_tags
    neg_inf = np.float32(-np.inf)
    trans = np.where(w.transition_mask, w.transitions, neg_inf).astype(np.float32)
    start = np.where(w.start_mask, w.start, neg_inf).astype(np.float32)
    end = np.where(w.end_mask, w.end, neg_inf).astype(np.float32)

    x0 = g.op("Gather", [x_tm, g.const(0, "i0", i64)], axis=0)  # [B, K]
    alpha0 = g.op("Add", [x0, g.const(start, "vit_start")])
    rest = g.op(
        "Slice",
        [x_tm, g.const([1], "s", i64), g.const([_INT64_MAX], "e", i64), g.const([0], "a", i64)],
    )  # [T-1, B, K]
    valid = g.op(
        "Slice",
        [mask_tm, g.const([1], "s", i64), g.const([_INT64_MAX], "e", i64), g.const([0], "a", i64)],
    )  # [T-1, B]

    # Forward: max-plus step and back-pointers.
    b = _Builder("vf_")
    s = b.op(
        "Add",
        [b.op("Unsqueeze", ["vf_alpha", b.const([2], "axis", i64)]), b.const(trans[None], "trans")],
    )  # [B, K(from), K(to)]
    best = b.op("ReduceMax", [s], axes=[1], keepdims=0)  # [B, K]
    back = b.op("ArgMax", [s], axis=1, keepdims=0, select_last_index=0)  # [B, K]
    keep = b.op("Unsqueeze", ["vf_valid", b.const([1], "axis", i64)])  # [B, 1]
    b.nodes.append(_node("Where", [keep, b.op("Add", [best, "vf_x"]), "vf_alpha"], "vf_alpha_out"))
    identity = b.const(np.arange(k, dtype=i64)[None], "iota")  # past the end: keep the tag
    b.nodes.append(_node("Where", [keep, back, identity], "vf_back_out"))
    alpha_last, backs = _scan(
        g,
        b.nodes,
        [("vf_alpha", P.FLOAT, ["B", k]), ("vf_x", P.FLOAT, ["B", k]), ("vf_valid", P.BOOL, ["B"])],
        [("vf_alpha_out", P.FLOAT, ["B", k]), ("vf_back_out", P.INT64, ["B", k])],
        [alpha0],
        [rest, valid],
        1,
        False,
        "viterbi_forward",
        b.initializers,
    )
    final = g.op("Add", [alpha_last, g.const(end, "vit_end")])  # [B, K]
    score = g.op("ReduceMax", [final], axes=[1], keepdims=0)  # [B]
    last_tag = g.op("ArgMax", [final], axis=1, keepdims=0, select_last_index=0)  # [B]

    # Backtrack: reverse scan over the back-pointers.
    c = _Builder("vb_")
    picked = c.op(
        "GatherElements", ["vb_back", c.op("Unsqueeze", ["vb_tag", c.const([1], "a", i64)])], axis=1
    )  # [B, 1]
    c.nodes.append(_node("Squeeze", [picked, c.const([1], "a", i64)], "vb_tag_out"))
    c.nodes.append(_node("Identity", ["vb_tag"], "vb_emit"))
    first_tag, later = _scan(
        g,
        c.nodes,
        [("vb_tag", P.INT64, ["B"]), ("vb_back", P.INT64, ["B", k])],
        [("vb_tag_out", P.INT64, ["B"]), ("vb_emit", P.INT64, ["B"])],
        [last_tag],
        [backs],
        1,
        True,
        "viterbi_backtrack",
        c.initializers,
    )  # later[t] = tag at t + 1
    tags_tm = g.op(
        "Concat", [g.op("Unsqueeze", [first_tag, g.const([0], "a", i64)]), later], axis=0
    )  # [T, B]
    return tags_tm, score


def _forward_backward(
    g: _Builder, w: TaggerWeights, x_tm: str, mask_tm: str, batch_k: str
) -> tuple[str, str, str]:
    """Returns (alpha_tm [T, B, K], beta_tm [T, B, K], log_z [B]) with FORBIDDEN_SCORE entries."""
    from onnx import TensorProto as P

    from ner_crf.crf.constraints import FORBIDDEN_SCORE

    i64 = np.int64
    k = w.num_tags
    trans = np.where(w.transition_mask, w.transitions, FORBIDDEN_SCORE).astype(np.float64)
    start = np.where(w.start_mask, w.start, FORBIDDEN_SCORE).astype(np.float64)
    end = np.where(w.end_mask, w.end, FORBIDDEN_SCORE).astype(np.float64)

    f64 = P.DOUBLE
    x_tm = g.op("Cast", [x_tm], to=f64)  # float64: exact enough for 2,000-token rows
    x0 = g.op("Gather", [x_tm, g.const(0, "i0", i64)], axis=0)  # [B, K]
    alpha0 = g.op("Add", [x0, g.const(start, "fb_start")])
    rest = g.op(
        "Slice",
        [x_tm, g.const([1], "s", i64), g.const([_INT64_MAX], "e", i64), g.const([0], "a", i64)],
    )  # [T-1, B, K]
    valid = g.op(
        "Slice",
        [mask_tm, g.const([1], "s", i64), g.const([_INT64_MAX], "e", i64), g.const([0], "a", i64)],
    )  # [T-1, B]: t < length for t >= 1

    a = _Builder("fa_")
    # alpha_t[j] = x_t[j] + logsumexp_i(alpha_{t-1}[i] + trans[i, j])
    new = a.op("Add", [a.lse_matmul("fa_alpha", trans, "trans"), "fa_x"])  # [B, K]
    keep = a.op("Unsqueeze", ["fa_valid", a.const([1], "axis", i64)])
    a.nodes.append(_node("Where", [keep, new, "fa_alpha"], "fa_alpha_out"))
    a.nodes.append(_node("Identity", ["fa_alpha_out"], "fa_emit"))
    alpha_last, alphas = _scan(
        g,
        a.nodes,
        [("fa_alpha", f64, ["B", k]), ("fa_x", f64, ["B", k]), ("fa_valid", P.BOOL, ["B"])],
        [("fa_alpha_out", P.DOUBLE, ["B", k]), ("fa_emit", P.DOUBLE, ["B", k])],
        [alpha0],
        [rest, valid],
        1,
        False,
        "forward",
        a.initializers,
    )
    alpha_tm = g.op(
        "Concat", [g.op("Unsqueeze", [alpha0, g.const([0], "a", i64)]), alphas], axis=0
    )  # [T, B, K]
    end_c = g.const(end, "fb_end")
    log_z = g.lse(g.op("Add", [alpha_last, end_c]), 1)  # [B]

    end_b = g.op("Expand", [end_c, batch_k])  # [B, K]
    r = _Builder("fr_")
    u = r.op("Add", ["fr_x", "fr_beta"])  # [B, K(to)]: x_{t+1} + beta_{t+1}
    # beta_t[i] = logsumexp_j(trans[i, j] + u[j])
    new = r.lse_matmul(u, trans.T, "trans_t")  # [B, K(from)]
    keep = r.op("Unsqueeze", ["fr_valid", r.const([1], "axis", i64)])  # t + 1 < length
    r.nodes.append(_node("Where", [keep, new, end_b], "fr_beta_out"))
    r.nodes.append(_node("Identity", ["fr_beta_out"], "fr_emit"))
    _, betas = _scan(
        g,
        r.nodes,
        [("fr_beta", f64, ["B", k]), ("fr_x", f64, ["B", k]), ("fr_valid", P.BOOL, ["B"])],
        [("fr_beta_out", P.DOUBLE, ["B", k]), ("fr_emit", P.DOUBLE, ["B", k])],
        [end_b],
        [rest, valid],
        1,
        True,
        "backward",
        r.initializers,
    )  # betas[t] = beta at t (t < T - 1)
    beta_tm = g.op("Concat", [betas, g.op("Unsqueeze", [end_b, g.const([0], "a", i64)])], axis=0)
    return alpha_tm, beta_tm, log_z


def _tensor(value: np.ndarray) -> Any:
    from onnx import numpy_helper

    return numpy_helper.from_array(value)


def _node(op_type: str, inputs: list[str], output: str, **attrs: Any) -> Any:
    from onnx import helper

    return helper.make_node(op_type, inputs, [output], **attrs)


def build_graph(weights: TaggerWeights) -> Any:
    """Builds the tagger graph described in the module docstring.

    Args:
        weights: The model's weights and CRF parameters.

    Returns:
        A checked ``onnx.ModelProto`` (opset :data:`OPSET`).
    """
    import onnx
    from onnx import TensorProto as P
    from onnx import helper

    w = weights
    i64 = np.int64
    k = w.num_tags
    g = _Builder()

    shape_words = g.op("Shape", ["words"])  # [2]: B, T
    time = g.op("Slice", [shape_words, g.const([1], "s", i64), g.const([2], "e", i64)])  # [1]
    batch = g.op("Slice", [shape_words, g.const([0], "s", i64), g.const([1], "e", i64)])  # [1]
    lengths = g.op(
        "Max", [g.op("Min", ["lengths", _scalar(g, time)]), g.const(0, "zero", i64)]
    )  # [B]
    positions = g.op("Range", [g.const(0, "z", i64), _scalar(g, time), g.const(1, "o", i64)])
    mask = g.op(
        "Less",
        [
            g.op("Unsqueeze", [positions, g.const([0], "a", i64)]),
            g.op("Unsqueeze", [lengths, g.const([1], "a", i64)]),
        ],
    )  # [B, T] bool
    mask_f = g.op("Cast", [mask], to=P.FLOAT)  # [B, T]
    mask_3 = g.op("Unsqueeze", [mask_f, g.const([2], "a", i64)])  # [B, T, 1]

    parts = [
        g.op("Gather", [g.const(np.asarray(w.word_embedding, np.float32), "word_emb"), "words"])
    ]  # [B, T, word_dim]
    if w.casing_embedding is not None:
        parts.append(
            g.op(
                "Gather",
                [g.const(np.asarray(w.casing_embedding, np.float32), "casing_emb"), "casing"],
            )
        )
    if w.char_encoder != "none":
        flat_mask = g.op("Reshape", [mask_f, g.const([-1], "m1", i64)])  # [B*T]
        parts.append(_char_vectors(g, w, "chars", flat_mask, shape_words))
    hidden = parts[0] if len(parts) == 1 else g.op("Concat", parts, axis=-1)  # [B, T, D]

    seq_lens = g.op("Cast", [g.op("Max", [lengths, g.const(1, "one", i64)])], to=P.INT32)
    for index, (fw, bw) in enumerate(w.word_lstms):
        x_tm = g.op("Transpose", [hidden], perm=[1, 0, 2])  # [T, B, D]
        y, _ = _bilstm(g, x_tm, seq_lens, fw, bw, f"word_lstm_{index}")  # [T, 2, B, u]
        units = int(fw.recurrent_kernel.shape[0])
        y = g.op("Transpose", [y], perm=[2, 0, 1, 3])  # [B, T, 2, u]
        y = g.op(
            "Reshape", [y, g.op("Concat", [shape_words, g.const([2 * units], "d", i64)], axis=0)]
        )  # [B, T, 2u]: forward then backward
        hidden = g.op("Mul", [y, mask_3])  # zero at padding, as the Keras layer
    emissions = g.op(
        "Add",
        [
            g.op("MatMul", [hidden, g.const(np.asarray(w.dense_kernel, np.float32), "dense_w")]),
            g.const(np.asarray(w.dense_bias, np.float32), "dense_b"),
        ],
    )  # [B, T, K]
    g.nodes.append(_node("Identity", [emissions], "emissions"))

    # The CRF loops run over T + 1 steps: one padding step at the end keeps every Scan non-empty
    # (ONNX Runtime rejects a Scan over zero steps, i.e. T = 1); being padding, it only carries
    # the states and is cut off again below.
    batch_k = g.op("Concat", [batch, g.const([k], "k", i64)], axis=0)  # [2]: B, K
    one_b_k = g.op("Concat", [g.const([1], "one", i64), batch_k], axis=0)  # [3]: 1, B, K
    x_tm = g.op(
        "Concat",
        [
            g.op("Transpose", [emissions], perm=[1, 0, 2]),
            g.op("ConstantOfShape", [one_b_k], value=_tensor(np.zeros([1], np.float32))),
        ],
        axis=0,
    )  # [T + 1, B, K]
    mask_tm = g.op(
        "Concat",
        [
            g.op("Transpose", [mask], perm=[1, 0]),
            g.op(
                "ConstantOfShape",
                [g.op("Concat", [g.const([1], "one", i64), batch], axis=0)],
                value=_tensor(np.zeros([1], bool)),
            ),
        ],
        axis=0,
    )  # [T + 1, B]
    nonempty = g.op("Greater", [lengths, g.const(0, "zero", i64)])  # [B]

    def first_t(tensor: str) -> str:  # [T + 1, ...] -> [T, ...]
        return g.op("Slice", [tensor, g.const([0], "s", i64), time, g.const([0], "a", i64)])

    tags_tm, best = _viterbi(g, w, x_tm, mask_tm)
    tags = g.op("Transpose", [first_t(tags_tm)], perm=[1, 0])  # [B, T]
    g.nodes.append(_node("Where", [mask, tags, g.const(0, "zero", i64)], "tags"))
    g.nodes.append(_node("Where", [nonempty, best, g.const(np.float32(0), "zf")], "scores"))

    alpha_tm, beta_tm, log_z = _forward_backward(g, w, x_tm, mask_tm, batch_k)
    zero_d = g.const(np.float64(0), "zd")
    mask_b3 = g.op("Unsqueeze", [mask, g.const([2], "a", i64)])  # [B, T, 1] bool
    for table, name in ((alpha_tm, "log_alpha"), (beta_tm, "log_beta")):
        batch_major = g.op("Transpose", [first_t(table)], perm=[1, 0, 2])  # [B, T, K]
        g.nodes.append(_node("Where", [mask_b3, batch_major, zero_d], name))
    g.nodes.append(_node("Where", [nonempty, log_z, zero_d], "log_z"))
    log_z_3 = g.op("Unsqueeze", ["log_z", g.const([1, 2], "a", i64)])  # [B, 1, 1]
    marginal = g.op("Exp", [g.op("Sub", [g.op("Add", ["log_alpha", "log_beta"]), log_z_3])])
    marginal = g.op("Cast", [marginal], to=P.FLOAT)
    g.nodes.append(_node("Mul", [marginal, mask_3], "marginals"))

    dims = {
        "words": ["batch", "time"],
        "chars": ["batch", "time", "width"],
        "casing": ["batch", "time"],
        "lengths": ["batch"],
    }
    inputs = [helper.make_tensor_value_info(n, P.INT64, dims[n]) for n in INPUTS]
    outputs = [
        helper.make_tensor_value_info("tags", P.INT64, ["batch", "time"]),
        helper.make_tensor_value_info("scores", P.FLOAT, ["batch"]),
        helper.make_tensor_value_info("marginals", P.FLOAT, ["batch", "time", k]),
        helper.make_tensor_value_info("emissions", P.FLOAT, ["batch", "time", k]),
        helper.make_tensor_value_info("log_alpha", P.DOUBLE, ["batch", "time", k]),
        helper.make_tensor_value_info("log_beta", P.DOUBLE, ["batch", "time", k]),
        helper.make_tensor_value_info("log_z", P.DOUBLE, ["batch"]),
    ]
    graph = helper.make_graph(
        g.nodes, "ner_crf_tagger", inputs, outputs, initializer=g.initializers
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="ner-crf"
    )
    for key, value in w.metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    return model
