"""Licence names as the web sources spell them -> one short, SPDX-like name.

Sources write the same licence many ways: Wikimedia's ``LicenseShortName`` ("CC BY-SA 4.0",
"Public domain", "CC0"), Open-i's ``ccLicense`` codes ("byncnd"), PMC's ``license`` attribute
("CC BY-NC") and JATS ``<license xlink:href>`` / ``<ali:license_ref>`` URLs. :func:`normalise`
maps each to ``CC-BY-SA-4.0`` / ``CC0-1.0`` / ``PD`` / ``CC-BY-NC`` (version kept when known);
:func:`family` drops the version ("CC-BY-SA"), which is what ``--licences`` filters on.
Unrecognised names come back as ``None``: an unknown licence is never guessed to be open.
"""

from __future__ import annotations

import re

#: Families a user may name in ``--licences`` (comma separated).
FAMILIES = ("CC0", "PD", "CC-BY", "CC-BY-SA", "CC-BY-ND", "CC-BY-NC", "CC-BY-NC-SA", "CC-BY-NC-ND")

#: The open families that allow redistribution of derivatives (the default filter).
OPEN_FAMILIES = ("CC0", "PD", "CC-BY", "CC-BY-SA")

_ELEMENTS = {"by", "sa", "nc", "nd"}
_ORDER = ("by", "nc", "nd", "sa")


def _cc_name(parts: list[str], version: str | None) -> str | None:
    parts = [p for p in parts if p]
    if not parts or set(parts) - _ELEMENTS or "by" not in parts:
        return None
    ordered = [p for p in _ORDER if p in parts]
    # CC spells BY-NC-SA and BY-NC-ND (nc before sa/nd)
    name = "CC-" + "-".join(p.upper() for p in ordered)
    return f"{name}-{version}" if version else name


def normalise(name: str | None) -> str | None:
    """``"CC BY-SA 4.0"`` -> ``"CC-BY-SA-4.0"``; a licence URL works too; unknown -> ``None``."""
    if not name:
        return None
    s = name.strip().lower()
    if not s:
        return None
    # licence URLs: creativecommons.org/licenses/by-nc/4.0/ , /publicdomain/zero/1.0/ , /publicdomain/mark/1.0/
    m = re.search(r"creativecommons\.org/licen[cs]es/([a-z-]+)/(\d(?:\.\d)?)?", s)
    if m:
        return _cc_name(m.group(1).split("-"), m.group(2))
    m = re.search(r"creativecommons\.org/publicdomain/(zero|mark)/(\d\.\d)?", s)
    if m:
        return f"CC0-{m.group(2)}" if m.group(1) == "zero" and m.group(2) else ("CC0" if m.group(1) == "zero" else "PD")
    if s.startswith(("http://", "https://")):
        return None
    s = s.replace("_", " ")
    if s in {"pd", "public domain", "publicdomain", "pd-self", "pd-us", "pd-usgov", "pd-old", "pdm"} or s.startswith(
        ("public domain", "pd-")
    ):
        return "PD"
    m = re.fullmatch(r"(?:cc[ -]?0|cc[ -]zero|zero)(?:[ -]?(\d\.\d))?(?: universal)?", s)
    if m:
        return f"CC0-{m.group(1)}" if m.group(1) else "CC0"
    # "cc by-sa 4.0", "cc-by-nc-nd-3.0", "cc by 2.5 au" (ported), "by-nc"
    m = re.fullmatch(r"(?:cc[ -]?)?((?:by|sa|nc|nd)(?:[ -](?:by|sa|nc|nd))*)(?:[ -](\d\.\d))?(?:[ -][a-z]{2,3})?", s)
    if m:
        return _cc_name(re.split(r"[ -]", m.group(1)), m.group(2))
    # Open-i's ccLicense codes run the elements together: "byncnd", "bysa"
    m = re.fullmatch(r"(by)((?:nc|nd|sa)*)", s)
    if m:
        return _cc_name(["by", *re.findall(r"nc|nd|sa", m.group(2))], None)
    return None


_TEXT_ELEMENTS = (("nc", r"non[- ]?commercial"), ("nd", r"no[- ]?deriv"), ("sa", r"share[- ]?alike"))


def from_text(text: str | None) -> str | None:
    """A licence stated only in prose -> its normalised name; ``None`` when no CC licence is named.

    PLoS and older BMC articles say "distributed under the terms of the Creative Commons Attribution
    License" with no link. Recognised: a creativecommons.org URL in the text, an abbreviation
    ("CC BY-NC 4.0", "CC0") or the long name ("Creative Commons Attribution-NonCommercial-NoDerivatives
    4.0 International", "... Attribution Non-Commercial Licence 4.0"). Anything else (a publisher's
    own terms, "free to read") is not guessed.
    """
    if not text:
        return None
    s = " ".join(text.lower().split())
    for m in re.finditer(r"creativecommons\.org/[a-z0-9./-]+", s):
        name = normalise("https://" + m.group(0))
        if name:
            return name
    if re.search(r"\bcc[ -]?0\b|\bcc[ -]zero\b|creative commons zero|creative commons cc0", s):
        return "CC0"
    m = re.search(r"\bcc[ -](by(?:[ -](?:nc|nd|sa))*)\b(?:[ -](\d\.\d)\b)?", s)
    if m:
        return _cc_name(re.split(r"[ -]", m.group(1)), m.group(2))
    m = re.search(r"creative commons(?: public licen[cs]e)? attribution\b", s)
    if not m:
        return None
    tail = s[m.end():]
    cut = re.search(r"licen[cs]e|[,;()]|\bwhich\b|\bthat\b|\.(?!\d)", tail)
    name_part = tail[: cut.start()] if cut else tail[:80]
    parts = ["by"] + [el for el, pat in _TEXT_ELEMENTS if re.search(pat, name_part)]
    version = re.search(r"\b(\d\.\d)\b", name_part)
    if version is None and cut is not None and cut.group(0).startswith("licen"):
        version = re.match(r"licen[cs]es?,? (?:version )?(\d\.\d)\b", tail[cut.start():])
    return _cc_name(parts, version.group(1) if version else None)


def family(name: str | None) -> str | None:
    """``"CC-BY-SA-4.0"`` -> ``"CC-BY-SA"``; accepts raw names too (normalised first)."""
    norm = normalise(name)
    if not norm:
        return None
    return re.sub(r"-\d(\.\d)?$", "", norm)


def url_for(name: str | None) -> str | None:
    """The canonical deed URL of a normalised CC name (``None`` for PD, unknown or versionless)."""
    if not name:
        return None
    m = re.fullmatch(r"CC-((?:BY)(?:-(?:NC|ND|SA))*)-(\d\.\d)", name)
    if m:
        return f"https://creativecommons.org/licenses/{m.group(1).lower()}/{m.group(2)}/"
    m = re.fullmatch(r"CC0-(\d\.\d)", name)
    if m:
        return f"https://creativecommons.org/publicdomain/zero/{m.group(1)}/"
    return None


def parse_filter(spec: str | None) -> frozenset[str]:
    """``"CC-BY,CC-BY-SA,CC0,PD"`` -> families; raises ``ValueError`` naming an unknown entry."""
    if not spec:
        return frozenset(OPEN_FAMILIES)
    out = set()
    for raw in spec.split(","):
        raw = raw.strip()
        if not raw:
            continue
        fam = raw.upper().replace(" ", "-")
        if fam not in FAMILIES:
            fam = family(raw) or ""
        if fam not in FAMILIES:
            raise ValueError(f"unknown licence '{raw}' in --licences; choose from: {', '.join(FAMILIES)}")
        out.add(fam)
    return frozenset(out)


def allowed(name: str | None, families: frozenset[str]) -> bool:
    """True when the licence's family is in ``families`` (unknown licences never are)."""
    fam = family(name)
    return fam is not None and fam in families
