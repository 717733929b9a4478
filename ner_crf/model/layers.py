"""Helper Keras layers of the NER model: the character encoder and singleton word dropout.

Both layers are registered (``package="ner_crf"``) and serializable through ``get_config``.
"""

from __future__ import annotations

import logging

import keras
import numpy as np
import tensorflow as tf

from ner_crf.model.fused_lstm import FusedBiLSTM

logger = logging.getLogger(__name__)

CHAR_ENCODERS = ("lstm", "cnn", "none")


@keras.saving.register_keras_serializable(package="ner_crf")
class CharEncoder(keras.layers.Layer):
    """Encodes the characters of every word into one vector per word.

    ``lstm``: a character embedding and a bidirectional LSTM over each word's characters; the final
    forward and backward states are concatenated (Lample et al. 2016), output size ``2 * units``.
    ``cnn``: a character embedding, a ``Conv1D`` over each word's characters and a max-pool over
    the real (non-padding) character positions (Ma and Hovy 2016), output size ``filters``.

    Masking: character id 0 is padding. Words whose id is 0 (padding words) have no characters at
    all; an all-masked row crashes the cuDNN LSTM kernel (tensorflow/tensorflow#36139), so with
    ``skip_padding=True`` only the real words are gathered (``tf.boolean_mask``), encoded and
    scattered back, which also saves the work on padding words. ``tf.boolean_mask`` has a dynamic
    shape, so for XLA (``jit_compile``) use ``skip_padding=False``: every word is encoded, and the
    first character position is always treated as valid so that no row is fully masked. In both
    modes the vectors of padding words are exactly zero. The layer does not produce a mask.

    Args:
        num_chars: Size of the character vocabulary (including PAD=0 and UNK=1).
        encoder: ``"lstm"`` or ``"cnn"``.
        dim: Character embedding size.
        units: LSTM units per direction (``lstm``).
        filters: Number of convolution filters (``cnn``).
        kernel_size: Convolution width in characters (``cnn``).
        skip_padding: Encode only the real words (see above).
        unique_words: With ``skip_padding``, encode each distinct character sequence of the
            batch once and copy the vectors to its occurrences (same values, less work).
        length_groups: With ``skip_padding``, ``encoder="lstm"`` and the fused LSTM, sort the
            words by length and run the BiLSTM on this many groups of equal size, each only as
            many steps as its longest word (same values; the fused LSTM runs every row to the
            longest one, so one long word made the whole batch pay for its length). 1 = one
            group.
        implementation: How the character BiLSTM runs (`FusedBiLSTM`): ``auto``, ``fused`` or
            ``keras``. Its weights are those of ``Bidirectional(LSTM(units))`` in every case.
        **kwargs: Passed to ``keras.layers.Layer``.

    Call arguments:
        chars: int [batch, time, word_length] character ids, right-padded with 0.
        word_mask: bool [batch, time], True on real words.

    Returns:
        [batch, time, output_dim] word vectors in the compute dtype.
    """

    def __init__(
        self,
        num_chars: int,
        *,
        encoder: str = "lstm",
        dim: int = 25,
        units: int = 25,
        filters: int = 30,
        kernel_size: int = 3,
        skip_padding: bool = True,
        unique_words: bool = True,
        length_groups: int = 4,
        implementation: str = "auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if encoder not in ("lstm", "cnn"):
            raise ValueError(f"`encoder` must be 'lstm' or 'cnn', received {encoder!r}")
        for name, value in (
            ("num_chars", num_chars),
            ("dim", dim),
            ("length_groups", length_groups),
        ):
            if int(value) <= 0:
                raise ValueError(f"`{name}` must be a positive integer, received {value}")
        self.num_chars = int(num_chars)
        self.encoder = encoder
        self.dim = int(dim)
        self.units = int(units)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.skip_padding = bool(skip_padding)
        self.unique_words = bool(unique_words)
        self.length_groups = int(length_groups)
        self.implementation = implementation
        self.char_embedding = keras.layers.Embedding(
            self.num_chars, self.dim, dtype=self.dtype_policy, name="char_embedding"
        )
        if encoder == "lstm":
            # Weights as Bidirectional(LSTM(units)); the keras implementation is cuDNN-eligible.
            self.char_rnn = FusedBiLSTM(
                self.units,
                return_sequences=False,
                implementation=implementation,
                dtype=self.dtype_policy,
                name="char_bilstm",
            )
        else:
            self.char_conv = keras.layers.Conv1D(
                self.filters,
                self.kernel_size,
                padding="same",
                activation="tanh",
                dtype=self.dtype_policy,
                name="char_conv",
            )

    @property
    def output_dim(self) -> int:
        """Size of the vector produced for each word."""
        return 2 * self.units if self.encoder == "lstm" else self.filters

    def build(self, chars_shape, word_mask_shape=None):
        word_length = chars_shape[-1]
        self.char_embedding.build((None, word_length))
        if self.encoder == "lstm":
            self.char_rnn.build((None, word_length, self.dim))
        else:
            self.char_conv.build((None, word_length, self.dim))
        self.built = True

    def _encode_words(self, chars: tf.Tensor) -> tf.Tensor:
        """Encodes a flat batch of words [num_words, word_length] -> [num_words, output_dim]."""
        positions = tf.range(tf.shape(chars)[1])  # [word_length]
        # The first position always counts, so that no row is fully masked (cuDNN crash).
        char_mask = tf.logical_or(chars != 0, positions[None, :] == 0)  # [num_words, word_length]
        embedded = self.char_embedding(chars)  # [num_words, word_length, dim]
        if self.encoder == "lstm":
            return self.char_rnn(embedded, mask=char_mask)  # [num_words, 2 * units]
        # Zero the padding characters: the convolution then sees the same zeros at a word's end
        # whatever the padded length ("same" padding), so extra padding changes nothing.
        embedded = embedded * tf.cast(chars != 0, embedded.dtype)[:, :, None]
        conv = self.char_conv(embedded)  # [num_words, word_length, filters]
        lowest = tf.constant(np.finfo(conv.dtype.as_numpy_dtype).min, dtype=conv.dtype)
        conv = tf.where(char_mask[:, :, None], conv, lowest)  # padding chars never win the max
        return tf.reduce_max(conv, axis=1)  # [num_words, filters]

    def _encode_real(self, chars: tf.Tensor) -> tf.Tensor:
        """Encodes real words [num_words, word_length] (no padding rows) -> [num_words, out]."""
        # Only the fused LSTM runs every row to the longest one (and takes empty groups; the
        # Keras LSTM refuses zero rows).
        if (
            self.encoder == "lstm"
            and self.length_groups > 1
            and self.char_rnn.resolved_implementation() == "fused"
        ):
            return self._encode_by_length(chars)
        return self._encode_words(chars)

    def _encode_by_length(self, chars: tf.Tensor) -> tf.Tensor:
        """``_encode_words`` on groups of similar length, each cut to its longest word.

        ``chars`` [num_words, word_length] -> [num_words, output_dim], in the order of ``chars``.
        """
        lengths = tf.reduce_sum(tf.cast(chars != 0, tf.int32), axis=1)  # [num_words]
        order = tf.argsort(lengths, stable=True)  # [num_words] shortest first
        num_words = tf.shape(chars)[0]
        groups = self.length_groups
        encoded = []
        for k in range(groups):
            rows = order[num_words * k // groups : num_words * (k + 1) // groups]  # [n_k]
            # At least one column, so that an empty group keeps a valid shape.
            width = tf.reduce_max(tf.concat([tf.gather(lengths, rows), [1]], 0))  # []
            # The fused LSTM is slower on an odd number of rows when its input and cell sizes
            # are odd too (TF warns; 25 and 25 here): an odd group gets a copy of its first row.
            count = tf.shape(rows)[0]
            padded = tf.concat([rows, rows[: count % 2]], axis=0)  # [n_k rounded up to even]
            out = self._encode_words(tf.gather(chars, padded)[:, :width])
            encoded.append(out[:count])  # [n_k, output_dim]
        sorted_encoded = tf.concat(encoded, axis=0)  # [num_words, output_dim] sorted order
        return tf.gather(sorted_encoded, tf.math.invert_permutation(order))

    def call(self, chars, word_mask):
        chars = tf.cast(chars, "int32")
        word_mask = tf.cast(word_mask, "bool")
        shape = tf.shape(chars)  # [3]: batch, time, word_length
        flat_chars = tf.reshape(chars, [-1, shape[2]])  # [batch * time, word_length]
        flat_mask = tf.reshape(word_mask, [-1])  # [batch * time]
        if self.skip_padding:
            real_chars = tf.boolean_mask(flat_chars, flat_mask)  # [num_real, word_length]
            if self.unique_words:
                # Each distinct character row is encoded once (a batch repeats "the", ",", ...).
                unique = tf.raw_ops.UniqueV2(x=real_chars, axis=tf.zeros([1], tf.int64))
                encoded = self._encode_real(unique.y)  # [num_unique, output_dim]
                encoded = tf.gather(encoded, unique.idx)  # [num_real, output_dim]
            else:
                encoded = self._encode_real(real_chars)  # [num_real, output_dim]
            indices = tf.where(flat_mask)  # [num_real, 1] int64
            flat = tf.scatter_nd(
                indices,
                encoded,
                tf.stack(
                    [
                        tf.shape(flat_mask, out_type=tf.int64)[0],
                        tf.constant(self.output_dim, tf.int64),
                    ]
                ),
            )  # [batch * time, output_dim], zeros for padding words
        else:
            encoded = self._encode_words(flat_chars)  # [batch * time, output_dim]
            flat = encoded * tf.cast(flat_mask, encoded.dtype)[:, None]  # zero the padding words
        return tf.reshape(flat, [shape[0], shape[1], self.output_dim])  # [batch, time, out_dim]

    def compute_output_shape(self, chars_shape, word_mask_shape=None):
        return (*tuple(chars_shape[:2]), self.output_dim)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "num_chars": self.num_chars,
                "encoder": self.encoder,
                "dim": self.dim,
                "units": self.units,
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "skip_padding": self.skip_padding,
                "unique_words": self.unique_words,
                "length_groups": self.length_groups,
                "implementation": self.implementation,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="ner_crf")
class WordDropout(keras.layers.Layer):
    """Replaces singleton training words by UNK with probability ``rate`` (Lample et al. 2016).

    The set of singleton word ids is held in a non-trainable ``[num_words]`` float32 weight
    (1.0 = singleton), so it is saved with the model weights rather than in the config. The random
    draws come from a seeded ``keras.random.SeedGenerator``, so runs are reproducible. Only active
    with ``training=True``; padding (id 0) is never a singleton, so the mask is unchanged.

    Args:
        num_words: Size of the word vocabulary.
        rate: Probability of replacing a singleton word, in [0, 1).
        unk_id: Id written in place of a dropped word.
        seed: Seed of the generator.
        singleton_ids: Initial singleton word ids (not part of the config; the weight carries them).
        **kwargs: Passed to ``keras.layers.Layer``.

    Call arguments:
        words: int [batch, time] word ids.
        training: Whether to drop.

    Returns:
        int32 [batch, time] word ids.
    """

    def __init__(
        self,
        num_words: int,
        *,
        rate: float,
        unk_id: int = 1,
        seed: int | None = None,
        singleton_ids=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"`rate` must be in [0, 1), received {rate}")
        self.num_words = int(num_words)
        self.rate = float(rate)
        self.unk_id = int(unk_id)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed, name="word_dropout_seed")
        flags = np.zeros([self.num_words], dtype="float32")
        if singleton_ids is not None:
            ids = np.asarray(list(singleton_ids), dtype="int64")
            if ids.size and (ids.min() < 0 or ids.max() >= self.num_words):
                raise ValueError(
                    f"`singleton_ids` must lie in [0, {self.num_words}), "
                    f"received ids from {ids.min()} to {ids.max()}"
                )
            flags[ids] = 1.0
        flags[0] = 0.0  # padding is never dropped
        self.singletons = self.add_weight(
            shape=(self.num_words,),
            initializer=keras.initializers.Constant(flags),
            dtype="float32",
            trainable=False,
            name="singletons",
        )

    def call(self, words, training=False):
        words = tf.cast(words, "int32")
        if not training or self.rate == 0.0:
            return words
        is_singleton = tf.gather(self.singletons, words) > 0.5  # [batch, time]
        draws = keras.random.uniform(tf.shape(words), seed=self.seed_generator)  # [batch, time]
        drop = tf.logical_and(is_singleton, draws < self.rate)  # [batch, time]
        return tf.where(drop, tf.constant(self.unk_id, "int32"), words)

    def compute_output_shape(self, words_shape):
        return words_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "num_words": self.num_words,
                "rate": self.rate,
                "unk_id": self.unk_id,
                "seed": self.seed,
            }
        )
        return config
