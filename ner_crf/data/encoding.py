"""Encoding sentences into the id arrays the model reads (no TensorFlow).

:class:`SentenceEncoder` turns a list of tokens into ``words`` / ``chars`` / ``casing`` id arrays
and tags into tag ids; :func:`casing_id` is the casing feature of one token. Both the
TensorFlow input pipeline (:mod:`ner_crf.data.pipeline`) and the ONNX Runtime predictor
(:mod:`ner_crf.onnx.runtime`) use them, so this module imports NumPy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ner_crf.data.vocab import Vocabularies, Vocabulary, normalize_word
from ner_crf.errors import DataError

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
