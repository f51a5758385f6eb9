"""Tables, plots and a self-contained HTML page for a comparison of training arms over seeds.

Input: one ``{arm: metrics}`` dict per seed (``metrics`` as written by :mod:`classify.evaluate`).
Output (:func:`write_report`): ``results.json``, ``table.md``, ``table.csv`` (long format),
``auroc.png``, ``minority.png``, ``summary.html`` (images inlined as base64).
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
import re
from pathlib import Path

import numpy as np

from manifests.io import atomic_path, write_json_atomic, write_text_atomic
from study import arms as arms_registry

TARGET_DELTA = 0.02


def _ms(xs: list) -> dict:
    v = [float(x) for x in xs if x is not None and math.isfinite(float(x))]
    if not v:
        return {"mean": None, "std": None, "n": 0, "values": []}
    return {"mean": round(float(np.mean(v)), 4), "std": round(float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, 4),
            "n": len(v), "values": [round(x, 4) for x in v]}


def _compare(a: dict, ref: dict) -> dict:
    """Arm ``a`` against ``ref`` (both :func:`_ms` summaries): mean delta, per-seed paired delta (same
    split or folds and seed), and whether the mean ± std spreads are apart."""
    paired = [x - y for x, y in zip(a["values"], ref["values"])] if a["n"] == ref["n"] else []
    return {"delta_minority_macro_auroc": round(a["mean"] - ref["mean"], 4), "paired_delta": _ms(paired),
            "spread_non_overlapping": (a["mean"] - a["std"]) > (ref["mean"] + ref["std"])}


def aggregate(per_seed: list[dict[str, dict]], *, classes: list[str], minority: list[str], arms: tuple[str, ...]) -> dict:
    out: dict = {"arms": {}, "classes": classes, "minority": minority}
    for arm in arms:
        runs = [s[arm] for s in per_seed if arm in s]
        per_class = {c: {m: _ms([r["per_class"][c][m] for r in runs]) for m in ("auroc", "f1", "recall", "precision")}
                     | {"support": runs[0]["per_class"][c]["support"] if runs else 0} for c in classes}
        minority_macro = [np.mean([r["per_class"][c]["auroc"] for c in minority if r["per_class"][c]["auroc"] is not None])
                          if minority else None for r in runs]
        out["arms"][arm] = {
            "per_class": per_class,
            "macro_auroc": _ms([r["macro"]["auroc"] for r in runs]),
            "minority_macro_auroc": _ms(minority_macro),
            "macro_f1": _ms([r["macro"]["f1"] for r in runs]),
            "balanced_accuracy": _ms([r["balanced_accuracy"] for r in runs]),
        }
    ref = arms_registry.reference().name
    base = out["arms"].get(ref, {}).get("minority_macro_auroc")
    comparisons = {}
    for arm in arms:
        if arm == ref or base is None or base["mean"] is None:
            continue
        a = out["arms"][arm]["minority_macro_auroc"]
        if a["mean"] is None:
            continue
        c = _compare(a, base)
        comparisons[f"{arm}_vs_{ref}"] = {
            **c, "target_met": a["mean"] - base["mean"] >= TARGET_DELTA and c["spread_non_overlapping"]}
    for arm in arms:
        for comp in arms_registry.get(arm).compare_with:
            if comp.other in out["arms"]:
                g, c = out["arms"][arm]["minority_macro_auroc"], out["arms"][comp.other]["minority_macro_auroc"]
                if g["mean"] is not None and c["mean"] is not None:
                    comparisons[f"{arm}_vs_{comp.other}"] = _compare(g, c)
    out["comparisons"] = comparisons
    return out


def _fmt(s: dict) -> str:
    return "n/a" if s["mean"] is None else f"{s['mean']:.3f} ± {s['std']:.3f}"


def table_rows(agg: dict, metric: str = "auroc", *, summary: bool = True) -> tuple[list[str], list[list[str]]]:
    arms = list(agg["arms"])
    header = ["class", agg.get("count_label", "train n (real)"), "test n", *arms]
    rows = []
    for c in agg["classes"]:
        name = f"**{c}** (minority)" if c in agg["minority"] else c
        rows.append([name, str(agg.get("train_counts", {}).get(c, "")), str(agg["arms"][arms[0]]["per_class"][c]["support"]),
                     *[_fmt(agg["arms"][a]["per_class"][c][metric]) for a in arms]])
    summaries = (("macro AUROC", "macro_auroc"), ("**minority macro AUROC**", "minority_macro_auroc"),
                 ("macro F1", "macro_f1"), ("balanced accuracy", "balanced_accuracy")) if summary else ()
    for label, key in summaries:
        rows.append([label, "", "", *[_fmt(agg["arms"][a][key]) for a in arms]])
    return header, rows


def markdown_inline(text: str) -> str:
    """A table cell's markdown (``**bold**`` only) as escaped HTML: ``**A** (minority)`` ->
    ``<b>A</b> (minority)``; an unpaired ``**`` stays literal text."""
    parts = re.split(r"\*\*(.+?)\*\*", text)
    return "".join(f"<b>{html.escape(p)}</b>" if i % 2 else html.escape(p) for i, p in enumerate(parts))


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _ci(c: dict) -> str:
    return "n/a" if c["estimate"] is None else f"{c['estimate']:.3f} [{c['lo']:.3f}, {c['hi']:.3f}]"


def ci_rows(agg: dict, metric: str = "auroc") -> tuple[list[str], list[list[str]]]:
    """Per class: test support and each arm's seed-mean score with its patient-level bootstrap interval."""
    bs = agg["bootstrap"]
    arms = list(bs["arms"])
    header = ["class", "test n", *arms]
    rows = [[f"**{c}** (minority)" if c in agg["minority"] else c, str(bs["support"][c]),
             *[_ci(bs["arms"][a]["per_class"][c][metric]) for a in arms]] for c in agg["classes"]]
    if metric == "auroc":
        rows.append(["**minority macro AUROC**", str(sum(bs["support"][c] for c in agg["minority"])),
                     *[_ci(bs["arms"][a]["minority_macro_auroc"]) for a in arms]])
    return header, rows


def ci_verdict(agg: dict) -> str:
    """The target judged on bootstrap intervals: each synthetic-row arm against each arm it is compared with."""
    bs = agg.get("bootstrap")
    if not bs:
        return ""
    level = int(round(100 * bs["level"]))
    out = []
    for key, d in bs["deltas"].items():
        a, b = key.split("_vs_")
        if not (arms_registry.get(a).synthetic and d["estimate"] is not None):
            continue
        met = d["estimate"] >= TARGET_DELTA and d["intervals_apart"]
        out.append(f"{a} − {b}: {d['estimate']:+.3f} (paired {level} % CI [{d['lo']:+.3f}, {d['hi']:+.3f}]; "
                   f"the two arms' intervals {'do not overlap' if d['intervals_apart'] else 'overlap'}; "
                   f"target {'MET' if met else 'NOT met'})")
    return (f"Minority macro AUROC, patient-level bootstrap over {bs['patients']} test patients ({bs['n_boot']} "
            f"replicates, seed-mean): " + "; ".join(out) + ".") if out else ""


QUALITY_COLUMNS = (("n_real", "real n"), ("classifier_consistency", "consistency (real-data classifier)"),
                   ("class_consistency", "consistency (feature probe)"), ("precision", "precision"),
                   ("recall", "recall (coverage)"), ("fid", "FID"), ("nn_rms_median", "nearest-real RMS (median)"),
                   ("real_to_real_nn_rms_median", "real-to-real RMS (median)"), ("memorised", "memorised"))


def quality_rows(q: dict) -> tuple[list[str], list[list[str]]]:
    def f(v):
        return "n/a" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))
    return (["class", *[h for _, h in QUALITY_COLUMNS]],
            [[c, *[f(pc.get(k)) for k, _ in QUALITY_COLUMNS]] for c, pc in q["per_class"].items()])


def verdict(agg: dict) -> str:
    """One paragraph: the headline arm against the reference arm, then each declared comparison
    (:data:`study.arms.REGISTRY`), then every other arm against the reference."""
    comp = agg["comparisons"]
    arms = agg["arms"]
    ref = arms_registry.reference().name
    head = next((a for a in arms_registry.REGISTRY.values() if a.headline and a.name in arms), None)
    if head is None or f"{head.name}_vs_{ref}" not in comp:
        return f"No {head.label or head.name if head else 'headline'}-vs-{ref} comparison (undefined minority AUROC)."
    label = head.label or head.name
    g = comp[f"{head.name}_vs_{ref}"]
    text = (f"{label} arm minority macro AUROC {_fmt(arms[head.name]['minority_macro_auroc'])} vs {ref} "
            f"{_fmt(arms[ref]['minority_macro_auroc'])}: delta {g['delta_minority_macro_auroc']:+.3f}; "
            f"seed spreads (mean ± std) {'do not overlap' if g['spread_non_overlapping'] else 'overlap'}; "
            f"target (>= +{TARGET_DELTA} with non-overlapping spread) {'MET' if g['target_met'] else 'NOT met'}.")
    pd = g.get("paired_delta", {})
    if pd.get("n", 0) > 1:
        text += f" Paired per seed, {label} minus {ref}: {_fmt(pd)}."
    for name in arms:
        for c in arms_registry.get(name).compare_with:
            key = f"{name}_vs_{c.other}"
            if key in comp:
                d = comp[key]["delta_minority_macro_auroc"]
                paired = (f", paired {_fmt(comp[key]['paired_delta'])}" if comp[key]["paired_delta"]["n"] > 1 else "")
                text += c.sentence.format(d=f"{d:+.3f}", paired=paired, better=c.better_text if d > 0 else c.worse_text)
    for name in arms:
        if arms_registry.get(name).vs_reference_in_verdict and f"{name}_vs_{ref}" in comp:
            text += f" {name} vs {ref}: {comp[f'{name}_vs_{ref}']['delta_minority_macro_auroc']:+.3f}."
    return text


def _plots(agg: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms, classes = list(agg["arms"]), agg["classes"]
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(classes) + 2), 4))
    w = 0.8 / len(arms)
    for i, arm in enumerate(arms):
        pc = agg["arms"][arm]["per_class"]
        means = [pc[c]["auroc"]["mean"] or np.nan for c in classes]
        stds = [pc[c]["auroc"]["std"] or 0 for c in classes]
        ax.bar(np.arange(len(classes)) + i * w - 0.4 + w / 2, means, w, yerr=stds, label=arm, capsize=2)
    ax.set_xticks(np.arange(len(classes)))
    ax.set_xticklabels([f"{c}*" if c in agg["minority"] else c for c in classes], rotation=30, ha="right", fontsize=8)
    ax.set(ylabel="test AUROC (mean ± std over seeds)", ylim=(0.0, 1.15), title="Per-class AUROC (* minority)")
    ax.axhline(0.5, color="k", lw=0.6, ls=":")
    ax.legend(fontsize=8, ncol=len(arms), loc="upper center")
    fig.tight_layout()
    p1 = out / "auroc.png"
    fig.savefig(p1, dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for i, arm in enumerate(arms):
        s = agg["arms"][arm]["minority_macro_auroc"]
        ax.scatter([i] * len(s["values"]), s["values"], alpha=0.7)
        if s["mean"] is not None:
            ax.errorbar(i + 0.15, s["mean"], yerr=s["std"], fmt="o", color="k", capsize=3)
    ax.set_xticks(range(len(arms)))
    ax.set_xticklabels(arms)
    ax.set(ylabel="minority macro AUROC", title="Minority classes: per seed, mean ± std")
    fig.tight_layout()
    p2 = out / "minority.png"
    fig.savefig(p2, dpi=100)
    plt.close(fig)
    return [p1, p2]


def html_table(h: list[str], rs: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(x)}</th>" for x in h)
    body = "".join("<tr>" + "".join(f"<td>{markdown_inline(x)}</td>" for x in r) + "</tr>" for r in rs)
    return f"<table><tr>{head}</tr>{body}</table>"


def _img(p: Path, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">'


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name)


def write_report(agg: dict, info: dict, out: str | Path, *, quality: dict | None = None) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cv = bool(info.get("folds"))
    agg = {**agg, "train_counts": {c: v["all" if cv else "train"] for c, v in info.get("split_counts", {}).items()},
           "count_label": "n (all rows, CV)" if cv else "train n (real)"}
    header, rows = table_rows(agg, "auroc")
    f1_header, f1_rows = table_rows(agg, "f1", summary=False)
    text = verdict(agg)
    evaluation = f"Evaluation: {info['evaluation']}.\n\n" if info.get("evaluation") else ""
    md = (f"# Augmentation study\n\n{text}\n\n{evaluation}Test AUROC per class (mean ± std over {info.get('seeds')} seeds; "
          f"**bold** = minority):\n\n{_markdown(header, rows)}\nTest F1 per class:\n\n{_markdown(f1_header, f1_rows)}")
    ci_text = ci_verdict(agg)
    extra_html = ""
    if agg.get("bootstrap"):
        bs = agg["bootstrap"]
        ch, cr = ci_rows(agg, "auroc")
        rh, rr = ci_rows(agg, "recall")
        caption = (f"seed-mean with its {int(round(100 * bs['level']))} % patient-level bootstrap interval "
                   f"({bs['n_boot']} replicates over {bs['patients']} test patients)")
        md += (f"\n{ci_text}\n\nTest AUROC, {caption}:\n\n{_markdown(ch, cr)}\nTest recall (argmax), {caption}:\n\n"
               f"{_markdown(rh, rr)}")
        extra_html += (f"<h2>Bootstrap intervals</h2><p>{html.escape(ci_text)}</p><p>Test AUROC, {html.escape(caption)}:</p>"
                       f"{html_table(ch, cr)}<p>Test recall (argmax):</p>{html_table(rh, rr)}")
    if quality:
        seed, q = next(iter(sorted(quality.items())))
        qh, qr = quality_rows(q)
        md += f"\nGenerator quality per class (seed {seed}; {q['per_class'][qr[0][0]]['n_generated']} samples per class):\n\n{_markdown(qh, qr)}"
        grids = ""
        gdir = Path(q.get("grids_dir", ""))
        for c in q["per_class"]:
            real, syn = gdir / f"real_{_slug(c)}.png", gdir / f"synthetic_{_slug(c)}.png"
            if real.exists() and syn.exists():
                grids += (f"<h3>{html.escape(c)}</h3><div class=pair><figure>{_img(real, 'real ' + c)}<figcaption>real "
                          f"(train)</figcaption></figure><figure>{_img(syn, 'synthetic ' + c)}<figcaption>synthetic "
                          f"(seed {seed})</figcaption></figure></div>")
        extra_html += (f"<h2>Generator quality (seed {seed})</h2>{html_table(qh, qr)}"
                       f"<p>Chance consistency: {q.get('classifier', {}).get('chance', 'n/a')}.</p>{grids}")
    write_text_atomic(out / "table.md", md)
    with atomic_path(out / "table.csv") as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        wr = csv.writer(fh)
        wr.writerow(["arm", "class", "minority", "metric", "mean", "std", "n", "values"])
        for arm, a in agg["arms"].items():
            for c, pc in a["per_class"].items():
                for m in ("auroc", "f1", "recall", "precision"):
                    wr.writerow([arm, c, c in agg["minority"], m, pc[m]["mean"], pc[m]["std"], pc[m]["n"], json.dumps(pc[m]["values"])])
            for m in ("macro_auroc", "minority_macro_auroc", "macro_f1", "balanced_accuracy"):
                wr.writerow([arm, "", "", m, a[m]["mean"], a[m]["std"], a[m]["n"], json.dumps(a[m]["values"])])
    pngs = _plots(agg, out)

    imgs = "".join(f'<img alt="{p.stem}" src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">' for p in pngs)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>medharvest augmentation study</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #bbb;padding:3px 8px;font-size:13px;text-align:right}}td:first-child{{text-align:left}}img{{max-width:100%}}
.pair{{display:flex;gap:16px}}.pair img{{image-rendering:pixelated;width:420px}}figure{{margin:0}}</style>
</head><body><h1>Augmentation study</h1><p>{html.escape(text)}</p>
<p>Manifest <code>{html.escape(str(info.get('manifest')))}</code>, budget <code>{html.escape(str(info.get('budget')))}</code>,
{info.get('seeds')} seeds, classes: {html.escape(', '.join(agg['classes']))}; minority: {html.escape(', '.join(agg['minority']))}.</p>
<h2>Test AUROC</h2>{html_table(header, rows)}<h2>Test F1</h2>{html_table(f1_header, f1_rows)}{imgs}{extra_html}
<h2>Settings</h2><pre>{html.escape(json.dumps(info, indent=1))}</pre></body></html>"""
    write_text_atomic(out / "summary.html", page)
    summary = {**info, "verdict": text, "ci_verdict": ci_text, "comparisons": agg["comparisons"],
               "bootstrap": agg.get("bootstrap"), "generator_quality": quality or None,
               "minority_macro_auroc": {a: v["minority_macro_auroc"] for a, v in agg["arms"].items()},
               "macro_auroc": {a: v["macro_auroc"] for a, v in agg["arms"].items()},
               "table_md": str(out / "table.md"), "html": str(out / "summary.html")}
    write_json_atomic(out / "results.json", {"info": info, "aggregate": agg, "verdict": text, "ci_verdict": ci_text,
                                             "generator_quality": quality or None})
    return summary
