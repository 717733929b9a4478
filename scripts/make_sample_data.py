#!/usr/bin/env python
"""Generate the small synthetic sample corpus in ``data/{train,dev,test}.txt``.

Sentences come from templates and name lists held in this script (all invented here, none taken
from a published corpus), tagged in BIO with the types PER, ORG, LOC and MISC, written as two
columns ``token TAG`` with ``-DOCSTART- O`` document breaks. About a third of every name list is
held out of the training split, so dev and test contain names never seen in training.

The output is deterministic: running the script again reproduces the committed files byte for
byte (``tests/data/test_conll.py`` checks this).

Usage:
    python scripts/make_sample_data.py [--out DIR] [--seed N]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

SEED = 2024
SIZES = {"train": 800, "dev": 300, "test": 300}
HELD_OUT = 0.35  # share of every name list kept out of the training split
UNSEEN_RATE = 0.5  # in dev/test, chance that a name is drawn from the held-out part

FIRST_NAMES = [
    "Anna",
    "Boris",
    "Clara",
    "Dmitri",
    "Elena",
    "Felix",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Karla",
    "Lukas",
    "Mira",
    "Nils",
    "Olga",
    "Pavel",
    "Quentin",
    "Rosa",
    "Stefan",
    "Tilda",
    "Ulrich",
    "Vera",
    "Walter",
    "Xenia",
    "Yusuf",
    "Zora",
    "Amir",
    "Bianca",
    "Cyril",
    "Dora",
    "Emil",
    "Fiona",
    "Gustav",
    "Hanna",
    "Igor",
    "Julia",
    "Kasper",
    "Lena",
    "Marek",
    "Nora",
    "Oskar",
    "Petra",
    "Rafael",
    "Sonja",
    "Tobias",
    "Ulla",
    "Viktor",
    "Wanda",
]

LAST_NAMES = [
    "Albrecht",
    "Brennan",
    "Castell",
    "Dorsey",
    "Ekland",
    "Fairbank",
    "Grimaldi",
    "Holloway",
    "Ivanek",
    "Jansson",
    "Kowalczyk",
    "Lindqvist",
    "Moreau",
    "Novak",
    "Okafor",
    "Petrakis",
    "Quinlan",
    "Rasmussen",
    "Sorensen",
    "Tanaka",
    "Ulvang",
    "Varga",
    "Whitcombe",
    "Yilmaz",
    "Zeller",
    "Abernathy",
    "Bekele",
    "Carrow",
    "Delacroix",
    "Eastwick",
    "Fontaine",
    "Gallardo",
    "Haverkamp",
    "Iordanou",
    "Jablonski",
    "Kettering",
    "Lambrecht",
    "Marchetti",
    "Nakamura",
    "Ostrander",
    "Pellegrini",
    "Rutherford",
    "Szabo",
    "Thorsen",
    "Underhill",
    "Vasquez",
    "Weatherby",
]

# Organisations: several tokens each, some with a type word ("Bank", "Motors", "United").
ORGANISATIONS = [
    "Northwind Bank",
    "Kestrel Motors",
    "Bluefield Energy",
    "Harbor Line",
    "Orion Telecom",
    "Silverleaf Insurance",
    "Greywater Mining Corp",
    "Alder Foods",
    "Vantage Airlines",
    "Copperhill Steel",
    "Meridian Press",
    "Redstone Pharmaceuticals",
    "Lakeside United",
    "Ironbridge Rovers",
    "Falcon City",
    "Summit Athletic",
    "People 's Reform Party",
    "Green Valley Alliance",
    "National Farmers Union",
    "Central Statistics Office",
    "Maritime Safety Board",
    "Eastgate Holdings",
    "Pinecrest Software",
    "Tallis & Webb",
    "Marlow Group",
    "Brightwater Chemicals",
    "Stonegate Capital",
    "Westmoor Railways",
    "Oakridge University",
    "Cobalt Systems",
    "Atlas Shipping",
    "Northern Grain Board",
]

LOCATIONS = [
    "Varnholm",
    "Kessington",
    "Port Aldric",
    "Lindau Bay",
    "Marrowby",
    "Ostrava Hills",
    "Belcourt",
    "Tarvish",
    "New Corwen",
    "Saint Elmar",
    "Dunmere",
    "Rovenna",
    "Kalvik",
    "Easterly",
    "Montbrisa",
    "Hallowmere",
    "Zelany",
    "Ardenfall",
    "Cape Torrin",
    "Quillon",
    "Brask",
    "Veldmark",
    "Lower Ashby",
    "Pellmouth",
    "Istrova",
    "Garrow",
    "Sundholm",
    "Felicia Island",
    "Norrland",
    "Karsova",
    "Mirabel",
    "Thessany",
]

# MISC: nationalities (one token) and events / products / treaties (several tokens).
NATIONALITIES = [
    "Varnish",
    "Karsovan",
    "Norrlandic",
    "Thessanian",
    "Istrovan",
    "Belcourtian",
    "Zelanian",
    "Rovennese",
    "Pellish",
    "Garrowan",
]

EVENTS = [
    "Winter Cup",
    "Harbor Open",
    "Golden Sail Trophy",
    "Northern Games",
    "Spring Classic",
    "Ardenfall Marathon",
    "Veldmark Accord",
    "Kestrel K7",
    "Ostrava Grand Prix",
    "Quillon Festival",
    "Montbrisa Declaration",
    "Atlas Series",
    "Dunmere Derby",
    "Sundholm Regatta",
]

ENTITY_SLOTS = {"PER": "PER", "ORG": "ORG", "LOC": "LOC", "NAT": "MISC", "EVENT": "MISC"}

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]

# Slots: {PER} {ORG} {LOC} and {NAT}/{EVENT} (both MISC) are entities;
# {DAY} {MONTH} {NUM} {SMALL} {SCORE} are not.
TEMPLATES = [
    "{PER} said on {DAY} that {ORG} would open an office in {LOC} .",
    "{ORG} shares rose {NUM} percent in {LOC} on {DAY} .",
    "{ORG} shares fell {SMALL} percent after the company cut its forecast .",
    "The {NAT} delegation arrived in {LOC} on {DAY} .",
    "{LOC} beat {LOC} {SCORE} in the {EVENT} final .",
    "Police in {LOC} said a {SMALL}-year-old man was arrested on {DAY} .",
    '" We are very happy with the result , " said {PER} of {ORG} .',
    "Talks between {ORG} and {ORG} ended without agreement , a spokesman said .",
    "In {MONTH} , {PER} will travel to {LOC} for talks with {PER} .",
    "{PER} ( {LOC} ) {NUM}",
    "{PER} , the {NAT} champion , won in {LOC} .",
    "The contract was signed on {DAY} by {PER} .",
    "Results of the {EVENT} on {DAY} :",
    "{LOC} {SCORE} {LOC}",
    "{ORG} said it expected profits of {NUM} million in {MONTH} .",
    "Officials from {LOC} and {LOC} met in {LOC} .",
    "{PER} resigned as chairman of {ORG} on {DAY} .",
    "The {NAT} government said it would hold elections in {MONTH} .",
    "Heavy rain closed roads around {LOC} , police said .",
    "Shares in {ORG} were unchanged at {NUM} .",
    "{ORG} beat {ORG} {SCORE} on {DAY} .",
    "Prices were mostly higher on {DAY} , dealers in {LOC} said .",
    "The company , based in {LOC} , employs {NUM} people .",
    "A spokeswoman for {ORG} declined to comment .",
    "{PER} scored twice as {ORG} won {SCORE} .",
    "Thousands of {NAT} fans travelled to {LOC} for the match .",
    "Last year {ORG} sold {NUM} cars in {LOC} .",
    "The minister , {PER} , told reporters in {LOC} that talks would continue .",
    'Asked about the {EVENT} , {PER} said : " It is too early to say . "',
    "{LOC} police are looking for {PER} , who disappeared on {DAY} .",
    "Trading was quiet in {LOC} ahead of the holiday on {DAY} .",
    "{PER} and {PER} will meet again in {MONTH} .",
    "There was no comment from {ORG} or from {PER} .",
    "Temperatures in {LOC} fell to minus {SMALL} degrees overnight .",
    "Under the deal , {ORG} will buy {SMALL} percent of {ORG} .",
    "The {EVENT} was postponed until {MONTH} because of bad weather .",
    "Sales rose to {NUM} units , the company said on {DAY} .",
    "The report was written by {PER} , an economist at {ORG} .",
    "{PER} led the {EVENT} after the first round in {LOC} .",
    "On {DAY} the {ORG} board approved the plan .",
    "Fighting was reported near {LOC} , close to the border with {LOC} .",
    "Visitors to {LOC} rose {SMALL} percent in {MONTH} .",
    "Inflation was steady at {SMALL} percent , the {ORG} said .",
    "The new line will link {LOC} with {LOC} .",
    "{NAT} exports fell sharply last month .",
    "Standings after {DAY} 's matches :",
]


class NamePool:
    """Names of one entity class split into a seen part and a held-out part."""

    def __init__(self, names: list[str], rng: random.Random) -> None:
        shuffled = sorted(names)
        rng.shuffle(shuffled)
        cut = round(len(shuffled) * HELD_OUT)
        self.unseen = shuffled[:cut]
        self.seen = shuffled[cut:]

    def draw(self, rng: random.Random, allow_unseen: bool) -> str:
        """Pick a name (held-out ones only when ``allow_unseen``)."""
        if allow_unseen and rng.random() < UNSEEN_RATE:
            return rng.choice(self.unseen)
        return rng.choice(self.seen)


class Generator:
    """Fills templates; one instance per corpus, its name split fixed by the seed."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)
        self.first = NamePool(FIRST_NAMES, rng)
        self.last = NamePool(LAST_NAMES, rng)
        self.orgs = NamePool(ORGANISATIONS, rng)
        self.locs = NamePool(LOCATIONS, rng)
        self.nationalities = NamePool(NATIONALITIES, rng)
        self.events = NamePool(EVENTS, rng)

    def person(self, rng: random.Random, unseen: bool) -> list[str]:
        """A person name: "First Last", "Last" or "First X. Last"."""
        roll = rng.random()
        last = self.last.draw(rng, unseen)
        if roll < 0.25:
            return [last]
        first = self.first.draw(rng, unseen)
        if roll < 0.35:
            return [first, f"{rng.choice('ABCDEFGHJKLMNPRST')}.", last]
        return [first, last]

    def entity(self, slot: str, rng: random.Random, unseen: bool) -> list[str]:
        """Tokens of one entity of type ``slot``."""
        if slot == "PER":
            return self.person(rng, unseen)
        pools = {
            "ORG": self.orgs,
            "LOC": self.locs,
            "NAT": self.nationalities,
            "EVENT": self.events,
        }
        pool = pools[slot]
        return pool.draw(rng, unseen).split()

    def sentence(self, rng: random.Random, unseen: bool) -> list[tuple[str, str]]:
        """One tagged sentence from a random template."""
        pairs: list[tuple[str, str]] = []
        for word in rng.choice(TEMPLATES).split():
            slot = word.strip("{}")
            if word.startswith("{") and slot in ENTITY_SLOTS:
                tokens = self.entity(slot, rng, unseen)
                label = ENTITY_SLOTS[slot]
                pairs.append((tokens[0], f"B-{label}"))
                pairs.extend((token, f"I-{label}") for token in tokens[1:])
            elif word == "{DAY}":
                pairs.append((rng.choice(DAYS), "O"))
            elif word == "{MONTH}":
                pairs.append((rng.choice(MONTHS), "O"))
            elif word == "{NUM}":
                pairs.append((str(rng.choice((rng.randint(2, 99), rng.randint(100, 9999)))), "O"))
            elif word.startswith("{SMALL}"):
                pairs.append((str(rng.randint(2, 40)) + word[len("{SMALL}") :], "O"))
            elif word == "{SCORE}":
                pairs.append((f"{rng.randint(0, 5)}-{rng.randint(0, 5)}", "O"))
            else:
                pairs.append((word, "O"))
        return pairs

    def corpus(self, split: str, size: int, seed: int) -> str:
        """The text of one split: ``size`` sentences in documents of 6-14 sentences."""
        rng = random.Random(seed)
        unseen = split != "train"
        lines: list[str] = []
        left_in_doc = 0
        for _ in range(size):
            if left_in_doc == 0:
                lines.extend(("-DOCSTART- O", ""))
                left_in_doc = rng.randint(6, 14)
            lines.extend(f"{token} {tag}" for token, tag in self.sentence(rng, unseen))
            lines.append("")
            left_in_doc -= 1
        return "\n".join(lines) + "\n"


def generate(out_dir: Path, seed: int = SEED) -> list[Path]:
    """Write ``train.txt``, ``dev.txt`` and ``test.txt`` into ``out_dir``.

    Args:
        out_dir: Target directory (created if needed).
        seed: Random seed; the default reproduces the committed files.

    Returns:
        The paths written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    generator = Generator(seed)
    written = []
    for offset, (split, size) in enumerate(SIZES.items(), 1):
        path = out_dir / f"{split}.txt"
        path.write_bytes(generator.corpus(split, size, seed + offset).encode("utf-8"))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_out = Path(__file__).resolve().parent.parent / "data"
    parser.add_argument("--out", type=Path, default=default_out, help="output directory")
    parser.add_argument("--seed", type=int, default=SEED, help="random seed")
    args = parser.parse_args(argv)
    for path in generate(args.out, args.seed):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
