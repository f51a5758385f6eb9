"""Report labeler: accuracy on the IU chest X-ray reports and throughput (reports/s, one core).

    uv run python benches/bench_labeler.py [--shared ../shared] [--errors FINDING] [--repeat 5]

Gold: ``openi_gld_std14_first926.csv`` (NegBio's 14 ChestX-ray14 labels derived from the
collection's manual MeSH coding; CXR<uid> <-> uid). A 1 is a coded finding; a 0 means "not coded",
not "negative", so we score POSITIVE findings only: per class precision / recall / F1 with support,
micro and macro. Two policies for our uncertain state: ``strict`` (only positive counts) and
``u-ones`` (uncertain counts as positive). The gold's Hernia column is 0 for every report although
"Hernia, Hiatal" is MeSH-coded (SOURCES.md): micro/macro are printed over the 14 columns as given
and over the 13 others; Hernia is also scored against the MeSH codings.

Baseline, same run, same sentences / sections / lexicon (EntityRuler): negspacy's ``negex`` in
place of our context component (negspacy has no uncertainty: a non-negated mention is positive).
The lexicon's self-negating gap patterns ("heart size is normal") count as negated for both.

The lexicon and triggers were tuned by reading errors on this development subset (no report ids
are coded anywhere); ``--reports``/``--gold`` score another subset, e.g. the held-out uids 2000-2480.

Text per report: ``FINDINGS: <findings>\\nIMPRESSION: <impression>`` (the indication is left out:
it states the clinical question, not a finding).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from manifests.labels import MESH_TO_NIH, NIH14  # noqa: E402



def load(shared: Path, reports_csv: Path | None = None, gold_csv: Path | None = None):
    """IU reports + gold rows by uid (defaults: the shared first-926 development subset)."""
    base = shared / "data" / "iu_cxr_reports"
    reports_csv = reports_csv or base / "indiana_reports_first926.csv"
    gold_csv = gold_csv or base / "openi_gld_std14_first926.csv"
    with open(reports_csv, newline="", encoding="utf-8") as fh:
        reports = list(csv.DictReader(fh))
    with open(gold_csv, newline="", encoding="utf-8") as fh:
        gold = {int(r["filename"][3:]): r for r in csv.DictReader(fh)}
    return [r for r in reports if int(r["uid"]) in gold], gold


def report_text(row: dict) -> str:
    parts = []
    for col, header in (("findings", "FINDINGS"), ("impression", "IMPRESSION")):
        t = (row.get(col) or "").strip()
        if t:
            parts.append(f"{header}: {t}")
    return "\n".join(parts)


def mesh_positive(row: dict) -> set[str]:
    out = set()
    for term in (row.get("MeSH") or "").split(";"):
        head = term.split("/")[0].strip().lower()
        if head in MESH_TO_NIH:
            out.add(MESH_TO_NIH[head])
    return out


def score(pred: list[set[str]], gold: list[set[str]], classes) -> dict:
    per = {}
    for c in classes:
        tp = sum(1 for p, g in zip(pred, gold) if c in p and c in g)
        fp = sum(1 for p, g in zip(pred, gold) if c in p and c not in g)
        fn = sum(1 for p, g in zip(pred, gold) if c not in p and c in g)
        per[c] = (tp, fp, fn)

    def prf(tp, fp, fn):
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)

    tp, fp, fn = (sum(v[i] for v in per.values()) for i in range(3))
    with_support = [c for c in classes if per[c][0] + per[c][2] > 0]
    macro = [prf(*per[c]) for c in with_support]
    return {
        "per": {c: prf(*per[c]) + (per[c][0] + per[c][2], per[c][1]) for c in classes},
        "micro": prf(tp, fp, fn),
        "macro": tuple(sum(m[i] for m in macro) / len(macro) for i in range(3)) if macro else (0, 0, 0),
    }


def positives(labels: dict[str, str], policy: str) -> set[str]:
    ok = {"positive"} if policy == "strict" else {"positive", "uncertain"}
    return {f for f in NIH14 if labels[f] in ok}


def negspacy_labeler():
    from negspacy.negation import Negex  # noqa: F401 (registers "negex")
    from negspacy.termsets import termset

    from curation.text.context import internally_negated
    from curation.text.nlp import build_nlp
    from curation.text.report import aggregate
    from curation.text.sections import section_at

    nlp = build_nlp(context=False)
    nlp.add_pipe("negex", config={"ent_types": ["FINDING", "DEVICE"],
                                  "neg_termset": termset("en_clinical").get_patterns()})

    def run(texts):
        out = []
        for doc in nlp.pipe(texts, batch_size=256):
            secs = doc.user_data.get("mh_sections") or []
            mentions = [(e.start_char, e.end_char, e.text, e.label_, e.ent_id_, bool(e._.negex) or internally_negated(e), False,
                         section_at(secs, e.start_char)) for e in doc.ents]
            out.append(aggregate(mentions, has_text=True))
        return out

    return run


def print_table(title: str, res: dict) -> None:
    print(f"\n{title}")
    print(f"  {'finding':<20}{'P':>7}{'R':>7}{'F1':>7}{'support':>9}{'FP':>5}")
    for c, (p, r, f, sup, fp) in res["per"].items():
        print(f"  {c:<20}{p:7.3f}{r:7.3f}{f:7.3f}{sup:9d}{fp:5d}")
    print(f"  {'micro':<20}{res['micro'][0]:7.3f}{res['micro'][1]:7.3f}{res['micro'][2]:7.3f}")
    print(f"  {'macro':<20}{res['macro'][0]:7.3f}{res['macro'][1]:7.3f}{res['macro'][2]:7.3f}")


def evaluate(results, reports, gold, *, policy: str) -> dict[str, dict]:
    preds = [positives(r.nih, policy) for r in results]
    g14 = [{c for c in NIH14 if gold[int(row["uid"])][c] == "1"} for row in reports]
    mesh = [mesh_positive(row) for row in reports]
    thirteen = [c for c in NIH14 if c != "Hernia"]
    normal_pred = [{"No Finding"} if r.nih["No Finding"] == "positive" else set() for r in results]
    normal_gold = [{"No Finding"} if gold[int(row["uid"])]["normal"] == "1" else set() for row in reports]
    return {
        "gold14": score(preds, g14, NIH14),
        "gold13": score(preds, g14, thirteen),
        "mesh14": score(preds, mesh, NIH14),
        "normal": score(normal_pred, normal_gold, ["No Finding"]),
    }


def automatic_baseline(shared: Path, reports, gold, ours) -> None:
    """Open-i's own machine MeSH terms (``<automatic>`` in 66 of the 119 XML files) vs ours.

    The automatic terms are free text ("atelectases", "opacity"); they are mapped to NIH findings
    through our lexicon (each term labelled as a positive one-phrase report).
    """
    from defusedxml import ElementTree

    from curation.text import label_reports

    folder = shared / "data" / "iu_cxr_reports" / "ecgen-radiology_xml_uid1-120"
    if not folder.is_dir():
        return
    auto: dict[int, list[str]] = {}
    for path in folder.glob("*.xml"):
        terms = [e.text.strip() for e in ElementTree.parse(path).getroot().iter("automatic") if e.text]
        if terms:
            auto[int(path.stem)] = terms
    by_uid = {int(r["uid"]): (i, r) for i, r in enumerate(reports)}
    uids = sorted(u for u in auto if u in by_uid)
    if not uids:
        return
    term_labels = label_reports([". ".join(auto[u]) + "." for u in uids])
    g = [{c for c in NIH14 if gold[u][c] == "1"} for u in uids]
    auto_pred = [positives(r.nih, "strict") for r in term_labels]
    our_pred = [positives(ours[by_uid[u][0]].nih, "strict") for u in uids]
    a, o = score(auto_pred, g, NIH14), score(our_pred, g, NIH14)
    print(f"\n== Open-i <automatic> MeSH terms (machine labeler shipped with the XML), {len(uids)} reports")
    print(f"  micro P/R/F1 automatic: {a['micro'][0]:.3f} {a['micro'][1]:.3f} {a['micro'][2]:.3f}"
          f"   ours (strict): {o['micro'][0]:.3f} {o['micro'][1]:.3f} {o['micro'][2]:.3f}")


def throughput(fn, texts, repeat: int) -> tuple[float, float]:
    """(reports per wall-clock second, reports per CPU second of this process)."""
    fn(texts[:50])  # warm-up (builds the pipeline)
    batch = texts * repeat
    t0, c0 = time.perf_counter(), time.process_time()
    fn(batch)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return len(batch) / wall, len(batch) / cpu


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", default=os.environ.get("MEDHARVEST_SHARED",
                                                       str(Path(__file__).resolve().parents[2] / "shared")))
    ap.add_argument("--reports", type=Path, help="other IU reports CSV (e.g. the held-out subset)")
    ap.add_argument("--gold", type=Path, help="its openi_gld_std14 rows")
    ap.add_argument("--errors", metavar="FINDING", help="print the false positives/negatives of one finding")
    ap.add_argument("--policy", choices=("strict", "u-ones"), default="strict", help="for --errors")
    ap.add_argument("--repeat", type=int, default=5, help="copies of the 926 reports for the speed test")
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args(argv)
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    except (AttributeError, OSError):
        pass

    from curation.text import label_reports

    reports, gold = load(Path(args.shared), args.reports, args.gold)
    texts = [report_text(r) for r in reports]
    ours = label_reports(texts)
    print(f"IU reports: {len(texts)} ({args.reports or 'first 926 of indiana_reports.csv'}); gold: openi_gld_std14")
    for policy in ("strict", "u-ones"):
        ev = evaluate(ours, reports, gold, policy=policy)
        print_table(f"== ours, policy {policy}, vs gold (14 columns as given)", ev["gold14"])
        print(f"  micro-F1 over the 13 columns without Hernia: {ev['gold13']['micro'][2]:.3f}"
              f" (macro {ev['gold13']['macro'][2]:.3f})")
        print(f"  micro-F1 vs MeSH codings (Hernia <- 'Hernia, Hiatal'): {ev['mesh14']['micro'][2]:.3f}"
              f" (macro {ev['mesh14']['macro'][2]:.3f}); Hernia F1 vs MeSH "
              f"{ev['mesh14']['per']['Hernia'][2]:.3f}")
        p, r, f = ev["normal"]["micro"]
        print(f"  No Finding vs gold 'normal': P {p:.3f} R {r:.3f} F1 {f:.3f}")
    if not args.no_baseline:
        base_run = negspacy_labeler()
        base = base_run(texts)
        ev = evaluate(base, reports, gold, policy="strict")
        print_table("== baseline: same lexicon + negspacy negex (en_clinical), vs gold (14 as given)",
                    ev["gold14"])
        print(f"  micro-F1 over the 13 columns without Hernia: {ev['gold13']['micro'][2]:.3f}"
              f" (macro {ev['gold13']['macro'][2]:.3f})")
        print(f"  micro-F1 vs MeSH codings: {ev['mesh14']['micro'][2]:.3f}")
    automatic_baseline(Path(args.shared), reports, gold, ours)
    split = Path(args.shared) / "data" / "negbio_examples" / "openi-testset.txt"
    if split.is_file():  # the Open-i test split of the NegBio paper, where it overlaps these reports
        ids = {int(line.strip()[3:]) for line in split.read_text().split() if line.startswith("CXR")}
        keep = [i for i, r in enumerate(reports) if int(r["uid"]) in ids]
        ev = evaluate([ours[i] for i in keep], [reports[i] for i in keep], gold, policy="strict")
        print(f"\n== NegBio's Open-i test split ({len(keep)} of these reports), ours strict: micro-F1 "
              f"{ev['gold14']['micro'][2]:.3f} (14 as given), {ev['gold13']['micro'][2]:.3f} (13)")
    if args.errors:
        g = [gold[int(row["uid"])] for row in reports]
        for row, r, t, gr in zip(reports, ours, texts, g):
            pred = r.nih[args.errors] in (("positive",) if args.policy == "strict" else ("positive", "uncertain"))
            truth = gr[args.errors] == "1" if args.errors in gr else False
            if pred != truth:
                kind = "FP" if pred else "FN"
                ents = [(e["text"], e["negated"], e["uncertain"]) for e in r.entities
                        if e["label"].startswith("FINDING")]
                print(f"\n{kind} uid={row['uid']} state={r.nih[args.errors]} MeSH={row['MeSH']}\n  {t}\n  {ents}")
    wall, cpu = throughput(label_reports, texts, args.repeat)
    print(f"\nthroughput, ours: {wall:,.0f} reports/s wall-clock, {cpu:,.0f} reports per CPU-second "
          f"(one core, nlp.pipe batch 256, {len(texts) * args.repeat} reports; load average "
          f"{os.getloadavg()[0]:.1f})")
    if not args.no_baseline:
        wall, cpu = throughput(base_run, texts, args.repeat)
        print(f"throughput, negspacy baseline: {wall:,.0f} reports/s wall-clock, {cpu:,.0f} per CPU-second")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
