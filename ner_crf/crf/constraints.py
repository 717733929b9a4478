"""Legal tag transitions of the BIO / IOB1 / IOBES tagging schemes.

The functions here are pure Python + NumPy (no TensorFlow), so the config and data code can use
them cheaply. Tags are strings such as ``"B-PER"``, ``"I-LOC"``, ``"E-ORG"``, ``"S-MISC"`` or
``"O"``; the prefix letter is case-insensitive, the entity type is compared exactly.

Schemes (names are case-insensitive):

* ``BIO`` (alias ``IOB2``): an entity starts with ``B-x``; ``I-x`` may only follow ``B-x`` or
  ``I-x``. A sentence may not start with ``I-x``; any tag may end it.
* ``IOB1``: an entity starts with ``I-x``; ``B-x`` is only used to split two adjacent entities of
  the same type, so ``B-x`` may only follow ``B-x`` or ``I-x`` and may not start a sentence.
  ``I-x`` may follow anything. Any tag may end a sentence.
* ``IOBES`` (aliases ``BIOES``, ``BILOU``; ``L``/``U`` are accepted as ``E``/``S``): inside an
  entity (after ``B-x`` or ``I-x``) only ``I-x`` or ``E-x`` may follow; outside (after ``O``,
  ``E-*``, ``S-*``) only ``O``, ``B-*`` or ``S-*`` may follow. A sentence starts with ``O``,
  ``B-*`` or ``S-*`` and ends with ``O``, ``E-*`` or ``S-*``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "FORBIDDEN_SCORE",
    "SCHEMES",
    "TransitionConstraints",
    "allowed_end",
    "allowed_start",
    "allowed_transitions",
    "canonical_scheme",
    "transition_constraints",
]

#: Score a forbidden transition / first tag / last tag gets in the differentiable CRF functions
#: (:mod:`ner_crf.crf.ops`) and in the NumPy entity probabilities (:mod:`ner_crf.crf.entity_probs`).
FORBIDDEN_SCORE = -1e4

#: Accepted scheme names (upper-cased) mapped to the canonical name.
SCHEMES: dict[str, str] = {
    "BIO": "BIO",
    "IOB2": "BIO",
    "IOB1": "IOB1",
    "IOBES": "IOBES",
    "BIOES": "IOBES",
    "BILOU": "IOBES",
}

_PREFIXES: dict[str, frozenset[str]] = {
    "BIO": frozenset("BI"),
    "IOB1": frozenset("BI"),
    "IOBES": frozenset("BIES"),
}

# BILOU letters map onto IOBES ones.
_PREFIX_ALIASES = {"L": "E", "U": "S"}


def canonical_scheme(scheme: str) -> str:
    """Returns the canonical name (``"BIO"``, ``"IOB1"`` or ``"IOBES"``) of a scheme name or alias.

    Raises:
        ValueError: If the scheme is unknown.
    """
    key = str(scheme).strip().upper()
    if key not in SCHEMES:
        raise ValueError(
            f"unknown tag scheme {scheme!r}; expected one of {', '.join(sorted(SCHEMES))}"
        )
    return SCHEMES[key]


def _parse(scheme: str, tags: Sequence[str]) -> list[tuple[str, str | None]]:
    """Splits each tag into (prefix, entity type); ``("O", None)`` for the outside tag."""
    prefixes = _PREFIXES[scheme]
    parsed: list[tuple[str, str | None]] = []
    for tag in tags:
        if not isinstance(tag, str):
            raise ValueError(f"malformed tag {tag!r} for scheme {scheme}: expected a string")
        if tag.upper() == "O":
            parsed.append(("O", None))
            continue
        prefix, sep, entity = tag.partition("-")
        prefix = prefix.upper()
        if scheme == "IOBES":
            prefix = _PREFIX_ALIASES.get(prefix, prefix)
        if not sep or not entity or prefix not in prefixes:
            allowed = ", ".join(f"{p}-TYPE" for p in sorted(prefixes))
            raise ValueError(
                f"malformed tag {tag!r} for scheme {scheme}: expected 'O' or one of {allowed}"
            )
        parsed.append((prefix, entity))
    return parsed


def _can_start(scheme: str, prefix: str) -> bool:
    if scheme == "BIO":
        return prefix in ("O", "B")
    if scheme == "IOB1":
        return prefix in ("O", "I")
    return prefix in ("O", "B", "S")


def _can_end(scheme: str, prefix: str) -> bool:
    if scheme == "IOBES":
        return prefix in ("O", "E", "S")
    return True


def _can_follow(scheme: str, prev: tuple[str, str | None], nxt: tuple[str, str | None]) -> bool:
    (p_prefix, p_type), (n_prefix, n_type) = prev, nxt
    same = p_type is not None and p_type == n_type
    if scheme == "BIO":
        if n_prefix == "I":
            return p_prefix in ("B", "I") and same
        return True
    if scheme == "IOB1":
        if n_prefix == "B":
            return p_prefix in ("B", "I") and same
        return True
    # IOBES
    if p_prefix in ("B", "I"):
        return n_prefix in ("I", "E") and same
    return n_prefix in ("O", "B", "S")


@dataclass(frozen=True)
class TransitionConstraints:
    """Which transitions, first tags and last tags a tag scheme allows.

    Attributes:
        scheme: Canonical scheme name (``"BIO"``, ``"IOB1"`` or ``"IOBES"``).
        tags: The tag names, index ``i`` is tag id ``i``.
        transitions: [num_tags, num_tags] bool array, ``transitions[i, j]`` is True when tag
            ``j`` may follow tag ``i`` (orientation ``[from, to]``).
        start: [num_tags] bool array, True for tags that may start a sentence.
        end: [num_tags] bool array, True for tags that may end a sentence.
    """

    scheme: str
    tags: tuple[str, ...]
    transitions: np.ndarray
    start: np.ndarray
    end: np.ndarray

    @classmethod
    def from_scheme(cls, scheme: str, tags: Sequence[str]) -> TransitionConstraints:
        """Builds the constraints of ``scheme`` over ``tags`` (see the module docstring).

        Raises:
            ValueError: If the scheme is unknown or a tag is malformed for it.
        """
        name = canonical_scheme(scheme)
        parsed = _parse(name, tags)
        num_tags = len(parsed)
        transitions = np.zeros((num_tags, num_tags), dtype=bool)  # [from, to]
        for i, prev in enumerate(parsed):
            for j, nxt in enumerate(parsed):
                transitions[i, j] = _can_follow(name, prev, nxt)
        start = np.array([_can_start(name, p) for p, _ in parsed], dtype=bool)  # [num_tags]
        end = np.array([_can_end(name, p) for p, _ in parsed], dtype=bool)  # [num_tags]
        return cls(name, tuple(tags), transitions, start, end)

    def as_kwargs(self) -> dict[str, np.ndarray]:
        """The masks as keyword arguments of the ``ner_crf.crf`` functions.

        Example: ``crf_decode(potentials, trans, lengths, **constraints.as_kwargs())``.
        """
        return {
            "transition_mask": self.transitions,
            "start_mask": self.start,
            "end_mask": self.end,
        }

    def allowed_pairs(self) -> list[tuple[int, int]]:
        """The allowed ``(from, to)`` index pairs, sorted."""
        return [(int(i), int(j)) for i, j in zip(*np.nonzero(self.transitions), strict=True)]


def transition_constraints(scheme: str, tags: Sequence[str]) -> TransitionConstraints:
    """Shorthand for :meth:`TransitionConstraints.from_scheme`."""
    return TransitionConstraints.from_scheme(scheme, tags)


def allowed_transitions(scheme: str, tags: Sequence[str]) -> list[tuple[int, int]]:
    """Lists the legal ``(from_index, to_index)`` tag transitions of a scheme.

    Args:
        scheme: ``"BIO"``/``"IOB2"``, ``"IOB1"`` or ``"IOBES"``/``"BIOES"``/``"BILOU"`` (any case).
        tags: Tag names; a tag's index is its position in this sequence.

    Returns:
        The allowed pairs, sorted by ``from`` then ``to``. Sentence start and end legality are given
        by :func:`allowed_start` and :func:`allowed_end`.

    Raises:
        ValueError: If the scheme is unknown or a tag is malformed for it.
    """
    return TransitionConstraints.from_scheme(scheme, tags).allowed_pairs()


def allowed_start(scheme: str, tags: Sequence[str]) -> list[int]:
    """Indices of the tags that may start a sentence under ``scheme`` (sorted)."""
    return [int(i) for i in np.nonzero(TransitionConstraints.from_scheme(scheme, tags).start)[0]]


def allowed_end(scheme: str, tags: Sequence[str]) -> list[int]:
    """Indices of the tags that may end a sentence under ``scheme`` (sorted)."""
    return [int(i) for i in np.nonzero(TransitionConstraints.from_scheme(scheme, tags).end)[0]]
