"""``write_report(posterior_dir, out_file)``: one self-contained HTML file from a run's outputs.

The report only reads what the run wrote (``summary.json``, ``fits/*.json``, the CSV tables
and ``figures/<outcome>/*.png``); it computes nothing new, so it always agrees with the
tables. Everything is inline (CSS, base64 PNG figures), no script and no external request,
so the file can be mailed to a municipality, opened offline and archived as is.
Fits that failed the diagnostics gate are excluded from the overview and announced in a
red banner at the top.
"""

from __future__ import annotations

import base64
import html
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError
from ..io import atomic_write_text
from ..plots._style import arm_name, gemeente_name

FIGURE_ORDER: tuple[str, ...] = ("probability", "forest", "pooling", "influence", "sensitivity",
                                 "prior_posterior", "ppc", "funnel", "rank", "trace", "energy")
CAPTIONS: dict[str, str] = {
    "probability": "How likely is a positive effect? Probability that the pooled effect is above "
                   "zero and above the minimal important difference, and that the effect in a new "
                   "municipality is above zero.",
    "forest": "Key figure. Per arm: each municipality's published estimate (grey, marker = evidence "
              "grade) above its estimate after pooling (blue); then the pooled effect (diamond) and "
              "the range to expect in a new municipality (yellow). All intervals 90%.",
    "pooling": "Shrinkage: arrows from the published estimate to the estimate after pooling. Long "
               "arrows = imprecise estimates corrected by the other municipalities.",
    "influence": "Pooled effect with one municipality left out (Bayesian importance-weighted "
                 "approximation and frequentist REML leave-one-out, labelled).",
    "sensitivity": "Prior sensitivity: the pooled effect when the priors are made wider (a<1) or "
                   "tighter (a>1), by importance reweighting.",
    "prior_posterior": "Prior (grey) vs posterior (blue) of the pooled component effects and of the "
                       "between-municipality heterogeneity.",
    "ppc": "Posterior predictive check: published values against what the fitted model predicts.",
    "funnel": "Funnel check (analysts): pooled effect vs log heterogeneity; divergent draws in red.",
    "rank": "Rank plots (analysts): chains agree when the lines stay inside the band.",
    "trace": "Trace plots (analysts).",
    "energy": "Energy plot and E-BFMI per chain (analysts).",
}

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;margin:0;
color:#1a1a1a;background:#fafafa;line-height:1.45}
main{max-width:1250px;margin:0 auto;padding:1.2rem 1.6rem 3rem;background:#fff}
h1{font-size:1.7rem;margin:.2rem 0 .4rem}h2{font-size:1.3rem;margin-top:2.2rem;
border-bottom:2px solid #0072B2;padding-bottom:.2rem}h3{font-size:1.08rem;margin-top:1.4rem}
table{border-collapse:collapse;font-size:.85rem;margin:.6rem 0 1rem;width:100%}
th,td{border:1px solid #d5d5d5;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#eef3f8;position:sticky;top:0}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr:nth-child(even) td{background:#f8f8f8}
.banner{background:#fde8e8;border:2px solid #b00000;color:#7a0000;padding:.7rem 1rem;margin:1rem 0;
border-radius:4px}.banner strong{color:#b00000}
.ok{color:#006b3c;font-weight:600}.failed{color:#b00000;font-weight:700}
.meta{font-size:.85rem;color:#444}.meta td{border:none;padding:.1rem .6rem .1rem 0}
figure{margin:1rem 0 1.6rem}figure img{max-width:min(100%,950px);height:auto;border:1px solid #eee}
.scroll{overflow-x:auto;max-width:100%}
figcaption{font-size:.85rem;color:#333;margin-top:.3rem}
details{margin:.6rem 0}summary{cursor:pointer;font-weight:600}
.note{font-size:.85rem;color:#444}.small{font-size:.78rem}
nav ul{columns:2;font-size:.9rem}
.freq{background:#f4f4f4}
"""


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _num(x: Any, f: float = 1.0, nd: int = 1) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return ""
    if not math.isfinite(v):
        return ""
    return f"{v * f:.{nd}f}"


def _interval(lo: Any, hi: Any, f: float, nd: int = 1) -> str:
    a, b = _num(lo, f, nd), _num(hi, f, nd)
    return f"[{a}, {b}]" if a and b else ""


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame()
    try:
        return pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError):
        return pd.DataFrame()


def _table(df: pd.DataFrame, *, table_id: str = "", max_rows: int | None = None,
           cols: list[str] | None = None) -> str:
    if df.empty:
        return "<p class='note'>(empty)</p>"
    d = df[[c for c in (cols or list(df.columns)) if c in df.columns]]
    if max_rows is not None:
        d = d.head(max_rows)
    head = "".join(f"<th>{_e(c)}</th>" for c in d.columns)
    body = []
    for _, r in d.iterrows():
        cells = []
        for c in d.columns:
            v = r[c]
            if isinstance(v, float):
                cells.append(f"<td class='num'>{'' if not math.isfinite(v) else f'{v:.4g}'}</td>")
            else:
                cells.append(f"<td>{_e('' if v is None or (isinstance(v, float) and math.isnan(v)) else v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    tid = f" id='{_e(table_id)}'" if table_id else ""
    return (f"<div class='scroll'><table{tid}><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _load_records(root: Path, summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """fits/<name>.json records by fit name (only those that exist and parse)."""
    out: dict[str, dict[str, Any]] = {}
    for name in summary.get("fits", {}):
        p = root / "fits" / f"{name}.json"
        if p.exists():
            try:
                out[name] = json.loads(p.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, OSError):
                continue
    return out


def _label(fit: dict[str, Any], outcome: str) -> str:
    nl, en = fit.get("label_nl") or outcome, fit.get("label_en") or outcome
    return f"{_e(nl)} <span class='small'>({_e(en)})</span>"


def _overview(summary: dict[str, Any], records: dict[str, dict[str, Any]]) -> str:
    rows = []
    for name, fit in summary.get("fits", {}).items():
        if fit.get("role") != "main" or fit.get("status") != "passed":
            continue
        rec = records.get(name, {})
        f = float(rec.get("display_factor") or (100.0 if fit.get("kind") == "binary" else 1.0))
        pooled = {(p["parameter"], p["label"]): p for p in (rec.get("pooled") or fit.get("pooled", []))}
        arms = rec.get("arms") or [lab for (par, lab) in pooled if par == "mu_arm"]
        unit = "pp" if fit.get("kind") == "binary" else "SMD"
        fit_rows: list[str] = []
        for arm in arms:
            p = pooled.get(("mu_arm", arm))
            if not p:
                continue
            n, t = pooled.get(("theta_new", arm), {}), pooled.get(("tau_arm", arm), {})
            k = p.get("freq_k")
            fit_rows.append(
                f"<td>{_e(arm_name(arm))}</td>"
                f"<td>{unit}</td><td class='num'><b>{_num(p.get('mean'), f)}</b></td>"
                f"<td class='num'>{_interval(p.get('ci_low'), p.get('ci_high'), f)}</td>"
                f"<td class='num'>{_num(p.get('prob_gt_0'), 100, 0)}%</td>"
                f"<td class='num'>{_num(p.get('prob_gt_mid'), 100, 0)}%</td>"
                f"<td class='num'>{_interval(n.get('ci_low'), n.get('ci_high'), f)}</td>"
                f"<td class='num'>{_num(t.get('mean'), f)}</td>"
                f"<td class='ok'>{_e(fit.get('status'))}</td>"
                f"<td class='num freq'>{_num(p.get('freq_estimate'), f)}</td>"
                f"<td class='num freq'>{_interval(p.get('freq_ci_low'), p.get('freq_ci_high'), f)}</td>"
                f"<td class='num freq'>{'' if k is None or (isinstance(k, float) and math.isnan(k)) else int(k)}</td>")
        for i, cells in enumerate(fit_rows):
            first = (f"<td rowspan='{len(fit_rows)}'>{_label(fit, fit['outcome'])}</td>"
                     if i == 0 else "")
            rows.append(f"<tr>{first}{cells}</tr>")
    head = ("<tr><th>Outcome (NL / EN)</th><th>Arm</th><th>Unit</th><th>Pooled mean</th>"
            "<th>90% interval</th><th>P(effect&gt;0)</th><th>P(effect&gt;MID)</th>"
            "<th>New municipality 90%</th><th title='standard deviation of the effect between municipalities'>tau (sd between mun.)</th><th>Status</th>"
            "<th class='freq'>Frequentist estimate</th><th class='freq'>Freq. 90% CI</th>"
            "<th class='freq'>k (freq.)</th></tr>")
    if not rows:
        rows = ["<tr><td colspan='13'>No fit passed the diagnostics: nothing to report.</td></tr>"]
    return (f"<div class='scroll'><table id='overview'><thead>{head}</thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _banners(summary: dict[str, Any]) -> str:
    out = []
    for name, fit in summary.get("fits", {}).items():
        if fit.get("status") == "passed":
            continue
        why = fit.get("excluded_reason") or "; ".join(fit.get("diagnostics", {}).get("problems", []))
        out.append(f"<div class='banner' role='alert'><strong>FAILED DIAGNOSTICS: {_e(name)}</strong> "
                   f"({_e(fit.get('label_nl', ''))} / {_e(fit.get('label_en', ''))}, role "
                   f"{_e(fit.get('role'))}). Excluded from the overview; its figures are exploratory "
                   f"only. {_e(why)}</div>")
    return "".join(out)


def _figures(root: Path, outcome: str, rec: dict[str, Any]) -> str:
    pngs: dict[str, Path] = {}
    for rel in rec.get("figures", []):
        p = root / rel
        if p.suffix == ".png" and p.exists():
            pngs[p.stem] = p
    folder = root / "figures" / outcome
    if folder.is_dir():
        for p in sorted(q for q in folder.glob("*.png") if not q.name.startswith(".")):
            pngs.setdefault(p.stem, p)
    if not pngs:
        return "<p class='note'>No figures were made for this outcome (run without --no-plots).</p>"
    order = [s for s in FIGURE_ORDER if s in pngs] + sorted(s for s in pngs if s not in FIGURE_ORDER)
    parts, analyst = [], []
    for stem in order:
        data = base64.b64encode(pngs[stem].read_bytes()).decode("ascii")
        block = (f"<figure id='fig-{_e(outcome)}-{_e(stem)}'><img alt='{_e(stem)} - {_e(outcome)}' "
                 f"src='data:image/png;base64,{data}'><figcaption>{_e(CAPTIONS.get(stem, stem))}"
                 "</figcaption></figure>")
        (analyst if stem in ("funnel", "rank", "trace", "energy") else parts).append(block)
    if analyst:
        parts.append("<details><summary>Sampler diagnostics (for analysts)</summary>"
                     + "".join(analyst) + "</details>")
    return "".join(parts)


def _gemeente_table(rec: dict[str, Any]) -> str:
    rows = rec.get("gemeente_effects") or []
    if not rows:
        return ""
    f = float(rec.get("display_factor") or 1.0)
    body = "".join(
        f"<tr><td>{_e(gemeente_name(g['gemeente']))}</td><td>{_e(arm_name(g['arm']))}</td>"
        f"<td>{_e(g.get('grade'))}</td><td class='num'>{_num(g.get('published'), f)}</td>"
        f"<td class='num'>{_interval(g.get('published_low'), g.get('published_high'), f)}</td>"
        f"<td class='num'>{_num(g.get('mean'), f)}</td>"
        f"<td class='num'>{_interval(g.get('ci_low'), g.get('ci_high'), f)}</td>"
        f"<td class='num'>{_num(g.get('prob_gt_0'), 100, 0)}%</td>"
        f"<td class='num'>{_num(g.get('pooling'), 100, 0)}</td>"
        f"<td class='small'>{_e(g.get('row_id'))}</td></tr>" for g in rows)
    return ("<table><thead><tr><th>Municipality</th><th>Arm</th><th>Grade</th><th>Published</th>"
            "<th>Published 90%</th><th>After pooling</th><th>90% interval</th><th>P(&gt;0)</th>"
            "<th>Pulled to pool (%)</th><th>Row</th></tr></thead><tbody>" + body + "</tbody></table>")


def _section(root: Path, name: str, fit: dict[str, Any], rec: dict[str, Any]) -> str:
    outcome = fit["outcome"]
    status = fit.get("status", "")
    cls = "ok" if status == "passed" else "failed"
    gems = ", ".join(gemeente_name(g) for g in fit.get("gemeenten", []))
    unit = rec.get("unit") or fit.get("unit", "")
    head = (f"<section id='outcome-{_e(outcome)}'><h2>{_label(fit, outcome)} "
            f"<span class='small'>- <code>{_e(outcome)}</code></span></h2>"
            f"<p>Status: <span class='{cls}'>{_e(status)}</span>; "
            f"{_e(fit.get('n_rows_used', ''))} evidence rows used; municipalities: {_e(gems)}; "
            f"unit: {_e(unit)}.</p>")
    if status != "passed":
        head += ("<div class='banner'><strong>This fit failed the diagnostics gate.</strong> The "
                 "figures below are shown for diagnosis only; do not use its numbers.</div>")
    return (head + _figures(root, outcome, rec)
            + "<details><summary>Per-municipality table</summary>" + _gemeente_table(rec)
            + "</details></section>")


def _meta(summary: dict[str, Any]) -> str:
    s = summary.get("sampler", {})
    inputs = summary.get("inputs", {})
    versions = ", ".join(f"{k} {v}" for k, v in sorted(summary.get("versions", {}).items()))
    rows = [("Package", f"{summary.get('package', 'bayes_bijstand')} {summary.get('version', '')}"),
            ("Model spec", summary.get("model_spec", "")),
            ("Sampler", f"{s.get('sampler', '')}: {s.get('chains', '')} chains x {s.get('draws', '')} "
                        f"draws ({s.get('tune', '')} tuning), target_accept {s.get('target_accept', '')}"),
            ("Seed", summary.get("seed", "")),
            ("Evidence hash (sha256)", inputs.get("evidence_sha256", "")),
            ("Spec hash (sha256)", inputs.get("spec_sha256", "")),
            ("Intervals", f"{int(100 * summary.get('ci', {}).get('prob', 0.9))}% "
                          f"{summary.get('ci', {}).get('kind', 'eti')} (equal-tailed)"),
            ("Versions", versions),
            ("Report written", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))]
    return "<table class='meta'>" + "".join(
        f"<tr><td><b>{_e(k)}</b></td><td><code>{_e(v)}</code></td></tr>" for k, v in rows) + "</table>"


def _evidence(root: Path) -> str:
    ev = _read_csv(root / "evidence_used.csv")
    if ev.empty:
        return "<p class='note'>No evidence_used.csv in this run.</p>"
    if "gemeente" in ev:
        ev["gemeente"] = ev["gemeente"].map(gemeente_name)
    cols = ["outcome", "row_id", "gemeente", "arm", "comparison", "months", "grade", "used",
            "reason", "y", "se", "takeup", "source", "line"]
    return _table(ev, table_id="evidence", cols=cols)


def render(root: Path) -> str:
    """The report's HTML text for the run in ``root`` (raises InputError without summary.json)."""
    sj = root / "summary.json"
    if not sj.is_file():
        raise InputError(str(root), "no summary.json: not a bayes_bijstand output directory")
    try:
        summary = json.loads(sj.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(str(sj), f"not valid JSON ({exc.msg})") from None
    records = _load_records(root, summary)
    fits = summary.get("fits", {})
    mains = [(n, f) for n, f in fits.items() if f.get("role") == "main"]
    nav = "".join(f"<li><a href='#outcome-{_e(f['outcome'])}'>{_e(f.get('label_nl', f['outcome']))}"
                  f" / {_e(f.get('label_en', ''))}</a>"
                  f"{'' if f.get('status') == 'passed' else ' <span class=failed>(failed)</span>'}</li>"
                  for _, f in mains)
    sections = "".join(_section(root, n, f, records.get(n, {})) for n, f in mains)
    not_fitted = summary.get("not_fitted") or {}
    nf = ("<h3>Not pooled</h3><ul>" + "".join(f"<li><code>{_e(o)}</code>: {_e(w)}</li>"
                                              for o, w in not_fitted.items()) + "</ul>") if not_fitted else ""
    munis = pd.DataFrame(summary.get("municipalities") or [])
    mun = ""
    if not munis.empty:
        munis["gemeente"] = munis["gemeente"].map(gemeente_name)
        for c in ("outcomes", "outcomes_single_municipality", "evidence_sources"):
            if c in munis:
                munis[c] = munis[c].str.replace(";", ", ")
        mun = ("<h2 id='municipalities'>Municipalities</h2><p class='note'>Every municipality in "
               "the registry, with what this run used from it and, where it contributes nothing, "
               "why.</p>" + _table(munis, table_id="municipalities-table"))
    diag = _read_csv(root / "diagnostics.csv")
    grade = _read_csv(root / "grade_contributions.csv")
    pool = _read_csv(root / "pooling_comparison.csv")
    if not pool.empty and "gemeente" in pool:
        pool["gemeente"] = pool["gemeente"].map(lambda g: g if str(g).startswith("(") else gemeente_name(g))
    extra = ""
    if not grade.empty:
        extra += ("<h2 id='grades'>Contribution of each evidence grade</h2><p class='note'>Pooled "
                  "effects with and without the rows of one evidence grade (model scale: risk "
                  "difference 0-1 or SMD).</p>" + _table(grade, table_id="grade-contributions"))
    if not pool.empty:
        extra += ("<h2 id='pooling'>No, partial and full pooling</h2><p class='note'>Model scale "
                  "(risk difference 0-1 or SMD).</p>" + _table(pool, table_id="pooling-comparison"))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>bayes_bijstand - pooled effects of the bijstand experiments</title>
<style>{CSS}</style></head>
<body><main>
<h1>Bijstandsexperimenten: gepoolde effecten / pooled effects of the social-assistance experiments</h1>
<p class="note">Bayesian meta-analysis of the published estimates of the Dutch bijstand experiments,
pooled across municipalities, with a frequentist random-effects analysis (REML + Knapp-Hartung) side by
side. Binary outcomes are shown in percentage points (pp), scores in standardised mean differences
(SMD). All intervals are 90%. P(effect&gt;0) is a posterior probability, not a p-value.</p>
{_meta(summary)}
{_banners(summary)}
<h2 id="overview-heading">Overview: pooled effect per arm</h2>
<p class="note">Only fits that passed every diagnostic are listed. Grey columns: frequentist analysis of the
rows with a known SE (k = number of rows it could use).</p>
{_overview(summary, records)}
{nf}
{mun}
<nav><h3>Outcomes</h3><ul>{nav}</ul></nav>
{sections}
<h2 id="diagnostics">Sampler diagnostics</h2>
<p class="note">Gate: R-hat &le; 1.01, bulk and tail ESS &ge; 400, no divergent transitions, E-BFMI &ge; 0.3.</p>
{_table(diag, table_id="diagnostics-table")}
{extra}
<h2 id="evidence-appendix">Evidence appendix</h2>
<p class="note">Every published estimate considered, with its source file and line, evidence grade, and
whether it entered the model (and why not).</p>
{_evidence(root)}
</main></body></html>
"""


def write_report(posterior_dir: str | Path, out_file: str | Path) -> Path:
    """Write the self-contained HTML report of the run in ``posterior_dir`` to ``out_file``
    (atomically) and return its path."""
    root = Path(posterior_dir)
    text = render(root)
    out = Path(out_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, text)
    return out
