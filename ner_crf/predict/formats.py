"""Output formats of ``ner-crf predict``: jsonl, conll, inline (no TensorFlow)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ner_crf.predict.documents import Document

__all__ = ["FORMATS", "format_document"]

FORMATS = ("jsonl", "conll", "inline")


def _jsonl(document: Document, n_best: bool) -> str:
    sentences = []
    for (first, end), best in zip(
        document.sentences, document.n_best or [[]] * len(document.sentences), strict=True
    ):
        item: dict[str, Any] = {
            "start": document.tokens[first].start,
            "end": document.tokens[end - 1].end,
            "token_start": first,
            "token_end": end,
        }
        if n_best:
            item["n_best"] = [{"tags": tags, "probability": p} for tags, p in best]
        sentences.append(item)
    obj = {
        "text": document.text,
        "tokens": [{"text": t.text, "start": t.start, "end": t.end} for t in document.tokens],
        "tags": document.tags,
        "entities": [
            {
                "start": e.start,
                "end": e.end,
                "label": e.label,
                "text": e.text,
                "score": e.score,
                "token_start": e.token_start,
                "token_end": e.token_end,
            }
            for e in document.entities
        ],
        "sentences": sentences,
    }
    return json.dumps(obj, ensure_ascii=False) + "\n"


def _conll(document: Document, n_best: bool) -> str:
    lines = []
    for index, (first, end) in enumerate(document.sentences):
        best = document.n_best[index] if n_best and document.n_best else []
        if best:
            probabilities = " ".join(f"{p:.6g}" for _, p in best)
            lines.append(f"# n-best probabilities: {probabilities}")
        for position in range(first, end):
            columns = [document.tokens[position].text, document.tags[position]]
            columns += [tags[position - first] for tags, _ in best[1:]]
            lines.append("\t".join(columns))
        lines.append("")
    return "".join(line + "\n" for line in lines)


def _inline(document: Document) -> str:
    text = document.text
    parts = []
    position = 0
    for entity in document.entities:
        parts.append(text[position : entity.start])
        parts.append(f"[{entity.label} {text[entity.start : entity.end]}]")
        position = entity.end
    parts.append(text[position:])
    return "".join(parts) + "\n"


def format_document(document: Document, output_format: str, *, n_best: bool = False) -> str:
    """Renders a tagged document.

    * ``jsonl``: one JSON object per document with ``text``, ``tokens`` (``text``, ``start``,
      ``end``), ``tags``, ``entities`` (``start``, ``end`` character offsets, ``label``,
      ``text``, ``score``, ``token_start``, ``token_end``) and ``sentences`` (character and token
      ranges, plus ``n_best``: ``[{"tags", "probability"}]`` when asked for).
    * ``conll``: ``token<TAB>tag`` lines and a blank line after each sentence; with n-best, the
      2nd..Kth sequences are extra columns and a ``# n-best probabilities:`` line comes first.
    * ``inline``: the text with every entity written as ``[LABEL entity text]``.

    Args:
        document: A tagged document.
        output_format: ``jsonl``, ``conll`` or ``inline``.
        n_best: Include the n-best lists (jsonl, conll).

    Returns:
        The text, ending in a newline (empty for a conll document without tokens).
    """
    if output_format == "jsonl":
        return _jsonl(document, n_best)
    if output_format == "conll":
        return _conll(document, n_best)
    if output_format == "inline":
        return _inline(document)
    raise ValueError(f"unknown output format {output_format!r}; expected one of {FORMATS}")
