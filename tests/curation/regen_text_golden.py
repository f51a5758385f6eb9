"""Regenerate the NER/labels golden file deliberately: ``uv run python tests/curation/regen_text_golden.py``.

Reads the hand-written reports in ``golden/text_reports.json`` (``[{"id", "text"}, ...]``, our own
sentences) and writes what the labeler outputs now to ``golden/text_labels.json``. Review the diff
before committing it: the golden test fails on any change of entities or labels.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

INPUT = HERE / "golden" / "text_reports.json"
OUTPUT = HERE / "golden" / "text_labels.json"


def current() -> list[dict]:
    from curation.text import label_reports

    reports = json.loads(INPUT.read_text(encoding="utf-8"))
    out = []
    for rep, res in zip(reports, label_reports([r["text"] for r in reports])):
        out.append({
            "id": rep["id"],
            "entities": [[e["text"], e["label"], e["negated"], e["uncertain"], e["section"]] for e in res.entities],
            "nih": {k: v for k, v in res.nih.items() if v != "not_mentioned"},
            "chexpert": {k: v for k, v in res.chexpert.items() if v != "not_mentioned"},
        })
    return out


def main() -> int:
    OUTPUT.write_text(json.dumps(current(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
