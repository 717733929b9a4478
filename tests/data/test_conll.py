"""Tests of the CoNLL reader."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import pytest

from ner_crf.data import ReadReport, Sentence, read_conll
from ner_crf.errors import DataError

FOUR_COLUMNS = """\
-DOCSTART- -X- -X- O

Alice NNP B-NP B-PER
Smith NNP I-NP I-PER
visited VBD B-VP O
Paris NNP B-NP B-LOC
. . O O

The DT B-NP O
Acme NNP I-NP B-ORG
Corp NNP I-NP I-ORG
grew VBD B-VP O

-DOCSTART- -X- -X- O

Bob NNP B-NP B-PER
left VBD B-VP O
"""


def write(tmp_path: Path, text: str, name: str = "data.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def error_text(path: Path, **kwargs: object) -> str:
    with pytest.raises(DataError) as info:
        read_conll(path, **kwargs)
    return str(info.value)


def test_four_columns_documents_and_lines(tmp_path: Path) -> None:
    report = ReadReport()
    sentences = read_conll(write(tmp_path, FOUR_COLUMNS), report=report)
    assert sentences == [
        Sentence(
            ["Alice", "Smith", "visited", "Paris", "."], ["B-PER", "I-PER", "O", "B-LOC", "O"], 0, 3
        ),
        Sentence(["The", "Acme", "Corp", "grew"], ["O", "B-ORG", "I-ORG", "O"], 0, 9),
        Sentence(["Bob", "left"], ["B-PER", "O"], 1, 16),
    ]
    assert (report.sentences, report.tokens, report.documents, report.docstart_lines) == (
        3,
        11,
        2,
        2,
    )
    assert report.columns == 4
    assert report.source_scheme == report.scheme == "BIO"
    assert report.entities == {"LOC": 1, "ORG": 1, "PER": 2}
    assert report.labels["O"] == 5
    assert report.lengths == [5, 4, 2]
    assert report.longest[0] == (5, 3)


def test_two_columns_same_result_as_four(tmp_path: Path) -> None:
    two = "\n".join(
        " ".join((cols[0], cols[-1])) if cols else ""
        for cols in map(str.split, FOUR_COLUMNS.split("\n"))
    )
    assert read_conll(write(tmp_path, two, "two.txt")) == read_conll(write(tmp_path, FOUR_COLUMNS))


def test_tag_column_option(tmp_path: Path) -> None:
    path = write(tmp_path, "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n")
    assert read_conll(path, tag_column=2)[0].tags == ["B-NP", "B-VP"]
    assert read_conll(path, tag_column=-2)[0].tags == ["B-NP", "B-VP"]
    assert read_conll(path, tag_column=3)[0].tags == ["B-ORG", "O"]


def test_crlf_tabs_and_missing_final_newline(tmp_path: Path) -> None:
    text = "A\tB-PER\r\nb\tO\r\n\r\nC  \tB-LOC"
    sentences = read_conll(write(tmp_path, text))
    assert sentences == [
        Sentence(["A", "b"], ["B-PER", "O"], 0, 1),
        Sentence(["C"], ["B-LOC"], 0, 4),
    ]


def test_whitespace_only_lines_and_runs_of_blank_lines_are_one_break(tmp_path: Path) -> None:
    text = "\n\nA O\n  \t \n \n\nB O\n\n\n"
    sentences = read_conll(write(tmp_path, text))
    assert [(s.tokens, s.line) for s in sentences] == [(["A"], 3), (["B"], 7)]


def test_docstart_without_blank_line_and_leading_marker(tmp_path: Path) -> None:
    # CoNLL-2002 Dutch style: markers with the file's column count, no blank line after them.
    text = (
        "-DOCSTART- -DOCSTART- O\nA N B-PER\nb V O\n\nc N O\n"
        "-DOCSTART- -DOCSTART- O\n-DOCSTART- -DOCSTART- O\nD N B-LOC\n"
    )
    report = ReadReport()
    sentences = read_conll(write(tmp_path, text), report=report)
    assert [(s.tokens, s.doc, s.line) for s in sentences] == [
        (["A", "b"], 0, 2),
        (["c"], 0, 5),
        (["D"], 1, 8),
    ]
    assert (report.documents, report.docstart_lines) == (2, 3)


def test_no_docstart_is_one_document(tmp_path: Path) -> None:
    report = ReadReport()
    read_conll(write(tmp_path, "A O\n\nB O\n"), report=report)
    assert (report.documents, report.docstart_lines) == (1, 0)


def test_utf8_bom_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfZ\xc3\xbcrich B-LOC\n")
    assert read_conll(path)[0].tokens == ["Zürich"]


# --- errors: each reports path:line exactly -------------------------------------------------


def test_inconsistent_column_count(tmp_path: Path) -> None:
    path = write(tmp_path, "A NN O\nB NN O\n\nC O\n")
    assert error_text(path) == (f"{path}:4: expected 3 columns (as on line 1) but got 2: 'C O'")


def test_single_column_line(tmp_path: Path) -> None:
    path = write(tmp_path, "\nA\n")
    assert (
        error_text(path) == f"{path}:2: expected at least 2 columns (token and tag) but got 1: 'A'"
    )


@pytest.mark.parametrize("column", [3, -4])
def test_tag_column_out_of_range(tmp_path: Path, column: int) -> None:
    path = write(tmp_path, "-DOCSTART- -X- O\n\nA NN O\n")
    assert error_text(path, tag_column=column) == (
        f"{path}:3: tag column {column} is out of range for 3 columns: 'A NN O'"
    )


def test_tag_column_zero_is_the_token(tmp_path: Path) -> None:
    path = write(tmp_path, "A NN O\n")
    assert error_text(path, tag_column=0).startswith(f"{path}:1: tag column 0 is the token column")


def test_empty_type(tmp_path: Path) -> None:
    path = write(tmp_path, "A O\nB B-PER\n\nC B-\n")
    assert error_text(path) == f"{path}:4: invalid tag 'B-': empty entity type after 'B-'"


def test_unknown_prefix(tmp_path: Path) -> None:
    path = write(tmp_path, "A O\n\nB O\nC X-PER\nD X-PER\n")
    assert error_text(path) == (
        f"{path}:4: invalid tag 'X-PER': unknown prefix 'X' (expected B, I, E, S, L or U)"
    )


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("A O\n\nZürich B-LOC\n".encode("latin-1"))
    message = error_text(path)
    assert message.startswith(
        f"{path}:3: not valid UTF-8 (byte 0xfc at column 2) in 'Z\\xfcrich B-LOC'"
    )
    assert "iconv" in message


@pytest.mark.parametrize("text", ["", "\n \n\t\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    assert error_text(path) == f"{path}: file is empty"


def test_no_sentences(tmp_path: Path) -> None:
    path = write(tmp_path, "-DOCSTART- -X- O\n\n-DOCSTART- -X- O\n")
    assert error_text(path) == f"{path}: no sentences in file (only -DOCSTART- lines)"


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert error_text(tmp_path / "nope.txt") == f"{tmp_path / 'nope.txt'}: no such file"
    assert error_text(tmp_path) == f"{tmp_path}: is a directory, expected a CoNLL file"


def test_prefix_not_in_forced_scheme(tmp_path: Path) -> None:
    path = write(tmp_path, "A O\nB S-PER\n")
    assert error_text(path, source_scheme="BIO") == (
        f"{path}:2: tag 'S-PER' is not valid in the BIO scheme"
    )


# --- illegal sequences -------------------------------------------------------------------------

ILLEGAL_BIO = "A B-PER\nb O\nc I-PER\n\nD I-LOC\ne I-LOC\nf I-ORG\n\nG B-LOC\n"


def test_illegal_repair_counts(tmp_path: Path) -> None:
    report = ReadReport()
    sentences = read_conll(write(tmp_path, ILLEGAL_BIO), report=report)
    assert [s.tags for s in sentences] == [
        ["B-PER", "O", "B-PER"],
        ["B-LOC", "I-LOC", "B-ORG"],
        ["B-LOC"],
    ]
    assert report.source_scheme == "BIO"
    assert report.illegal == 3
    assert report.illegal_lines == [3, 5, 7]
    assert report.entities == {"LOC": 2, "ORG": 1, "PER": 2}


def test_illegal_warn_logs_file_and_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, ILLEGAL_BIO)
    with caplog.at_level(logging.WARNING, logger="ner_crf.data.conll"):
        sentences = read_conll(path, illegal="warn")
    assert sentences[0].tags == ["B-PER", "O", "B-PER"]
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 3
    assert messages[0].startswith(f"{path}:3: repaired illegal BIO tag sequence: 'I-PER' after 'O'")


def test_illegal_repair_is_silent(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ner_crf.data.conll"):
        read_conll(write(tmp_path, ILLEGAL_BIO))
    assert caplog.records == []


def test_illegal_error(tmp_path: Path) -> None:
    path = write(tmp_path, ILLEGAL_BIO)
    assert error_text(path, illegal="error").startswith(
        f"{path}:3: illegal BIO tag sequence: 'I-PER' after 'O', before the sentence end"
    )


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="illegal must be one of"):
        read_conll("x", illegal="ignore")
    with pytest.raises(ValueError, match="max_length"):
        read_conll("x", max_length=0)
    with pytest.raises(ValueError, match="unknown tag scheme"):
        read_conll("x", scheme="BMES")


# --- schemes -------------------------------------------------------------------------------


def test_convert_on_read(tmp_path: Path) -> None:
    path = write(tmp_path, "A B-PER\nb I-PER\nc B-PER\nd O\ne B-LOC\n")
    report = ReadReport()
    assert read_conll(path, scheme="bioes", report=report)[0].tags == (
        ["B-PER", "E-PER", "S-PER", "O", "S-LOC"]
    )
    assert (report.source_scheme, report.scheme) == ("BIO", "IOBES")
    assert report.entities == {"LOC": 1, "PER": 2}
    assert read_conll(path, scheme="IOB1")[0].tags == ["I-PER", "I-PER", "B-PER", "O", "I-LOC"]


def test_detects_iob1_and_bilou(tmp_path: Path) -> None:
    iob1 = write(tmp_path, "A I-PER\nb I-PER\nc B-PER\nd O\ne I-LOC\n", "iob1.txt")
    report = ReadReport()
    assert read_conll(iob1, scheme="BIO", report=report)[0].tags == (
        ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]
    )
    assert (report.source_scheme, report.illegal, report.entities) == (
        "IOB1",
        0,
        {"LOC": 1, "PER": 2},
    )
    bilou = write(tmp_path, "A U-PER\nb B-LOC\nc L-LOC\n", "bilou.txt")
    # Kept as written, except that BILOU spellings become IOBES spellings.
    assert read_conll(bilou)[0].tags == ["S-PER", "B-LOC", "E-LOC"]


def test_forced_source_scheme(tmp_path: Path) -> None:
    path = write(tmp_path, "A B-PER\nb O\nc B-LOC\n")
    report = ReadReport()
    # Read as IOB1, the B- tags after O are illegal (and repaired to I-).
    assert read_conll(path, source_scheme="IOB1", report=report)[0].tags == ["I-PER", "O", "I-LOC"]
    assert report.illegal == 2


# --- max_length ----------------------------------------------------------------------------


def test_max_length_splits_keeping_all_tokens(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tokens = [f"w{i}" for i in range(10)]
    tags = ["O", "B-PER", "I-PER", "I-PER", "O", "B-LOC", "O", "O", "B-ORG", "I-ORG"]
    lines = "".join(f"{t} {g}\n" for t, g in zip(tokens, tags, strict=True))
    path = write(tmp_path, "x O\n\n" + lines)
    report = ReadReport()
    with caplog.at_level(logging.WARNING, logger="ner_crf.data.conll"):
        sentences = read_conll(path, max_length=4, report=report)
    # Cut before token 4 (after the PER entity), then before 8 (not inside ORG at 8..10).
    assert [s.tokens for s in sentences[1:]] == [tokens[:4], tokens[4:8], tokens[8:]]
    assert [s.line for s in sentences] == [1, 3, 7, 11]
    assert [s.tags for s in sentences[1:]] == [tags[:4], tags[4:8], tags[8:]]
    assert (report.sentences_split, report.chunks_added, report.entities_cut) == (1, 2, 0)
    assert report.sentences == 4 and report.tokens == 11
    assert report.longest[0] == (10, 3)
    assert len(caplog.records) == 1
    assert (
        "split 1 sentence(s) longer than 4 tokens into 3 chunks" in caplog.records[0].getMessage()
    )


@pytest.mark.parametrize(
    ("scheme", "first", "second"),
    [
        ("BIO", ["B-PER", "I-PER", "I-PER"], ["B-PER", "I-PER"]),
        ("IOBES", ["B-PER", "I-PER", "E-PER"], ["B-PER", "E-PER"]),
    ],
)
def test_max_length_cutting_an_entity_repairs_chunks(
    tmp_path: Path, scheme: str, first: list[str], second: list[str]
) -> None:
    path = write(tmp_path, "a B-PER\nb I-PER\nc I-PER\nd I-PER\ne I-PER\n")
    report = ReadReport()
    sentences = read_conll(path, scheme=scheme, max_length=3, report=report)
    assert [s.tokens for s in sentences] == [["a", "b", "c"], ["d", "e"]]
    assert [s.tags for s in sentences] == [first, second]
    assert report.entities_cut == 1
    assert report.entities == {"PER": 2}


def test_max_length_none_keeps_long_sentences(tmp_path: Path) -> None:
    path = write(tmp_path, "".join(f"w{i} O\n" for i in range(50)))
    assert [len(s.tokens) for s in read_conll(path)] == [50]
    assert [len(s.tokens) for s in read_conll(path, max_length=50)] == [50]
    assert [len(s.tokens) for s in read_conll(path, max_length=20)] == [20, 20, 10]


# --- the committed sample corpus ----------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]


def test_sample_corpus_is_reproducible_and_readable(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "make_sample_data", REPO / "scripts" / "make_sample_data.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.generate(tmp_path)
    assert [p.name for p in written] == ["train.txt", "dev.txt", "test.txt"]
    sizes = {}
    for path in written:
        assert path.read_bytes() == (REPO / "data" / path.name).read_bytes(), path.name
        report = ReadReport()
        read_conll(path, report=report)
        assert report.source_scheme == "BIO" and report.illegal == 0 and report.columns == 2
        assert set(report.entities) == {"PER", "ORG", "LOC", "MISC"}
        assert report.documents > 1
        sizes[path.stem] = report.sentences
    assert sizes == {"train": 800, "dev": 300, "test": 300}
    # Some dev entity words never occur in train (unseen-word generalisation matters).
    train_words = {t for s in read_conll(written[0]) for t in s.tokens}
    dev_entity_words = {
        t for s in read_conll(written[1]) for t, g in zip(s.tokens, s.tags, strict=True) if g != "O"
    }
    assert len(dev_entity_words - train_words) >= 20


def test_warn_mode_caps_individual_warnings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, "A B-PER\n\n" + "".join(f"w{i} I-LOC\n\n" for i in range(25)))
    report = ReadReport()
    with caplog.at_level(logging.WARNING, logger="ner_crf.data.conll"):
        read_conll(path, illegal="warn", report=report)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 21
    assert messages[-1] == f"{path}: 5 more illegal tag sequences repaired"
    assert report.illegal == 25 and len(report.illegal_lines) == 20


def test_iobes_file_repaired(tmp_path: Path) -> None:
    path = write(tmp_path, "A B-PER\nb O\nc I-LOC\nd E-LOC\ne S-ORG\n")
    report = ReadReport()
    assert read_conll(path, report=report)[0].tags == ["S-PER", "O", "B-LOC", "E-LOC", "S-ORG"]
    assert (report.source_scheme, report.illegal, report.illegal_lines) == ("IOBES", 2, [1, 3])
    assert read_conll(path, scheme="BIO")[0].tags == ["B-PER", "O", "B-LOC", "I-LOC", "B-ORG"]
