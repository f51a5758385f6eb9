"""``medharvest curate labels``: a CSV of reports -> a CSV of four-state labels.

One output row per input row, in order: the id column (``--id-column``, else ``row`` = the
1-based data row number), one column per finding of the vocabulary (``nih14``: the 14
ChestX-ray14 findings + No Finding; ``chexpert``: the CheXpert-14 observations) holding
``1`` / ``0`` / ``-1`` / empty (positive / negative / uncertain / not mentioned), and ``error``.

The text of a row is its ``--text-columns`` joined in the given order; a column named like a
report section (``findings``, ``impression``, ``indication`` ...) is prefixed with its header, so
the section rules apply (a finding named in the indication makes no label).

Bad rows are data: a row whose text is not valid UTF-8 or that has no text gets empty labels
and an ``error``; the rest goes on. Unknown columns or vocabulary are a :class:`UsageError`
before any work. The output is written atomically (a temp file renamed at the end).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

from manifests.errors import UsageError
from manifests.io import atomic_path
from manifests.labels import state_to_numeric, vocabulary as vocabulary_names
from manifests.registry import did_you_mean

from curation.text.sections import ALIASES

NOT_UTF8 = "text is not valid UTF-8"
ROW_ID = "row"


def _read(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header + rows; undecodable bytes are kept as surrogates so each row can be judged alone."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise UsageError(f"cannot read reports file '{path}': {err.strerror}") from err
    text = raw.decode("utf-8-sig", errors="surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise UsageError(f"reports file '{path}' is empty (no header row)") from None
    except csv.Error as err:
        raise UsageError(f"reports file '{path}' is not a CSV file: {err}") from err
    rows = []
    try:
        for row in reader:
            if row:
                rows.append(row)
    except csv.Error as err:
        raise UsageError(f"reports file '{path}' is not a valid CSV file: {err}") from err
    return header, rows


def _is_utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _column(header: list[str], name: str, what: str) -> int:
    if name in header:
        return header.index(name)
    raise UsageError(f"unknown {what} '{name}'{did_you_mean(name, header)}")


def compose(parts: list[tuple[str, str]]) -> str:
    """Join ``(column, text)`` pairs; section-named columns get their header."""
    out = []
    for col, value in parts:
        value = (value or "").strip()
        if not value:
            continue
        section = ALIASES.get(" ".join(col.replace("_", " ").lower().split()))
        out.append(f"{section}: {value}" if section else value)
    return "\n".join(out)


def run_labels(reports_csv, text_columns, out, id_column=None, vocabulary="nih14") -> dict:
    """Label every row of ``reports_csv``; write ``out``; return a summary dict."""
    from curation.text.labeler import EMPTY_REPORT, label_reports

    names = vocabulary_names(vocabulary)  # UsageError with did-you-mean
    path = Path(reports_csv)
    if not path.is_file():
        raise UsageError(f"reports file '{path}' does not exist")
    if not text_columns:
        raise UsageError("give at least one --text-columns column")
    header, rows = _read(path)
    text_idx = [_column(header, c, "text column") for c in text_columns]
    id_idx = _column(header, id_column, "id column") if id_column else None
    id_name = id_column or ROW_ID

    texts: list[str | None] = []
    errors: list[str | None] = []
    ids: list[str] = []
    for n, row in enumerate(rows, start=1):
        cells = [(text_columns[k], row[i] if i < len(row) else "") for k, i in enumerate(text_idx)]
        ident = (row[id_idx] if id_idx is not None and id_idx < len(row) else str(n))
        ids.append(ident if _is_utf8(ident) else ident.encode("utf-8", "replace").decode("utf-8"))
        if not all(_is_utf8(v) for _, v in cells):
            texts.append(None)
            errors.append(NOT_UTF8)
            continue
        text = compose(cells)
        texts.append(text or None)
        errors.append(None if text else EMPTY_REPORT)

    results = label_reports([t or "" for t in texts])
    vocab_attr = "nih" if vocabulary == "nih14" else "chexpert"
    positives: Counter[str] = Counter()
    with atomic_path(out, suffix=".csv") as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow([id_name, *names, "error"])
            for ident, res, err in zip(ids, results, errors):
                states = getattr(res, vocab_attr)
                error = err or res.error
                cells = []
                for name in names:
                    value = None if error else state_to_numeric(states[name])
                    cells.append("" if value is None else str(value))
                    if value == 1:
                        positives[name] += 1
                w.writerow([ident, *cells, error or ""])
    n_err = sum(1 for r, e in zip(results, errors) if e or r.error)
    summary = {"rows": len(rows), "labelled": len(rows) - n_err, "errors": n_err,
               "not_utf8": errors.count(NOT_UTF8), "empty": errors.count(EMPTY_REPORT),
               "vocabulary": vocabulary, "out": str(out)}
    summary.update({f"positive:{k}": positives[k] for k in names if positives[k]})
    return summary
