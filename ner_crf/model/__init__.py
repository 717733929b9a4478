"""The NER model (`build_model` -> `NerModel`) and the run directory (save / load).

Names are re-exported lazily so that ``import ner_crf.model`` does not import TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "NerModel": "ner_crf.model.builder",
    "build_model": "ner_crf.model.builder",
    "CharEncoder": "ner_crf.model.layers",
    "WordDropout": "ner_crf.model.layers",
    "LoadedRun": "ner_crf.model.run_dir",
    "load_run": "ner_crf.model.run_dir",
    "save_model_atomic": "ner_crf.model.run_dir",
    "atomic_write_bytes": "ner_crf.model.run_dir",
    "atomic_write_text": "ner_crf.model.run_dir",
    "write_json_atomic": "ner_crf.model.run_dir",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
