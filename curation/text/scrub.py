"""Identifier scrub of free text, before any text leaves the machine (e.g. for annotation).

:func:`scrub_text` replaces, with typed placeholders:

=========  ====================================================================  ===========
kind       what                                                                  placeholder
=========  ====================================================================  ===========
name       a name after a title (Dr., Mr., Mrs., Ms., Prof.) or a label            ``[NAME]``
           (Patient:, Name:, Physician:, Dictated by: ...)
date       numeric (01/02/2020, 2020-01-02, 1.2.20), spelled (Jan 2, 2020,        ``[DATE]``
           2nd January 2020, March 2019)
phone      (317) 555-0123, 317-555-0123, +1 317 555 0123                          ``[PHONE]``
id         MRN / accession / record / patient id / SSN numbers, 7+ digit runs      ``[ID]``
address    street addresses (12 Main Street), US state + ZIP, P.O. boxes           ``[ADDRESS]``
other      e-mail addresses                                                       ``[EMAIL]``
age        ages over 89 ("92-year-old", "age 95", "91 yo"): the number only       ``[AGE]``
=========  ====================================================================  ===========

Each replacement is reported as a flag shaped like :data:`manifests.schema.PHI_TYPE`:
``{"where": "text", "kind", "left": char offset in the ORIGINAL text, "top": None,
"width": length, "height": None, "confidence", "redacted": True}`` -- the identifier text is
never stored. Medical content is left alone: "T4 vertebra", "5 mm nodule", "3 views",
"16.2/24.7", "PA and lateral", a bare "Dr." or de-identified "XXXX" stay as they are.
"""

from __future__ import annotations

import re

from curation.text.sections import ALIASES

PLACEHOLDERS = {"name": "[NAME]", "date": "[DATE]", "phone": "[PHONE]", "id": "[ID]",
                "address": "[ADDRESS]", "other": "[EMAIL]", "age": "[AGE]"}

_NAME_WORD = r"(?:[A-Z][a-zA-Z'\-]+|[A-Z]\.?)"
#: Capitalised words after a label that are not names.
_NOT_NAMES = {"Male", "Female", "Man", "Woman", "Unknown", "None", "Not", "No", "The", "Chest",
              "Patient", "Pa", "Ap", "Lateral", "Frontal", "Portable", "Xxxx", "History", "Mrn", "Dob",
              "Id", "Ssn", "Acc", "Accession", "Age", "Sex", "Date", "Exam", "Ct", "Mri"}
_NOT_NAMES |= {" ".join(w.title() for w in a.split()) for a in ALIASES if " " not in a}

_MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
          r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?")
_DAY = r"(?:[0-2]?\d|3[01])(?:st|nd|rd|th)?"
_YEAR = r"(?:19|20)\d{2}"
_STATES = ("AL|AK|AZ|AR|CA|CO|CT|DE|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|"
           "NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|DC")
_STREET = (r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Court|Ct|Way|Place|Pl|"
           r"Parkway|Pkwy|Terrace|Circle|Highway|Hwy)")

#: (kind, compiled regex, group holding the identifier). Order only matters for equal spans.
PATTERNS: tuple[tuple[str, re.Pattern, str | int], ...] = (
    ("other", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), 0),
    ("name", re.compile(rf"\b(?:Dr|Doctor|Mr|Mrs|Ms|Miss|Mx|Prof|Professor)\.?[ \t]+"
                        rf"(?P<n>{_NAME_WORD}(?:[ \t]+{_NAME_WORD}){{0,2}})"), "n"),
    ("name", re.compile(r"(?im)\b(?:patient(?:'s)?[ \t]+name|patient|name|physician|referring[ \t]+"
                        r"physician|ordering[ \t]+physician|attending|radiologist|dictated[ \t]+by|"
                        r"signed[ \t]+by|reported[ \t]+by|read[ \t]+by|reviewed[ \t]+by|"
                        r"technologist|transcribed[ \t]+by|provider)[ \t]*:[ \t]*"
                        r"(?-i:(?P<n>[A-Z][a-zA-Z'\-]+(?:,?[ \t](?:[A-Z][a-zA-Z'\-]+|[A-Z]\.?(?![a-zA-Z]))){0,3}))"), "n"),
    ("date", re.compile(r"(?<![\w./-])[0-3]?\d[/.-](?:[0-3]?\d)[/.-](?:\d{4}|\d{2})(?![\w/-]|\.\d)"), 0),
    ("date", re.compile(r"(?<![\w./-])(?:19|20)\d{2}[/.-][01]?\d[/.-][0-3]?\d(?![\w/-]|\.\d)"), 0),
    ("date", re.compile(rf"\b{_MONTH}[ \t]+{_DAY}(?:,?[ \t]+{_YEAR})?\b"), 0),
    ("date", re.compile(rf"\b{_DAY}[ \t]+(?:of[ \t]+)?{_MONTH},?[ \t]+{_YEAR}\b"), 0),
    ("date", re.compile(rf"\b{_MONTH},?[ \t]+{_YEAR}\b"), 0),
    ("phone", re.compile(r"(?<![\w/.])(?:\+?1[ \t.-]?)?(?:\(\d{3}\)[ \t]*|\d{3}[ \t.-])\d{3}[ \t.-]\d{4}"
                         r"(?:[ \t]*(?:x|ext\.?)[ \t]*\d{1,5})?(?![\w/])"), 0),
    ("id", re.compile(r"(?i)\b(?:MRN|MR[ \t]*#|medical[ \t]+record(?:[ \t]+(?:number|no\.?|#))?|"
                      r"accession(?:[ \t]+(?:number|no\.?|#))?|acc[ \t]*#|patient[ \t]+id|"
                      r"record(?:[ \t]+(?:number|no\.?|#))|case[ \t]+(?:number|no\.?|#)|"
                      r"SSN|social[ \t]+security(?:[ \t]+number)?|ID|study[ \t]+id|exam[ \t]+(?:number|#))"
                      r"[ \t]*[:#]?[ \t]*(?P<n>[A-Z]{0,4}-?\d[\d-]{3,}[A-Z]?)"), "n"),
    ("id", re.compile(r"(?<![\w.-])\d{3}-\d{2}-\d{4}(?![\w-])"), 0),
    ("id", re.compile(r"(?<![\w.,/-])\d{7,}(?![\w.,/-]\d?)"), 0),
    ("address", re.compile(rf"\b\d{{1,6}}[ \t]+(?:[NSEW]\.?[ \t]+)?(?:[A-Z][a-z]+[ \t]+){{1,3}}{_STREET}\b\.?"), 0),
    ("address", re.compile(rf"\b(?:[A-Z][a-z]+[ \t]){{0,2}}(?:[A-Z][a-z]+,[ \t]*)?(?:{_STATES})[ \t]+\d{{5}}"
                           rf"(?:-\d{{4}})?\b"), 0),
    ("address", re.compile(r"(?i)\bP\.?[ \t]*O\.?[ \t]+Box[ \t]+\d+\b"), 0),
    ("age", re.compile(r"(?i)\b(?P<n>\d{2,3})[ \t]*-?[ \t]*(?:years?|yrs?|y)[ \t]*-?[ \t]*old\b"), "n"),
    ("age", re.compile(r"(?i)\b(?:age|aged)[ \t]*:?[ \t]*(?P<n>\d{2,3})\b"), "n"),
    ("age", re.compile(r"(?i)\b(?P<n>\d{2,3})[ \t]*(?:yo|y/o|y\.o\.|yr[ \t]+old)(?![\w/])"), "n"),
)


def _find(text: str) -> list[tuple[int, int, str]]:
    found: list[tuple[int, int, str]] = []
    for kind, rx, group in PATTERNS:
        for m in rx.finditer(text):
            start, end = m.span(group)
            if start < 0 or end <= start:
                continue
            value = m.group(group)
            if kind == "age" and int(value) <= 89:
                continue
            if kind == "name":
                words = [w.strip(",.-") for w in value.split()]
                while words and words[-1].title() in _NOT_NAMES:
                    words.pop()
                if not words or words[0].title() in _NOT_NAMES or all(w.upper() == "XXXX" for w in words):
                    continue
                end = start + len(value.rstrip(" \t,"))
                # cut the trailing non-name words ("Dr. Smith The ..." -> "Smith")
                kept = " ".join(words)
                pos = text.find(words[-1], start, end)
                end = pos + len(words[-1]) if pos >= 0 and kept else end
            found.append((start, end, kind))
    # longest first, then earliest; drop overlaps
    found.sort(key=lambda s: (s[0] - s[1], s[0]))
    taken: list[tuple[int, int, str]] = []
    for span in found:
        if all(span[1] <= t[0] or span[0] >= t[1] for t in taken):
            taken.append(span)
    taken.sort()
    return taken


def scrub_text(text: str | None) -> tuple[str, list[dict]]:
    """``(scrubbed text, phi flags)``; offsets in the flags refer to the input text."""
    if not text:
        return text or "", []
    spans = _find(text)
    out, flags, pos = [], [], 0
    for start, end, kind in spans:
        out.append(text[pos:start])
        out.append(PLACEHOLDERS[kind])
        pos = end
        flags.append({"where": "text", "kind": "other" if kind == "other" else kind, "left": start,
                      "top": None, "width": end - start, "height": None, "confidence": 1.0,
                      "redacted": True})
    out.append(text[pos:])
    return "".join(out), flags
