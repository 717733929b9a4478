"""The NER model (`build_model` -> `NerModel`) and the run directory (save / load).

Names are re-exported lazily so that ``import ner_crf.model`` does not import TensorFlow.
"""

from __future__ import annotations

from ner_crf.lazy import lazy_exports

_EXPORTS = {
    "NerModel": "builder",
    "build_model": "builder",
    "CharEncoder": "layers",
    "WordDropout": "layers",
    "LoadedRun": "run_dir",
    "load_run": "run_dir",
    "save_model_atomic": "run_dir",
    "atomic_write_bytes": "run_dir",
    "atomic_write_text": "run_dir",
    "write_json_atomic": "run_dir",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
