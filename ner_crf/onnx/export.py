"""``ner-crf export --format onnx``: the whole tagger, CRF decoding included, as ONNX.

Route: the graph is written directly with the ``onnx`` package (:mod:`ner_crf.onnx.graph`) from
the Keras weights, not converted from the SavedModel. The traced TensorFlow graph holds ops that
have no ONNX counterpart or only a poor one (the fused ``BlockLSTMV2`` CPU kernel, the
``while_loop`` / ``TensorArray`` Viterbi, ``UniqueV2`` + ``boolean_mask`` + ``scatter_nd`` in the
character encoder, string lookups), while ONNX has what the model is made of: a bidirectional
``LSTM`` op with ``sequence_lens``, ``Unique``, and ``Scan`` for the CRF recursions. Building it
ourselves needs only ``onnx`` at export time (``onnxruntime`` to run it), no converter with its
own TensorFlow version range.

The export directory::

    model.onnx         the graph (inputs and outputs: ner_crf.onnx.graph)
    ner_crf_onnx.json  what a runtime needs besides the graph: format version, tag names,
                       scheme, word normalisation (lowercase, normalize_digits, max_word_length),
                       whether casing features are used, input / output names
    vocab/             words.txt, chars.txt, tags.txt (the run's vocabularies)

Every export is checked before it is written: the ONNX graph and the Keras model are run on a
probe batch (mixed lengths, padding) and their emissions, tags and scores must agree.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ner_crf.errors import ModelError, require_new_output

logger = logging.getLogger(__name__)

__all__ = ["export_onnx", "tagger_weights"]


def _lstm(layer: Any) -> tuple[Any, Any]:
    from ner_crf.onnx.graph import LstmWeights

    def direction(sub: Any) -> LstmWeights:
        cell = sub.cell
        return LstmWeights(
            kernel=np.asarray(cell.kernel.numpy(), np.float32),
            recurrent_kernel=np.asarray(cell.recurrent_kernel.numpy(), np.float32),
            bias=np.asarray(cell.bias.numpy(), np.float32),
        )

    return direction(layer.forward_layer), direction(layer.backward_layer)


def _word_table(model: Any) -> np.ndarray:
    """The word embedding rows the model looks up, extended vocabulary included."""
    table = np.asarray(model.word_embedding.embeddings.numpy(), np.float32)  # ids 0 .. N-1
    # Extended vocabulary (embeddings.extend_vocab): ids N .. N+M-1 are rows of a frozen table.
    frozen = getattr(model, "pretrained_words", None)
    if frozen is not None:
        table = np.concatenate([table, np.asarray(frozen.table.numpy(), np.float32)])
    return table


def tagger_weights(model: Any) -> Any:
    """Reads every weight of a `NerModel` into a :class:`~ner_crf.onnx.graph.TaggerWeights`."""
    from ner_crf.onnx.graph import TaggerWeights

    char = model.char_encoder
    params = model.crf.numpy_parameters()
    kwargs: dict[str, Any] = {}
    if char is not None:
        kwargs["char_encoder"] = char.encoder
        kwargs["char_embedding"] = np.asarray(char.char_embedding.embeddings.numpy(), np.float32)
        if char.encoder == "lstm":
            kwargs["char_lstm"] = _lstm(char.char_rnn)
        else:
            kwargs["char_conv_kernel"] = np.asarray(char.char_conv.kernel.numpy(), np.float32)
            kwargs["char_conv_bias"] = np.asarray(char.char_conv.bias.numpy(), np.float32)
    casing = model.casing_embedding
    return TaggerWeights(
        word_embedding=_word_table(model),
        casing_embedding=None if casing is None else casing.embeddings.numpy(),
        word_lstms=tuple(_lstm(layer) for layer in model.bilstms),
        dense_kernel=np.asarray(model.emission_dense.kernel.numpy(), np.float32),
        dense_bias=np.asarray(model.emission_dense.bias.numpy(), np.float32),
        transitions=params["transitions"],
        start=params["start"],
        end=params["end"],
        transition_mask=params["transition_mask"],
        start_mask=params["start_mask"],
        end_mask=params["end_mask"],
        **kwargs,
    )


def _probe(run: Any) -> dict[str, np.ndarray]:
    """A small batch with mixed lengths, padding and unknown words, as the runtime feeds it."""
    from ner_crf.onnx.runtime import pad_batch

    words = [t for t in run.vocabs.words.tokens[2:40]] or ["x"]
    sentences = [
        words[:7],
        ["Zyxqv", "-", "1,234", words[0].upper()],
        [words[-1]],
        words[5:30],
    ]
    return pad_batch([run.encoder.encode(s) for s in sentences])


def _check(run: Any, model_bytes: bytes) -> None:
    """Runs the graph and the Keras model on a probe batch; raises ModelError if they differ."""
    import onnxruntime as ort

    feeds = _probe(run)
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds), strict=True))
    features = {
        "words": feeds["words"].astype(np.int32),
        "chars": feeds["chars"].astype(np.int32),
        "casing": feeds["casing"].astype(np.int32),
    }
    emissions = np.asarray(run.model(features, training=False))
    tags, scores = run.model.decode(features)
    mask = np.arange(feeds["words"].shape[1])[None, :] < feeds["lengths"][:, None]
    diff = float(np.max(np.abs(np.where(mask[..., None], emissions - got["emissions"], 0))))
    same_tags = np.array_equal(np.where(mask, np.asarray(tags), 0), got["tags"])
    if run.model.compute_dtype != "float32":
        # Mixed precision: Keras computes in float16 and the graph in float32, so tags may
        # differ on near-ties; only a gross emission difference means a wrong graph.
        if diff <= 0.1:
            return
    elif diff <= 1e-3 and same_tags and np.allclose(scores, got["scores"], atol=1e-3):
        return
    raise ModelError(
        f"the ONNX graph of {run.path} does not reproduce the model on a probe batch "
        f"(max emission difference {diff:.2e}, tags equal: {same_tags}); please report this"
    )


def export_onnx(run: Any, output: str | Path, *, overwrite: bool = False) -> Path:
    """Writes the ONNX export directory described in the module docstring.

    Args:
        run: A :class:`~ner_crf.model.run_dir.LoadedRun`.
        output: The directory to create.
        overwrite: Replace an existing ``output``.

    Returns:
        ``output`` as a `Path`.

    Raises:
        NerCrfError: ``output`` exists (without ``overwrite``), its parent does not, or the
            ``onnx`` extra is not installed.
        ModelError: The graph does not reproduce the model.
    """
    from ner_crf.onnx import FORMAT_VERSION, META_FILE, MODEL_FILE, VOCAB_DIR, require_onnx

    require_onnx(export=True)
    from ner_crf.onnx.graph import INPUTS, OPSET, OUTPUTS, build_graph

    output = require_new_output(output, overwrite=overwrite)

    model = run.model
    cfg = run.config
    weights = tagger_weights(model)
    graph = build_graph(weights)
    graph.doc_string = (
        f"ner-crf BiLSTM-CRF tagger exported from {Path(run.path).name}: "
        "inputs words/chars/casing/lengths (int64, right-padded), outputs tags, scores, "
        "marginals, emissions, log_alpha, log_beta, log_z"
    )
    model_bytes = graph.SerializeToString()
    _check(run, model_bytes)
    meta = {
        "format": "ner-crf-onnx",
        "format_version": FORMAT_VERSION,
        "opset": OPSET,
        "scheme": run.scheme,
        "tag_names": list(run.tag_names),
        "lowercase": bool(cfg.vocab.lowercase),
        "normalize_digits": bool(cfg.vocab.normalize_digits),
        "max_word_length": int(cfg.vocab.max_word_length),
        "casing": model.casing_embedding is not None,
        "evaluation_mode": str(cfg.evaluation.mode),
        "tag_column": int(cfg.data.tag_column),
        "num_words": int(weights.word_embedding.shape[0]),
        "inputs": list(INPUTS),
        "outputs": list(OUTPUTS),
        "crf": {
            "transitions": weights.transitions.tolist(),
            "start": weights.start.tolist(),
            "end": weights.end.tolist(),
            "transition_mask": weights.transition_mask.tolist(),
            "start_mask": weights.start_mask.tolist(),
            "end_mask": weights.end_mask.tolist(),
        },
    }
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        (staging / MODEL_FILE).write_bytes(model_bytes)
        vocab_dir = staging / VOCAB_DIR
        vocab_dir.mkdir()
        run.vocabs.save(vocab_dir)  # words (extended vocabulary included), chars, tags
        (vocab_dir / run.vocabs.COUNTS_FILE).unlink(missing_ok=True)  # for training only
        (staging / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        if output.exists():
            shutil.rmtree(output)
        staging.rename(output)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    logger.info("exported %s to %s (ONNX, %d bytes)", run.path, output, len(model_bytes))
    return output
