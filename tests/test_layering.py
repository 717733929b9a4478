"""Imports flow one way: errors/atomic/lazy -> config/tokenize/evaluation -> data, crf -> model ->
predict -> training -> validate/export/info -> cli (training scores dev with the predictor). A
module may import its own group or lower ranks only (function-level imports included), so e.g.
``data`` never imports ``model`` and ``crf`` never imports ``data``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ner_crf"

RANKS = {
    "ner_crf": 0,  # the package root holds the version only
    "errors": 0,
    "atomic": 0,
    "lazy": 0,
    "_tf_quiet": 0,  # imports no ner_crf module
    "config": 1,
    "tokenize": 1,
    "evaluation": 1,
    "data": 2,
    "crf": 2,
    "model": 3,
    "predict": 4,
    "training": 5,
    "validate": 6,
    "export": 6,
    "onnx": 6,
    "info": 6,
    "presets": 6,
    "cli": 7,
    "__main__": 8,
}


def group(module: str) -> str:
    """``ner_crf.data.vocab`` -> ``data``; ``ner_crf`` -> ``ner_crf``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found.update(name for name in names if name.split(".")[0] == "ner_crf")
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_imports_point_down(path: Path) -> None:
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    own = group(module.removesuffix(".__init__"))
    assert own in RANKS, f"{module}: add its group to RANKS"
    for target in imports_of(path):
        other = group(target)
        assert other in RANKS, f"{module} imports unknown module {target}"
        assert other == own or RANKS[other] < RANKS[own], (
            f"{module} (rank {RANKS[own]}) must not import {target} (rank {RANKS[other]})"
        )


def test_relative_imports_are_not_used() -> None:
    """The rule above reads absolute imports only; keep it that way."""
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path}: relative import"


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from ner_crf.model.builder import build_model\n")
    assert imports_of(bad) == {"ner_crf.model.builder"}
    assert RANKS[group("ner_crf.model.builder")] > RANKS["data"]
