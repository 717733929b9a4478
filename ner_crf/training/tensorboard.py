"""TensorBoard summaries of a training run (``RUN/tensorboard/``), without matplotlib.

Scalars: ``train/loss`` (every few steps), ``epoch/loss``, ``train/learning_rate``,
``train/tokens_per_second``, ``dev/precision``, ``dev/recall``, ``dev/f1``; image:
``crf/transitions``, the CRF transition matrix as a heat map drawn with NumPy.

The events are written with TensorFlow's core ``tf.summary.write`` and the plugin metadata that
TensorBoard's scalar and image dashboards read, so the ``tensorboard`` package (which
``tf.summary.scalar``/``image`` need) is only required to *view* the logs, not to train.
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

        metadata = _metadata("scalars", "DATA_CLASS_SCALAR")
        with self._writer.as_default(step=int(step)):
            for tag, value in values.items():
                if value is not None:
                    tf.summary.write(tag, tf.constant(float(value), tf.float32), metadata=metadata)

    def transitions(self, step: int, matrix: np.ndarray, tag_names: list[str]) -> None:
        """Writes the transition matrix heat map and its raw values as text."""
        if self._writer is None:
            return
        import tensorflow as tf

        image = transition_heatmap(matrix)  # [H, W, 3]
        header = "rows = from, columns = to: " + ", ".join(tag_names)
        metadata = _metadata("images", "DATA_CLASS_BLOB_SEQUENCE", description=header)
        # The image dashboard's tensor layout: [width, height, PNG bytes of each image].
        blob = tf.stack(
            [
                tf.constant(str(image.shape[1])),
                tf.constant(str(image.shape[0])),
                tf.io.encode_png(image),
            ]
        )  # [3] string
        with self._writer.as_default(step=int(step)):
            tf.summary.write("crf/transitions", blob, metadata=metadata)

    def flush(self) -> None:
        """Flushes pending events to disk."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Closes the writer."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _metadata(plugin: str, data_class: str, description: str = "") -> Any:
    import tensorflow as tf

    metadata = tf.compat.v1.SummaryMetadata()
    metadata.plugin_data.plugin_name = plugin
    metadata.data_class = (
        tf.compat.v1.SummaryMetadata.DESCRIPTOR.fields_by_name["data_class"]
        .enum_type.values_by_name[data_class]
        .number
    )
    metadata.summary_description = description
    return metadata


def to_numpy(value: Any) -> np.ndarray:
    """Reads a (possibly mirrored) variable or tensor as a NumPy array."""
    if hasattr(value, "numpy"):
        return np.asarray(value.numpy())
    import keras

    return np.asarray(keras.ops.convert_to_numpy(value))
