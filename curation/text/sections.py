"""Report section headers: FINDINGS / IMPRESSION / INDICATION / COMPARISON / HISTORY / TECHNIQUE ...

A header is a known name followed by a colon ("FINDINGS: No pneumothorax." -- text may follow on
the same line) at the start of the text, of a line or of a sentence, or a known name alone on an
upper-case line ("IMPRESSION"). Everything up to the next header belongs to the section.

Findings mentioned in :data:`NON_FINDING_SECTIONS` (the clinical question, prior studies, the
technique) describe no finding of this study: they are kept as entities but do not make labels.
"""

from __future__ import annotations

import re

ALIASES: dict[str, str] = {}
for _name, _aliases in {
    "FINDINGS": "findings|finding|report|body of report",
    "IMPRESSION": "impression|impressions|conclusion|conclusions|summary|opinion|interpretation|diagnosis",
    "INDICATION": "indication|indications|clinical indication|reason for exam|reason for examination|"
                  "reason for study|reason for the exam|reason|clinical information|clinical data|"
                  "clinical question|clinical details|clinical notes",
    "HISTORY": "history|clinical history|medical history|hx|past medical history",
    "COMPARISON": "comparison|comparisons|prior studies|prior study|priors|comparison study|compare",
    "TECHNIQUE": "technique|examination|exam|procedure|study|type of examination|type of exam|views",
    "RECOMMENDATION": "recommendation|recommendations",
    "NOTIFICATION": "notification",
    "ADDENDUM": "addendum",
}.items():
    for _a in _aliases.split("|"):
        ALIASES[_a] = _name

SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(ALIASES.values()))
NON_FINDING_SECTIONS = frozenset({"INDICATION", "HISTORY", "COMPARISON", "TECHNIQUE"})

_MAX_WORDS = max(len(a.split()) for a in ALIASES)
_WORDS_BEFORE = re.compile(r"([A-Za-z]+(?:[ \t]+[A-Za-z]+){0,%d})[ \t]*$" % (_MAX_WORDS - 1))
_WORD = re.compile(r"[A-Za-z]+")
_ALT = "|".join(sorted((re.escape(a).replace(r"\ ", r"\s+") for a in ALIASES), key=len, reverse=True))
_LINE = re.compile(rf"^[ \t]*({_ALT})[ \t]*$", re.MULTILINE | re.IGNORECASE)


def _canonical(header: str) -> str:
    return ALIASES[" ".join(header.lower().split())]


def find_sections(text: str) -> list[tuple[int, int, str]]:
    """``[(header_start, header_end, NAME), ...]`` in text order; header_end is after the colon."""
    found: list[tuple[int, int, str]] = []
    colon = text.find(":")
    while colon >= 0:
        m = _WORDS_BEFORE.search(text, max(0, colon - 40), colon)
        if m:
            words = [(w.start(), w.group()) for w in _WORD.finditer(m.group(1))]
            for k in range(min(len(words), _MAX_WORDS), 0, -1):  # longest alias that ends here
                header = " ".join(w for _, w in words[-k:])
                name = ALIASES.get(header.lower())
                if name is None:
                    continue
                start = m.start(1) + words[-k][0]
                before = text[:start].rstrip(" \t")
                if not before or before[-1] in ".!?;:\n" or header.isupper():
                    found.append((start, colon + 1, name))
                break
        colon = text.find(":", colon + 1)
    if "\n" in text:
        for m in _LINE.finditer(text):
            if m.group(1).isupper():
                found.append((m.start(1), m.end(), _canonical(m.group(1))))
    found.sort()
    return found


def section_at(sections: list[tuple[int, int, str]], char: int) -> str | None:
    """Name of the section that holds character offset ``char`` (None before any header)."""
    name = None
    for start, _, sec in sections:
        if start > char:
            break
        name = sec
    return name
