"""Tests of ner_crf.tokenize: token table, offset invariants, sentence splitting."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from ner_crf.tokenize import Token, split_sentences, tokenize, tokenize_sentences


def texts(text: str) -> list[str]:
    return [token.text for token in tokenize(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, world!", ["Hello", ",", "world", "!"]),
        # non-ASCII letters, decomposed accents (e + U+0301), CJK one character per token
        ("Łódź Straße café", ["Łódź", "Straße", "café"]),
        ("cafe\u0301 naïve", ["cafe\u0301", "naïve"]),
        ("東京都に行く", ["東", "京", "都", "に", "行", "く"]),
        ("Москва и Київ", ["Москва", "и", "Київ"]),
        # numbers
        (
            "pi is 3.14, not 1,000 or 12:30.",
            ["pi", "is", "3.14", ",", "not", "1,000", "or", "12:30", "."],
        ),
        ("-5 degrees, x -3.5 and 1990s", ["-5", "degrees", ",", "x", "-3.5", "and", "1990s"]),
        ("won 3-5 at 192.168.0.1", ["won", "3-5", "at", "192.168.0.1"]),
        ("$1,000.50", ["$", "1,000.50"]),
        # URLs and e-mail addresses; trailing sentence punctuation is split off
        ("See https://x.org/a?b=c.", ["See", "https://x.org/a?b=c", "."]),
        ("(www.example.com/x-y)", ["(", "www.example.com/x-y", ")"]),
        (
            "Mail john.doe+nlp@mail.example.org, now",
            ["Mail", "john.doe+nlp@mail.example.org", ",", "now"],
        ),
        # hyphenated words and names with apostrophes
        ("a state-of-the-art e-mail", ["a", "state-of-the-art", "e-mail"]),
        ("O'Neill's rock'n'roll", ["O'Neill", "'s", "rock'n'roll"]),
        # clitics, Penn Treebank style
        ("Smith's car", ["Smith", "'s", "car"]),
        ("don't can't won't", ["do", "n't", "ca", "n't", "wo", "n't"]),
        (
            "I'm sure we'll see they're here, I'd say",
            ["I", "'m", "sure", "we", "'ll", "see", "they", "'re", "here", ",", "I", "'d", "say"],
        ),
        ("It’s Smith’s, isn’t it", ["It", "’s", "Smith", "’s", ",", "is", "n’t", "it"]),
        ("the players' union", ["the", "players", "'", "union"]),
        # punctuation and quotes split off
        ('"Yes" (no)', ['"', "Yes", '"', "(", "no", ")"]),
        ("“quoted” «guillemets»", ["“", "quoted", "”", "«", "guillemets", "»"]),
        ("Wait... what?! -- ok…", ["Wait", "...", "what", "?!", "--", "ok", "…"]),
        ("'single'", ["'", "single", "'"]),
        # abbreviations keep their period
        (
            "Dr. Smith and Mr. Jones of Acme Inc. met",
            ["Dr.", "Smith", "and", "Mr.", "Jones", "of", "Acme", "Inc.", "met"],
        ),
        (
            "in the U.S. and U.K., e.g. today at 5 a.m.",
            ["in", "the", "U.S.", "and", "U.K.", ",", "e.g.", "today", "at", "5", "a.m."],
        ),
        ("J. K. Rowling", ["J.", "K.", "Rowling"]),
        ("No. 5 but No. Thanks", ["No.", "5", "but", "No", ".", "Thanks"]),
        ("apples, pears etc. and", ["apples", ",", "pears", "etc.", "and"]),
        # emoji are tokens of their own, sequences included
        ("ok👍🏻great", ["ok", "👍🏻", "great"]),
        ("coder 👩🏽\u200d💻 in 🇫🇷 1️⃣", ["coder", "👩🏽\u200d💻", "in", "🇫🇷", "1️⃣"]),
        ("I ❤️ NY", ["I", "❤️", "NY"]),
        # zero-width and control characters separate tokens and are never tokens
        ("ab\u200bcd", ["ab", "cd"]),
        ("a\x00b\x1fc\x7fd", ["a", "b", "c", "d"]),
        ("\ufeffBOM start\u200d \u00ad", ["BOM", "start"]),
        ("x\u200e\u202ey\u2066z\ufe0f", ["x", "y", "z"]),
        ("", []),
        (" \t\n\u200b\x00 ", []),
    ],
)
def test_token_table(text: str, expected: list[str]) -> None:
    assert texts(text) == expected


def test_tokens_carry_offsets() -> None:
    text = "  Dr. Smith's\tcar\u200b!"
    assert tokenize(text) == [
        Token("Dr.", 2, 5),
        Token("Smith", 6, 11),
        Token("'s", 11, 13),
        Token("car", 14, 17),
        Token("!", 18, 19),
    ]


_ALPHABET = (
    "aZé\u0301ßŁ東に한 Ω٣1234567890.,;:!?'\"’“”«»()-–—/@#$%&*+=_~"
    "😀👍🏻\u200d👩💻🇫🇷❤\ufe0f\u20e3"
    "\u200b\u200c\u200e\u2060\ufeff\u00ad\x00\x01\x07\x08\t\n\x0b\x0c\r\x1b\x1f\x7f\x85\xa0"
    "\u2028\u3000 "
)
_IGNORED = (
    set("\u200b\u200c\u200d\u200e\u2060\ufeff\u00ad\ufe0f")
    | {chr(c) for c in range(0x20)}
    | {chr(c) for c in range(0x7F, 0xA0)}
)


@pytest.mark.parametrize("seed", range(20))
def test_offset_invariants_on_random_unicode(seed: int) -> None:
    rng = random.Random(seed)
    text = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 400)))
    # plus any code point at all, including unassigned ones and lone surrogates
    text += "".join(chr(rng.randrange(0x110000)) for _ in range(20))
    tokens = tokenize(text)
    previous_end = 0
    for token in tokens:
        assert token.text == text[token.start : token.end]
        assert token.start < token.end
        assert token.start >= previous_end  # ordered, non-overlapping
        previous_end = token.end
        assert not token.text[0].isspace() and not token.text[-1].isspace()
        assert token.text[0] not in _IGNORED
        # an emoji may end in a variation selector (❤️), nothing else ends in an ignored char
        assert token.text[-1] not in _IGNORED - {"\ufe0f"}
        if len(token.text) > 1:
            assert not any(c.isspace() for c in token.text)
    # every character that is not covered by a token is whitespace or an ignored character
    covered = [False] * len(text)
    for token in tokens:
        covered[token.start : token.end] = [True] * (token.end - token.start)
    for char, is_covered in zip(text, covered, strict=True):
        if not is_covered:
            assert char.isspace() or char in _IGNORED, repr(char)
    # sentences are ordered, non-overlapping spans that contain exactly the tokens
    for split_lines in (False, True):
        units = tokenize_sentences(text, split_lines=split_lines)
        spans = split_sentences(text, split_lines=split_lines)
        assert spans == [(unit[0].start, unit[-1].end) for unit in units]
        flat = [token for unit in units for token in unit]
        for token in flat:
            assert token.text == text[token.start : token.end]
        if not split_lines:
            assert flat == tokens
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert end <= start


PARAGRAPH = (
    "Dr. Smith went to Washington. He met the U.S. president on Jan. 5 at 10 a.m. in the "
    'White House! "Was it useful?" she asked. J. K. Rowling wasn\'t there... 3 people were. '
    "(Nobody knows why.) it continued in lowercase. e.g. this stays.\n\nA new paragraph"
)


def test_sentence_splits_on_a_paragraph() -> None:
    sentences = [PARAGRAPH[a:b] for a, b in split_sentences(PARAGRAPH)]
    assert sentences == [
        "Dr. Smith went to Washington.",
        "He met the U.S. president on Jan. 5 at 10 a.m. in the White House!",
        '"Was it useful?" she asked.',
        "J. K. Rowling wasn't there...",
        "3 people were.",
        "(Nobody knows why.) it continued in lowercase. e.g. this stays.",
        "A new paragraph",
    ]


def test_sentence_ends_inside_closing_quote() -> None:
    text = 'He said "Stop." Then he left. «Non!» Encore.'
    assert [text[a:b] for a, b in split_sentences(text)] == [
        'He said "Stop."',
        "Then he left.",
        "«Non!»",
        "Encore.",
    ]


def test_zero_width_characters_do_not_block_a_split() -> None:
    text = "One.\u200b Two.\u200bThree."
    assert [text[a:b] for a, b in split_sentences(text)] == ["One.", "Two.\u200bThree."]


def test_no_split_without_space_or_before_lowercase() -> None:
    text = "Version 3.14 is out.Really. see you. OK"
    assert [text[a:b] for a, b in split_sentences(text)] == [
        "Version 3.14 is out.Really. see you.",
        "OK",
    ]


def test_split_lines() -> None:
    text = "  First line. Still first\r\nsecond line\n\n \u200b \nthird. Line\u2028fourth"
    spans = split_sentences(text, split_lines=True)
    assert [text[a:b] for a, b in spans] == [
        "First line. Still first",
        "second line",
        "third. Line",
        "fourth",
    ]
    # without split_lines a single newline does not end a sentence, a blank line does
    assert [text[a:b] for a, b in split_sentences(text)] == [
        "First line.",
        "Still first\r\nsecond line",
        "third.",
        "Line\u2028fourth",
    ]


def test_tokenize_sentences_offsets_refer_to_the_text() -> None:
    text = "Hi there. I'm here.\nBye"
    units = tokenize_sentences(text)
    assert [[t.text for t in unit] for unit in units] == [
        ["Hi", "there", "."],
        ["I", "'m", "here", "."],
        ["Bye"],
    ]
    lines = tokenize_sentences(text, split_lines=True)
    assert lines[1] == [Token("Bye", 20, 23)]
    assert split_sentences("") == [] and tokenize_sentences(" \n ", split_lines=True) == []


@pytest.mark.parametrize(
    "text",
    [
        ("The quick brown fox, Dr. Smith's e-mail: a.b@c.org. " * 2000)[:100_000],
        "a" * 100_000,
        "a@" * 50_000,
        "a." * 50_000,
        "http://" + "." * 99_993,
        "an't" * 25_000,
        "👩\u200d" * 50_000,
    ],
    ids=["prose", "one-word", "at-signs", "dotted", "url-dots", "clitics", "zwj"],
)
def test_long_lines_tokenize(text: str) -> None:
    # Linear time: these take well under a second each (no timing assertion, see the report).
    tokens = tokenize(text)
    assert tokens
    assert all(text[t.start : t.end] == t.text for t in tokens)
    assert split_sentences(text)


def test_tokenize_module_does_not_import_tensorflow() -> None:
    code = "import sys, ner_crf.tokenize; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
