"""CoNLL-format reader (placeholder module header; the data helper fills this file)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Sentence:
    """One sentence of a CoNLL file.

    Attributes:
        tokens: The tokens (first column).
        tags: One tag per token.
        doc: Index of the ``-DOCSTART-`` document the sentence belongs to (0 when there is none).
        line: 1-based line number of the sentence's first token in its file.
    """

    tokens: list[str]
    tags: list[str] = field(default_factory=list)
    doc: int = 0
    line: int = 0
