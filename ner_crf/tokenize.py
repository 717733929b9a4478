"""Raw-text sentence splitting and tokenisation with exact character offsets.

Every :class:`Token` satisfies ``token.text == text[token.start:token.end]``, so predictions can
be mapped back onto the original string. The conventions follow the CoNLL-2003 / Penn Treebank
tokenisation the shipped models are trained on:

* Words are runs of letters, digits, underscores and combining marks in any script (``Łódź``,
  ``Straße``, ``naïve`` written with a combining diaeresis); CJK ideographs and kana are one token
  per character (those scripts do not separate words by spaces).
* Hyphenated words stay whole (``state-of-the-art``, ``2-1``); so do apostrophes inside names
  (``O'Neill``, ``rock'n'roll``).
* Clitics are split off as in the Penn Treebank: ``Smith's`` -> ``Smith`` ``'s``,
  ``we'll`` -> ``we`` ``'ll``, ``don't`` -> ``do`` ``n't``, ``can't`` -> ``ca`` ``n't`` (also with
  the typographic apostrophe ``’``).
* Numbers with inner separators stay whole: ``3.14``, ``1,000``, ``12:30``, ``192.168.0.1``; a sign
  belongs to a number when it does not follow a word (``-5``, but ``3-5`` is one hyphenated token).
* URLs (``https://x.org/a?b=c``, ``www.x.org``) and e-mail addresses are one token; trailing
  sentence punctuation is not part of a URL.
* Abbreviations keep their period: a list of common ones (``Dr.``, ``Mr.``, ``Inc.``, ``etc.``,
  ``Jan.``, ``No.`` before a number, ...), dotted letter sequences (``U.S.``, ``e.g.``, ``a.m.``)
  and a single capital initial followed by a capitalised word (``J. Smith``).
* Punctuation and quotes are split off one character at a time (``"``, ``“``, ``”``, ``«``,
  ``»``, ``(``, ``)``, ...), except runs of dots (``...``), of ``!``/``?`` and of hyphens
  (``--``), which are one token each.
* Emoji are tokens of their own, including modifier, variation-selector, keycap and ZWJ sequences
  (``👩🏽‍💻``) and flags.
* Whitespace, control characters (``\\x00``-``\\x1f``, ``\\x7f``-``\\x9f``), zero-width characters
  (``\\u200b``, ZWNJ, ZWJ outside emoji, word joiner, BOM) and bidi marks separate tokens and never
  become tokens themselves.

Sentences end at ``.``, ``!``, ``?``, ``…`` (or a run of them), possibly followed by closing
quotes or brackets, when whitespace and then an uppercase letter, an opening quote or bracket, or a
digit follow; a blank line always ends a sentence. Abbreviations and initials are single tokens, so
they never end a sentence, which also means that a sentence ending in an abbreviation
(``... in the U.S. Then``) is not split. With ``split_lines=True`` each non-blank line is one unit.

Everything runs in time linear in the length of the text: every pattern that can fail after
scanning ahead is bounded, and the rest only ever extend a match.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

logger = logging.getLogger(__name__)

__all__ = ["Token", "split_sentences", "tokenize", "tokenize_sentences"]


@dataclass(frozen=True, slots=True)
class Token:
    """A token and its position: ``text == original[start:end]``.

    Attributes:
        text: The token's characters.
        start: Offset of its first character in the original string.
        end: Offset just past its last character.
    """

    text: str
    start: int
    end: int


# ---- character classes ----------------------------------------------------------------------

# CJK ideographs, kana and CJK symbols-free ranges: one token per character.
_CJK = (
    "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\U00020000-\U0002fa1f\U00030000-\U0003134f"
)
# Combining marks and Indic/Thai vowel signs that \w does not cover but that belong to words.
_MARKS = (
    "\u0300-\u036f\u0483-\u0489\u0591-\u05bd\u05bf\u05c1\u05c2\u05c4\u05c5\u05c7"
    "\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e4\u06e7\u06e8\u06ea-\u06ed"
    "\u0900-\u0963\u0966-\u0dff\u0e31\u0e34-\u0e3a\u0e47-\u0e4e"
    "\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ef\ufe20-\ufe2f"
)
# One character of a word: \w or a mark, but not CJK.
_W = rf"(?:(?![{_CJK}])[\w{_MARKS}])"
_LETTER = r"[^\W\d_]"
# Separators that are not \s: zero-width, bidi and remaining control characters. They are never
# part of a token (except ZWJ and variation selectors inside an emoji sequence).
_IGNORED = (
    "\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\ufe00-\ufe0f\ufeff"
)
_EMOJI = "\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001f1e5\U0001f200-\U0001faff"
_FLAG = "\U0001f1e6-\U0001f1ff"
_OPEN = "\"'“‘«‹([{„‚"
_CLOSE = "\"'”’»›)]}"

_ABBREVIATIONS = (  # noqa: SIM905 - a word list reads best as one string
    "Mr Mrs Ms Mx Dr Prof Sr Jr St Mt Ft Gen Col Maj Capt Cmdr Lt Sgt Cpl Adm Gov Sen Rep "
    "Rev Hon Pres Supt Insp Messrs Mme Mlle Inc Ltd Co Corp Bros Assn Dept Univ Ave Blvd "
    "Rd Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec Mon Tue Tues Wed Thu Thur Thurs "
    "Fri Sat Sun vs etc approx est fig figs vol vols ed eds pp cf al ca Ph.D"
).split()
# Abbreviations that are only abbreviations before a number ("No. 5", "p. 12", "Nos. 3-4").
_NUMBER_ABBREVIATIONS = "No Nos no nos Vol p Fig Art Sec Ch".split()  # noqa: SIM905


def _alternation(words: list[str]) -> str:
    return "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))


_URL = r"(?:(?:https?|ftp)://|www\.)[^\s<>\"'“”‘’«»()\[\]{}]*[^\s<>\"'“”‘’«»()\[\]{}.,;:!?]"
_EMAIL = r"[\w+\-]{1,64}(?:\.[\w+\-]{1,64}){0,8}@[\w\-]{1,63}(?:\.[\w\-]{1,63}){1,8}"
_CLITIC = r"(?i:s|re|ve|ll|d|m)"

_TOKEN_PATTERN = re.compile(
    "|".join(
        [
            _URL,
            _EMAIL,
            # known abbreviations, then those that need a number after them
            rf"(?:{_alternation(_ABBREVIATIONS)})\.(?!{_W})",
            rf"(?:{_alternation(_NUMBER_ABBREVIATIONS)})\.(?=\s*\d)",
            # dotted letter sequences (U.S., e.g., a.m.) and a capital initial before a name
            rf"(?:{_LETTER}\.){{2,}}",
            r"[A-ZÀ-ÖØ-ÞĀ-Ž]\.(?=\s+[A-ZÀ-ÖØ-ÞĀ-Ž])",
            # keycap emoji (1️⃣), before numbers
            r"[0-9#*]\ufe0f?\u20e3",
            # numbers with inner separators; signed numbers not glued to a preceding word
            r"\d+(?:[.,:]\d+)+",
            r"(?<![\w.])[-+]\d+(?:[.,:]\d+)*",
            # a word whose end is "n't" (do|n't), then "n't" itself
            rf"{_W}+?(?=(?i:n['’]t)(?!{_W}))",
            rf"(?<={_W})(?i:n['’]t)(?!{_W})",
            # words: inner hyphens and inner apostrophes that do not start a clitic
            rf"{_W}+(?:(?:[-‐‑]|['’](?!{_CLITIC}(?!{_W})))(?={_W}){_W}+)*",
            # clitics after a word
            rf"(?<={_W})['’]{_CLITIC}(?!{_W})",
            # emoji: flags, then emoji with modifiers / variation selectors / keycaps / ZWJ
            rf"[{_FLAG}]{{2}}",
            rf"[{_EMOJI}][\ufe0f\U0001f3fb-\U0001f3ff\u20e3]*"
            rf"(?:\u200d[{_EMOJI}][\ufe0f\U0001f3fb-\U0001f3ff\u20e3]*)*",
            # CJK: one character per token
            f"[{_CJK}]",
            # punctuation runs, then any other single visible character
            r"\.{2,}|…+|[!?]{2,}|-{2,}|—+",
            rf"[^\s{_IGNORED}]",
        ]
    )
)

_SENTENCE_FINAL = re.compile(r"^(?:[.!?…]+)$")
_LINE = re.compile(r"[^\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]+")
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def tokenize(text: str) -> list[Token]:
    """Split text into tokens with offsets (see the module docstring for the rules).

    Args:
        text: Any string; control and zero-width characters are skipped, never an error.

    Returns:
        The tokens in order; ``token.text == text[token.start:token.end]`` for each.
    """
    return [Token(m.group(), m.start(), m.end()) for m in _TOKEN_PATTERN.finditer(text)]


def _starts_sentence(token: Token) -> bool:
    first = token.text[0]
    # A digit, an opening quote or bracket, or a letter that is not lowercase: an uppercase or
    # titlecase letter in any script, or a caseless one such as CJK.
    return first.isdigit() or first in _OPEN or (first.isalpha() and not first.islower())


def _is_blank_line(gap: str) -> bool:
    """Whether the text between two tokens holds two line breaks (a blank line between them)."""
    # splitlines keeps "\r\n" together, so one Windows line break counts once.
    breaks = sum(1 for part in gap.splitlines(keepends=True) if part[-1] in _LINE_BREAKS)
    return breaks >= 2


def _sentence_spans(text: str, tokens: list[Token]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    if not tokens:
        return spans
    start = tokens[0].start
    index = 0
    while index < len(tokens):
        token = tokens[index]
        end_index = None
        if _SENTENCE_FINAL.match(token.text):
            # the sentence may continue with closing quotes / brackets: ." or ?)
            last = index
            while (
                last + 1 < len(tokens)
                and tokens[last + 1].text in _CLOSE
                and tokens[last + 1].start == tokens[last].end
            ):
                last += 1
            following = tokens[last + 1] if last + 1 < len(tokens) else None
            if following is not None:
                gap = text[tokens[last].end : following.start]
                # gaps between tokens hold only whitespace and ignored characters
                if any(char.isspace() for char in gap) and _starts_sentence(following):
                    end_index = last
        if (
            end_index is None
            and index + 1 < len(tokens)
            and _is_blank_line(text[token.end : tokens[index + 1].start])
        ):
            end_index = index
        if end_index is not None:
            spans.append((start, tokens[end_index].end))
            start = tokens[end_index + 1].start
            index = end_index + 1
        else:
            index += 1
    spans.append((start, tokens[-1].end))
    return spans


def _units(text: str, split_lines: bool) -> list[list[Token]]:
    """Sentences (or lines) as token lists with offsets into ``text``."""
    if split_lines:
        units = []
        for line in _LINE.finditer(text):
            offset = line.start()
            tokens = [
                Token(t.text, t.start + offset, t.end + offset) for t in tokenize(line.group())
            ]
            if tokens:
                units.append(tokens)
        return units
    tokens = tokenize(text)
    units = []
    position = 0
    for _, end in _sentence_spans(text, tokens):
        first = position
        while position < len(tokens) and tokens[position].end <= end:
            position += 1
        units.append(tokens[first:position])
    return units


def split_sentences(text: str, *, split_lines: bool = False) -> list[tuple[int, int]]:
    """Find sentences as character spans.

    Args:
        text: Any string.
        split_lines: Treat every non-blank line as one unit (one sentence per line) instead of
            looking for sentence ends.

    Returns:
        ``(start, end)`` offsets with ``text[start:end]`` a sentence; leading and trailing
        whitespace is excluded and spans without any token are dropped.
    """
    return [(unit[0].start, unit[-1].end) for unit in _units(text, split_lines)]


def tokenize_sentences(text: str, *, split_lines: bool = False) -> list[list[Token]]:
    """Split text into sentences of tokens, with offsets into ``text``.

    Args:
        text: Any string.
        split_lines: See :func:`split_sentences`.

    Returns:
        One non-empty list of tokens per sentence; offsets refer to ``text``, not to the
        sentence.
    """
    return _units(text, split_lines)
