"""Tests of the training engine; shared helpers: a synthetic corpus and a tiny config."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

_PEOPLE = [
    ["John", "Smith"],
    ["Maria", "Garcia"],
    ["Wei", "Zhang"],
    ["Anna", "Novak"],
    ["Omar", "Haddad"],
    ["Lena", "Berg"],
    ["Paul", "Durand"],
    ["Sara", "Rossi"],
    ["Ivan", "Petrov"],
    ["Yuki", "Sato"],
]
_PLACES = [["Paris"], ["Berlin"], ["New", "York"], ["Lagos"], ["Lima"], ["Oslo"], ["Cairo"]]
_ORGS = [["Acme", "Corp"], ["Globex"], ["Initech", "Inc"], ["Umbrella"], ["Hooli"]]
_TEMPLATES = [
    ["PER", "visited", "LOC", "."],
    ["ORG", "hired", "PER", "in", "LOC", "."],
    ["the", "office", "of", "ORG", "is", "in", "LOC", "."],
    ["PER", "and", "PER", "met", "yesterday", "."],
    ["nothing", "happened", "today", "."],
    ["PER", "left", "ORG", "last", "year", "."],
]


def _entity_tags(kind: str, words: list[str]) -> list[str]:
    return [("B-" if i == 0 else "I-") + kind for i in range(len(words))]


def synthetic_sentences(count: int, seed: int) -> list[list[tuple[str, str]]]:
    """``count`` random sentences of (token, BIO tag) built from templates and name lists."""
    rng = random.Random(seed)
    pools = {"PER": _PEOPLE, "LOC": _PLACES, "ORG": _ORGS}
    sentences = []
    for _ in range(count):
        rows: list[tuple[str, str]] = []
        for slot in rng.choice(_TEMPLATES):
            if slot in pools:
                words = rng.choice(pools[slot])
                rows.extend(zip(words, _entity_tags(slot, words), strict=True))
            else:
                rows.append((slot, "O"))
        sentences.append(rows)
    return sentences


def write_conll(path: Path, sentences: list[list[tuple[str, str]]]) -> Path:
    """Writes sentences as a 2-column CoNLL file with a ``-DOCSTART-`` line."""
    lines = ["-DOCSTART- O", ""]
    for sentence in sentences:
        lines.extend(f"{token} {tag}" for token, tag in sentence)
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_corpus(directory: Path, *, train: int = 96, dev: int = 32, test: int = 0) -> dict:
    """Writes train/dev(/test) files under ``directory``; returns the ``data`` config section."""
    directory.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {
        "train": str(write_conll(directory / "train.txt", synthetic_sentences(train, 1))),
        "dev": str(write_conll(directory / "dev.txt", synthetic_sentences(dev, 2)))
        if dev
        else None,
        "test": str(write_conll(directory / "test.txt", synthetic_sentences(test, 3)))
        if test
        else None,
        "scheme": "IOBES",
    }
    return data


def tiny_config_dict(directory: Path, **training: Any) -> dict:
    """A tiny model on the synthetic corpus; ``training`` overrides ``training.*`` keys."""
    return {
        "data": write_corpus(directory / "data"),
        "model": {
            "word_dim": 8,
            "casing_dim": 2,
            "char": {"encoder": "lstm", "dim": 4, "units": 4},
            "lstm": {"layers": 1, "units": 8},
            "dropout": 0.1,
        },
        "training": {
            "epochs": 3,
            "batch_size": 8,
            "learning_rate": 0.02,
            "patience": 0,
            "seed": 7,
            **training,
        },
        "output": {"dir": str(directory / "run"), "tensorboard": True},
    }


def tiny_config(directory: Path, **training: Any) -> Any:
    """:func:`tiny_config_dict` as an ``ExperimentConfig``."""
    from ner_crf.config import config_from_dict

    return config_from_dict(tiny_config_dict(directory, **training))
