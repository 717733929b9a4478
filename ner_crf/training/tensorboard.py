"""TensorBoard summaries of a training run (``RUN/tensorboard/``), without matplotlib.

Scalars: ``train/loss`` (every few steps and per epoch), ``train/learning_rate``,
``train/tokens_per_second``, ``dev/precision``, ``dev/recall``, ``dev/f1``; image:
``crf/transitions``, the CRF transition matrix as a heat map drawn with NumPy.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

# Diverging colour ramp: blue (negative) -> white (0) -> red (positive), RGB in [0, 1].
_NEGATIVE = np.array([0.13, 0.40, 0.67])
_WHITE = np.array([1.0, 1.0, 1.0])
_POSITIVE = np.array([0.70, 0.09, 0.17])


def transition_heatmap(matrix: np.ndarray, *, cell: int = 12) -> np.ndarray:
    """Renders a square score matrix as an RGB heat map.

    Values are scaled symmetrically by the largest absolute finite value (so 0 is white);
    ``-inf`` (forbidden transitions) and other non-finite values are drawn black. A one-pixel
    grey grid separates the cells.

    Args:
        matrix: [from, to] scores.
        cell: Pixel size of one cell.

    Returns:
        uint8 [rows * cell, cols * cell, 3] image.
    """
    values = np.asarray(matrix, dtype=np.float64)
    finite = np.isfinite(values)
    scale = float(np.max(np.abs(values[finite]))) if finite.any() else 1.0
    scale = scale if scale > 0 else 1.0
    unit = np.where(finite, values / scale, 0.0)  # [rows, cols] in [-1, 1]
    weight = np.abs(unit)[..., None]  # [rows, cols, 1]
    ends = np.where((unit < 0)[..., None], _NEGATIVE, _POSITIVE)  # [rows, cols, 3]
    colours = (1.0 - weight) * _WHITE + weight * ends  # [rows, cols, 3]
    colours[~finite] = 0.0
    image = np.repeat(np.repeat(colours, cell, axis=0), cell, axis=1)  # [rows*cell, cols*cell, 3]
    image[::cell, :, :] = 0.6
    image[:, ::cell, :] = 0.6
    return (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8)


class SummaryLogger:
    """Writes the run's TensorBoard events; a no-op when disabled.

    Args:
        directory: ``RUN/tensorboard`` (ignored when ``enabled`` is false).
        enabled: Whether to write anything (false on non-chief workers).
    """

    def __init__(self, directory: str | Path, *, enabled: bool = True):
        self.enabled = enabled
        self._writer = None
        if enabled:
            import tensorflow as tf

            self._writer = tf.summary.create_file_writer(str(directory))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """Writes ``{tag: value}`` at ``step``."""
        if self._writer is None:
            return
        import tensorflow as tf

        with self._writer.as_default(step=int(step)):
            for tag, value in values.items():
                if value is not None:
                    tf.summary.scalar(tag, float(value))

    def transitions(self, step: int, matrix: np.ndarray, tag_names: list[str]) -> None:
        """Writes the transition matrix heat map and its raw values as text."""
        if self._writer is None:
            return
        import tensorflow as tf

        image = transition_heatmap(matrix)[None]  # [1, H, W, 3]
        header = "rows = from, columns = to: " + ", ".join(tag_names)
        with self._writer.as_default(step=int(step)):
            tf.summary.image("crf/transitions", image, description=header)

    def flush(self) -> None:
        """Flushes pending events to disk."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Closes the writer."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def to_numpy(value: Any) -> np.ndarray:
    """Reads a (possibly mirrored) variable or tensor as a NumPy array."""
    if hasattr(value, "numpy"):
        return np.asarray(value.numpy())
    import keras

    return np.asarray(keras.ops.convert_to_numpy(value))
