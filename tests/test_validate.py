"""Tests of ``ner_crf.validate`` and the ``ner-crf validate`` command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ner_crf.cli import app
from ner_crf.errors import DataError
from ner_crf.validate import format_validation, length_histogram, validate_files

TRAIN = """\
-DOCSTART- O

Alice B-PER
Smith I-PER
met O
Bob B-PER
in O
Paris B-LOC
. O

Acme B-ORG
hired O
Carol B-PER

-DOCSTART- O

Dave I-PER
won O
the O
Rome B-MISC
Open I-MISC
"""

DEV = """\
Eve B-PER
visited O
Oslo B-LOC
.  O
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_length_histogram() -> None:
    assert length_histogram([1, 10, 11, 50, 51, 200, 201, 1238]) == [
        ("1-10", 2),
        ("11-20", 1),
        ("21-50", 1),
        ("51-100", 1),
        ("101-200", 1),
        (">200", 2),
    ]


def test_validate_files_data(tmp_path: Path) -> None:
    train = write(tmp_path, "train.txt", TRAIN)
    dev = write(tmp_path, "dev.txt", DEV)
    result = validate_files([train, dev])
    first = result.files[0]
    assert first.path == str(train)
    assert (first.report.sentences, first.report.tokens, first.report.documents) == (3, 15, 2)
    assert first.report.illegal == 1
    assert first.report.illegal_lines == [17]
    assert first.report.entities == {"LOC": 1, "MISC": 1, "ORG": 1, "PER": 4}
    assert first.histogram[0] == ("1-10", 3)
    assert first.report.longest[0] == (7, 3)
    # dev has no ORG/MISC/I-PER; train has every label dev has.
    assert result.missing_labels == {
        "B-MISC": [str(dev)],
        "B-ORG": [str(dev)],
        "I-MISC": [str(dev)],
        "I-PER": [str(dev)],
    }


def test_cli_happy_path(tmp_path: Path) -> None:
    train = write(tmp_path, "train.txt", TRAIN)
    result = CliRunner().invoke(app, ["validate", str(train)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.splitlines()[0] == str(train)
    assert "  sentences      3\n" in out
    assert "  tokens         15\n" in out
    assert "  documents      2 (2 -DOCSTART- lines)\n" in out
    assert "  tag scheme     BIO (detected)\n" in out
    assert "  illegal tags   1 found and repaired (lines 17)\n" in out
    assert "  entities       7: LOC 1, MISC 1, ORG 1, PER 4\n" in out
    assert "        1-10  3\n" in out
    assert "  longest        7 (line 3), 5 (line 17), 3 (line 11)" in out
    assert result.stderr == ""
    # The returned data and the text are the same report.
    assert out.rstrip("\n") == format_validation(validate_files([train]))


def test_cli_several_files_reports_missing_labels(tmp_path: Path) -> None:
    train = write(tmp_path, "train.txt", TRAIN)
    dev = write(tmp_path, "dev.txt", DEV)
    result = CliRunner().invoke(app, ["validate", str(train), str(dev)])
    assert result.exit_code == 0
    assert "labels missing from some files\n" in result.stdout
    assert f"  I-PER      not in {dev}\n" in result.stdout
    assert f"  B-ORG      not in {dev}\n" in result.stdout
    assert "B-LOC      not in" not in result.stdout


def test_cli_same_labels(tmp_path: Path) -> None:
    a = write(tmp_path, "a.txt", DEV)
    b = write(tmp_path, "b.txt", DEV.replace("Eve", "Zoe"))
    result = CliRunner().invoke(app, ["validate", str(a), str(b)])
    assert result.exit_code == 0
    assert result.stdout.endswith("all files have the same labels\n")


def test_cli_malformed_file(tmp_path: Path) -> None:
    good = write(tmp_path, "good.txt", DEV)
    bad = write(tmp_path, "bad.txt", "A B-PER\nb O\n\nc NN O\n")
    result = CliRunner().invoke(app, ["validate", str(good), str(bad)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"error: {bad}:4: expected 2 columns (as on line 1) but got 3: 'c NN O'\n"
    )


def test_cli_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "nope.txt")])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"error: {tmp_path / 'nope.txt'}: no such file\n"


def test_cli_tag_column_and_scheme_options(tmp_path: Path) -> None:
    path = write(tmp_path, "four.txt", "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n")
    result = CliRunner().invoke(app, ["validate", "--tag-column", "-2", str(path)])
    assert result.exit_code == 0
    assert "  labels         B-NP B-VP\n" in result.stdout
    out_of_range = CliRunner().invoke(app, ["validate", "--tag-column", "7", str(path)])
    assert out_of_range.exit_code == 1
    assert out_of_range.stderr.startswith(f"error: {path}:1: tag column 7 is out of range")
    forced = CliRunner().invoke(app, ["validate", "--scheme", "iob1", str(path)])
    assert "  illegal tags   1 found and repaired (lines 1)\n" in forced.stdout
    bad_scheme = CliRunner().invoke(app, ["validate", "--scheme", "BMES", str(path)])
    assert bad_scheme.exit_code == 2
    assert "unknown tag scheme 'BMES'" in bad_scheme.stderr


def test_cli_max_length(tmp_path: Path) -> None:
    path = write(tmp_path, "long.txt", "".join(f"w{i} O\n" for i in range(25)))
    result = CliRunner().invoke(app, ["validate", "--max-length", "10", str(path)])
    assert result.exit_code == 0
    assert "  sentences      1\n" in result.stdout
    assert "1 sentences would be split into 3 chunks (0 entities cut)" in result.stdout


def test_validate_raises_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file is empty"):
        validate_files([write(tmp_path, "empty.txt", "")])


def test_cli_module_does_not_import_tensorflow() -> None:
    code = (
        "import sys, ner_crf.cli, ner_crf.validate, ner_crf.data.conll, ner_crf.data.tags; "
        "sys.exit('tensorflow' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
