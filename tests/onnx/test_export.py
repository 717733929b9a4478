"""ONNX export against the TensorFlow model: the sample run through the CLI, and model variants.

The sample run (``trained`` / ``loaded`` in ``tests/conftest.py``) is exported with
``ner-crf export --format onnx``; the ONNX Runtime tagger must give the same tags for every token
and entity probabilities within 1e-4 of the TensorFlow ``Predictor``, on the sample dev data and
on edge cases, and ``ner-crf predict`` / ``evaluate`` on the export must not import TensorFlow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.sample_run import DATA, invoke

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory) -> Path:
    run_dir, _ = trained
    out = tmp_path_factory.mktemp("onnx") / "export"
    result = invoke(["export", "--model", run_dir, out, "--format", "onnx"])
    assert result.exit_code == 0, result.stderr
    assert "exported ONNX" in result.stdout
    return out


def _compare(tf_results, onnx_results) -> tuple[int, float]:
    """Asserts equal tags and entity spans; returns (entities compared, max probability diff)."""
    assert len(tf_results) == len(onnx_results)
    count, worst = 0, 0.0
    for a, b in zip(tf_results, onnx_results, strict=True):
        assert a.tags == b.tags
        assert [e[:3] for e in a.entities] == [e[:3] for e in b.entities]
        for ea, eb in zip(a.entities, b.entities, strict=True):
            count += 1
            worst = max(worst, abs(ea[3] - eb[3]))
    return count, worst


def test_export_directory(exported, loaded):
    from ner_crf.onnx import is_onnx_export

    assert is_onnx_export(exported)
    meta = json.loads((exported / "ner_crf_onnx.json").read_text(encoding="utf-8"))
    assert meta["tag_names"] == loaded.tag_names
    assert meta["scheme"] == loaded.scheme
    assert (exported / "vocab" / "words.txt").read_text() == (
        loaded.path / "vocab" / "words.txt"
    ).read_text()
    again = invoke(["export", "--model", loaded.path, exported, "--format", "onnx"])
    assert again.exit_code == 1 and "already exists" in again.stderr


def test_same_tags_and_entity_probabilities_as_tensorflow(loaded, exported):
    from ner_crf.data.conll import read_conll
    from ner_crf.onnx.runtime import load_export
    from ner_crf.predict import Predictor

    tf_tagger = Predictor(loaded)
    onnx_tagger = load_export(exported)
    sentences = [s.tokens for s in read_conll(DATA / "dev.txt", illegal="repair")]
    count, worst = _compare(tf_tagger.predict(sentences), onnx_tagger.predict(sentences))
    assert count > 100  # the sample model finds entities: probabilities were compared
    assert worst <= TOLERANCE

    words = loaded.vocabs.words.tokens[2:]
    rng = np.random.default_rng(0)
    long = [words[i] for i in rng.integers(0, len(words), 2000)]
    long[::97] = ["Zyxqvbn"] * len(long[::97])  # unknown words too
    cases = {
        "one token": [["Paris"]],
        "2,000 tokens": [long],
        "mixed lengths": [long[:1], long[5:45], [], long[100:103], ["John", "Smith"], long[:300]],
        "100-character word": [["Mr", "A" * 100, "visited", "b" * 99 + "X", "."]],
        "empty sentence": [[]],
        "no sentences": [],
    }
    for name, batch in cases.items():
        tf_results, onnx_results = tf_tagger.predict(batch), onnx_tagger.predict(batch)
        _, worst = _compare(tf_results, onnx_results)
        assert worst <= TOLERANCE, name
        assert [len(r.tags) for r in onnx_results] == [len(s) for s in batch], name
    assert tf_tagger.tag(sentences[:50]) == onnx_tagger.tag(sentences[:50])  # tags-only path


_CLI = """
import atexit, sys
atexit.register(lambda: print("TENSORFLOW_IMPORTED", "tensorflow" in sys.modules, file=sys.stderr))
from ner_crf.cli import app
sys.argv = ["ner-crf", *sys.argv[1:]]
app()
"""


def _cli_subprocess(args: list[str], stdin: str = "") -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-c", _CLI, *[str(a) for a in args]],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        timeout=300,
    )
    assert "TENSORFLOW_IMPORTED False" in proc.stderr, proc.stderr
    return proc


def test_cli_predict_and_evaluate_on_export_without_tensorflow(trained, exported):
    run_dir, _ = trained
    text = "John Smith lives in Paris. He works for Acme Corp in New York.\n\nOK\n"
    proc = _cli_subprocess(["predict", "--model", exported], stdin=text)
    assert proc.returncode == 0, proc.stderr
    reference = invoke(["predict", "--model", run_dir], input=text)
    assert reference.exit_code == 0, reference.stderr
    got = [json.loads(line) for line in proc.stdout.splitlines()]
    want = [json.loads(line) for line in reference.stdout.splitlines()]
    assert len(got) == len(want) == 3
    for a, b in zip(got, want, strict=True):
        assert (a["text"], a["tokens"], a["tags"], a["sentences"]) == (
            b["text"],
            b["tokens"],
            b["tags"],
            b["sentences"],
        )
        assert [e["text"] for e in a["entities"]] == [e["text"] for e in b["entities"]]
        for ea, eb in zip(a["entities"], b["entities"], strict=True):
            assert abs(ea["score"] - eb["score"]) <= TOLERANCE
    for fmt in ("conll", "inline"):
        proc = _cli_subprocess(["predict", "--model", exported, "--format", fmt], stdin=text)
        reference = invoke(["predict", "--model", run_dir, "--format", fmt], input=text)
        assert proc.stdout == reference.stdout, fmt

    test_file = DATA / "test.txt"
    proc = _cli_subprocess(["evaluate", "--model", exported, test_file, "--json"])
    assert proc.returncode == 0, proc.stderr
    reference = invoke(["evaluate", "--model", run_dir, test_file, "--json"])
    got, want = json.loads(proc.stdout), json.loads(reference.stdout)
    assert got["files"] == want["files"] and got["modes"] == want["modes"]

    empty = _cli_subprocess(["predict", "--model", exported], stdin="")
    assert empty.returncode == 0 and empty.stdout == ""


def test_cli_errors_on_export(exported, tmp_path):
    result = invoke(["predict", "--model", exported, "--n-best", "2"], input="John\n")
    assert result.exit_code == 1 and result.stdout == ""
    assert "error:" in result.stderr and "--n-best" in result.stderr
    assert "Traceback" not in result.stderr
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.onnx").write_bytes((exported / "model.onnx").read_bytes())
    (broken / "ner_crf_onnx.json").write_text("{not json", encoding="utf-8")
    result = invoke(["predict", "--model", broken], input="John\n")
    assert result.exit_code == 1 and "ner_crf_onnx.json" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("variant", ["cnn-2-layers-unconstrained", "lstm-extended-vocabulary"])
def test_model_variants_match_keras(variant):
    """Untrained models of other shapes: same emissions, tags and scores as the Keras model."""
    import onnxruntime as ort

    from ner_crf.model.builder import NerModel
    from ner_crf.onnx.export import tagger_weights
    from ner_crf.onnx.graph import build_graph

    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    rng = np.random.default_rng(1)
    common = {"num_words": 30, "num_chars": 15, "num_tags": 5, "tag_names": tags, "seed": 3}
    if variant.startswith("cnn"):
        model = NerModel(
            **common,
            scheme="BIO",
            char_encoder="cnn",
            char_dim=4,
            char_filters=6,
            char_kernel_size=2,
            lstm_layers=2,
            lstm_units=5,
            word_dim=6,
            crf_constrain=False,
            crf_boundary=False,
        )
        num_ids = 30
    else:
        model = NerModel(
            **common,
            scheme="BIO",
            num_casing=8,
            casing_dim=3,
            char_dim=4,
            char_units=3,
            lstm_units=5,
            word_dim=6,
            num_pretrained_words=10,
            pretrained_matrix=rng.normal(0, 1, (10, 6)),
        )
        num_ids = 40  # ids 30..39 are rows of the frozen table
    model.build()
    # Non-zero CRF scores so that decoding depends on them.
    model.crf.transitions.assign(rng.normal(0, 1, (5, 5)).astype(np.float32))
    session = ort.InferenceSession(
        build_graph(tagger_weights(model)).SerializeToString(),
        providers=["CPUExecutionProvider"],
    )
    lengths = np.array([6, 1, 4])
    words = np.zeros((3, 6), np.int64)
    chars = np.zeros((3, 6, 7), np.int64)
    casing = np.zeros((3, 6), np.int64)
    for row, n in enumerate(lengths):
        words[row, :n] = rng.integers(1, num_ids, n)
        casing[row, :n] = rng.integers(1, 8, n)
        for t in range(n):
            chars[row, t, : rng.integers(1, 8)] = rng.integers(1, 15)
    feeds = {"words": words, "chars": chars, "casing": casing, "lengths": lengths}
    emissions, got_tags, scores = session.run(["emissions", "tags", "scores"], feeds)
    features = {k: feeds[k].astype(np.int32) for k in ("words", "chars", "casing")}
    mask = words != 0
    want = np.asarray(model(features, training=False))
    np.testing.assert_allclose(emissions[mask], want[mask], atol=1e-5)
    want_tags, want_scores = model.decode(features)
    assert (got_tags == np.where(mask, np.asarray(want_tags), 0)).all()
    np.testing.assert_allclose(scores, np.asarray(want_scores), atol=1e-4)


def test_readme_example_runs_on_onnxruntime_alone(exported, loaded):
    """The README "Serving" snippet, run as written on the sample export, in a fresh process."""
    import ast
    import re

    from ner_crf.predict import Predictor

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    serving = readme[readme.index("## Serving") :]
    code = serving[serving.index("```python\n") + 10 : serving.index("\n```\n")]
    assert 'out = "exported/onnx"' in code
    code = code.replace('out = "exported/onnx"', f"out = {str(exported)!r}")
    code += (
        "\nimport sys\nprint('imported:', sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('tensorflow', 'ner_crf')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    printed, imported = proc.stdout.splitlines()
    assert imported == "imported: []"
    tags = ast.literal_eval(re.match(r"(\[.*?\]) ", printed).group(1))
    tokens = ["John", "Smith", "visited", "Paris", "in", "1996", "."]
    assert tags == Predictor(loaded).tag([tokens])[0]
