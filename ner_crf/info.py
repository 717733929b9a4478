"""``ner-crf info``: what a run directory holds, and the learned CRF transitions.

:func:`run_info` collects plain data from a loaded run; :func:`format_info` renders it as text.
:func:`heatmap_png` draws the transition scores as a PNG written with NumPy and zlib only.
"""

from __future__ import annotations

import logging
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "TransitionScores",
    "find_crf",
    "format_info",
    "heatmap_png",
    "keras_file_info",
    "run_info",
    "transition_scores",
]

START_ROW = "<start>"
END_ROW = "<end>"


@dataclass
class TransitionScores:
    """The CRF parameters as one table.

    Attributes:
        tags: Tag names (column order; also the order of the tag rows).
        rows: Row names: ``<start>``, then every tag (the from-tag), then ``<end>``.
        values: float [len(rows), len(tags)]: row ``<start>`` holds the score of starting a
            sentence with the column tag, row ``i`` the score of moving from tag ``i`` to the
            column tag, row ``<end>`` the score of ending a sentence with the column tag.
        allowed: bool, same shape: False where the scheme constraints forbid the entry.
    """

    tags: list[str]
    rows: list[str]
    values: np.ndarray
    allowed: np.ndarray


def find_crf(model: Any) -> Any:
    """The CRF layer of ``model``: a ``CRF`` itself, a model's ``crf`` attribute, or the one
    ``CRF`` among a Keras model's layers.

    Raises:
        ModelError: If there is no CRF layer, or more than one.
    """
    from ner_crf.crf.layer import CRF
    from ner_crf.errors import ModelError

    if isinstance(model, CRF):
        return model
    if isinstance(getattr(model, "crf", None), CRF):
        return model.crf

    def walk(layer: Any):
        yield layer
        for sub in getattr(layer, "layers", None) or []:
            yield from walk(sub)

    found = [layer for layer in walk(model) if isinstance(layer, CRF)]
    if len(found) != 1:
        raise ModelError(f"expected one CRF layer in the model, found {len(found)}")
    return found[0]


def transition_scores(model: Any, tag_names: list[str] | None = None) -> TransitionScores:
    """Reads the transition, start and end scores and the constraints of a CRF.

    Args:
        model: A ``CRF`` layer, a ``NerModel`` or any Keras model holding one ``CRF``.
        tag_names: Tag strings, index = tag id; None uses the model's ``tag_names`` when it has
            them, else ``"0"``, ``"1"``, ...

    Returns:
        The :class:`TransitionScores`.
    """
    crf = find_crf(model)
    if tag_names is None:
        tag_names = list(getattr(model, "tag_names", None) or map(str, range(crf.num_tags)))
    params = crf.numpy_parameters()
    # Rows: <start>, each from-tag, <end>; columns: to-tags.
    allowed = np.concatenate(
        [params["start_mask"][None], params["transition_mask"], params["end_mask"][None]], axis=0
    )  # [K + 2, K]
    start, trans, end = params["start"], params["transitions"], params["end"]
    values = np.concatenate([start[None], trans, end[None]], axis=0)  # [K + 2, K]
    return TransitionScores(
        tags=list(tag_names),
        rows=[START_ROW, *tag_names, END_ROW],
        values=values,
        allowed=allowed,
    )


def keras_file_info(path: Any) -> dict[str, Any]:
    """What ``ner-crf info`` shows for a ``.keras`` file: parameters and the CRF scores.

    Raises:
        ModelError: If the file does not load or holds no single CRF layer.
    """
    from ner_crf.model.run_dir import load_keras_model

    model = load_keras_model(path)
    return {
        "path": str(path),
        "parameters": int(model.count_params()),
        "transitions": transition_scores(model),
    }


def run_info(run: Any) -> dict[str, Any]:
    """Collects what ``ner-crf info`` shows.

    Args:
        run: A :class:`~ner_crf.model.run_dir.LoadedRun`.

    Returns:
        A dict with ``path``, ``config`` (a flat summary), ``labels``, ``tags``, ``scheme``,
        ``vocab`` sizes, ``parameters``, ``metrics`` (or None) and ``transitions``
        (:class:`TransitionScores`).
    """
    cfg = run.config
    model = run.model
    labels = sorted({tag.split("-", 1)[1] for tag in run.tag_names if tag != "O" and "-" in tag})
    summary = {
        "data.train": str(cfg.data.train),
        "data.scheme": cfg.data.scheme,
        "vocab.lowercase": cfg.vocab.lowercase,
        "vocab.normalize_digits": cfg.vocab.normalize_digits,
        "embeddings.path": None if cfg.embeddings.path is None else str(cfg.embeddings.path),
        "model.word_dim": cfg.model.word_dim,
        "model.casing_dim": cfg.model.casing_dim,
        "model.char.encoder": cfg.model.char.encoder,
        "model.lstm": f"{cfg.model.lstm.layers} x {cfg.model.lstm.units}",
        "model.dropout": cfg.model.dropout,
        "crf.constrain": cfg.crf.constrain,
        "crf.boundary": cfg.crf.boundary,
        "training.epochs": cfg.training.epochs,
        "training.batch_size": cfg.training.batch_size,
        "training.optimizer": f"{cfg.training.optimizer} (lr {cfg.training.learning_rate:g})",
    }
    return {
        "path": str(run.path),
        "config": summary,
        "scheme": run.scheme,
        "labels": labels,
        "tags": list(run.tag_names),
        "vocab": {
            "words": len(run.vocabs.words),
            "chars": len(run.vocabs.chars),
            "tags": len(run.vocabs.tags),
        },
        "parameters": int(model.count_params()),
        "metrics": run.metrics,
        "transitions": transition_scores(model, list(run.tag_names)),
    }


def _metrics_lines(metrics: dict[str, Any] | None) -> list[str]:
    if not metrics:
        return ["  (no metrics.json)"]
    lines = [
        f"  status           {metrics.get('status', '?')}",
        f"  epochs completed {metrics.get('epochs_completed', '?')}",
    ]
    best_epoch = metrics.get("best_epoch")
    best_f1 = metrics.get("best_dev_f1")
    if best_epoch is not None:
        f1 = "-" if best_f1 is None else f"{best_f1:.4f}"
        lines.append(f"  best epoch       {best_epoch} (dev F1 {f1})")
    test = metrics.get("test")
    if isinstance(test, dict):
        lines.append(
            f"  test             P {test.get('precision', 0):.4f}  R {test.get('recall', 0):.4f}  "
            f"F1 {test.get('f1', 0):.4f} ({test.get('mode', '?')})"
        )
    return lines


def format_transitions(table: TransitionScores, digits: int = 2) -> str:
    """The transition table as text: rows = from (``<start>``, tags, ``<end>``), columns = to.

    Forbidden entries (scheme constraints) are shown as ``x``.
    """
    cells = [
        [f"{v:.{digits}f}" if ok else "x" for v, ok in zip(row, allowed, strict=True)]
        for row, allowed in zip(table.values, table.allowed, strict=True)
    ]
    width = max([len(t) for t in table.tags] + [len(c) for row in cells for c in row])
    corner = "from \\ to"
    first = max(len(r) for r in [*table.rows, corner])
    lines = [f"{corner:<{first}}  " + "  ".join(f"{t:>{width}}" for t in table.tags)]
    for name, row in zip(table.rows, cells, strict=True):
        lines.append(f"{name:<{first}}  " + "  ".join(f"{c:>{width}}" for c in row))
    return "\n".join(lines)


def format_info(info: dict[str, Any]) -> str:
    """Renders :func:`run_info` (or :func:`keras_file_info`) as text (no trailing newline)."""
    if "config" not in info:  # a .keras file: no run directory around it
        table = info["transitions"]
        return "\n".join(
            [
                f"model {info['path']}",
                f"tags ({len(table.tags)})  {' '.join(table.tags)}",
                f"parameters  {info['parameters']:,}",
                "",
                "transition scores (rows: from-tag, columns: to-tag; x = forbidden)",
                format_transitions(table),
            ]
        )
    lines = [f"run {info['path']}", "", "config"]
    width = max(len(key) for key in info["config"])
    for key, value in info["config"].items():
        if value is None:
            shown = "null"
        elif isinstance(value, bool):
            shown = str(value).lower()
        else:
            shown = str(value)
        lines.append(f"  {key:<{width}}  {shown}")
    vocab = info["vocab"]
    lines += [
        "",
        f"labels ({len(info['labels'])})  {' '.join(info['labels'])}",
        f"tags ({len(info['tags'])}, {info['scheme']})  {' '.join(info['tags'])}",
        f"vocabulary  {vocab['words']} words, {vocab['chars']} characters, {vocab['tags']} tags",
        f"parameters  {info['parameters']:,}",
        "",
        "metrics",
        *_metrics_lines(info["metrics"]),
        "",
        "transition scores (rows: from-tag, columns: to-tag; x = forbidden by the scheme)",
        format_transitions(info["transitions"]),
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# PNG heat map
# --------------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def encode_png(rgb: np.ndarray) -> bytes:
    """Encodes a uint8 [height, width, 3] image as a PNG (8-bit RGB, no interlacing).

    Args:
        rgb: The pixels.

    Returns:
        The PNG file's bytes.
    """
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width, channels = rgb.shape
    if channels != 3:
        raise ValueError(f"expected [height, width, 3] pixels, got shape {rgb.shape}")
    # Every scanline starts with filter type 0 (None).
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rgb.reshape(height, -1)], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(raw.tobytes(), 9))
        + _png_chunk(b"IEND", b"")
    )


def heatmap_png(table: TransitionScores, cell: int = 24) -> bytes:
    """Draws the transition table as a heat map PNG.

    Rows and columns are in the order of :func:`format_transitions` (``<start>``, tags,
    ``<end>`` from top to bottom; tags left to right). Scores use a diverging scale centred on 0
    (blue negative, white 0, red positive, saturated at the largest absolute allowed score);
    forbidden entries are grey; a 1-pixel light grid separates the cells.

    Args:
        table: The :class:`TransitionScores`.
        cell: Cell size in pixels.

    Returns:
        The PNG file's bytes.
    """
    values = table.values
    allowed = table.allowed
    finite = values[allowed]
    scale = float(np.abs(finite).max()) if finite.size else 1.0
    scale = scale if scale > 0 else 1.0
    v = np.clip(values / scale, -1.0, 1.0)  # [R, C]
    white = np.array([255.0, 255.0, 255.0])
    red = np.array([178.0, 24.0, 43.0])
    blue = np.array([33.0, 102.0, 172.0])
    pos = np.clip(v, 0, 1)[..., None]
    neg = np.clip(-v, 0, 1)[..., None]
    colours = white * (1 - pos - neg) + red * pos + blue * neg  # [R, C, 3]
    colours[~allowed] = (150.0, 150.0, 150.0)
    colours = colours.round().astype(np.uint8)
    image = np.repeat(np.repeat(colours, cell, axis=0), cell, axis=1)  # [R*cell, C*cell, 3]
    image[::cell, :, :] = 220  # grid lines
    image[:, ::cell, :] = 220
    return encode_png(image)
