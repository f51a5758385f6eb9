"""Which OCR words are identifiers: names, dates, ids, ages (+ a deny-list from headers).

Rules work on single words and on their line (words on one text line): a line that holds an
identifier usually *is* the burned-in patient banner, so its other words (sex markers like
``[M]``, a second name) are flagged too -- except field labels such as ``DOB:``, ``Name:``,
which carry no identity. Words in :data:`ALLOWED` (positioning and technique annotations:
``PORTABLE``, ``AP``, ``Semi-Upright`` ...) are never names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from curation.ocr.tesseract import Word

#: Annotation words burned into radiographs that identify nobody.
ALLOWED = frozenset("""
portable semi-upright upright supine erect prone standing sitting decubitus ap pa lat lateral oblique
left right l r chest abdomen pelvis head skull spine axial coronal sagittal scout localizer
inspiration expiration pre post contrast with without after before image series slice page
kv kvp ma mas ms mm cm wl ww c w hfs ffs hfp ffp ct mr cr dx us pt nm xa rf mg pet spect
view frontal bedside mobile trauma marker anterior posterior superior inferior ant post sup inf
rt lt bilateral study exam the and of for in on at to no yes unknown anonymous anon
flair dwi adc swi stir mip mpr minip tof pdw fiesta gre tse fse bold dti pwi perfusion diffusion
roi hu suv max min mean std avg area vol fov tr te ti flip thk loc
day days week weeks month months year years case fig figure panel arrow arrowhead
lesion mass tumor tumour nodule normal abnormal baseline follow pre-op post-op preop postop
sag cor tra trans transverse long echo doppler color colour power gain depth freq hz mhz khz db fps
scale bar cine phase arterial venous portal delayed late early native enhanced plain
""".split())

#: Field labels: say what follows, are not themselves identifiers.
LABELS = frozenset("""
name patient pt dob birth born date time age sex gender id mrn acc accession no nr number study
series institution hospital physician dr doctor ref referring operator tech sn
""".split())

_CONFUSE = str.maketrans({"O": "0", "o": "0", "Q": "0", "D": "0", "I": "1", "l": "1", "|": "1", "S": "5", "B": "8", "Z": "2", "U": "0"})
_DATE_NUM = re.compile(r"^\d{1,4}[./\-]\d{1,2}[./\-]\d{2,4}$")
_DATE_COMPACT = re.compile(r"^(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$")
_MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec"
_DATE_MON = re.compile(rf"^(\d{{1,2}}[-./ ]?({_MONTHS})[a-z]*[-./ ]?\d{{2,4}}|({_MONTHS})[a-z]*[-./]?\d{{1,2}},?[-./]?\d{{2,4}})$", re.I)
_AGE = re.compile(r"^\d{1,3}\s?(y|yr|yrs|yo|years?|m|mo|w|wk|d)$", re.I)
_AGE_UNIT = re.compile(r"^(y|yr|yrs|yo|years?|year-old|y/o)$", re.I)
_SEX = re.compile(r"^[\[(]?[MFUO][\])]?$")
_STRIP = re.compile(r"^[\W_]+|[\W_]+$")


def _core(text: str) -> str:
    return _STRIP.sub("", text)


def classify_token(text: str, conf: float = 100.0, deny: frozenset[str] = frozenset()) -> str | None:
    """The identifier kind of one word (name, date, id, age) or None."""
    t = _core(text)
    if not t:
        return None
    low = t.lower()
    if deny and (low in deny or _near_deny(low, deny)):
        return "name" if t.isalpha() else ("date" if _looks_date(t) else "id")
    if _looks_date(t):
        return "date"
    if _AGE.match(t):
        return "age"
    digits = sum(c.isdigit() for c in t)
    if digits >= 5 and digits >= 0.6 * len(t):
        return "id"
    if digits >= 3 and any(c.isalpha() for c in t) and len(t) >= 6 and re.fullmatch(r"[A-Za-z0-9\-]+", t):
        return "id"
    if "^" in text and all(p.isalpha() for p in text.split("^") if p):
        return "name"
    if low in ALLOWED or low in LABELS or text.endswith(":"):
        return None
    if t.isalpha() and len(t) >= 3 and conf >= 60:
        if t.isupper() or (t[0].isupper() and t[1:].islower() and conf >= 85):
            return "name"
    return None


def _looks_date(t: str) -> bool:
    if _DATE_NUM.match(t) or _DATE_COMPACT.match(t) or _DATE_MON.match(t):
        return True
    fixed = t.translate(_CONFUSE)
    return bool(_DATE_NUM.match(fixed)) and sum(c.isdigit() for c in t) >= 4


def _near_deny(low: str, deny: frozenset[str]) -> bool:
    if len(low) < 5:
        return False
    for d in deny:
        if abs(len(d) - len(low)) <= 1 and len(d) >= 5 and _edit1(low, d):
            return True
    return False


def _edit1(a: str, b: str) -> bool:
    """True when a and b differ by at most one edit (OCR misreads one character)."""
    if a == b:
        return True
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) <= 1
    if len(a) > len(b):
        a, b = b, a
    for i in range(len(b)):
        if a == b[:i] + b[i + 1:]:
            return True
    return False


def lines(words: Sequence[Word]) -> list[list[Word]]:
    """Group words into text lines (overlapping vertical extent, horizontally close)."""
    out: list[list[Word]] = []
    for w in sorted(words, key=lambda w: (w.top, w.left)):
        cy = w.top + w.height / 2
        for line in out:
            ref = line[-1]
            same_row = abs((ref.top + ref.height / 2) - cy) <= 0.6 * max(ref.height, w.height)
            near = w.left - (ref.left + ref.width) <= 4 * max(ref.height, w.height)
            if same_row and near and w.left >= ref.left:
                line.append(w)
                break
        else:
            out.append([w])
    return out


def deny_set(values: Iterable[str]) -> frozenset[str]:
    return frozenset(_core(v).lower() for v in values if len(_core(v)) >= 2)


def find_identifiers(
    words: Sequence[Word], deny: Iterable[str] = (), *, min_conf: float = 40.0, min_height: int = 7
) -> list[tuple[Word, str]]:
    """(word, kind) for each word judged an identifier, line context included.

    ``min_height``: a capitalised "name" shorter than this (input pixels) is OCR reading texture.
    """
    dset = deny_set(deny)
    flagged: list[tuple[Word, str]] = []
    for line in lines(words):
        kinds: list[str | None] = []
        for w in line:
            kind = None
            for reading in (w.text, *w.alternatives):
                kind = classify_token(reading, w.confidence, dset)
                if kind:
                    break
            if kind == "name" and w.height < min_height and _core(w.text).lower() not in dset:
                kind = None  # a few-pixel "word" in anatomy texture, not legible text
            kinds.append(kind)
        # "12 MAR 2015", "Jan 5, 2012": a date split over two or three words
        for n in (3, 2):
            for i in range(len(line) - n + 1):
                if _DATE_MON.match("".join(_core(x.text) for x in line[i:i + n])):
                    kinds[i:i + n] = ["date"] * n
        # "45 Y": an age split over two words
        for i in range(len(line) - 1):
            if _core(line[i].text).isdigit() and _AGE_UNIT.match(_core(line[i + 1].text)):
                kinds[i] = kinds[i + 1] = "age"
        if not any(kinds):
            continue
        for w, kind in zip(line, kinds):
            if kind:
                flagged.append((w, kind))
                continue
            core = _core(w.text)
            if not core or w.text.endswith(":") or core.lower() in LABELS or core.lower() in ALLOWED:
                continue
            if _SEX.match(w.text.strip()):
                flagged.append((w, "other"))
            elif w.confidence >= min_conf and any(c.isalnum() for c in core) and len(core) >= 2:
                flagged.append((w, "other"))
    return flagged
