"""Sentence encoding and the ``tf.data`` input pipeline.

:class:`SentenceEncoder` (defined in the TensorFlow-free :mod:`ner_crf.data.encoding`) turns a
list of tokens into id arrays (words, characters, casing features) and tags into tag ids.
:class:`DatasetBuilder` encodes a corpus once and then builds, per epoch, a ``tf.data.Dataset``
of padded batches::

    ({"words": int32 [B, T], "chars": int32 [B, T, W], "casing": int32 [B, T]}, tags int32 [B, T])

Padding is always on the right with id 0 (cuDNN LSTMs need right padding, the CRF forward
algorithm assumes it), so the mask is ``words != 0``. ``T`` is the longest sentence of the batch
and ``W`` its longest word (at most ``max_word_length``). Empty sentences are dropped (an
all-masked row crashes cuDNN), counted and logged once.

Batching: with ``bucket=True`` the (shuffled) sentences are cut into chunks of
``chunk_batches * batch_size``, each chunk is sorted by length and cut into batches, and the
order of the batches is shuffled; without shuffling the whole corpus is sorted by length. The
order of epoch ``k`` depends only on ``(seed, k)``, so a resumed run replays epoch ``k`` exactly.
:meth:`DatasetBuilder.batch_indices` tells which sentence is where (to put predictions back in
corpus order).

The encoded corpus lives in ragged tensors; each batch is a ``tf.gather`` + ``to_tensor`` in the
``tf.data`` graph (no Python generator), so an epoch costs no Python work per sentence. The
dataset's auto-shard policy is ``DATA``: under ``MultiWorkerMirroredStrategy`` every worker
builds the same batch sequence and keeps every ``num_workers``-th batch (there are no files to
shard by).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf

# Casing features and sentence encoding live in the TF-free `ner_crf.data.encoding`; the names
# stay importable from here.
from ner_crf.data.encoding import (  # noqa: F401
    CASING_HAS_DIGIT,
    CASING_LOWER,
    CASING_MIXED,
    CASING_NUMERIC,
    CASING_OTHER,
    CASING_PAD,
    CASING_TITLE,
    CASING_UPPER,
    NUM_CASING,
    SentenceEncoder,
    casing_id,
)
from ner_crf.data.vocab import PAD
from ner_crf.errors import DataError

if TYPE_CHECKING:
    from ner_crf.data.conll import Sentence

logger = logging.getLogger(__name__)

#: Batches built in parallel, and batches kept ready ahead of the consumer (fixed, not autotuned).
MAP_PARALLELISM = 2
PREFETCH_BATCHES = 4


class DatasetBuilder:
    """Encodes a corpus once and builds the batches of any epoch.

    Args:
        sentences: The corpus. Empty sentences are dropped (logged once).
        encoder: The :class:`SentenceEncoder`.
        batch_size: Sentences per batch (global batch size under ``tf.distribute``).
        shuffle: Shuffle sentences and batches (training).
        seed: Seed of the shuffling; epoch ``k``'s order is a function of ``(seed, k)``.
        with_tags: Yield ``(features, tags)``; otherwise features only.
        bucket: Group sentences of similar length (less padding).
        drop_remainder: Drop the one batch smaller than ``batch_size`` (the batch dimension is
            then static).
        chunk_batches: With ``shuffle`` and ``bucket``, sentences are sorted by length inside
            chunks of ``chunk_batches * batch_size`` sentences (larger = less padding, less
            randomness).

    Raises:
        DataError: A sentence whose number of tags differs from its number of tokens, or a tag
            unseen in training (the message gives the sentence's line).
    """

    def __init__(
        self,
        sentences: Sequence[Sentence],
        encoder: SentenceEncoder,
        *,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        with_tags: bool = True,
        bucket: bool = True,
        drop_remainder: bool = False,
        chunk_batches: int = 50,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        if chunk_batches < 1:
            raise ValueError(f"chunk_batches must be a positive integer, got {chunk_batches}")
        if with_tags and encoder.tags is None:
            raise ValueError("with_tags=True needs a SentenceEncoder with a tag vocabulary")
        self.encoder = encoder
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.with_tags = with_tags
        self.bucket = bucket
        self.drop_remainder = drop_remainder
        self.chunk_batches = chunk_batches

        kept: list[int] = []
        encoded: list[dict[str, np.ndarray]] = []
        for index, sentence in enumerate(sentences):
            if not sentence.tokens:
                continue
            features = encoder.encode(sentence.tokens)
            if with_tags:
                if len(sentence.tags) != len(sentence.tokens):
                    raise DataError(
                        f"sentence has {len(sentence.tokens)} tokens but {len(sentence.tags)} tags",
                        line=sentence.line or None,
                    )
                try:
                    features["tags"] = encoder.encode_tags(sentence.tags)
                except DataError as error:
                    raise DataError(error.message, line=sentence.line or None) from None
            kept.append(index)
            encoded.append(features)
        self.num_dropped = len(sentences) - len(kept)
        if self.num_dropped:
            logger.warning("dropped %d empty sentence(s) of %d", self.num_dropped, len(sentences))
        #: Position in ``sentences`` of each kept sentence.
        self.sentence_ids = np.array(kept, dtype=np.int64)  # [N]
        self.lengths = np.array([len(e["words"]) for e in encoded], dtype=np.int64)  # [N]
        self.word_lengths = np.array(  # [N] longest word of each sentence (after the cut)
            [e["chars"].shape[1] for e in encoded], dtype=np.int64
        )
        self._ragged = _to_ragged(encoded, with_tags) if encoded else None

    # --- sizes ---------------------------------------------------------------------------------

    @property
    def num_sentences(self) -> int:
        """Non-empty sentences (each appears once per epoch unless ``drop_remainder``)."""
        return len(self.lengths)

    @property
    def num_batches(self) -> int:
        """Batches per epoch (the same for every epoch)."""
        return len(self._batch_sizes())

    def _batch_sizes(self) -> list[int]:
        n, size = self.num_sentences, self.batch_size
        chunk = size * self.chunk_batches if (self.bucket and self.shuffle) else max(n, 1)
        sizes: list[int] = []
        for start in range(0, n, chunk):
            rows = min(chunk, n - start)
            sizes.extend([size] * (rows // size))
            if rows % size:
                sizes.append(rows % size)
        if self.drop_remainder:
            sizes = [s for s in sizes if s == size]
        return sizes

    # --- order ---------------------------------------------------------------------------------

    def batch_indices(self, epoch: int = 0) -> list[np.ndarray]:
        """The sentences of each batch of epoch ``epoch``, in batch order.

        Args:
            epoch: The epoch (only matters with ``shuffle``).

        Returns:
            One int64 array per batch of positions among the kept sentences; map them to
            positions in the original list with ``sentence_ids``.
        """
        n, size = self.num_sentences, self.batch_size
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(n) if self.shuffle else np.arange(n)  # [N]
        chunk = size * self.chunk_batches if (self.bucket and self.shuffle) else max(n, 1)
        batches: list[np.ndarray] = []
        for start in range(0, n, chunk):
            part = order[start : start + chunk]
            if self.bucket:
                part = part[np.argsort(self.lengths[part], kind="stable")]
            batches.extend(part[i : i + size] for i in range(0, len(part), size))
        if self.drop_remainder:
            batches = [b for b in batches if len(b) == size]
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def batch_shapes(self, epoch: int = 0) -> list[tuple[int, int, int]]:
        """``(B, T, W)`` of each batch of epoch ``epoch`` (progress bars, padding statistics)."""
        return [
            (len(b), int(self.lengths[b].max()), int(self.word_lengths[b].max()))
            for b in self.batch_indices(epoch)
        ]

    def padding_fraction(self, epoch: int = 0) -> float:
        """Padded word positions / all word positions over the batches of epoch ``epoch``."""
        total = real = 0
        for batch in self.batch_indices(epoch):
            total += len(batch) * int(self.lengths[batch].max())
            real += int(self.lengths[batch].sum())
        return 1.0 - real / total if total else 0.0

    # --- tf.data -------------------------------------------------------------------------------

    def element_spec(self) -> object:
        """The structure of one batch, as ``tf.TensorSpec`` objects."""
        batch = self.batch_size if self.drop_remainder else None
        features = {
            "words": tf.TensorSpec([batch, None], tf.int32),
            "chars": tf.TensorSpec([batch, None, None], tf.int32),
            "casing": tf.TensorSpec([batch, None], tf.int32),
        }
        return (features, tf.TensorSpec([batch, None], tf.int32)) if self.with_tags else features

    def dataset(self, epoch: int = 0) -> tf.data.Dataset:
        """The batches of epoch ``epoch`` (see the module docstring for the structure)."""
        batches = self.batch_indices(epoch)
        sizes = np.array([len(b) for b in batches], dtype=np.int64)  # [num_batches]
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)  # [num_batches]
        flat = np.concatenate(batches) if batches else np.zeros(0, np.int64)  # [N]
        order = tf.constant(flat, dtype=tf.int64)
        ragged = self._ragged
        static_batch = self.batch_size if self.drop_remainder else None
        with_tags = self.with_tags

        def make_batch(start: tf.Tensor, size: tf.Tensor):
            index = order[start : start + size]  # [B]
            out = {}
            for name in (
                ("words", "chars", "casing", "tags") if with_tags else ("words", "chars", "casing")
            ):
                dense = tf.gather(ragged[name], index).to_tensor(default_value=PAD)
                out[name] = tf.ensure_shape(
                    dense, [static_batch] + [None] * (dense.shape.rank - 1)
                )  # [B, T] or [B, T, W]
            if with_tags:
                tags = out.pop("tags")
                return out, tags
            return out

        if ragged is None:  # nothing to batch: an empty dataset with the usual structure
            dataset = tf.data.Dataset.from_generator(
                lambda: iter(()), output_signature=self.element_spec()
            )
        else:
            dataset = tf.data.Dataset.from_tensor_slices((starts, sizes)).map(
                make_batch, num_parallel_calls=MAP_PARALLELISM, deterministic=True
            )
        options = tf.data.Options()
        options.deterministic = True
        # No autotuning: its thread sleeps 10 ms, 20 ms, 40 ms, ... between rounds and the end of
        # an epoch waited for the sleep to finish (epochs snapped to 10.24 s and 20.48 s). A batch
        # is one gather + pad, far cheaper than a train step: fixed sizes lose nothing.
        options.autotune.enabled = False
        # Not file-backed: shard by batch, each worker keeps every num_workers-th batch.
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        return dataset.with_options(options).prefetch(PREFETCH_BATCHES)


def _to_ragged(encoded: list[dict[str, np.ndarray]], with_tags: bool) -> dict[str, tf.RaggedTensor]:
    """Stacks per-sentence encodings into ragged tensors ``[N, (T)]`` / ``[N, (T), (W)]``."""
    lengths = np.array([len(e["words"]) for e in encoded], dtype=np.int64)  # [N]
    ragged = {}
    for name in ("words", "casing", "tags") if with_tags else ("words", "casing"):
        flat = np.concatenate([e[name] for e in encoded])  # [sum T]
        ragged[name] = tf.RaggedTensor.from_row_lengths(flat, lengths, validate=False)
    # Char ids of real characters are >= 1 and padding is on the right, so "!= 0" marks them.
    char_lengths = np.concatenate([(e["chars"] != PAD).sum(axis=1) for e in encoded])  # [sum T]
    flat_chars = np.concatenate([e["chars"][e["chars"] != PAD] for e in encoded])  # [sum chars]
    ragged["chars"] = tf.RaggedTensor.from_nested_row_lengths(
        flat_chars.astype(np.int32), [lengths, char_lengths.astype(np.int64)], validate=False
    )
    return ragged


def make_dataset(
    sentences: Sequence[Sentence],
    encoder: SentenceEncoder,
    *,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    epoch: int = 0,
    with_tags: bool = True,
    bucket: bool = True,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """One epoch of padded batches; a shortcut for ``DatasetBuilder(...).dataset(epoch)``.

    This encodes ``sentences`` on every call: a training loop should keep one
    :class:`DatasetBuilder` and call its :meth:`~DatasetBuilder.dataset` per epoch.

    Args:
        sentences: The corpus; empty sentences are dropped.
        encoder: The :class:`SentenceEncoder`.
        batch_size: Sentences per batch.
        shuffle: Shuffle (training).
        seed: Shuffling seed.
        epoch: The epoch; the order is a function of ``(seed, epoch)``.
        with_tags: Yield ``(features, tags)`` rather than features only.
        bucket: Batch sentences of similar length together.
        drop_remainder: Drop the batch smaller than ``batch_size``.

    Returns:
        A dataset of ``({"words": int32 [B, T], "chars": int32 [B, T, W], "casing": int32
        [B, T]}, tags int32 [B, T])``, right-padded with 0.
    """
    builder = DatasetBuilder(
        sentences,
        encoder,
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        with_tags=with_tags,
        bucket=bucket,
        drop_remainder=drop_remainder,
    )
    return builder.dataset(epoch)
