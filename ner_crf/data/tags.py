"""Tag schemes IOB1, BIO and IOBES: parse, detect, convert, repair, and map to entity spans.

Tags are ``O`` or ``<prefix>-<type>``. Canonical prefixes are ``B`` (begin), ``I`` (inside),
``E`` (end) and ``S`` (single); the BILOU spellings ``U-`` and ``L-`` are read as ``S-`` and
``E-``. The three schemes:

* ``BIO`` (also called IOB2): every entity starts with ``B-X``; ``I-X`` continues it.
* ``IOB1``: entities start with ``I-X``; ``B-X`` is only used for an entity that starts directly
  after another entity of the same type.
* ``IOBES`` (also BIOES, BILOU): ``S-X`` is a one-token entity; longer ones are
  ``B-X I-X* E-X``.

Every function reads tag sequences *leniently*, so that any sequence has exactly one span reading:

* BIO and IOB1 share one reading: ``B-X`` always starts a new entity; ``I-X`` continues an entity
  when the previous token is ``B-X`` or ``I-X`` and starts a new one otherwise (after ``O``,
  at the sentence start, or after another type).
* IOBES: a token starts an entity if its prefix is ``B``/``S``, or if it is ``I-X``/``E-X`` not
  preceded by ``B-X``/``I-X``; it ends one if its prefix is ``E``/``S``, or if it is ``B-X``/``I-X``
  not followed by ``I-X``/``E-X``.

A tag is *illegal* when writing the spans of that reading back in the same scheme changes it
(:func:`find_illegal`). :func:`repair_tags` does exactly that rewrite, so repairs never change
the spans: in BIO an illegal ``I-X`` becomes ``B-X``; in IOB1 a ``B-X`` that does not follow a
same-type entity becomes ``I-X``; in IOBES an entity whose start or end is missing gets it back
(``I-X`` -> ``B-X``/``E-X``/``S-X``, ``E-X`` -> ``S-X``, ``B-X`` -> ``S-X``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

__all__ = [
    "SCHEMES",
    "Span",
    "convert_tags",
    "detect_scheme",
    "find_illegal",
    "get_spans",
    "normalize_scheme",
    "normalize_tag",
    "parse_tag",
    "repair_tags",
    "spans_to_tags",
]

SCHEMES: tuple[str, ...] = ("IOB1", "BIO", "IOBES")

Span = tuple[int, int, str]
"""An entity span ``(start, end, type)`` with ``end`` exclusive."""

_SCHEME_ALIASES = {
    "IOB1": "IOB1",
    "BIO": "BIO",
    "IOB2": "BIO",
    "IOBES": "IOBES",
    "BIOES": "IOBES",
    "BILOU": "IOBES",
    "BIOUL": "IOBES",
}

# Canonical prefix of every accepted spelling.
_PREFIXES = {"B": "B", "I": "I", "E": "E", "S": "S", "L": "E", "U": "S"}

# Prefixes each scheme may contain (after BILOU spellings are mapped to E/S).
_SCHEME_PREFIXES = {"IOB1": frozenset("BI"), "BIO": frozenset("BI"), "IOBES": frozenset("BIES")}


def normalize_scheme(name: str) -> str:
    """Return the canonical scheme name for ``name`` (case-insensitive).

    Args:
        name: ``IOB1``, ``BIO``/``IOB2`` or ``IOBES``/``BIOES``/``BILOU``/``BIOUL``, any case.

    Returns:
        One of :data:`SCHEMES`.

    Raises:
        ValueError: ``name`` is not a known scheme.
    """
    canonical = _SCHEME_ALIASES.get(str(name).strip().upper())
    if canonical is None:
        known = ", ".join(sorted(_SCHEME_ALIASES))
        raise ValueError(f"unknown tag scheme {name!r}; expected one of {known}")
    return canonical


@functools.lru_cache(maxsize=4096)
def parse_tag(tag: str) -> tuple[str, str]:
    """Split a tag into its canonical prefix and entity type.

    Args:
        tag: ``"O"`` or ``"<prefix>-<type>"``; the type may itself contain hyphens.

    Returns:
        ``("O", "")`` for ``O``, otherwise ``(prefix, type)`` with prefix in ``B, I, E, S``
        (``U``/``L`` are returned as ``S``/``E``).

    Raises:
        ValueError: empty type (``"B-"``), unknown prefix (``"X-PER"``) or no prefix (``"PER"``).
    """
    if tag == "O":
        return "O", ""
    prefix, sep, entity_type = tag.partition("-")
    if not sep:
        raise ValueError(f"invalid tag {tag!r}: expected 'O' or '<prefix>-<type>', e.g. 'B-PER'")
    canonical = _PREFIXES.get(prefix)
    if canonical is None:
        raise ValueError(
            f"invalid tag {tag!r}: unknown prefix {prefix!r} (expected B, I, E, S, L or U)"
        )
    if not entity_type:
        raise ValueError(f"invalid tag {tag!r}: empty entity type after {prefix + '-'!r}")
    return canonical, entity_type


def normalize_tag(tag: str) -> str:
    """Return ``tag`` with BILOU spellings mapped to IOBES (``U-X`` -> ``S-X``, ``L-X`` -> ``E-X``).

    Args:
        tag: A tag.

    Returns:
        The canonical spelling of ``tag``.

    Raises:
        ValueError: ``tag`` is malformed (see :func:`parse_tag`).
    """
    prefix, entity_type = parse_tag(tag)
    return "O" if prefix == "O" else f"{prefix}-{entity_type}"


def _parsed(tags: Sequence[str], scheme: str | None) -> list[tuple[str, str]]:
    """Parse ``tags``, checking that each prefix is allowed in ``scheme`` (any if ``None``)."""
    parsed = [parse_tag(tag) for tag in tags]
    if scheme is not None:
        allowed = _SCHEME_PREFIXES[scheme]
        for tag, (prefix, _) in zip(tags, parsed, strict=True):
            if prefix != "O" and prefix not in allowed:
                raise ValueError(f"tag {tag!r} is not valid in the {scheme} scheme")
    return parsed


def detect_scheme(tag_sequences: Iterable[Sequence[str]]) -> str:
    """Guess the scheme of a corpus from its tag sequences.

    The rule:

    1. ``IOBES`` if any tag has an ``S``, ``E``, ``U`` or ``L`` prefix.
    2. ``IOB1`` if some ``I-X`` starts an entity (at the sentence start, after ``O`` or after
       another type) while every ``B-X`` directly follows ``B-X``/``I-X`` of the same type (in
       IOB1, ``B-`` only separates adjacent same-type entities).
    3. Otherwise ``BIO`` (also when there are no entities): a BIO file with a few entities that
       open with ``I-`` (annotation errors, as in CoNLL-2002 Spanish) stays BIO, and those tags
       count as illegal.

    BIO and IOB1 have the same span reading, so a wrong guess between them changes which tags
    count as illegal but never the entities.

    Args:
        tag_sequences: One tag sequence per sentence.

    Returns:
        ``"IOBES"``, ``"IOB1"`` or ``"BIO"``.

    Raises:
        ValueError: a tag is malformed.
    """
    sequences = [list(tags) for tags in tag_sequences]
    distinct: set[str] = set()
    for tags in sequences:
        distinct.update(tags)
    if any(parse_tag(tag)[0] in ("S", "E") for tag in distinct):
        return "IOBES"
    # From here every tag is O, B-<type> or I-<type> (U-/L- map to S/E above), so the type
    # is tag[2:] and O's "type" is "" (never equal to a real type).
    b_starts = 0
    i_starts = 0
    for tags in sequences:
        previous = "O"
        for tag in tags:
            if tag != "O" and previous[2:] != tag[2:]:
                if tag[0] == "B":
                    b_starts += 1
                else:
                    i_starts += 1
            previous = tag
    return "IOB1" if i_starts and not b_starts else "BIO"


def _boundaries(parsed: Sequence[tuple[str, str]], scheme: str) -> tuple[list[bool], list[bool]]:
    """Per token: does it start an entity, does it end one (lenient reading, see module doc)."""
    n = len(parsed)
    starts = [False] * n
    ends = [False] * n
    for i, (prefix, entity_type) in enumerate(parsed):
        if prefix == "O":
            continue
        prev_prefix, prev_type = parsed[i - 1] if i > 0 else ("O", "")
        next_prefix, next_type = parsed[i + 1] if i + 1 < n else ("O", "")
        if scheme == "IOBES":
            after_open = prev_type == entity_type and prev_prefix in ("B", "I")
            starts[i] = prefix in ("B", "S") or not after_open
            before_close = next_type == entity_type and next_prefix in ("I", "E")
            ends[i] = prefix in ("E", "S") or not before_close
        else:
            after_open = prev_type == entity_type and prev_prefix != "O"
            starts[i] = prefix == "B" or not after_open
            ends[i] = not (next_type == entity_type and next_prefix == "I")
    return starts, ends


def _expected_prefix(
    parsed: Sequence[tuple[str, str]], starts: list[bool], ends: list[bool], i: int, scheme: str
) -> str:
    """The prefix token ``i`` (an entity token) gets when its spans are written in ``scheme``."""
    if scheme == "BIO":
        return "B" if starts[i] else "I"
    if scheme == "IOB1":
        # B-X only for an entity that starts right after a same-type entity.
        adjacent = i > 0 and ends[i - 1] and parsed[i - 1][1] == parsed[i][1]
        return "B" if starts[i] and adjacent else "I"
    if starts[i]:
        return "S" if ends[i] else "B"
    return "E" if ends[i] else "I"


def get_spans(tags: Sequence[str], scheme: str) -> list[Span]:
    """Return the entity spans of a tag sequence.

    Illegal sequences are read leniently (see the module docstring), so every sequence has spans.

    Args:
        tags: One tag per token.
        scheme: The scheme ``tags`` are written in (any alias accepted).

    Returns:
        ``(start, end, type)`` tuples, ``end`` exclusive, in order.

    Raises:
        ValueError: unknown scheme, malformed tag, or a prefix the scheme does not have
            (``S-X`` in BIO).
    """
    scheme = normalize_scheme(scheme)
    parsed = _parsed(tags, scheme)
    starts, ends = _boundaries(parsed, scheme)
    spans: list[Span] = []
    start = 0
    for i, (_, entity_type) in enumerate(parsed):
        if starts[i]:
            start = i
        if ends[i]:
            spans.append((start, i + 1, entity_type))
    return spans


def spans_to_tags(spans: Iterable[Span], length: int, scheme: str) -> list[str]:
    """Write entity spans as a tag sequence.

    Args:
        spans: ``(start, end, type)`` tuples, ``end`` exclusive; non-empty, non-overlapping.
        length: Number of tokens.
        scheme: Target scheme (any alias accepted).

    Returns:
        ``length`` tags.

    Raises:
        ValueError: unknown scheme, or a span that is empty, out of range, overlaps another or
            has an empty type.
    """
    scheme = normalize_scheme(scheme)
    tags = ["O"] * length
    previous_end, previous_type = -1, ""
    for start, end, entity_type in sorted(spans):
        if not 0 <= start < end <= length:
            raise ValueError(f"span {(start, end, entity_type)!r} is empty or outside 0..{length}")
        if start < previous_end:
            raise ValueError(f"span {(start, end, entity_type)!r} overlaps the previous span")
        if not entity_type:
            raise ValueError(f"span {(start, end, entity_type)!r} has an empty type")
        if scheme == "BIO":
            first = "B"
        elif scheme == "IOB1":
            first = "B" if previous_end == start and previous_type == entity_type else "I"
        else:
            first = "S" if end - start == 1 else "B"
        tags[start] = f"{first}-{entity_type}"
        for i in range(start + 1, end):
            tags[i] = f"I-{entity_type}"
        if scheme == "IOBES" and end - start > 1:
            tags[end - 1] = f"E-{entity_type}"
        previous_end, previous_type = end, entity_type
    return tags


def convert_tags(tags: Sequence[str], to_scheme: str, from_scheme: str) -> list[str]:
    """Convert a tag sequence between schemes, preserving its spans exactly.

    Args:
        tags: One tag per token, written in ``from_scheme``.
        to_scheme: Target scheme.
        from_scheme: Source scheme.

    Returns:
        The same spans written in ``to_scheme`` (illegal input is repaired on the way).

    Raises:
        ValueError: unknown scheme or malformed tag.
    """
    return spans_to_tags(get_spans(tags, from_scheme), len(tags), to_scheme)


def find_illegal(tags: Sequence[str], scheme: str) -> list[int]:
    """Return the positions of illegal tags (those :func:`repair_tags` would change).

    BIO: ``I-X`` at the start, after ``O`` or after another type. IOB1: ``B-X`` not directly after
    ``B-X``/``I-X`` of the same type. IOBES: ``I-X``/``E-X`` not after ``B-X``/``I-X``, or
    ``B-X``/``I-X`` not before ``I-X``/``E-X``. BILOU spellings (``U-``, ``L-``) are not illegal.

    Args:
        tags: One tag per token.
        scheme: The scheme ``tags`` are written in.

    Returns:
        Sorted token indices.

    Raises:
        ValueError: unknown scheme, malformed tag, or a prefix the scheme does not have.
    """
    scheme = normalize_scheme(scheme)
    parsed = _parsed(tags, scheme)
    starts, ends = _boundaries(parsed, scheme)
    bad = []
    for i, (prefix, _) in enumerate(parsed):
        if prefix != "O" and prefix != _expected_prefix(parsed, starts, ends, i, scheme):
            bad.append(i)
    return bad


def repair_tags(tags: Sequence[str], scheme: str) -> tuple[list[str], int]:
    """Repair illegal tag sequences without changing the spans of the lenient reading.

    Args:
        tags: One tag per token.
        scheme: The scheme ``tags`` are written in.

    Returns:
        ``(repaired, count)``: the repaired tags (BILOU spellings become ``S-``/``E-``) and the
        number of tags that were illegal.

    Raises:
        ValueError: unknown scheme, malformed tag, or a prefix the scheme does not have.
    """
    count = len(find_illegal(tags, scheme))
    if count == 0:
        return [normalize_tag(tag) for tag in tags], 0
    return convert_tags(tags, scheme, scheme), count
