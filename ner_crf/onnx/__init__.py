"""ONNX export of a trained tagger (CRF decoding in the graph) and an ONNX Runtime predictor.

* :mod:`ner_crf.onnx.graph`: the graph, built with ``onnx.helper`` from NumPy weights;
* :mod:`ner_crf.onnx.export`: ``ner-crf export --format onnx`` (reads the Keras model);
* :mod:`ner_crf.onnx.runtime`: :func:`~ner_crf.onnx.runtime.load_export` -> a ``Tagger`` that
  runs the export with ONNX Runtime, without TensorFlow.

Needs the ``onnx`` extra (``pip install 'ner-crf[onnx]'``). This package module imports nothing
heavy, so the CLI can ask :func:`is_onnx_export` cheaply.
"""

from __future__ import annotations

from pathlib import Path

from ner_crf.errors import NerCrfError

__all__ = [
    "FORMAT_VERSION",
    "META_FILE",
    "MODEL_FILE",
    "VOCAB_DIR",
    "is_onnx_export",
    "require_onnx",
]

MODEL_FILE = "model.onnx"
META_FILE = "ner_crf_onnx.json"
VOCAB_DIR = "vocab"
FORMAT_VERSION = 1


def is_onnx_export(path: str | Path) -> bool:
    """True when ``path`` is a directory written by ``ner-crf export --format onnx``."""
    path = Path(path)
    return (path / META_FILE).is_file() and (path / MODEL_FILE).is_file()


def require_onnx(*, export: bool = False) -> None:
    """Raises `NerCrfError` with the install hint when the ``onnx`` extra is missing."""
    import importlib.util

    needed = ["onnxruntime"] + (["onnx"] if export else [])
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise NerCrfError(f"{' and '.join(missing)} not installed: pip install 'ner-crf[onnx]'")
