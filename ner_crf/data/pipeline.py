"""Sentence encoding and the ``tf.data`` input pipeline.

:class:`SentenceEncoder` turns a list of tokens into id arrays (words, characters, casing
features) and tags into tag ids. :class:`DatasetBuilder` encodes a corpus once and then builds,
per epoch, a ``tf.data.Dataset`` of padded batches::

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
from typing import TYPE_CHECKING, Any

import numpy as np
import tensorflow as tf

from ner_crf.data.vocab import PAD, Vocabularies, Vocabulary, normalize_word
from ner_crf.errors import DataError

if TYPE_CHECKING:
    from ner_crf.data.conll import Sentence

logger = logging.getLogger(__name__)

# Casing feature ids (0 is padding).
CASING_PAD = 0
CASING_LOWER = 1  # letters, none uppercase ("paris", also caseless scripts)
CASING_TITLE = 2  # first letter uppercase, the others lowercase ("Paris", "I")
CASING_UPPER = 3  # two or more letters, all uppercase ("EU")
CASING_MIXED = 4  # any other mix of cases ("iPhone", "McDonald")
CASING_NUMERIC = 5  # digits with only . , - / : between them ("1,000.5", "1996-08-22")
CASING_HAS_DIGIT = 6  # digits and anything else ("F-16", "3rd")
CASING_OTHER = 7  # no letter and no digit (punctuation, symbols)
NUM_CASING = 8

_NUMERIC_PUNCT = frozenset(".,-/:")


def casing_id(token: str) -> int:
    """Returns the casing feature of ``token`` (``1 .. NUM_CASING - 1``, see the constants)."""
    has_digit = False
    numeric = True
    upper = lower = 0
    first_letter_upper: bool | None = None
    for char in token:
        if char.isdigit():
            has_digit = True
        elif char not in _NUMERIC_PUNCT:
            numeric = False
        if char.isupper():
            upper += 1
            if first_letter_upper is None:
                first_letter_upper = True
        elif char.islower():
            lower += 1
            if first_letter_upper is None:
                first_letter_upper = False
        elif char.isalpha() and first_letter_upper is None:
            first_letter_upper = False
    if has_digit:
        return CASING_NUMERIC if numeric else CASING_HAS_DIGIT
    if first_letter_upper is None:
        return CASING_OTHER
    if upper == 0:
        return CASING_LOWER
    if lower == 0:
        return CASING_UPPER if upper > 1 else CASING_TITLE
    if first_letter_upper and upper == 1:
        return CASING_TITLE
    return CASING_MIXED


class SentenceEncoder:
    """Maps tokens and tags to the id arrays the model reads.

    Args:
        words: Word vocabulary (with specials); tokens go through :func:`normalize_word` first.
        chars: Character vocabulary (with specials); characters unseen in training map to UNK.
        tags: Tag vocabulary, or ``None`` for an encoder that only encodes inputs.
        lowercase: Must match the options the word vocabulary was built with.
        normalize_digits: Same.
        max_word_length: Characters kept per word (the first ones); longer words are cut.
    """

    def __init__(
        self,
        words: Vocabulary,
        chars: Vocabulary,
        tags: Vocabulary | None,
        *,
        lowercase: bool = False,
        normalize_digits: bool = True,
        max_word_length: int = 30,
    ):
        if max_word_length < 1:
            raise ValueError(f"max_word_length must be a positive integer, got {max_word_length}")
        if not (words.specials and chars.specials):
            raise ValueError("word and character vocabularies need <pad>/<unk> (specials=True)")
        self.words = words
        self.chars = chars
        self.tags = tags
        self.lowercase = lowercase
        self.normalize_digits = normalize_digits
        self.max_word_length = max_word_length

    @classmethod
    def from_config(cls, vocabs: Vocabularies, vocab_config: Any) -> SentenceEncoder:
        """The encoder for a run: ``vocabs`` (words, chars, tags) and the ``vocab`` config section.

        Args:
            vocabs: A `Vocabularies` (``.words``, ``.chars``, ``.tags``).
            vocab_config: The ``vocab`` config section (``lowercase``, ``normalize_digits``,
                ``max_word_length``), the options the vocabularies were built with.
        """
        return cls(
            vocabs.words,
            vocabs.chars,
            vocabs.tags,
            lowercase=vocab_config.lowercase,
            normalize_digits=vocab_config.normalize_digits,
            max_word_length=vocab_config.max_word_length,
        )

    def encode(self, tokens: Sequence[str]) -> dict[str, np.ndarray]:
        """Encodes one sentence.

        Args:
            tokens: The raw tokens, ``T`` of them.

        Returns:
            ``{"words": int32 [T], "chars": int32 [T, W], "casing": int32 [T]}`` with
            ``W = min(longest token, max_word_length)``; ``chars`` is right-padded with 0.
        """
        n = len(tokens)
        words = np.fromiter(
            (
                self.words.index(
                    normalize_word(
                        t, lowercase=self.lowercase, normalize_digits=self.normalize_digits
                    )
                )
                for t in tokens
            ),
            dtype=np.int32,
            count=n,
        )  # [T]
        width = min(max((len(t) for t in tokens), default=0), self.max_word_length)
        chars = np.zeros((n, width), dtype=np.int32)  # [T, W]
        char_index = self.chars.index
        for i, token in enumerate(tokens):
            ids = [char_index(c) for c in token[: self.max_word_length]]
            chars[i, : len(ids)] = ids
        casing = np.fromiter((casing_id(t) for t in tokens), dtype=np.int32, count=n)  # [T]
        return {"words": words, "chars": chars, "casing": casing}

    def encode_tags(self, tags: Sequence[str]) -> np.ndarray:
        """Encodes the tags of one sentence to int32 ``[T]``.

        Raises:
            ValueError: The encoder has no tag vocabulary.
            DataError: A tag that did not occur in training.
        """
        if self.tags is None:
            raise ValueError("this SentenceEncoder has no tag vocabulary")
        try:
            return np.array([self.tags.index(t) for t in tags], dtype=np.int32)  # [T]
        except KeyError as error:
            raise DataError(f"tag not seen in training: {error.args[0]}") from None

    def decode_tags(self, ids: Sequence[int]) -> list[str]:
        """Maps tag ids back to tag strings."""
        if self.tags is None:
            raise ValueError("this SentenceEncoder has no tag vocabulary")
        return self.tags.decode(ids)


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
                make_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
            )
        options = tf.data.Options()
        options.deterministic = True
        # Not file-backed: shard by batch, each worker keeps every num_workers-th batch.
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


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
