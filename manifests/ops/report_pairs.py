"""The datasheet's image-text section: captions and the consistency check (schema 2 columns).

:func:`pairs_section` returns HTML (or "" when the manifest has neither captions nor consistency
entries): caption counts by captioner, the consistency score distribution, flag counts, and the
worst pairs side by side -- image thumbnail next to its text and flags -- so a reader sees what the
check found without opening the manifest.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from pathlib import Path

from manifests.io import read_parts, read_schema

WORST = 8
TEXT_CHARS = 600


def _e(x) -> str:
    return html.escape("" if x is None else str(x))


def pairs_section(path: Path, thumb) -> str:
    names = set(read_schema(path).names)  # a file or a partitioned manifest
    if not {"captions", "consistency"} & names:
        return ""
    cols = [c for c in ("key", "image_path", "text", "captions", "consistency") if c in names]
    rows = read_parts(path, columns=cols).to_pylist()
    caps = Counter((c.get("captioner"), c.get("status")) for r in rows for c in (r.get("captions") or []))
    checked = [r for r in rows if r.get("consistency")]
    if not caps and not checked:
        return ""
    out = ['<h2 id="pairs">Image-text pairs: captions and consistency</h2>']
    if caps:
        out.append("<h3>Captions</h3><table><tr><th>captioner</th><th>status</th><th>captions</th></tr>" + "".join(
            f'<tr><td>{_e(k[0])}</td><td>{_e(k[1])}</td><td class="n">{n:,}</td></tr>' for k, n in sorted(caps.items(), key=str))
            + "</table>")
    if checked:
        scores = [r["consistency"]["score"] for r in checked]
        bins = Counter(min(int(s * 10), 9) for s in scores)
        flags = Counter(f.split(":")[0] for r in checked for f in r["consistency"]["flags"])
        checks = Counter(c for r in checked for c in r["consistency"]["checks"])
        flagged = sum(1 for r in checked if r["consistency"]["flags"])
        out.append(f"<p>{len(checked):,} of {len(rows):,} records checked; {flagged:,} flagged "
                   f"({flagged / len(checked):.1%}). Score 1.0 = nothing contradicts; each flag halves it.</p>")
        peak = max(bins.values())
        out.append("<h3>Score distribution</h3><table><tr><th>score</th><th>records</th><th></th></tr>" + "".join(
            f'<tr><td>{b / 10:.1f}-{(b + 1) / 10:.1f}</td><td class="n">{bins.get(b, 0):,}</td>'
            f'<td><div style="background:#5a7;height:10px;width:{int(300 * bins.get(b, 0) / peak)}px"></div></td></tr>'
            for b in range(10)) + "</table>")
        out.append("<h3>Checks run and flags</h3><table><tr><th>check</th><th>records</th></tr>" + "".join(
            f'<tr><td>{_e(k)}</td><td class="n">{n:,}</td></tr>' for k, n in checks.most_common()) + "</table>")
        if flags:
            out.append("<table><tr><th>flag</th><th>records</th></tr>" + "".join(
                f'<tr><td>{_e(k)}</td><td class="n">{n:,}</td></tr>' for k, n in flags.most_common()) + "</table>")
        worst = sorted((r for r in checked if r["consistency"]["flags"]), key=lambda r: (r["consistency"]["score"], r["key"]))
        if worst:
            out.append(f"<h3>Worst pairs ({min(WORST, len(worst))} of {len(worst):,} flagged)</h3>"
                       '<table class="pairs"><tr><th>image</th><th>text</th><th>flags and evidence</th></tr>')
            for r in worst[:WORST]:
                text = r.get("text")
                if not text:
                    text = next((c["text"] for c in reversed(r.get("captions") or []) if c.get("status") == "ok"), "")
                    text = f"[caption] {text}"
                b64 = thumb(path.parent / r["image_path"]) if r.get("image_path") else None
                img = f'<img src="data:image/jpeg;base64,{b64}" alt="{_e(r["key"])}">' if b64 else "(no image)"
                details = json.loads(r["consistency"]["details"] or "{}")
                ev = {k: v for k, v in details.items() if k != "labels"}
                if "labels" in details:
                    ev["labels"] = details["labels"].get("contradictions")
                out.append(f'<tr><td>{img}<br><code>{_e(r["key"])}</code><br>score {r["consistency"]["score"]:.2f}</td>'
                           f'<td style="white-space:pre-wrap;max-width:520px">{_e(text[:TEXT_CHARS])}</td>'
                           f'<td>{"<br>".join(_e(f) for f in r["consistency"]["flags"])}<br>'
                           f'<span class="note">{_e(json.dumps(ev, sort_keys=True))}</span></td></tr>')
            out.append("</table>")
    return "\n".join(out)
