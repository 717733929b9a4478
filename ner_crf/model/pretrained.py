"""`FrozenEmbedding`: the rows of words that only the pretrained vectors file has.

With ``embeddings.extend_vocab`` the word vocabulary is the training words (ids ``0 .. N-1``,
rows of the trainable ``word_embedding``) followed by the words that only the vectors file has
(ids ``N .. N+M-1``). Their rows are the file's vectors and never change, so they live in a
separate table that is deliberately invisible to training:

* it is not a Keras weight (``model.weights``, ``get_weights``, ``trainable_variables`` and the
  optimizer never see it: no gradient, no Adam slots, no copy of it in the best-epoch weights);
* it is not tracked by ``tf.train.Checkpoint`` (the trainer's resume checkpoints stay small; on
  resume the table is rebuilt from the vectors file, as at the start of training);
* ``.keras`` files hold it (as the asset file ``vectors.npy``, see
  `FrozenEmbedding.save_assets`), so a saved model is self-contained; `ner_crf.export` tracks
  `FrozenEmbedding.table` for the SavedModel.

This module imports TensorFlow: import it lazily.
"""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf

_ASSET = "vectors.npy"
_CHUNK_ROWS = 1 << 16


class _Untracked:
    """Holds a variable where neither Keras nor ``tf.train.Checkpoint`` looks for one."""

    __slots__ = ("variable",)

    def __init__(self, variable):
        self.variable = variable


@keras.saving.register_keras_serializable(package="ner_crf")
class FrozenEmbedding(keras.layers.Layer):
    """A lookup table of ``rows`` x ``dim`` fixed vectors (no gradient, no optimizer state).

    Args:
        rows: Number of rows (> 0).
        dim: Vector size.
        initial: Optional float ``[rows, dim]`` values; zeros when omitted (a loaded ``.keras``
            file then assigns the saved values).
        **kwargs: Passed to ``keras.layers.Layer`` (``name``, ``dtype``).
    """

    def __init__(self, rows: int, dim: int, *, initial=None, **kwargs):
        super().__init__(trainable=False, **kwargs)
        self.rows = int(rows)
        self.dim = int(dim)
        if initial is None:
            values = np.zeros((self.rows, self.dim), dtype=np.float32)
        else:
            values = np.asarray(initial, dtype=np.float32)
            if values.shape != (self.rows, self.dim):
                raise ValueError(
                    f"frozen embedding values have shape {values.shape}, "
                    f"expected ({self.rows}, {self.dim})"
                )
        self._holder = _Untracked(
            tf.Variable(values, trainable=False, name="pretrained_vectors", dtype=tf.float32)
        )
        self.built = True

    @property
    def table(self) -> tf.Variable:
        """The float32 ``[rows, dim]`` variable (not a Keras weight; see the module docstring)."""
        return self._holder.variable

    def call(self, ids):
        """Returns the rows of int ``ids`` (any shape) as ``[..., dim]`` in the compute dtype."""
        vectors = tf.gather(self.table, tf.cast(ids, "int32"))  # [..., dim]
        return tf.cast(vectors, self.compute_dtype)

    # The table is a ``.keras`` asset (``vectors.npy``), not an entry of
    # the weights file: Keras builds the weights file in memory and copies it (measured: peak RSS
    # of training with GloVe 6B 1.58 GiB that way), an asset file is written in chunks and
    # streamed into the archive.

    def save_own_variables(self, store):
        """Nothing here: the table is saved by `save_assets`."""

    def load_own_variables(self, store):
        if store is not None and "0" in store:  # files saved before the table was an asset
            self._assign(np.asarray(store["0"]))

    def save_assets(self, dir_path):
        path = os.path.join(dir_path, _ASSET)
        with open(path, "wb") as handle:
            header = {"descr": "<f4", "fortran_order": False, "shape": (self.rows, self.dim)}
            np.lib.format.write_array_header_1_0(handle, header)
            for start in range(0, self.rows, _CHUNK_ROWS):
                chunk = self.table[start : start + _CHUNK_ROWS].numpy()  # [chunk, dim]
                handle.write(chunk.astype("<f4", copy=False).tobytes())

    def load_assets(self, dir_path):
        path = os.path.join(dir_path, _ASSET)
        if os.path.exists(path):
            self._assign(np.load(path, mmap_mode="r"))

    def _assign(self, values) -> None:
        if values.shape != (self.rows, self.dim):
            raise ValueError(
                f"saved frozen embedding has shape {values.shape}, expected ({self.rows}, "
                f"{self.dim})"
            )
        for start in range(0, self.rows, _CHUNK_ROWS):
            rows = np.asarray(values[start : start + _CHUNK_ROWS], dtype=np.float32)
            self.table[start : start + len(rows)].assign(rows)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"rows": self.rows, "dim": self.dim})
        return config
