"""The controlled-imbalance sweep: one class made rare on purpose at several ratios, the study at each.

:func:`run_sweep` runs :func:`study.runner.run_experiment` with ``imbalance=(class, ratio)`` into
``out/ratio_<r>/`` for each ratio (each a full study with its own tables, HTML and bootstrap
intervals), then writes ``out/sweep.md``, ``out/sweep.csv``, ``out/sweep.png`` (minority AUROC and
recall against the ratio, one line per arm, patient-level bootstrap intervals as error bars),
``out/sweep.html`` (self-contained) and ``out/sweep.json`` last.
"""

from __future__ import annotations

import base64
import csv
import html
from pathlib import Path

from manifests.errors import UsageError
from manifests.io import atomic_path, write_json_atomic, write_text_atomic


def parse_ratios(text: str) -> list[float]:
    try:
        ratios = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"--ratios '{text}': comma-separated numbers in (0, 1], e.g. 0.01,0.05,0.2") from None
    if not ratios or any(not 0 < r <= 1 for r in ratios):
        raise UsageError(f"--ratios '{text}': comma-separated numbers in (0, 1], e.g. 0.01,0.05,0.2")
    return sorted(set(ratios))


def ratio_dir(out: Path, r: float) -> Path:
    return out / f"ratio_{r:g}"


def _rows(results: dict[float, dict]) -> list[dict]:
    rows = []
    for r, s in sorted(results.items()):
        bs = s.get("bootstrap") or {}
        cls = s["minority_classes"][0]
        from study.arms import names

        for arm in [a for a in names() if a in s["minority_macro_auroc"]]:     # declaration order
            mm = s["minority_macro_auroc"][arm]
            b = (bs.get("arms") or {}).get(arm, {})
            auc, rec = b.get("minority_macro_auroc", {}), b.get("per_class", {}).get(cls, {}).get("recall", {})
            rows.append({"ratio": r, "kept_train_rows": s.get("kept_train_rows"), "arm": arm,
                         "auroc_mean": mm["mean"], "auroc_std": mm["std"], "seeds": mm["n"],
                         "auroc_ci_lo": auc.get("lo"), "auroc_ci_hi": auc.get("hi"),
                         "recall": rec.get("estimate"), "recall_ci_lo": rec.get("lo"), "recall_ci_hi": rec.get("hi")})
    return rows


def _plot(rows: list[dict], cls: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    arms = list(dict.fromkeys(r["arm"] for r in rows))
    for k, arm in enumerate(arms):
        rs = [r for r in rows if r["arm"] == arm]
        x = np.array([r["ratio"] for r in rs]) * (1 + 0.04 * (k - len(arms) / 2))   # small offset: bars apart
        for ax, m in zip(axes, ("auroc", "recall")):
            y = np.array([np.nan if r[f"{m}_mean" if m == "auroc" else m] is None else r[f"{m}_mean" if m == "auroc" else m]
                          for r in rs], float)
            lo = np.array([np.nan if r[f"{m}_ci_lo"] is None else r[f"{m}_ci_lo"] for r in rs], float)
            hi = np.array([np.nan if r[f"{m}_ci_hi"] is None else r[f"{m}_ci_hi"] for r in rs], float)
            err = np.vstack([np.clip(y - lo, 0, None), np.clip(hi - y, 0, None)])
            ax.errorbar(x, y, yerr=np.nan_to_num(err), marker="o", capsize=3, label=arm)
    for ax, t in zip(axes, (f"{cls} AUROC (seed mean, 95 % patient bootstrap CI)", f"{cls} recall (argmax)")):
        ax.set_xscale("log")
        ax.set(xlabel=f"fraction of {cls} train images kept", title=t)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_sweep(results: dict[float, dict], cls: str, out: Path) -> dict:
    rows = _rows(results)
    with atomic_path(out / "sweep.csv") as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        wr = csv.DictWriter(fh, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)

    def f(v, d=3):
        return "n/a" if v is None else f"{v:.{d}f}"
    header = ["ratio", f"{cls} train n", "arm", "AUROC mean ± std (seeds)", "AUROC 95 % CI", "recall [95 % CI]"]
    table = [[f"{r['ratio']:g}", str(r["kept_train_rows"]), r["arm"], f"{f(r['auroc_mean'])} ± {f(r['auroc_std'])}",
              f"[{f(r['auroc_ci_lo'])}, {f(r['auroc_ci_hi'])}]",
              f"{f(r['recall'])} [{f(r['recall_ci_lo'])}, {f(r['recall_ci_hi'])}]"] for r in rows]
    md = "| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n" + "".join(
        "| " + " | ".join(t) + " |\n" for t in table)
    verdicts = "".join(f"\n- ratio {r:g}: {s['verdict']} {s.get('ci_verdict', '')}" for r, s in sorted(results.items()))
    write_text_atomic(out / "sweep.md", f"# Controlled imbalance: {cls}\n\n{md}\nPer ratio:{verdicts}\n")
    png = _plot(rows, cls, out / "sweep.png")
    from study.report import html_table

    links = "".join(f'<li><a href="{html.escape(ratio_dir(out, r).name)}/summary.html">ratio {r:g}</a>: '
                    f'{html.escape(s["verdict"])} {html.escape(s.get("ci_verdict", ""))}</li>' for r, s in sorted(results.items()))
    page = (f'<!doctype html><html><head><meta charset="utf-8"><title>imbalance sweep: {html.escape(cls)}</title>'
            "<style>body{font-family:sans-serif;max-width:1150px;margin:2em auto}table{border-collapse:collapse}"
            "td,th{border:1px solid #bbb;padding:3px 8px;font-size:13px}img{max-width:100%}</style></head><body>"
            f"<h1>Controlled imbalance: {html.escape(cls)} made rare</h1>"
            f'<img alt="sweep" src="data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()}">'
            f"{html_table(header, table)}<ul>{links}</ul></body></html>")
    write_text_atomic(out / "sweep.html", page)
    summary = {"class": cls, "ratios": sorted(results), "rows": rows, "table_md": str(out / "sweep.md"),
               "html": str(out / "sweep.html"), "plot": str(png)}
    write_json_atomic(out / "sweep.json", summary)
    return summary


def run_sweep(manifest: str | Path, out: str | Path, *, cls: str, ratios: list[float], **kw) -> dict:
    """The study at each ratio (``kw`` as for :func:`study.runner.run_experiment`), then the sweep's tables."""
    from study.runner import run_experiment

    out = Path(out)
    results = {}
    for r in ratios:
        s = run_experiment(manifest, ratio_dir(out, r), imbalance=(cls, r), **kw)
        results[r] = {**s, "kept_train_rows": s["split_counts"][cls]["train"]}    # seed 0's subsample
    return write_sweep(results, cls, out)
