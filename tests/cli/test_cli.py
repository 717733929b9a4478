"""End-to-end tests of the ``ner-crf`` command line on the sample corpus in ``data/``.

The ``trained`` fixture (``tests/conftest.py``) trains one tiny model (1 epoch) through
``ner-crf train`` once per session; the tests reuse its run directory.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest

from tests.sample_run import CONFIG, DATA, REPO, TINY, invoke, sets


def assert_error(result, code: int, *fragments: str) -> None:
    """An expected failure: exit code, empty stdout, one 'error:' line on stderr, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def predict_json(run_dir: Path, args: list[str], input: str | None = None) -> list[dict]:
    result = invoke(["predict", "--model", run_dir, *args], input=input)
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def check_document(obj: dict) -> None:
    """Offsets, tags and entities of one jsonl object are consistent."""
    from ner_crf.data.tags import get_spans

    text = obj["text"]
    assert len(obj["tags"]) == len(obj["tokens"])
    for token in obj["tokens"]:
        assert text[token["start"] : token["end"]] == token["text"]
    for entity in obj["entities"]:
        assert text[entity["start"] : entity["end"]] == entity["text"]
        assert 0.0 < entity["score"] <= 1.0
        tokens = obj["tokens"][entity["token_start"] : entity["token_end"]]
        assert tokens[0]["start"] == entity["start"] and tokens[-1]["end"] == entity["end"]
    spans = []
    for sentence in obj["sentences"]:
        first, end = sentence["token_start"], sentence["token_end"]
        spans += [
            (first + s, first + e, label)
            for s, e, label in get_spans(obj["tags"][first:end], "IOBES")
        ]
    assert spans == [(e["token_start"], e["token_end"], e["label"]) for e in obj["entities"]]


# --------------------------------------------------------------------------------------------
# train
# --------------------------------------------------------------------------------------------


def test_train_writes_run_and_prints_summary(trained):
    run_dir, result = trained
    for name in ("config.yaml", "model.keras", "metrics.json", "vocab/words.txt"):
        assert (run_dir / name).is_file(), name
    out = result.stdout
    assert f"model: {run_dir / 'model.keras'}" in out
    assert "best epoch: 1 (dev F1 " in out
    for label in ("LOC", "MISC", "ORG", "PER", "micro avg", "macro avg"):
        assert label in out
    # progress and logs go to stderr only
    assert "epoch 1/1" in result.stderr and "epoch 1/1" not in out
    dev_f1 = float(out.split("(dev F1 ")[1].split(")")[0])
    assert dev_f1 > 0.2  # the tiny model does learn something in one epoch


def test_train_summary_scores_dev_as_training_read_it(tmp_path):
    """The summary's dev scores are the trainer's: dev read with the config's options."""
    import yaml

    from ner_crf.data.conll import read_conll
    from tests.training import tiny_config_dict

    raw = tiny_config_dict(tmp_path, epochs=1)
    raw["data"]["max_length"] = 3  # dev sentences are split: more sentences than in the file
    raw["output"]["tensorboard"] = False
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    result = invoke(["train", "--config", config])
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    read = read_conll(raw["data"]["dev"], scheme="IOBES", max_length=3)
    unsplit = read_conll(raw["data"]["dev"], scheme="IOBES")
    assert len(read) > len(unsplit)
    assert f"{len(read)} sentences," in out and f"{len(unsplit)} sentences," not in out
    best_f1 = float(out.split("(dev F1 ")[1].split(")")[0])
    micro_f1 = float(out.split("micro avg")[1].split()[2])
    assert micro_f1 == best_f1
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text(encoding="utf-8"))
    assert round(metrics["best_dev_f1"], 4) == best_f1


def test_train_resume_and_existing_run_dir(trained, tmp_path):
    run_dir, _ = trained
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    again = invoke(["train", "--config", CONFIG, *sets(TINY), "--output-dir", copy])
    assert_error(again, 2, "already holds a training run", "--resume")
    more = [*TINY[:-1], "training.epochs=2", TINY[-1]]
    resumed = invoke(["train", "-c", CONFIG, *sets(more), "-o", copy, "--resume"])
    assert resumed.exit_code == 0, resumed.stderr
    assert "2 epoch(s) completed" in resumed.stdout
    assert "epoch 2/2" in resumed.stderr and "epoch 1/2" not in resumed.stderr
    history = json.loads((copy / "metrics.json").read_text(encoding="utf-8"))["history"]
    assert [row["epoch"] for row in history] == [1, 2]


def test_train_force_replaces_a_run_but_nothing_else(trained, tmp_path):
    run_dir, _ = trained
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    (copy / "metrics.json").write_text('{"history": [{"epoch": 99}]}', encoding="utf-8")
    again = invoke(["train", "-c", CONFIG, *sets(TINY), "-o", copy, "--force"])
    assert again.exit_code == 0, again.stderr
    history = json.loads((copy / "metrics.json").read_text(encoding="utf-8"))["history"]
    assert [row["epoch"] for row in history] == [1]

    not_a_run = tmp_path / "precious"
    not_a_run.mkdir()
    (not_a_run / "notes.txt").write_text("keep me", encoding="utf-8")
    refused = invoke(["train", "-c", CONFIG, *sets(TINY), "-o", not_a_run, "--force"])
    assert_error(refused, 1, "not a ner-crf run directory")
    assert (not_a_run / "notes.txt").read_text(encoding="utf-8") == "keep me"

    both = invoke(["train", "-c", CONFIG, "-o", copy, "--force", "--resume"])
    assert both.exit_code == 2
    assert both.stdout == ""


# --------------------------------------------------------------------------------------------
# evaluate
# --------------------------------------------------------------------------------------------


def test_evaluate_text_report(trained):
    run_dir, _ = trained
    result = invoke(["evaluate", "--model", run_dir, DATA / "test.txt"])
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.startswith(f"== {DATA / 'test.txt'}")
    assert "mode strict" in out and "conlleval" not in out
    for label in ("LOC", "MISC", "ORG", "PER", "micro avg", "macro avg", "support"):
        assert label in out


def test_evaluate_json_both_modes_and_predictions(trained, tmp_path):
    from ner_crf.data.conll import read_conll

    run_dir, _ = trained
    predictions = tmp_path / "pred.txt"
    files = [DATA / "test.txt", DATA / "dev.txt"]
    result = invoke(
        [
            "evaluate",
            "--model",
            run_dir,
            *files,
            "--mode",
            "both",
            "--json",
            "--predictions",
            predictions,
        ]
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["modes"] == ["strict", "conlleval"]
    assert [f["path"] for f in report["files"]] == [str(f) for f in files]
    for item in [*report["files"], report["combined"]]:
        for mode in ("strict", "conlleval"):
            scores = item[mode]
            assert scores["mode"] == mode
            assert set(scores["per_type"]) >= {"LOC", "MISC", "ORG", "PER"}
            assert 0.0 <= scores["f1"] <= 1.0
            assert scores["micro"]["support"] == sum(
                t["support"] for t in scores["per_type"].values()
            )
    assert report["combined"]["sentences"] == sum(f["sentences"] for f in report["files"])

    gold = [s for f in files for s in read_conll(f, scheme="IOBES")]
    blocks = predictions.read_text(encoding="utf-8").split("\n\n")
    assert blocks[-1] == ""
    assert len(blocks) - 1 == len(gold)
    for block, sentence in zip(blocks, gold, strict=False):
        rows = [line.split(" ") for line in block.splitlines()]
        assert [r[0] for r in rows] == sentence.tokens
        assert [r[1] for r in rows] == sentence.tags
        assert all(len(r) == 3 for r in rows)
    # the predicted column is what the strict score was computed from
    from ner_crf.evaluation import evaluate_tags

    pred = [[line.split(" ")[2] for line in b.splitlines()] for b in blocks[:-1]]
    rescored = evaluate_tags([s.tags for s in gold], pred, scheme="IOBES", mode="strict")
    assert rescored.f1 == pytest.approx(report["combined"]["strict"]["f1"])


def test_evaluate_gold_type_the_model_never_saw(trained, tmp_path):
    run_dir, _ = trained
    data = tmp_path / "odd.txt"
    # BIO gold with an unseen type FOO; converted to the model's IOBES scheme.
    data.write_text("Zorblat B-FOO\nvisited O\nParis B-LOC\n. O\n\nHello O\n", encoding="utf-8")
    result = invoke(["evaluate", "--model", run_dir, data, "--json"])
    assert result.exit_code == 0, result.stderr
    foo = json.loads(result.stdout)["files"][0]["strict"]["per_type"]["FOO"]
    assert foo["support"] == 1 and foo["recall"] == 0.0 and foo["correct"] == 0


# --------------------------------------------------------------------------------------------
# predict
# --------------------------------------------------------------------------------------------


def test_predict_jsonl_from_file(trained, tmp_path):
    run_dir, _ = trained
    text = "Police in Ostrava said John Smith was arrested. He works for Acme in Paris.\n\nOK\n"
    source = tmp_path / "in.txt"
    source.write_text(text, encoding="utf-8")
    objects = predict_json(run_dir, [str(source)])
    assert [o["text"] for o in objects] == text.splitlines()
    first, empty, last = objects
    assert len(first["sentences"]) == 2
    assert [t["text"] for t in first["tokens"]][:4] == ["Police", "in", "Ostrava", "said"]
    assert empty == {"text": "", "tokens": [], "tags": [], "entities": [], "sentences": []}
    assert last["tags"] and len(last["tokens"]) == 1
    for obj in objects:
        check_document(obj)
    assert first["entities"], "the trained model should find an entity in the first line"


def test_predict_formats_agree(trained, tmp_path):
    run_dir, _ = trained
    line = "John Smith visited Ostrava and Paris with Acme staff ."
    (reference,) = predict_json(run_dir, ["--pretokenized", "-"], input=line + "\n")
    tags = reference["tags"]
    assert len(tags) == len(line.split())

    conll = invoke(["predict", "-m", run_dir, "--pretokenized", "--format", "conll"], line)
    assert conll.exit_code == 0, conll.stderr
    rows = [r.split("\t") for r in conll.stdout.rstrip("\n").split("\n")]
    assert [r[0] for r in rows] == line.split() and [r[1] for r in rows] == tags

    inline = invoke(["predict", "-m", run_dir, "--pretokenized", "--format", "inline"], line)
    assert inline.exit_code == 0, inline.stderr
    expected = line
    for entity in reversed(reference["entities"]):
        marked = f"[{entity['label']} {entity['text']}]"
        expected = expected[: entity["start"]] + marked + expected[entity["end"] :]
    assert inline.stdout == expected + "\n"

    # CoNLL input (extra columns ignored, -DOCSTART- skipped) gives the same tags.
    conll_in = "-DOCSTART- O\n\n" + "".join(f"{t} X O\n" for t in line.split()) + "\n"
    (from_conll,) = predict_json(run_dir, ["--conll"], input=conll_in)
    assert from_conll["tags"] == tags and from_conll["text"] == line


def test_predict_n_best(trained):
    run_dir, _ = trained
    (obj,) = predict_json(run_dir, ["--n-best", "4"], input="John Smith visited Ostrava .\n")
    (sentence,) = obj["sentences"]
    best = sentence["n_best"]
    assert len(best) == 4
    assert best[0]["tags"] == obj["tags"]
    probabilities = [b["probability"] for b in best]
    assert all(0.0 < p <= 1.0 for p in probabilities)
    assert probabilities == sorted(probabilities, reverse=True)
    assert sum(probabilities) <= 1.0 + 1e-6
    assert len({tuple(b["tags"]) for b in best}) == 4
    conll = invoke(["predict", "-m", run_dir, "--n-best", "3", "-f", "conll"], "John Smith .\n")
    assert conll.exit_code == 0, conll.stderr
    lines = conll.stdout.splitlines()
    assert lines[0].startswith("# n-best probabilities: ")
    assert all(len(row.split("\t")) == 4 for row in lines[1:4])


def test_predict_odd_input_on_stdin(trained):
    run_dir, _ = trained
    long_line = ("Paris is big . " * 7000)[:100_000]
    lines = [
        "",
        "   \t  ",
        "Emoji 👩🏽‍💻 in Paris 🇫🇷 !",
        "ctrl\x00chars\x07and\u200bzero\u200dwidth Smith",
        long_line,
    ]
    objects = predict_json(run_dir, ["-"], input="\n".join(lines) + "\n")
    assert [o["text"] for o in objects] == lines
    assert objects[0]["tokens"] == [] and objects[1]["tokens"] == []
    assert "👩🏽‍💻" in [t["text"] for t in objects[2]["tokens"]]
    assert "\x00" not in "".join(t["text"] for t in objects[3]["tokens"])
    assert len(objects[4]["tokens"]) > 20_000
    for obj in objects:
        check_document(obj)


def test_predict_empty_input_and_3000_token_sentence(trained):
    run_dir, _ = trained
    empty = invoke(["predict", "-m", run_dir], input="")
    assert empty.exit_code == 0 and empty.stdout == ""
    tokens = [("Paris", "Smith", "visited", "the", "Acme", ",")[i % 6] for i in range(3000)]
    (obj,) = predict_json(run_dir, ["--pretokenized"], input=" ".join(tokens) + "\n")
    assert len(obj["tags"]) == 3000
    check_document(obj)


# --------------------------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------------------------


RELOAD = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
    batch = json.loads(sys.stdin.read())
    width = max(len(row) for row in batch)
    tokens = tf.constant([row + [""] * (width - len(row)) for row in batch])
    out = serve(tokens=tokens, lengths=tf.constant([len(row) for row in batch], tf.int32))
    tags = [[t.decode() for t in row[: len(b)]] for row, b in zip(out["tags"].numpy(), batch)]
    print(json.dumps({"tags": tags, "ner_crf_imported": "ner_crf" in sys.modules}))
    """
)


def test_export_reloads_in_fresh_process_and_matches_predict(trained, tmp_path):
    run_dir, _ = trained
    out_dir = tmp_path / "exported"
    result = invoke(["export", "--model", run_dir, out_dir])
    assert result.exit_code == 0, result.stderr
    assert (out_dir / "saved_model.pb").is_file()
    lines = [
        "John Smith visited Ostrava and Paris with Acme staff .",
        "1996 PARIS Zorblatt-7 naïve 👩🏽‍💻 <pad> ?",
        "OK",
    ]
    objects = predict_json(run_dir, ["--pretokenized"], input="\n".join(lines) + "\n")
    batch = [line.split() for line in lines]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ""}
    proc = subprocess.run(
        [sys.executable, "-c", RELOAD, str(out_dir)],
        input=json.dumps(batch),
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    reloaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert reloaded["ner_crf_imported"] is False
    assert reloaded["tags"] == [o["tags"] for o in objects]
    again = invoke(["export", "--model", run_dir, out_dir])
    assert_error(again, 1, "already exists")


# --------------------------------------------------------------------------------------------
# info, init-config, validate
# --------------------------------------------------------------------------------------------


def test_info_table_and_png(trained, loaded, tmp_path):
    run_dir, _ = trained
    png = tmp_path / "t.png"
    result = invoke(["info", "--model", run_dir, "--plot", png])
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "labels (4)  LOC MISC ORG PER" in out
    assert "best epoch       1" in out
    table = out.split("transition scores")[1].splitlines()[1:]
    assert table[0].split()[:3] == ["from", "\\", "to"]
    assert table[0].split()[3:] == loaded.tag_names
    rows = [row.split()[0] for row in table[1:]]
    assert rows == ["<start>", *loaded.tag_names, "<end>"]
    # the cell (from O, to O) shows the learned transition score
    o = loaded.tag_names.index("O")
    value = float(table[2 + o].split()[1 + o])
    assert value == pytest.approx(float(loaded.model.crf.transitions.numpy()[o, o]), abs=0.006)

    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert (kind, depth, colour) == (b"IHDR", 8, 2)
    k = len(loaded.tag_names)
    assert (width % k, height % (k + 2)) == (0, 0) and width // k == height // (k + 2)
    idat = data.index(b"IDAT")
    size = struct.unpack(">I", data[idat - 4 : idat])[0]
    raw = zlib.decompress(data[idat + 4 : idat + 4 + size])
    assert len(raw) == height * (1 + 3 * width)
    assert (
        zlib.crc32(data[idat : idat + 4 + size])
        == struct.unpack(">I", data[idat + 4 + size : idat + 8 + size])[0]
    )


def test_init_config(tmp_path):
    from ner_crf.config import load_config

    out = tmp_path / "my.yaml"
    result = invoke(["init-config", "--preset", "conll2003", out])
    assert result.exit_code == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    assert text.lstrip().startswith("#")
    cfg = load_config(out)
    assert cfg.model.char.encoder == "lstm"
    assert_error(invoke(["init-config", out]), 1, "already exists", "--force")
    assert out.read_text(encoding="utf-8") == text
    forced = invoke(["init-config", "--force", out])
    assert forced.exit_code == 0
    assert load_config(out).output.dir == Path("runs/default")
    assert_error(
        invoke(["init-config", "--preset", "conll2030", tmp_path / "x.yaml"]),
        2,
        "unknown preset",
        "conll2003",
    )


def test_validate_config(tmp_path):
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("paris 0.1 0.2\nthe 0.3 0.4\n, 0.5 0.6\n", encoding="utf-8")
    config = tmp_path / "c.yaml"
    config.write_text(
        f"data:\n  train: {DATA / 'train.txt'}\n  dev: {DATA / 'dev.txt'}\n"
        f"  test: {DATA / 'test.txt'}\nembeddings:\n  path: {vectors}\nmodel:\n  word_dim: 2\n",
        encoding="utf-8",
    )
    result = invoke(["validate", "--config", config])
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert f"config {config}: loaded, all paths exist" in out
    for fragment in (
        "dev (",
        "test (",
        "OOV vs train vocabulary",
        "OOV vs embeddings",
        "labels missing in train",
        "sentences also in train",
        "embeddings: ",
    ):
        assert fragment in out, fragment
    dev_oov = out.split("dev (")[1].split("OOV vs train vocabulary")[1].split("%")[0]
    assert 0.0 < float(dev_oov) < 100.0
    assert str(DATA / "train.txt") in out  # the per-file summaries follow


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------


def test_bad_set_is_a_usage_error():
    assert_error(
        invoke(["train", "--config", CONFIG, "--set", "training.epochs"]), 2, "--set", "key=value"
    )
    assert_error(
        invoke(["train", "--config", CONFIG, "--set", "training.epoch=3"]),
        2,
        "unknown key",
        "training.epochs",
    )


def test_unknown_config_key(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("model:\n  lstm_units: 10\n", encoding="utf-8")
    assert_error(invoke(["train", "--config", config]), 2, str(config), "model.lstm_units")


def test_missing_data_file(tmp_path):
    missing = tmp_path / "nope.txt"
    assert_error(
        invoke(["train", "--config", CONFIG, "--set", f"data.train={missing}"]),
        1,
        "data.train",
        str(missing),
    )
    assert_error(
        invoke(["validate", "--config", CONFIG, "--set", f"data.dev={missing}"]), 1, "data.dev"
    )


def test_evaluate_errors(trained, tmp_path):
    run_dir, _ = trained
    bad = tmp_path / "bad.txt"
    bad.write_text("Alice B-PER\nSmith I-PER extra\n", encoding="utf-8")
    assert_error(invoke(["evaluate", "--model", run_dir, bad]), 1, f"{bad}:2")
    assert_error(invoke(["evaluate", "--model", run_dir, tmp_path / "none.txt"]), 1, "none.txt")
    assert_error(
        invoke(["evaluate", "--model", tmp_path / "norun", DATA / "dev.txt"]),
        1,
        "norun",
        "does not exist",
    )
    assert_error(invoke(["predict", "--model", tmp_path / "norun"], input="x\n"), 1, "norun")


def test_truncated_model_file(trained, tmp_path):
    run_dir, _ = trained
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("checkpoints"))
    model = copy / "model.keras"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    assert_error(invoke(["evaluate", "--model", copy, DATA / "dev.txt"]), 1, "model.keras")
    assert_error(invoke(["predict", "--model", copy], input="Paris\n"), 1, "corrupted")
    assert_error(invoke(["info", "--model", copy]), 1, "model.keras")


def test_predict_usage_errors(trained):
    run_dir, _ = trained
    result = invoke(["predict", "-m", run_dir, "--conll", "--pretokenized"], input="")
    assert result.exit_code == 2 and result.stdout == ""
    result = invoke(["predict", "-m", run_dir, "--format", "xml"], input="")
    assert result.exit_code == 2 and "xml" in result.stderr


# --------------------------------------------------------------------------------------------
# startup
# --------------------------------------------------------------------------------------------


def test_cli_import_does_not_import_tensorflow():
    code = "import sys, ner_crf.cli; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False False"


@pytest.mark.parametrize(
    "command", ["train", "evaluate", "predict", "export", "info", "init-config", "validate"]
)
def test_every_command_help_has_an_example(command):
    result = invoke([command, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.stdout and f"ner-crf {command}" in result.stdout
