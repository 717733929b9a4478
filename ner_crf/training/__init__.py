"""Training: strategy selection and the custom ``tf.distribute`` training loop.

``train(cfg, output_dir=None, resume=False, progress=True) -> TrainResult`` is the entry point.
Importing this package does not import TensorFlow (the modules import it when they run).
"""

from __future__ import annotations

from ner_crf.training.checkpoints import ResumeError
from ner_crf.training.trainer import TrainingDivergedError, TrainResult, train

__all__ = ["ResumeError", "TrainResult", "TrainingDivergedError", "train"]
