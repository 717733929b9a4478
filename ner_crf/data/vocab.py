"""Vocabularies of words, characters and tags, built from the training split only.

Word and character vocabularies reserve two special ids: ``PAD = 0`` (padding; the model's
embeddings use ``mask_zero=True``, so id 0 must never be a real token) and ``UNK = 1`` (anything
not seen in training). The tag vocabulary has no specials: its ids are ``0 .. K-1``.

Order is deterministic: words and characters by descending training count, ties alphabetically
(by code point); tags with ``"O"`` first (when present), then the others sorted alphabetically.

Files are UTF-8 text with one token per line (the id is the 0-based line number; for word and
character vocabularies the first two lines are ``<pad>`` and ``<unk>``), or JSON when the file
name ends in ``.json``. Tokens containing a line break (``\\n`` or ``\\r``) and the empty token
cannot be written to a text file; saving such a vocabulary as text raises :class:`ModelError`
(use ``.json``). Other whitespace inside tokens (e.g. a no-break space) is kept as is: lines are
never stripped.

This module must not import TensorFlow (the CLI imports it at startup).
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ner_crf.atomic import atomic_write_text
from ner_crf.errors import ModelError

if TYPE_CHECKING:
    from ner_crf.data.conll import Sentence

logger = logging.getLogger(__name__)

PAD = 0
UNK = 1
PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"
WORDS_FILE_NAME = "words.txt"
OUTSIDE_TAG = "O"

_DIGIT = re.compile(r"\d")
_LINE_BREAK = re.compile(r"[\n\r]")


def normalize_word(word: str, *, lowercase: bool, normalize_digits: bool) -> str:
    """Normalises a word the same way for vocabulary building, lookup and embeddings.

    Args:
        word: The raw token.
        lowercase: Lowercase the word (``str.lower``).
        normalize_digits: Replace every decimal digit (any script, ``\\d``) by ``"0"``, so that
            ``"1996-08-22"`` becomes ``"0000-00-00"``.

    Returns:
        The normalised word.
    """
    if lowercase:
        word = word.lower()
    if normalize_digits:
        word = _DIGIT.sub("0", word)
    return word


class Vocabulary:
    """An ordered, immutable token <-> id mapping.

    Args:
        tokens: The ordinary tokens in id order (without ``<pad>``/``<unk>``). Duplicates are an
            error.
        specials: When true (word and character vocabularies), ids 0 and 1 are ``<pad>`` and
            ``<unk>`` and :meth:`index` maps unknown tokens to ``UNK``. When false (tags), ids
            start at 0 with the first token and unknown tokens raise ``KeyError``.

    Raises:
        ValueError: A token is duplicated, is not a string, or (with specials) is ``<pad>`` or
            ``<unk>``.
    """

    PAD = PAD
    UNK = UNK
    PAD_TOKEN = PAD_TOKEN
    UNK_TOKEN = UNK_TOKEN

    def __init__(self, tokens: Iterable[str], *, specials: bool = True):
        self.specials = specials
        self._tokens: list[str] = [PAD_TOKEN, UNK_TOKEN] if specials else []
        self._tokens.extend(tokens)
        self._index: dict[str, int] = {}
        for i, token in enumerate(self._tokens):
            if not isinstance(token, str):
                raise ValueError(f"vocabulary tokens must be strings, got {token!r} at id {i}")
            if token in self._index:
                raise ValueError(
                    f"duplicate vocabulary token {token!r} at ids {self._index[token]} and {i}"
                )
            self._index[token] = i

    # --- construction -------------------------------------------------------------------------

    @classmethod
    def from_counts(
        cls,
        counts: Mapping[str, int],
        *,
        min_count: int = 1,
        max_size: int | None = None,
        specials: bool = True,
    ) -> Vocabulary:
        """Builds a vocabulary ordered by descending count, ties alphabetically.

        Args:
            counts: Token counts.
            min_count: Tokens seen fewer times are left out (they map to ``UNK``).
            max_size: Keep at most this many ordinary tokens (``<pad>``/``<unk>`` not counted);
                ``None`` keeps all.
            specials: See the class docstring.

        Returns:
            The vocabulary.
        """
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        if max_size is not None and max_size < 1:
            raise ValueError(f"max_size must be a positive integer or None, got {max_size}")
        reserved = {PAD_TOKEN, UNK_TOKEN} if specials else set()
        kept = [t for t, c in counts.items() if c >= min_count and t not in reserved]
        kept.sort(key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[:max_size]
        return cls(kept, specials=specials)

    @classmethod
    def from_tags(cls, tags: Iterable[str]) -> Vocabulary:
        """Builds a tag vocabulary (no specials): ``"O"`` first if present, then sorted.

        Args:
            tags: Tags in any order, with repetitions.

        Returns:
            The tag vocabulary, ids ``0 .. K-1``.
        """
        distinct = set(tags)
        ordered = sorted(distinct - {OUTSIDE_TAG})
        if OUTSIDE_TAG in distinct:
            ordered.insert(0, OUTSIDE_TAG)
        return cls(ordered, specials=False)

    # --- mapping ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index

    def __iter__(self):
        return iter(self._tokens)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return self.specials == other.specials and self._tokens == other._tokens

    def __hash__(self) -> int:
        return hash((self.specials, tuple(self._tokens)))

    def __repr__(self) -> str:
        head = ", ".join(repr(t) for t in self._tokens[:5])
        more = ", ..." if len(self._tokens) > 5 else ""
        return f"Vocabulary([{head}{more}], size={len(self)}, specials={self.specials})"

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order, including ``<pad>``/``<unk>`` when there are specials."""
        return list(self._tokens)

    def index(self, token: str) -> int:
        """Returns the id of ``token``.

        Args:
            token: The token, already normalised the way the vocabulary was built.

        Returns:
            Its id; ``UNK`` (1) for an unknown token when the vocabulary has specials, and for a
            literal ``"<pad>"`` (id 0 is reserved for padding).

        Raises:
            KeyError: Unknown token in a vocabulary without specials (tags).
        """
        found = self._index.get(token)
        if found is not None and (found != PAD or not self.specials):
            return found
        if self.specials:
            # A literal "<pad>" in the input must not become id 0 (it would be masked out).
            return UNK
        known = ", ".join(self._tokens[:20]) + (", ..." if len(self._tokens) > 20 else "")
        raise KeyError(f"unknown token {token!r}; known: {known}")

    def token(self, id_: int) -> str:
        """Returns the token with id ``id_``.

        Raises:
            IndexError: ``id_`` is not in ``0 .. len-1``.
        """
        if not 0 <= id_ < len(self._tokens):
            raise IndexError(f"id {id_} out of range for a vocabulary of size {len(self)}")
        return self._tokens[id_]

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Maps tokens to ids with :meth:`index` (``UNK`` fallback when there are specials)."""
        return [self.index(t) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Maps ids back to tokens with :meth:`token`."""
        return [self.token(int(i)) for i in ids]

    # --- files --------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Writes the vocabulary atomically: JSON for a ``.json`` suffix, else one token per line.

        Raises:
            ModelError: A token cannot be stored in a line-based file (line break or empty).
        """
        path = Path(path)
        if path.suffix == ".json":
            payload = {"specials": self.specials, "tokens": self._tokens}
            atomic_write_text(path, json.dumps(payload, ensure_ascii=False, indent=0) + "\n")
            return
        for i, token in enumerate(self._tokens):
            if token == "" or _LINE_BREAK.search(token):
                raise ModelError(
                    f"cannot write token {token!r} (id {i}) to the one-token-per-line file {path}: "
                    "tokens must be non-empty and contain no line break; save to a .json file"
                )
        atomic_write_text(path, "".join(t + "\n" for t in self._tokens))

    @classmethod
    def load(cls, path: str | Path, *, specials: bool | None = None) -> Vocabulary:
        """Reads a vocabulary written by :meth:`save`.

        Args:
            path: The file (``.json`` suffix = JSON, else one token per line).
            specials: Expected kind. ``None`` detects it: a text file whose first two lines are
                ``<pad>`` and ``<unk>`` has specials.

        Returns:
            The vocabulary.

        Raises:
            ModelError: The file is missing, not UTF-8, malformed, has empty lines or duplicate
                tokens, or does not match ``specials``.
        """
        path = Path(path)
        try:
            text = path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            raise ModelError(f"vocabulary file {path} is missing") from None
        except OSError as error:
            raise ModelError(f"cannot read vocabulary file {path}: {error}") from None
        except UnicodeDecodeError as error:
            raise ModelError(f"vocabulary file {path} is not valid UTF-8: {error}") from None

        if path.suffix == ".json":
            try:
                payload = json.loads(text)
            except json.JSONDecodeError as error:
                raise ModelError(f"vocabulary file {path} is not valid JSON: {error}") from None
            if (
                not isinstance(payload, dict)
                or not isinstance(payload.get("specials"), bool)
                or not isinstance(payload.get("tokens"), list)
            ):
                raise ModelError(
                    f"vocabulary file {path} must hold an object with 'specials' (bool) and "
                    "'tokens' (list of strings)"
                )
            file_specials: bool = payload["specials"]
            tokens: list[str] = payload["tokens"]
        else:
            if text and not text.endswith("\n"):
                text += "\n"
            tokens = text.split("\n")[:-1]
            for number, token in enumerate(tokens, start=1):
                if token == "" or "\r" in token:
                    raise ModelError(
                        f"vocabulary file {path} is garbled: line {number} is empty or has a "
                        "carriage return"
                    )
            file_specials = tokens[:2] == [PAD_TOKEN, UNK_TOKEN]

        if specials is not None and specials != file_specials:
            expected = f"{PAD_TOKEN!r}, {UNK_TOKEN!r}" if specials else "no special tokens"
            raise ModelError(f"vocabulary file {path} should start with {expected}")
        if file_specials:
            if tokens[:2] != [PAD_TOKEN, UNK_TOKEN]:
                raise ModelError(f"vocabulary file {path} must start with {PAD_TOKEN}, {UNK_TOKEN}")
            tokens = tokens[2:]
        try:
            return cls(tokens, specials=file_specials)
        except ValueError as error:
            raise ModelError(f"vocabulary file {path} is garbled: {error}") from None


@dataclass
class Vocabularies:
    """The three vocabularies of a model plus the training word counts.

    Attributes:
        words: Normalised training words (see :func:`normalize_word`), with ``<pad>``/``<unk>``,
            followed (ids ``trained_words ..``) by the words that only the pretrained vectors
            file has, when the vocabulary was extended (:meth:`extend`).
        chars: Characters of the raw training tokens (case and digits kept), with specials.
        tags: Training tags, no specials (``"O"`` first, then sorted).
        word_counts: Count of every normalised training word, including those left out of
            ``words`` by ``min_count``/``max_size``. Used for word dropout and token coverage.
        trained_words: Number of leading ids of ``words`` (specials included) that are training
            words, with trainable embedding rows; the ids after them are pretrained-only words
            whose rows are the file's vectors, frozen. ``None`` = every word is a training word.
    """

    words: Vocabulary
    chars: Vocabulary
    tags: Vocabulary
    word_counts: dict[str, int] = field(default_factory=dict)
    trained_words: int | None = None

    WORDS_FILE = WORDS_FILE_NAME
    CHARS_FILE = "chars.txt"
    TAGS_FILE = "tags.txt"
    COUNTS_FILE = "word_counts.json"
    EXTENSION_FILE = "extension.json"

    @property
    def num_trained_words(self) -> int:
        """Ids ``0 .. num_trained_words - 1`` are training words (trainable rows)."""
        return len(self.words) if self.trained_words is None else self.trained_words

    @property
    def num_pretrained_words(self) -> int:
        """Number of words that only the pretrained vectors file has (frozen rows)."""
        return len(self.words) - self.num_trained_words

    def extend(self, pretrained_words: Sequence[str]) -> Vocabularies:
        """Returns a copy whose word vocabulary ends with ``pretrained_words``.

        Args:
            pretrained_words: Normalised words that have a pretrained vector but are not
                training words, in file order; they get ids ``len(words) ..``.

        Raises:
            ValueError: A word is already in the vocabulary, or this one is already extended.
        """
        if self.trained_words is not None:
            raise ValueError("the word vocabulary is already extended")
        trained = len(self.words)
        words = Vocabulary([*self.words.tokens[UNK + 1 :], *pretrained_words])
        return Vocabularies(
            words=words,
            chars=self.chars,
            tags=self.tags,
            word_counts=self.word_counts,
            trained_words=trained if pretrained_words else None,
        )

    @property
    def singletons(self) -> list[int]:
        """Sorted ids of vocabulary words seen exactly once in training (Lample et al. 2016)."""
        return sorted(
            self.words.index(w)
            for w, c in self.word_counts.items()
            if c == 1 and w in self.words and self.words.index(w) > UNK
        )

    def save(self, directory: str | Path) -> None:
        """Writes ``words.txt``, ``chars.txt``, ``tags.txt``, ``word_counts.json`` and, for an
        extended vocabulary, ``extension.json`` (``{"trained_words": N, "pretrained_words": M}``:
        ids ``0 .. N-1`` of ``words.txt`` have trainable rows, ids ``N .. N+M-1`` frozen ones)."""
        directory = Path(directory)
        self.words.save(directory / self.WORDS_FILE)
        self.chars.save(directory / self.CHARS_FILE)
        self.tags.save(directory / self.TAGS_FILE)
        ordered = dict(sorted(self.word_counts.items(), key=lambda kv: (-kv[1], kv[0])))
        atomic_write_text(
            directory / self.COUNTS_FILE, json.dumps(ordered, ensure_ascii=False, indent=0) + "\n"
        )
        extension = directory / self.EXTENSION_FILE
        if self.trained_words is not None:
            payload = {
                "trained_words": self.num_trained_words,
                "pretrained_words": self.num_pretrained_words,
            }
            atomic_write_text(extension, json.dumps(payload) + "\n")
        elif extension.exists():
            extension.unlink()

    @classmethod
    def load(cls, directory: str | Path) -> Vocabularies:
        """Reads the files written by :meth:`save`.

        ``word_counts.json`` is optional (counts are only needed for training); when it is
        missing, ``word_counts`` is empty.

        Raises:
            ModelError: A vocabulary file is missing or garbled (the message names the file).
        """
        directory = Path(directory)
        words = Vocabulary.load(directory / cls.WORDS_FILE, specials=True)
        chars = Vocabulary.load(directory / cls.CHARS_FILE, specials=True)
        tags = Vocabulary.load(directory / cls.TAGS_FILE, specials=False)
        counts_path = directory / cls.COUNTS_FILE
        counts: dict[str, int] = {}
        if counts_path.exists():
            try:
                raw = json.loads(counts_path.read_bytes().decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                raise ModelError(f"word count file {counts_path} is garbled: {error}") from None
            if not isinstance(raw, dict) or not all(
                isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in raw.values()
            ):
                raise ModelError(
                    f"word count file {counts_path} must map words to non-negative integers"
                )
            counts = raw
        else:
            logger.debug("no %s in %s: word counts left empty", cls.COUNTS_FILE, directory)
        trained = cls._load_extension(directory / cls.EXTENSION_FILE, len(words))
        return cls(words=words, chars=chars, tags=tags, word_counts=counts, trained_words=trained)

    @staticmethod
    def _load_extension(path: Path, num_words: int) -> int | None:
        if not path.exists():
            return None
        try:
            raw = json.loads(path.read_bytes().decode("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ModelError(f"vocabulary extension file {path} is garbled: {error}") from None
        trained = raw.get("trained_words") if isinstance(raw, dict) else None
        pretrained = raw.get("pretrained_words") if isinstance(raw, dict) else None
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (trained, pretrained)):
            raise ModelError(
                f"vocabulary extension file {path} must hold integers 'trained_words' and "
                "'pretrained_words'"
            )
        if trained < 2 or pretrained < 0 or trained + pretrained != num_words:
            raise ModelError(
                f"vocabulary extension file {path} says {trained} training + {pretrained} "
                f"pretrained words but {WORDS_FILE_NAME} has {num_words}; the files come from "
                "different runs"
            )
        return trained


def build_vocabularies(
    train_sentences: Sequence[Sentence],
    *,
    min_count: int = 1,
    max_size: int | None = None,
    lowercase: bool = False,
    normalize_digits: bool = True,
) -> Vocabularies:
    """Builds word, character and tag vocabularies from the TRAINING sentences only.

    Never pass dev or test sentences: their words must stay unknown so that evaluation measures
    generalisation to unseen words.

    Args:
        train_sentences: The training split.
        min_count: Words seen fewer times map to ``UNK``.
        max_size: At most this many ordinary words (specials not counted); ``None`` = all.
        lowercase: Lowercase words before counting (see :func:`normalize_word`).
        normalize_digits: Map digits to ``"0"`` before counting.

    Returns:
        The vocabularies and the word counts. Characters come from the raw tokens (all of
        them, ``min_count`` 1); tags from the sentences that have tags.
    """
    word_counts: Counter[str] = Counter()
    char_counts: Counter[str] = Counter()
    tags: set[str] = set()
    for sentence in train_sentences:
        for token in sentence.tokens:
            word_counts[
                normalize_word(token, lowercase=lowercase, normalize_digits=normalize_digits)
            ] += 1
            char_counts.update(token)
        tags.update(sentence.tags)
    words = Vocabulary.from_counts(word_counts, min_count=min_count, max_size=max_size)
    chars = Vocabulary.from_counts(char_counts)
    vocabs = Vocabularies(
        words=words, chars=chars, tags=Vocabulary.from_tags(tags), word_counts=dict(word_counts)
    )
    logger.info(
        "vocabularies: %d words (of %d types), %d chars, %d tags",
        len(words),
        len(word_counts),
        len(chars),
        len(vocabs.tags),
    )
    return vocabs
