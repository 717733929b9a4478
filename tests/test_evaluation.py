"""Tests of ner_crf.evaluation against hand-computed entity scores."""

from __future__ import annotations

import json
import random
import warnings

import pytest

from ner_crf.errors import DataError
from ner_crf.evaluation import EvalResult, TypeScores, evaluate_tags, resolve_mode

# Two sentences, BIO. Gold: PER(0-1), LOC(3) | ORG(0). Predicted: a PER chunk that starts with
# I- (ill-formed in BIO), LOC(3) correct | MISC(0) instead of ORG.
GOLD = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
PRED = [["I-PER", "I-PER", "O", "B-LOC"], ["B-MISC", "O"]]


def scores(result: EvalResult, name: str) -> tuple[float, float, float, int, int, int]:
    s = result.per_type[name] if name in result.per_type else getattr(result, name)
    return (s.precision, s.recall, s.f1, s.support, s.predicted, s.correct)


def test_strict_mode_rejects_chunk_starting_with_i() -> None:
    result = evaluate_tags(GOLD, PRED, scheme="BIO", mode="strict")
    # Predicted entities: LOC (correct), MISC (wrong); the I-PER chunk is not an entity.
    assert list(result.per_type) == ["LOC", "MISC", "ORG", "PER"]
    assert scores(result, "LOC") == (1.0, 1.0, 1.0, 1, 1, 1)
    assert scores(result, "MISC") == (0.0, 0.0, 0.0, 0, 1, 0)  # predicted, absent from gold
    assert scores(result, "ORG") == (0.0, 0.0, 0.0, 1, 0, 0)  # gold, never predicted
    assert scores(result, "PER") == (0.0, 0.0, 0.0, 1, 0, 0)
    # micro: 1 correct of 2 predicted and 3 gold -> P 1/2, R 1/3, F 2PR/(P+R) = 0.4
    assert result.micro.precision == pytest.approx(0.5)
    assert result.micro.recall == pytest.approx(1 / 3)
    assert result.micro.f1 == pytest.approx(0.4)
    assert (result.micro.support, result.micro.predicted, result.micro.correct) == (3, 2, 1)
    # macro: mean over the four types of (1, 0, 0, 0)
    assert (result.macro.precision, result.macro.recall, result.macro.f1) == pytest.approx(
        (0.25, 0.25, 0.25)
    )
    assert result.f1 == result.micro.f1
    # token accuracy: 4 of 6 tags equal (I-PER vs B-PER and B-MISC vs B-ORG differ)
    assert result.accuracy == pytest.approx(4 / 6)
    assert (result.sentences, result.tokens, result.mode, result.scheme) == (2, 6, "strict", "BIO")


def test_conlleval_mode_repairs_chunk_starting_with_i() -> None:
    result = evaluate_tags(GOLD, PRED, scheme="BIO", mode="conlleval")
    # I-PER I-PER is read as one PER entity spanning 0-1, which matches gold.
    assert scores(result, "PER") == (1.0, 1.0, 1.0, 1, 1, 1)
    assert scores(result, "LOC") == (1.0, 1.0, 1.0, 1, 1, 1)
    assert scores(result, "ORG") == (0.0, 0.0, 0.0, 1, 0, 0)
    assert scores(result, "MISC") == (0.0, 0.0, 0.0, 0, 1, 0)
    # micro: 2 correct of 3 predicted and 3 gold
    assert (result.precision, result.recall, result.f1) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    assert (result.macro.precision, result.macro.recall) == pytest.approx((0.5, 0.5))
    assert result.accuracy == pytest.approx(4 / 6)


def test_iobes_strict_requires_end_tag() -> None:
    gold = [["S-PER", "O", "B-LOC", "E-LOC"]]
    pred = [["S-PER", "O", "B-LOC", "I-LOC"]]
    strict = evaluate_tags(gold, pred, scheme="IOBES", mode="strict")
    # B-LOC I-LOC without E-LOC is no entity: P 1/1, R 1/2, F 2/3
    assert scores(strict, "LOC") == (0.0, 0.0, 0.0, 1, 0, 0)
    assert (strict.precision, strict.recall, strict.f1) == pytest.approx((1.0, 0.5, 2 / 3))
    lenient = evaluate_tags(gold, pred, scheme="IOBES", mode="conlleval")
    assert (lenient.precision, lenient.recall, lenient.f1) == pytest.approx((1.0, 1.0, 1.0))


def test_partial_span_match_is_wrong() -> None:
    gold = [["B-ORG", "I-ORG", "I-ORG", "O"], ["B-PER", "O"]]
    pred = [["B-ORG", "I-ORG", "O", "O"], ["B-PER", "O"]]
    result = evaluate_tags(gold, pred, scheme="BIO", mode="strict")
    assert scores(result, "ORG") == (0.0, 0.0, 0.0, 1, 1, 0)
    assert scores(result, "PER") == (1.0, 1.0, 1.0, 1, 1, 1)
    assert result.f1 == pytest.approx(0.5)
    assert result.accuracy == pytest.approx(5 / 6)


def test_iob1_scheme_in_strict_mode() -> None:
    # In IOB1 a chunk may start with I-; B- only separates two adjacent chunks of one type.
    gold = [["I-PER", "I-PER", "B-PER", "O", "I-LOC"]]
    pred = [["I-PER", "I-PER", "I-PER", "O", "I-LOC"]]
    result = evaluate_tags(gold, pred, scheme="IOB1", mode="strict")
    # gold: PER(0-1), PER(2), LOC(4); predicted: PER(0-2), LOC(4)
    assert scores(result, "PER") == (0.0, 0.0, 0.0, 2, 1, 0)
    assert scores(result, "LOC") == (1.0, 1.0, 1.0, 1, 1, 1)
    assert (result.precision, result.recall) == pytest.approx((0.5, 1 / 3))
    # The same tags read as BIO in strict mode contain only the B-PER entity.
    as_bio = evaluate_tags(gold, gold, scheme="BIO", mode="strict")
    assert list(as_bio.per_type) == ["PER"]
    assert as_bio.per_type["PER"].support == 1


def test_no_predictions_for_a_gold_type_gives_recall_zero_without_warnings() -> None:
    gold = [["B-PER", "O"], ["B-LOC", "I-LOC"]]
    pred = [["O", "O"], ["O", "O"]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = evaluate_tags(gold, pred, scheme="BIO", mode="strict")
    assert scores(result, "PER") == (0.0, 0.0, 0.0, 1, 0, 0)
    assert scores(result, "LOC") == (0.0, 0.0, 0.0, 1, 0, 0)
    assert (result.precision, result.recall, result.f1) == (0.0, 0.0, 0.0)


def test_no_entities_at_all() -> None:
    result = evaluate_tags([["O", "O"]], [["O", "O"]], scheme="IOBES", mode="strict")
    assert result.per_type == {}
    assert result.micro == TypeScores(0.0, 0.0, 0.0, 0, 0, 0)
    assert result.macro == TypeScores(0.0, 0.0, 0.0, 0, 0, 0)
    assert result.accuracy == 1.0
    empty = evaluate_tags([], [], scheme="BIO", mode="conlleval")
    assert (empty.accuracy, empty.f1, empty.tokens) == (0.0, 0.0, 0)


def test_to_dict_is_json_able() -> None:
    result = evaluate_tags(GOLD, PRED, scheme="BIO", mode="strict")
    data = json.loads(json.dumps(result.to_dict()))
    assert data["mode"] == "strict"
    assert data["scheme"] == "BIO"
    assert data["f1"] == pytest.approx(0.4)
    assert data["micro"]["correct"] == 1
    assert data["per_type"]["ORG"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 1,
        "predicted": 0,
        "correct": 0,
    }


def test_format_report() -> None:
    text = evaluate_tags(GOLD, PRED, scheme="BIO", mode="conlleval").format(digits=2)
    lines = text.splitlines()
    assert "mode conlleval" in lines[0]
    assert "scheme BIO" in lines[0]
    assert "token accuracy 0.67" in lines[1]
    assert lines[3].split() == ["precision", "recall", "f1-score", "support", "predicted"]
    assert "      PER       1.00       1.00       1.00          1          1" in lines
    assert lines[-1].split() == ["macro", "avg", "0.50", "0.50", "0.50", "3", "3"]
    strict_text = evaluate_tags(GOLD, PRED, scheme="BIO", mode="strict").format()
    assert "mode strict" in strict_text
    assert "micro avg     0.5000     0.3333     0.4000          3          2" in strict_text


@pytest.mark.parametrize(
    ("gold", "pred", "mode", "message"),
    [
        ([["O"]], [["O"], ["O"]], "strict", "1 gold sentences but 2 predicted sentences"),
        ([["O", "O"]], [["O"]], "strict", "sentence 1 has 2 gold tags but 1 predicted tags"),
        ([["S-PER"]], [["O"]], "strict", "invalid tag 'S-PER' in gold sentence 1"),
        ([["O"]], [["PER"]], "conlleval", "invalid tag 'PER' in predicted sentence 1"),
        ([["O"]], [["B-"]], "conlleval", "invalid tag 'B-'"),
    ],
)
def test_bad_input(gold: list, pred: list, mode: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        evaluate_tags(gold, pred, scheme="BIO", mode=mode)  # type: ignore[arg-type]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="scheme must be one of"):
        evaluate_tags([["O"]], [["O"]], scheme="BILOU", mode="strict")
    with pytest.raises(ValueError, match="mode must be"):
        evaluate_tags([["O"]], [["O"]], scheme="BIO", mode="auto")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mode", "scheme", "expected"),
    [
        ("auto", "IOBES", "strict"),
        ("auto", "BIO", "strict"),
        ("auto", "IOB1", "conlleval"),
        ("strict", "IOB1", "strict"),
        ("conlleval", "IOBES", "conlleval"),
    ],
)
def test_resolve_mode(mode: str, scheme: str, expected: str) -> None:
    assert resolve_mode(mode, scheme) == expected


@pytest.mark.parametrize("mode", ["strict", "conlleval"])
@pytest.mark.parametrize("scheme", ["BIO", "IOBES", "IOB1"])
def test_counts_agree_with_seqeval_ratios(mode: str, scheme: str) -> None:
    rng = random.Random(0)
    prefixes = {"BIO": "BI", "IOB1": "BI", "IOBES": "BIES"}[scheme]
    tags = ["O"] + [f"{p}-{t}" for p in prefixes for t in ("PER", "LOC", "ORG")]
    gold = [[rng.choice(tags) for _ in range(rng.randint(1, 12))] for _ in range(40)]
    pred = [[t if rng.random() < 0.7 else rng.choice(tags) for t in sent] for sent in gold]
    result = evaluate_tags(gold, pred, scheme=scheme, mode=mode)  # type: ignore[arg-type]
    assert result.per_type
    for s in result.per_type.values():
        assert s.precision == pytest.approx(s.correct / s.predicted if s.predicted else 0.0)
        assert s.recall == pytest.approx(s.correct / s.support if s.support else 0.0)
    m = result.micro
    assert m.precision == pytest.approx(m.correct / m.predicted)
    assert m.recall == pytest.approx(m.correct / m.support)
