"""``write_report(posterior_dir, out_file)``: one self-contained HTML file from a run's outputs.

The report only reads what the run wrote (``summary.json``, ``fits/*.json``, the CSV tables,
``figures/<outcome>/*.png`` and the spec text stored in the fits' netCDF attributes); it
samples nothing, so it always agrees with the tables. It has no script and makes no external
request, so it can be mailed, opened offline and archived as is.

Top to bottom: the answer (a figure of the pooled effect of every policy on the outcomes that
matter, and generated sentences per policy in English and Dutch), every result with its
certainty of evidence, methods and limitations generated from the spec that ran, robustness,
one collapsed section per outcome with its figures, the municipalities, the sampler
diagnostics, the evidence appendix and, last, the run metadata. Fits that failed the
diagnostics gate are excluded from every summary and announced in a red banner at the top.

Size: the default report embeds the figures as screen-size WebP, most important first, within
a budget (:data:`FIGURE_BUDGET_BYTES`), and links the rest and the sampler diagnostics (funnel,
rank, trace, energy) as files next to the report; ``full=True`` embeds every original PNG.
"""

from __future__ import annotations

import contextvars
import html
import io
import json
import math
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError
from ..io import atomic_write_text
from ..plots import SAMPLER_DIAGNOSTICS
from ..plots._style import arm_name, gemeente_name
from .certainty import LEVELS
from .images import ANALYST_FIGURES, light_data_uri, png_data_uri
from .methods import limitations_html, methods_html, spec_of_run
from .results import Result, alternatives, arm_sentences, collect, headline
from .vocab import (
    ARM_SHORT_EN,
    COMPARISON_LABEL,
    arm_sort_key,
    evidence_type,
    outcome_sort_key,
    policy_en,
    policy_nl,
)

FIGURE_ORDER: tuple[str, ...] = ("forest", "probability", "pooling", "influence", "sensitivity",
                                 "prior_posterior", "ppc", "funnel", "rank", "trace", "energy")
FIGURE_BUDGET_BYTES = 3_800_000
"""Bytes of embedded figures in the default report (the whole file stays under 5 MB)."""
CAPTIONS: dict[str, str] = {
    "probability": "How likely is a positive effect? Probability that the pooled effect is above "
                   "zero and above the minimal important difference, and that the effect in a new "
                   "municipality is above zero.",
    "forest": "Key figure. Per arm: each municipality's published estimate (grey, marker = evidence "
              "type) above its estimate after pooling (blue); then the pooled effect (diamond) and "
              "the range to expect in a new municipality (yellow). Intervals at the run's level "
              "(90% unless fit --ci-prob said otherwise).",
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
main{max-width:1250px;margin:0 auto;padding:.6rem 1.6rem 3rem;background:#fff}
h1{font-size:1.35rem;margin:.2rem 0 .2rem}h2{font-size:1.3rem;margin-top:2.2rem;
border-bottom:2px solid #0072B2;padding-bottom:.2rem}h3{font-size:1.08rem;margin-top:1.4rem}
table{border-collapse:collapse;font-size:.85rem;margin:.6rem 0 1rem;width:100%}
th,td{border:1px solid #d5d5d5;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#eef3f8;position:sticky;top:0}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr:nth-child(even) td{background:#f8f8f8}
.banner{background:#fde8e8;border:2px solid #b00000;color:#7a0000;padding:.35rem .8rem;margin:.4rem 0;
border-radius:4px;font-size:.88rem}.banner strong{color:#b00000}
.ok{color:#006b3c;font-weight:600}.failed{color:#b00000;font-weight:700}
.meta{font-size:.85rem;color:#444}.meta td{border:none;padding:.1rem .6rem .1rem 0}
figure{margin:1rem 0 1.6rem}figure img{max-width:min(100%,950px);height:auto;border:1px solid #eee}
#headline figure{margin:.3rem 0 .5rem}#headline svg,.refits svg{max-width:100%;height:auto}
.scroll{overflow-x:auto;max-width:100%}
figcaption{font-size:.85rem;color:#333;margin-top:.3rem}
details{margin:.6rem 0}summary{cursor:pointer;font-weight:600}
.note{font-size:.85rem;color:#444}.small{font-size:.78rem}.lede{margin:.1rem 0 .3rem;font-size:.95rem}
nav ul{columns:3;font-size:.9rem;margin:.3rem 0}
.freq{background:#f4f4f4}
.arms{display:grid;grid-template-columns:1fr 1fr;gap:.2rem 1.4rem;font-size:.9rem}
.arms p{margin:.25rem 0}
.c-high,.c-moderate{color:#005A8C;font-weight:600}.c-low{color:#B04A00;font-weight:600}
.c-very-low{color:#7A4A73;font-weight:600}.prior{color:#777;font-style:italic}
.later{content-visibility:auto;contain-intrinsic-size:auto 1200px}
"""


#: the run's interval level as text ("90%"; ``fit --ci-prob``), set by :func:`render`
_LEVEL: contextvars.ContextVar[str] = contextvars.ContextVar("report_level", default="90%")


def _lev() -> str:
    return _LEVEL.get()


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _num(x: Any, f: float = 1.0, nd: int = 1) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return ""
    if not math.isfinite(v):
        return ""
    return f"{v * f:.{nd}f}".replace("-", "\u2212")


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


HEADERS: dict[str, str] = {
    "outcome": "Outcome", "row_id": "Row", "gemeente": "Municipality", "arm": "Arm",
    "comparison": "Comparison", "months": "Months", "grade": "Evidence type", "used": "Used",
    "reason": "Why not used", "y": "Estimate (model scale)", "se": "SE (model scale)",
    "takeup": "Take-up", "source": "Source file", "line": "Line", "name": "Fit",
    "status": "Status", "rhat_max": "max R-hat", "ess_bulk_min": "min bulk ESS",
    "ess_tail_min": "min tail ESS", "divergences": "Divergences", "ebfmi_min": "min E-BFMI",
    "pooling": "Pooling", "dropped_grade": "Evidence type left out", "label": "Arm / component",
    "parameter": "Parameter",
}


def _cell(v: Any, nd: int = 3) -> str:
    if isinstance(v, bool):
        return f"<td>{'yes' if v else 'no'}</td>"
    if isinstance(v, int | float) and not isinstance(v, bool):
        x = float(v)
        if not math.isfinite(x):
            return "<td class='num'></td>"
        if x == int(x) and abs(x) < 1e9:
            return f"<td class='num'>{int(x)}</td>"
        return f"<td class='num'>{x:.{nd}g}</td>".replace("-", "\u2212")
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "<td></td>"
    return f"<td>{_e(v)}</td>"


def _table(df: pd.DataFrame, *, table_id: str = "", cols: list[str] | None = None,
           headers: dict[str, str] | None = None, nd: int = 3) -> str:
    """A readable table: plain-word headers, yes/no, numbers rounded to ``nd`` digits."""
    if df.empty:
        return "<p class='note'>(empty)</p>"
    d = df[[c for c in (cols or list(df.columns)) if c in df.columns]]
    names = {**HEADERS, **(headers or {})}
    head = "".join(f"<th>{_e(names.get(c, str(c).replace('_', ' ').capitalize()))}</th>"
                   for c in d.columns)
    body = []
    for row in d.itertuples(index=False):
        body.append("<tr>" + "".join(_cell(v, nd) for v in row) + "</tr>")
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
    return f"{_e(en)} <span class='small'>({_e(nl)})</span>"


def _arm_cell(arm: str) -> str:
    return f"{_e(policy_en(arm))} <span class='small'>({_e(arm_name(arm))})</span>"


def _certainty_cell(r: Result) -> str:
    c = r.certainty
    cls = "c-" + c.level.replace(" ", "-")
    why = "; ".join(c.reasons) or "no concern found"
    prior = " <span class='prior'>mostly prior</span>" if c.mostly_prior else ""
    ratio = f"{c.sd_ratio:.2f}" if math.isfinite(c.sd_ratio) else "?"
    return (f"<td><span class='{cls}'>{_e(c.level)}</span>{prior}<br>"
            f"<span class='small'>{_e(why)}</span></td>"
            f"<td class='small'>{c.n_gemeenten} mun.: {_e(c.mix())}<br>post/prior SD {ratio}</td>")


def _twin_cell(r: Result) -> str:
    """The frequentist twin in one cell: pooled, single study, or why it cannot enter."""
    fz = r.freq
    k = fz.get("freq_k")
    try:
        k = int(float(k))
    except (TypeError, ValueError):
        k = 0
    f = r.factor
    if k == 0:
        note = str(fz.get("freq_note") or "")
        note = "" if note in ("nan", "None") else note
        return ("<td class='freq small'>no frequentist estimate: "
                + (_e(note) if note else "no municipality prints a number with its SE (markers "
                   "or prose only), which a frequentist analysis cannot use") + "</td>")
    est = _num(fz.get("freq_estimate"), f, 1 if r.unit == "pp" else 2)
    ci = _interval(fz.get("freq_ci_low"), fz.get("freq_ci_high"), f, 1 if r.unit == "pp" else 2)
    if k == 1:
        rest = r.certainty.n_gemeenten - 1
        tail = (f"; {rest} other municipalit{'y' if rest == 1 else 'ies'} cannot enter (markers "
                "or prose)" if rest > 0 else "")
        return f"<td class='freq small'>single study (not pooled): {est} {r.unit} {ci}{tail}</td>"
    extra = []
    nd = 1 if r.unit == "pp" else 2

    def fl(key: str) -> float:
        try:
            return float(fz.get(key))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return math.nan

    tau2, i2, q, qp = fl("freq_tau2"), fl("freq_I2"), fl("freq_Q"), fl("freq_Q_p")
    if math.isfinite(tau2):
        extra.append(f"tau {math.sqrt(max(tau2, 0.0)) * f:.{nd}f} {r.unit}")
    if math.isfinite(i2):
        extra.append(f"I\u00b2 {i2:.0f}%")
    if math.isfinite(q):
        extra.append(f"Q {q:.2f} (df {k - 1}" + (f", p {qp:.2f})" if math.isfinite(qp) else ")"))
    pi = _interval(fz.get("pi_freq_ci_low"), fz.get("pi_freq_ci_high"), f,
                   1 if r.unit == "pp" else 2)
    if pi:
        extra.append(f"prediction {pi}")
    method = _e(fz.get("freq_method") or "REML+KNHA")
    return (f"<td class='freq small'>{method}, k = {k}: {est} {r.unit} {ci}"
            f"{'; ' + ', '.join(extra) if extra else ''}</td>")


def _overview(results: list[Result], fits: dict[str, Any]) -> str:
    """Every result with its certainty, outcomes in importance order (table ``overview``)."""
    rows: list[str] = []
    by_outcome: dict[str, list[Result]] = {}
    for r in results:
        by_outcome.setdefault(r.outcome, []).append(r)
    label_of = {f["outcome"]: f for f in fits.values() if f.get("role") == "main"}
    for outcome, rs in by_outcome.items():
        for i, r in enumerate(rs):
            first = (f"<td rowspan='{len(rs)}'>{_label(label_of.get(outcome, {}), outcome)}</td>"
                     if i == 0 else "")
            nd = 1 if r.unit == "pp" else 2
            rows.append(
                f"<tr>{first}<td>{_arm_cell(r.arm)}</td>"
                f"<td class='num'><b>{_num(r.mean, 1, nd)}</b> {r.unit}<br>"
                f"{_interval(r.ci_low, r.ci_high, 1, nd)}</td>"
                f"<td class='num'>{_num(r.p_gt0, 100, 0)}%</td>"
                f"<td class='num'>{_num(r.p_gt_mid, 100, 0)}%</td>"
                f"<td class='num'>{_interval(r.new_low, r.new_high, 1, nd)}</td>"
                f"{_certainty_cell(r)}{_twin_cell(r)}</tr>")
    head = ("<tr><th>Outcome</th><th>Policy (arm)</th><th>Pooled effect per participant, "
            f"{_lev()} interval</th><th>P(effect&gt;0)</th><th>P(effect&gt;MID)</th>"
            f"<th>New municipality {_lev()}</th><th>Certainty of evidence</th><th>Evidence</th>"
            "<th class='freq'>Frequentist twin (REML + Knapp-Hartung)</th></tr>")
    if not rows:
        rows = ["<tr><td colspan='9'>No fit passed the diagnostics: nothing to report.</td></tr>"]
    return (f"<div class='scroll'><table id='overview'><thead>{head}</thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _banners(summary: dict[str, Any]) -> str:
    failed = [(n, f) for n, f in summary.get("fits", {}).items() if f.get("status") != "passed"]
    refit = [(n, f) for n, f in failed if f.get("role") in ("loo", "variant")]
    failed = [(n, f) for n, f in failed if f.get("role") not in ("loo", "variant")]
    out = ""
    if refit:
        names = ", ".join(_e(n) for n, _ in refit)
        out = (f"<div class='banner' role='alert'><strong>ROBUSTNESS REFITS FAILED DIAGNOSTICS: "
               f"{names}</strong> - shown with a hollow dot and marked 'failed' in the robustness "
               "tables, not used by the certainty rating.</div>")
    if not failed:
        return out
    items = []
    for name, fit in failed:
        why = fit.get("excluded_reason") or "; ".join(fit.get("diagnostics", {}).get("problems", []))
        items.append(f"<li><b>{_e(name)}</b> ({_e(fit.get('label_en', ''))}, role "
                     f"{_e(fit.get('role'))}): {_e(why)}</li>")
    names = ", ".join(_e(n) for n, _ in failed)
    return (f"<div class='banner' role='alert'><strong>FAILED DIAGNOSTICS: {names}</strong> - "
            "excluded from every summary; their figures are exploratory only."
            f"<details><summary>Why</summary><ul>{''.join(items)}</ul></details></div>" + out)


def _figure_files(root: Path, outcome: str, rec: dict[str, Any]) -> dict[str, Path]:
    """The PNG figures of one outcome by stem, in :data:`FIGURE_ORDER`."""
    pngs: dict[str, Path] = {}
    for rel in rec.get("figures", []):
        p = root / rel
        if p.suffix == ".png" and p.exists():
            pngs[p.stem] = p
    folder = root / "figures" / outcome
    if folder.is_dir():
        for p in sorted(q for q in folder.glob("*.png") if not q.name.startswith(".")):
            pngs.setdefault(p.stem, p)
    order = [s for s in FIGURE_ORDER if s in pngs] + sorted(s for s in pngs if s not in FIGURE_ORDER)
    return {s: pngs[s] for s in order}


def embed_plan(files: dict[str, dict[str, Path]], *, full: bool,
               budget: int = FIGURE_BUDGET_BYTES) -> dict[tuple[str, str], str]:
    """Data URIs of the figures to embed, by (outcome, stem); the others are linked.

    ``files``: outcome -> stem -> PNG, outcomes in importance order. ``full`` embeds every
    original PNG. Otherwise the sampler diagnostics are never embedded and the others are
    embedded as light WebP in priority order - figure kind first (forest, probability, ...),
    then outcome importance - while they fit in ``budget`` bytes, so the report stays small
    however many outcomes a run has.
    """
    out: dict[tuple[str, str], str] = {}
    if full:
        for o, stems in files.items():
            for s, p in stems.items():
                out[(o, s)] = png_data_uri(p)
        return out
    kinds = [k for k in FIGURE_ORDER if k not in ANALYST_FIGURES]
    kinds += sorted({s for stems in files.values() for s in stems} - set(FIGURE_ORDER))
    used = 0
    for kind in kinds:
        for o, stems in files.items():
            if kind not in stems:
                continue
            uri = light_data_uri(stems[kind])
            if used + len(uri) > budget:
                continue
            used += len(uri)
            out[(o, kind)] = uri
    return out


def _figures(outcome: str, pngs: dict[str, Path], embedded: dict[tuple[str, str], str], *,
             full: bool, link_to: Path) -> str:
    if not pngs:
        return "<p class='note'>No figures were made for this outcome (run without --no-plots).</p>"
    parts, analyst, linked = [], [], []
    for stem, path in pngs.items():
        uri = embedded.get((outcome, stem))
        if uri is None:
            href = Path(os.path.relpath(path, link_to)).as_posix()
            item = f"<li><a href='{_e(href)}'>{_e(stem)}.png</a>: {_e(CAPTIONS.get(stem, stem))}</li>"
            (analyst if stem in ANALYST_FIGURES else linked).append(item)
            continue
        block = (f"<figure id='fig-{_e(outcome)}-{_e(stem)}'><img alt='{_e(stem)} - {_e(outcome)}' "
                 f"loading='lazy' decoding='async' src='{uri}'>"
                 f"<figcaption>{_e(CAPTIONS.get(stem, stem))}</figcaption></figure>")
        (analyst if stem in ANALYST_FIGURES else parts).append(block)
    if linked:
        parts.append("<p class='note'>More figures, as files next to this report (left out to keep "
                     "the report small; rebuild with <code>--full</code> to embed them):</p>"
                     "<ul class='small'>" + "".join(linked) + "</ul>")
    if analyst and full:
        parts.append("<details><summary>Sampler diagnostics (for analysts)</summary>"
                     + "".join(analyst) + "</details>")
    elif analyst:
        parts.append("<p class='note'>Sampler diagnostics (for analysts), as files next to this "
                     "report (rebuild with <code>--full</code> to embed them):</p><ul class='small'>"
                     + "".join(analyst) + "</ul>")
    if not any(stem in pngs for stem in SAMPLER_DIAGNOSTICS):
        parts.append("<p class='note'>This fit passed the diagnostics gate, so the run did not "
                     "draw its sampler plots (rank, trace, energy); draw them with <code>python "
                     f"-m bayes_bijstand.plots fits/{_e(outcome)}.nc --only rank trace energy"
                     "</code> in the run's folder.</p>")
    return "".join(parts)


def _gemeente_table(rec: dict[str, Any]) -> str:
    rows = rec.get("gemeente_effects") or []
    if not rows:
        return ""
    f = float(rec.get("display_factor") or 1.0)
    body = "".join(
        f"<tr><td>{_e(gemeente_name(g['gemeente']))}</td><td>{_arm_cell(g['arm'])}</td>"
        f"<td>{_e(evidence_type(g.get('grade')))}</td>"
        f"<td>{_e(COMPARISON_LABEL.get(str(g.get('comparison')), g.get('comparison') or ''))}</td>"
        f"<td class='num'>{_num(g.get('published'), f)}</td>"
        f"<td class='num'>{_interval(g.get('published_low'), g.get('published_high'), f)}</td>"
        f"<td class='num'>{_num(g.get('mean'), f)}</td>"
        f"<td class='num'>{_interval(g.get('ci_low'), g.get('ci_high'), f)}</td>"
        f"<td class='num'>{_num(g.get('prob_gt_0'), 100, 0)}%</td>"
        f"<td class='num'>{_num(g.get('pooling'), 100, 0)}</td>"
        f"<td class='small'>{_e(g.get('row_id'))}</td></tr>" for g in rows)
    return ("<table><thead><tr><th>Municipality</th><th>Arm</th><th>Evidence type</th>"
            f"<th>Comparison</th><th>Published</th><th>Published {_lev()}</th><th>After pooling</th>"
            f"<th>{_lev()} interval</th><th>P(&gt;0)</th><th>Pulled to pool (%)</th><th>Row</th></tr>"
            "</thead><tbody>" + body + "</tbody></table>")


def _section(name: str, fit: dict[str, Any], rec: dict[str, Any], pngs: dict[str, Path],
             embedded: dict[tuple[str, str], str], *, full: bool, link_to: Path) -> str:
    outcome = fit["outcome"]
    status = fit.get("status", "")
    cls = "ok" if status == "passed" else "failed"
    gems = ", ".join(gemeente_name(g) for g in fit.get("gemeenten", []))
    unit = rec.get("unit") or fit.get("unit", "")
    warn = ("<div class='banner'><strong>This fit failed the diagnostics gate.</strong> The "
            "figures below are shown for diagnosis only; do not use its numbers.</div>"
            if status != "passed" else "")
    return (f"<section id='outcome-{_e(outcome)}'><details><summary>{_label(fit, outcome)} "
            f"<span class='small'>- <code>{_e(outcome)}</code> - <span class='{cls}'>"
            f"{_e(status)}</span></span></summary>"
            f"<p>{_e(fit.get('n_rows_used', ''))} evidence rows used; municipalities: {_e(gems)}; "
            f"unit: {_e(unit)}.</p>{warn}"
            + _figures(outcome, pngs, embedded, full=full, link_to=link_to)
            + "<details><summary>Per-municipality table</summary>" + _gemeente_table(rec)
            + "</details></details></section>")


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
    if "grade" in ev:
        ev["grade"] = ev["grade"].map(evidence_type)
    if "comparison" in ev:
        ev["comparison"] = ev["comparison"].map(lambda c: COMPARISON_LABEL.get(str(c), c))
    if "used" in ev:
        ev["used"] = ev["used"].map(lambda v: "yes" if v in (True, "True", 1) else "no")
    cols = ["outcome", "row_id", "gemeente", "arm", "comparison", "months", "grade", "used",
            "reason", "y", "se", "takeup", "source", "line"]
    return _table(ev, table_id="evidence", cols=cols)


def _headline_svg(hl: list[Result]) -> str:
    """The headline figure as inline SVG ("" where matplotlib is missing)."""
    try:
        from ..plots._style import style
        from ..plots.headline import plot_headline
    except ImportError:  # pragma: no cover - plotting extra not installed
        return ""
    arms = sorted({r.arm for r in hl}, key=arm_sort_key)
    fig = plot_headline(hl, arms=arms, arm_titles={a: ARM_SHORT_EN.get(a, policy_en(a))
                                                   for a in arms}, level=_lev())
    buf = io.StringIO()
    with style():
        fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    return svg[svg.index("<svg"):] if "<svg" in svg else ""


def _headline(results: list[Result]) -> str:
    hl = headline(results)
    if not hl:
        return ("<section id='headline'><p class='note'>No pooled result passed the diagnostics: "
                "there is no answer to show.</p></section>")
    svg = _headline_svg(hl)
    arms = sorted({r.arm for r in hl}, key=arm_sort_key)
    sentences = "".join(
        f"<p lang='en'><b>{_e(policy_en(a))}.</b> {_e(arm_sentences(hl, a))}</p>"
        f"<p lang='nl'><b>{_e(policy_nl(a))}.</b> {_e(arm_sentences(hl, a, nl=True))}</p>"
        for a in arms)
    return (
        "<section id='headline'>"
        "<p class='lede'>Does exemption from obligations, intensive coaching or a larger earnings "
        "disregard raise work, and how sure are we? Pooled effect per participant of each policy "
        f"(dot and bar: mean and {_lev()} interval; thin yellow bar: a new municipality), in percentage "
        "points for work and income, in SD for survey outcomes. Colour = certainty of evidence.</p>"
        f"<figure id='headline-figure' aria-label='Pooled effects by policy and outcome'>{svg}"
        "</figure>"
        f"<div class='arms'>{sentences}</div>"
        "<p class='note'>English left, Nederlands rechts. \u201cProbability of any gain\u201d is the "
        "posterior probability that the pooled effect is above zero. Certainty: see "
        "<a href='#certainty'>how it is rated</a>; every result: <a href='#results'>table</a>.</p>"
        "</section>")


def _certainty_explained() -> str:
    from . import certainty

    doc = (certainty.__doc__ or "").split("\n\n")
    items = [" ".join(p.split()) for p in doc[1:] if p.strip()]
    return ("<h2 id='certainty'>How certainty of evidence is rated</h2>"
            + "".join(f"<p class='note'>{_e(p).replace('**', '')}</p>" for p in items)
            + f"<p class='note'>Levels: {', '.join(reversed(LEVELS))}. This is a GRADE-like "
            "summary computed from the run, not a formal GRADE assessment. \u201cEvidence type\u201d "
            "(printed SE, CI, p-value, group counts, significance marker, prose) is how a "
            "municipality's number is known; it is not a certainty rating.</p>")


def _robustness(root: Path, fits: dict[str, Any], summary: dict[str, Any] | None = None) -> str:
    factor = {f["outcome"]: (100.0 if f.get("kind") == "binary" else 1.0)
              for f in fits.values() if f.get("role") == "main"}
    unit = {o: ("pp" if v == 100.0 else "SD") for o, v in factor.items()}
    label = {f["outcome"]: f.get("label_en") or f["outcome"] for f in fits.values()
             if f.get("role") == "main"}
    out = ["<h2 id='robustness'>Robustness</h2>"]
    grade = _read_csv(root / "grade_contributions.csv")
    if not grade.empty and {"outcome", "mean_with", "mean_without"} <= set(grade.columns):
        g = grade[grade.get("parameter", "mu_arm") == "mu_arm"].copy() if "parameter" in grade else grade.copy()
        g["f"] = g["outcome"].map(factor).fillna(1.0)
        g["Outcome"] = g["outcome"].map(label).fillna(g["outcome"])
        g["Policy"] = g["label"].map(policy_en) if "label" in g else ""
        g["Left out"] = g["dropped_grade"].map(lambda x: evidence_type(x)) if "dropped_grade" in g else ""
        g["Unit"] = g["outcome"].map(unit)
        nd = g["Unit"].map(lambda u: 1 if u == "pp" else 2)
        for col, val in (("With all", g["mean_with"] * g["f"]),
                         ("Without", g["mean_without"] * g["f"]),
                         ("Shift", (g["mean_with"] - g["mean_without"]) * g["f"])):
            g[col] = [_num(v, 1, d) for v, d in zip(val, nd, strict=True)]
        if "ci_width_ratio" in g:
            g["Interval width with / without"] = g["ci_width_ratio"].map(lambda v: _num(v, 1, 2))
        g["_o"] = g["outcome"].map(outcome_sort_key)
        g["_a"] = g["label"].map(arm_sort_key) if "label" in g else 0
        g = g.sort_values(by=["_o", "dropped_grade", "_a"], kind="mergesort")
        out.append("<h3 id='grades'>What each evidence type contributes</h3><p class='note'>Pooled "
                   "effect with all rows and refitted without the rows of one evidence type. A large "
                   "shift means the result leans on that kind of evidence; a width ratio near 1 means "
                   "it added little information.</p>"
                   + _table(g, table_id="grade-contributions", nd=2,
                            cols=["Outcome", "Policy", "Left out", "Unit", "With all", "Without",
                                  "Shift", "Interval width with / without"]))
    pool = _read_csv(root / "pooling_comparison.csv")
    if not pool.empty and {"outcome", "pooling", "gemeente", "arm", "mean"} <= set(pool.columns):
        p = pool.copy()
        p["f"] = p["outcome"].map(factor).fillna(1.0)
        p["Outcome"] = p["outcome"].map(label).fillna(p["outcome"])
        p["Municipality"] = p["gemeente"].map(
            lambda g: "(pooled)" if str(g).startswith("(") else gemeente_name(g))
        p["Policy"] = p["arm"].map(policy_en)
        p["Unit"] = p["outcome"].map(unit)
        p["Effect"] = [_num(v, f, 1 if f == 100.0 else 2) for v, f in zip(p["mean"], p["f"], strict=True)]
        p[f"{_lev()} interval"] = [_interval(lo, hi, f) for lo, hi, f in
                             zip(p.get("ci_low"), p.get("ci_high"), p["f"], strict=True)]
        p["Pooling"] = p["pooling"]
        out.append("<h3 id='pooling'>No, partial and full pooling</h3><p class='note'>The same "
                   "evidence analysed with each municipality on its own (none), the hierarchical "
                   "model (partial) and one common effect (full).</p>"
                   + "<details><summary>Show the table</summary>"
                   + _table(p, table_id="pooling-comparison", nd=2,
                            cols=["Outcome", "Pooling", "Municipality", "Policy", "Unit", "Effect",
                                  f"{_lev()} interval"]) + "</details>")
    out.append(_refits(root, factor, unit, label, summary))
    out.append("<p class='note'>Per outcome, the influence figure shows the pooled effect with each "
               "municipality left out and the sensitivity figure the effect under wider and "
               "tighter priors (in the outcome sections below).</p>")
    return "".join(out)


def _refit_grid(df: pd.DataFrame, key: str, names: dict[str, str], factor: float, unit: str,
                table_id: str) -> str:
    """Rows = ``key`` values (municipality left out, or variant), columns = arms."""
    arms = sorted({a for a in df["arm"].dropna() if a}, key=arm_sort_key)
    nd = 1 if unit == "pp" else 2
    head = ("<tr><th>" + _e(names.get("__key__", key)) + "</th>"
            + "".join(f"<th>{_arm_cell(a)}</th>" for a in arms) + "</tr>")
    body = []
    for k, sub in df.groupby(key, sort=False):
        cells = []
        by_arm = {r["arm"]: r for _, r in sub.iterrows()}
        for a in arms:
            r = by_arm.get(a)
            if r is None:
                st = str(sub["status"].iloc[0]) if "status" in sub else ""
                cells.append(f"<td class='small'>{_e(st if st.startswith('not') else 'not estimable: no other evidence for this arm')}</td>")
                continue
            bad = "" if r.get("status") == "passed" else f" <span class='failed'>{_e(r.get('status'))}</span>"
            cells.append(f"<td class='num'>{_num(r['mean'], factor, nd)} "
                         f"{_interval(r['ci_low'], r['ci_high'], factor, nd)}<br>"
                         f"<span class='small'>P(&gt;0) {_num(r['prob_gt_0'], 100, 0)}%</span>{bad}</td>")
        body.append(f"<tr><td>{_e(names.get(str(k), str(k)))}</td>{''.join(cells)}</tr>")
    return (f"<div class='scroll'><table id='{_e(table_id)}'><thead>{head}</thead><tbody>"
            + "".join(body) + "</tbody></table></div>")


def _refit_svg(df: pd.DataFrame, key: str, names: dict[str, str], factor: float, unit: str,
               baseline: str | None) -> str:
    """The compact robustness figure of one outcome as inline SVG ("" without matplotlib)."""
    try:
        from ..plots._style import style
        from ..plots.headline import plot_refits
    except ImportError:  # pragma: no cover - plotting extra not installed
        return ""
    arms = sorted({a for a in df["arm"].dropna() if a}, key=arm_sort_key)
    keys = [str(k) for k in dict.fromkeys(df[key])]
    rows = [{"key": str(r[key]), "arm": r["arm"], "mean": float(r["mean"]) * factor,
             "ci_low": float(r["ci_low"]) * factor, "ci_high": float(r["ci_high"]) * factor,
             "passed": r.get("status") == "passed"}
            for _, r in df.iterrows() if isinstance(r.get("arm"), str) and r["arm"]]
    fig = plot_refits(rows, arms=arms, arm_titles={a: ARM_SHORT_EN.get(a, policy_en(a)) for a in arms},
                      keys=keys, key_labels=names, unit="pp" if unit == "pp" else "SD",
                      baseline=baseline)
    buf = io.StringIO()
    with style():
        fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    return ("<figure class='refits'>" + svg[svg.index("<svg"):] + "</figure>") if "<svg" in svg else ""


def _refit_labels(df: pd.DataFrame, key: str, base: dict[str, str]) -> dict[str, str]:
    """Row labels of a refit table: ``base`` per key, marked where the row is another fit."""
    names = dict(base)
    if "note" not in df:
        return names
    for k, note in dict(zip(df[key], df["note"], strict=True)).items():  # once per row
        note = note if isinstance(note, str) else ""
        if note.startswith("no row or prior"):
            names[str(k)] = f"{names.get(str(k), k)} (no change: the main fit)"
        elif note.startswith("the same model data as "):
            other = note.removeprefix("the same model data as ").split(".", 1)[-1]
            other = other.removeprefix("without-")
            names[str(k)] = f"{names.get(str(k), k)} (= {gemeente_name(other)} left out)" \
                if other != note else f"{names.get(str(k), k)} (same fit as another row)"
    return names


def _refits(root: Path, factor: dict[str, float], unit: dict[str, str],
            label: dict[str, str], summary: dict[str, Any] | None = None) -> str:
    """The exact leave-one-municipality-out and multiverse refits, where the run has them."""
    loo = _read_csv(root / "robustness_loo.csv")
    multi = _read_csv(root / "multiverse.csv")
    if loo.empty and multi.empty:
        return ("<p class='note'>No exact refits in this run: <code>fit --robustness "
                "headline</code> (the default of a run over all outcomes) or <code>python -m "
                "bayes_bijstand.robustness --posterior OUT</code> adds leave-one-municipality-out "
                "and multiverse refits of the headline outcomes to this section.</p>")
    if "left_out" in loo:
        loo["left_out"] = loo["left_out"].fillna("").astype(str)
    rob = (summary or {}).get("robustness") or {}
    draws = [int(d) for d in rob.get("draws_total") or [] if d]
    out = ["<p class='note'>Exact refits: the model fitted again with one municipality left out "
           "or one assumption changed, everything else as reported. "
           + (f"Refits use {', '.join(map(str, draws))} draws in all (the main fits more) and "
              "pass the same diagnostics gate; " if draws else "")
           + "a hollow dot marks a refit that failed the diagnostics. Where the same result "
           "appears under another assumption the certainty rating of that result is lowered "
           "(see its reasons).</p>"]
    for o in sorted(set(loo.get("outcome", pd.Series(dtype=str))) | set(multi.get("outcome", pd.Series(dtype=str))),
                    key=outcome_sort_key):
        f, u = factor.get(o, 1.0), unit.get(o, "")
        out.append(f"<h3 id='refits-{_e(o)}'>{_e(label.get(o, o))}: exact refits ({_e(u)})</h3>")
        if not multi.empty and o in set(multi["outcome"]):
            m = multi[multi["outcome"] == o]
            names = {"__key__": "Assumption changed"}
            names.update({str(v): str(w) for v, w in zip(m["variant"], m["what"], strict=True)})
            names = _refit_labels(m, "variant", names)
            out.append(f"<p class='note'>Multiverse: the pooled effect per participant, {_lev()} "
                       "interval and P(effect &gt; 0), refitted with one assumption changed at a "
                       "time (orange band: the result as reported).</p>"
                       + _refit_svg(m, "variant", names, f, u, "baseline")
                       + "<details><summary>The numbers</summary>"
                       + _refit_grid(m, "variant", names, f, u, f"multiverse-{o}") + "</details>")
        if not loo.empty and o in set(loo["outcome"]):
            lo = loo[loo["outcome"] == o].copy()
            names = {"__key__": "Municipality left out", "": "none (as reported)"}
            names.update({str(g): gemeente_name(g) for g in lo["left_out"] if g})
            out.append("<p class='note'>Leave one municipality out: exact refits without every row "
                       "of one municipality (prose-only municipalities included).</p>"
                       + _refit_svg(lo, "left_out", names, f, u, "")
                       + "<details><summary>The numbers</summary>"
                       + _refit_grid(lo, "left_out", names, f, u, f"loo-{o}") + "</details>")
    return "".join(out)


def _municipalities(summary: dict[str, Any]) -> str:
    munis = pd.DataFrame(summary.get("municipalities") or [])
    if munis.empty:
        return ""
    munis["gemeente"] = munis["gemeente"].map(gemeente_name)
    for c in ("outcomes", "outcomes_single_municipality", "evidence_sources"):
        if c in munis:
            munis[c] = munis[c].astype(str).str.replace(";", ", ").replace("nan", "")
    return ("<h2 id='municipalities'>Municipalities</h2><p class='note'>Every municipality in "
            "the registry, with what this run used from it and, where it contributes nothing, "
            "why.</p>" + _table(munis, table_id="municipalities-table"))


def _thresholds(summary: dict[str, Any]) -> str:
    """Nested thresholds: each threshold's effect from the joint latent-shift fit beside its
    own fit (percentage points)."""
    rows = summary.get("thresholds") or []
    if not rows:
        return ""
    body = "".join(
        f"<tr><td>{_e(r['outcome'])}</td><td>{_arm_cell(r['arm'])}</td>"
        f"<td>{_num(r['joint_mean'], 100)} {_interval(r['joint_ci_low'], r['joint_ci_high'], 100)}</td>"
        f"<td>{'' if r['separate_mean'] is None else _num(r['separate_mean'], 100) + ' ' + _interval(r['separate_ci_low'], r['separate_ci_high'], 100)}</td>"
        f"<td>{'' if r['disagree'] is None else ('yes' if r['disagree'] else 'no')}</td></tr>"
        for r in rows)
    return ("<h2 id='thresholds'>Nested thresholds: work &gt; 8/12/27/32 h and income in one "
            "latent shift</h2><p class='note'>The hours (and income) thresholds are thresholds of "
            "one distribution: the joint fit gives each municipality and arm one shift of it, "
            "pooled across municipalities and thresholds, so the thresholds cannot contradict each "
            "other and borrow strength (docs/thresholds.md). Each threshold's implied effect "
            f"(pp, {_lev()} interval) beside its own fit; 'disagree' where the two means differ by "
            "more than 1.645 combined SDs.</p><details><summary>Show the table</summary>"
            "<table><thead><tr><th>Threshold</th><th>Policy</th><th>Joint fit</th>"
            "<th>Separate fit</th><th>Disagree</th></tr></thead><tbody>" + body +
            "</tbody></table></details>")


def _coach(summary: dict[str, Any]) -> str:
    """The coach component: each team's effect beside the average coach's, and a new
    municipality's new team (effects in pp or SD as the outcome's scale)."""
    rows = summary.get("coach") or []
    if not rows:
        return ""
    fits = summary.get("fits") or {}
    factor = {f["outcome"]: (100.0 if f.get("kind") == "binary" else 1.0) for f in fits.values()}

    def eff(r: dict[str, Any], p: str) -> str:
        f = factor.get(r["outcome"], 1.0)
        return f"{_num(r[p + '_mean'], f)} {_interval(r[p + '_ci_low'], r[p + '_ci_high'], f)}"

    body = "".join(
        f"<tr><td>{_e(r['outcome'])}</td><td>{_e(gemeente_name(r['gemeente']) if r['gemeente'] else 'new municipality')}</td>"
        f"<td>{_arm_cell(r['arm'])}</td><td>{_e(r['basis'])}</td><td>{eff(r, 'team')}</td>"
        f"<td>{eff(r, 'avg')}</td><td>{100 * r['coach_share']:.0f}%</td>"
        f"<td>{'' if r.get('design_effect') is None else format(r['design_effect'], '.2f')}</td></tr>"
        for r in rows)
    sig = [(r["outcome"], r["sigma_mean"], r["sigma_ci_low"], r["sigma_ci_high"]) for r in rows]
    binary = [s for s in sig if factor.get(s[0]) == 100.0]
    lead = ""
    if binary:
        o, m, lo, hi = binary[0]
        lead = (f" On {_e(o)} the SD of one coach's effect around the average coach is "
                f"{100 * m:.1f} pp [{100 * lo:.1f}, {100 * hi:.1f}]: the published rows cannot "
                "separate it from the programme, so it stays close to its prior (docs/model.md).")
    return ("<h2 id='coaches'>Coaches: the effect with these coaches and with others</h2>"
            "<p class='note'>An arm delivered by a few coaches measures the programme <em>plus "
            "those people</em>. Each such arm's contrast carries coach variation "
            "sigma_coach<sup>2</sup> &times; &Sigma; w<sub>k</sub><sup>2</sup> (w: the coaches' "
            "caseload shares, from the registry), and a new municipality's prediction includes a "
            f"new team. 'These coaches': the effect the experiment measured; 'average coach': the "
            f"same programme with other coaches; 'coach share': how much of the first's "
            f"uncertainty is coach variation; 'design effect': the 1 + (m - 1) ICC of clustering "
            f"by coach that this implies for the arm's rows ({_lev()} intervals; pp for yes/no "
            f"outcomes, SD for scores).{lead}</p><details><summary>Show the table</summary>"
            "<table><thead><tr><th>Outcome</th><th>Municipality</th><th>Policy</th><th>Team</th>"
            "<th>These coaches / a new team</th><th>Average coach</th><th>Coach share</th>"
            "<th>Design effect</th></tr>"
            "</thead><tbody>" + body + "</tbody></table></details>")


def _domains(summary: dict[str, Any]) -> str:
    """Domain fits: one effect per domain and arm behind a scale and its single-municipality
    items (SD units)."""
    rows = summary.get("domains") or []
    if not rows:
        return ""
    members: dict[tuple[str, str], list[str]] = {}
    first: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        key = (r["domain"], r["arm"])
        members.setdefault(key, []).append(
            f"{r['outcome']} ({', '.join(gemeente_name(g) for g in r['gemeenten'].split(';'))})")
        first.setdefault(key, r)
    body = "".join(
        f"<tr><td>{_e(d)}</td><td>{_arm_cell(a)}</td>"
        f"<td>{_num(first[(d, a)]['domain_mean'], 1)} "
        f"{_interval(first[(d, a)]['domain_ci_low'], first[(d, a)]['domain_ci_high'], 1)}</td>"
        f"<td>{100 * first[(d, a)]['domain_prob_gt_0']:.0f}%</td>"
        f"<td>{_e('; '.join(m))}</td></tr>" for (d, a), m in members.items())
    return ("<h2 id='domains'>Domains: survey items that one municipality reports, pooled</h2>"
            "<p class='note'>Items that only one municipality reports (Nijmegen's trust, "
            "mental-health, job-search and contact items) cannot be pooled on their own; a domain "
            "fit treats a scale and its items as measurements of one effect per municipality and "
            "arm (SD units), with an assumed within-person item correlation of 0.6 "
            f"(docs/domains.md). {_lev()} intervals.</p><details><summary>Show the table"
            "</summary><table><thead><tr><th>Domain</th><th>Policy</th><th>Domain effect</th>"
            "<th>P(&gt; 0)</th><th>Members (municipalities)</th></tr></thead><tbody>" + body +
            "</tbody></table></details>")


def _trajectories(summary: dict[str, Any]) -> str:
    """Effects by month: the trajectories figure, P(last month > first) and the agreement
    with the single-time-point fits."""
    traj = summary.get("trajectories") or {}
    fits = traj.get("fits") or []
    if not fits:
        return ""
    head = ("<h2 id='trajectories'>Does the effect grow or fade? Effects by month</h2>"
            "<p class='note'>Every time point of a study in one fit (Groningen 8/16/24 months, Oss "
            "12/24, Nijmegen 12/24 survey and 16 register): per municipality and arm a level "
            "(the effect at 16 months) and a slope over months, both pooled across "
            "municipalities, with the reports' within-study correlation over time. Month 0, "
            "measured at randomisation, is the baseline at which the effect is zero by design: "
            "it calibrates the bias of participants-only contrasts and a chance imbalance, and "
            f"is never counted as effect evidence (docs/trajectories.md). {_lev()} intervals; "
            "pp for yes/no outcomes, SD for scores.</p>")
    failed = [f for f in fits if f["status"] != "passed"]
    warn = "".join(f"<p class='banner'><strong>FAILED DIAGNOSTICS: {_e(f['fit'])}</strong> "
                   f"({_e('; '.join(f['problems']))}): not reported.</p>" for f in failed)
    passed = [f for f in fits if f["status"] == "passed" and f.get("months")]
    effects = traj.get("effects") or []
    factors = {f["outcome"]: float(f["display_factor"]) for f in fits}
    from ..evidence.outcomes import outcome_label

    labels = {f["outcome"]: outcome_label(f["outcome"])[0] for f in fits}
    order = [f["outcome"] for f in passed]
    shown = [o for o in ("work_gt12h", "work_gt8h", "work_gt27h") if o in order] or order[:2]
    svg = ""
    try:
        from ..plots._style import style
        from ..plots.trajectory import plot_trajectories

        arms = {e["arm"] for e in effects}
        fig = plot_trajectories(effects, outcomes=shown, labels=labels, factors=factors,
                                arm_titles={a: ARM_SHORT_EN.get(a, policy_en(a)) for a in arms},
                                level=_lev())
        buf = io.StringIO()
        with style():
            fig.savefig(buf, format="svg", metadata={"Date": None})
        svg = buf.getvalue()
        svg = svg[svg.index("<svg"):] if "<svg" in svg else ""
    except ImportError:  # pragma: no cover - plotting extra not installed
        svg = ""
    changes = [c for c in traj.get("changes") or [] if c["gemeente"] == "pooled"]

    def fmt(o: str, x: Any) -> str:
        f = factors.get(o, 1.0)
        return _num(x, f, 1 if f > 1 else 2)

    body = "".join(
        f"<tr><td>{_e(c['outcome'])}</td><td>{_arm_cell(c['arm'])}</td>"
        f"<td>{c['month_early']:g} &rarr; {c['month_late']:g}</td>"
        f"<td>{fmt(c['outcome'], c['mean'])} [{fmt(c['outcome'], c['ci_low'])}, "
        f"{fmt(c['outcome'], c['ci_high'])}]</td><td>{100 * c['prob_late_gt_early']:.0f}%</td></tr>"
        for c in changes)
    agree = traj.get("agreement") or []
    n_dis = sum(1 for a in agree if a["disagree"])
    agree_txt = (f"<p class='note'>Against the single-time-point fits: of {len(agree)} municipality "
                 f"x arm effects at the month the single fit used, {n_dis} differ by more than "
                 "1.645 combined SDs (table <code>summary.json</code> "
                 "<code>trajectories.agreement</code>).</p>") if agree else ""
    return (head + warn + (f"<figure class='refits'>{svg}</figure>" if svg else "") + agree_txt
            + "<details><summary>Change from the first to the last month, every outcome "
            "(pooled)</summary><table><thead><tr><th>Outcome</th><th>Policy</th><th>Months</th>"
            "<th>Change</th><th>P(later &gt; earlier)</th></tr></thead><tbody>" + body
            + "</tbody></table></details>")


def _fiscal(summary: dict[str, Any]) -> str:
    """Net fiscal effect per arm: benefit payments saved minus the arm's extra cost."""
    fis = summary.get("fiscal") or {}
    if not fis:
        return ""
    head = "<h2 id='fiscal'>Is it worth it? Net fiscal effect</h2>"
    if not fis.get("rows"):
        return head + f"<p class='note'>Not computed: {_e(fis.get('note', ''))}.</p>"
    eur = lambda x: "" if x is None else f"{x:,.0f}"  # noqa: E731
    body = "".join(
        f"<tr><td>{_arm_cell(r['arm'])}</td><td>{_e(r['level'])}</td>"
        f"<td>{r['effect_mean_pp']:.1f}</td><td>{eur(r['mean_eur'])}</td>"
        f"<td>[{eur(r['ci_low_eur'])}, {eur(r['ci_high_eur'])}]</td>"
        f"<td>{100 * r['prob_net_saving']:.0f}%</td></tr>"
        for r in fis["rows"] if r["per"] == "participant" and r["level"] != "gemeente")
    inputs = "".join(f"<tr><td>{_e(i['input'])}</td><td>{eur(i['low_eur'])}</td>"
                     f"<td>{eur(i['high_eur'])}</td><td>{_e(i['source'])}</td>"
                     f"<td>{_e(i['basis'])}</td></tr>" for i in fis["inputs"])
    return (head + "<p class='note'>Benefit payments saved minus the extra cost of the policy, "
            f"per participant over {fis['horizon_months']} months (effect building up from 0 at "
            f"assignment: profile '{_e(fis['effect_profile'])}'), from the posterior of "
            f"<code>{_e(fis['outcome'])}</code> and the cost inputs below, every one cited to its "
            "source line or declared as an assumption (docs/fiscal.md; your own with "
            f"<code>fit --costs</code>). Euros, {_lev()} intervals; per municipality and per "
            "assigned client in <code>fiscal.csv</code>.</p>"
            "<table><thead><tr><th>Policy</th><th>Level</th><th>Effect (pp)</th>"
            "<th>Net saving (EUR)</th><th>Interval</th><th>P(net saving &gt; 0)</th></tr></thead>"
            "<tbody>" + body + "</tbody></table><details><summary>Cost inputs and their sources"
            "</summary><table><thead><tr><th>Input</th><th>Low</th><th>High</th><th>Source</th>"
            "<th>Basis</th></tr></thead><tbody>" + inputs + "</tbody></table></details>")


def render(root: Path, *, full: bool = False, link_to: Path | None = None) -> str:
    """The report's HTML text for the run in ``root`` (raises InputError without summary.json).

    ``full`` embeds every figure as the original PNG (sampler diagnostics included); the
    default embeds light WebP copies and links the sampler diagnostics, relative to
    ``link_to`` (the folder the report is written to; default ``root``).
    """
    sj = root / "summary.json"
    if not sj.is_file():
        raise InputError(str(root), "no summary.json: not a bayes_bijstand output directory")
    try:
        summary = json.loads(sj.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(str(sj), f"not valid JSON ({exc.msg})") from None
    link_to = Path(link_to) if link_to is not None else root
    _LEVEL.set(f"{100 * float(summary.get('ci', {}).get('prob', 0.9)):g}%")
    records = _load_records(root, summary)
    fits = summary.get("fits", {})
    spec, spec_text = spec_of_run(root, summary)
    alts = alternatives(_read_csv(root / "robustness_loo.csv"), _read_csv(root / "multiverse.csv"),
                        summary.get("thresholds") or [])
    results = collect(summary, records, spec, alts=alts)
    mains = sorted(((n, f) for n, f in fits.items() if f.get("role") == "main"),
                   key=lambda nf: outcome_sort_key(nf[1]["outcome"]))
    files = {f["outcome"]: _figure_files(root, f["outcome"], records.get(n, {})) for n, f in mains}
    embedded = embed_plan(files, full=full)
    sections = "".join(_section(n, f, records.get(n, {}), files[f["outcome"]], embedded, full=full,
                                link_to=link_to) for n, f in mains)
    not_fitted = summary.get("not_fitted") or {}
    nf = ("<h3>Not pooled</h3><ul>" + "".join(f"<li><code>{_e(o)}</code>: {_e(w)}</li>"
                                              for o, w in not_fitted.items()) + "</ul>") if not_fitted else ""
    diag = _read_csv(root / "diagnostics.csv")
    toc = ("<nav><ul><li><a href='#results'>Every result with its certainty</a></li>"
           "<li><a href='#certainty'>How certainty is rated</a></li>"
           "<li><a href='#methods'>Methods</a></li><li><a href='#limitations'>Limitations</a></li>"
           "<li><a href='#robustness'>Robustness</a></li>"
           "<li><a href='#coaches'>Coaches</a></li>"
           "<li><a href='#domains'>Domains</a></li>"
           "<li><a href='#thresholds'>Nested thresholds</a></li>"
           "<li><a href='#trajectories'>Effects by month</a></li>"
           "<li><a href='#fiscal'>Net fiscal effect</a></li><li><a href='#outcomes'>Per outcome: "
           "figures</a></li><li><a href='#municipalities'>Municipalities</a></li>"
           "<li><a href='#diagnostics'>Sampler diagnostics</a></li>"
           "<li><a href='#evidence-appendix'>Evidence appendix</a></li>"
           "<li><a href='#run'>Run metadata</a></li></ul></nav>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>bayes_bijstand - pooled effects of the bijstand experiments</title>
<style>{CSS}</style></head>
<body><main>
<h1>Bijstandsexperimenten: werkt het? / Do the social-assistance experiments raise work?</h1>
{_banners(summary)}
{_headline(results)}
{toc}
<div class="later">
<h2 id="results">Every result with its certainty of evidence</h2>
<p class="note">Outcomes in order of importance for the policy question; only fits that passed every
diagnostic. Effects per participant: yes/no outcomes in percentage points (pp), scores in SD. MID =
minimal important difference. The grey column is the frequentist twin: it can use only rows with a
printed or design-based SE.</p>
<span id="overview-heading"></span>
{_overview(results, fits)}
{nf}
</div><div class="later">
{_certainty_explained()}
<h2 id="methods">Methods</h2>
{methods_html(spec, spec_text, summary)}
<h2 id="limitations">Limitations</h2>
{limitations_html(results, summary)}
</div><div class="later">
{_robustness(root, fits, summary)}
{_coach(summary)}
{_domains(summary)}
{_thresholds(summary)}
{_trajectories(summary)}
{_fiscal(summary)}
</div><div class="later">
<h2 id="outcomes">Per outcome: figures and municipalities</h2>
<p class="note">Click an outcome to open its figures (forest plot first).</p>
{sections}
</div><div class="later">
{_municipalities(summary)}
<h2 id="diagnostics">Sampler diagnostics</h2>
<p class="note">Gate: R-hat &le; 1.01, bulk and tail ESS &ge; 400, no divergent transitions, E-BFMI &ge; 0.3.</p>
{_table(diag, table_id="diagnostics-table")}
<h2 id="evidence-appendix">Evidence appendix</h2>
<p class="note">Every published estimate considered, with its source file and line, evidence type, and
whether it entered the model (and why not). Estimates and SEs on the model scale (risk difference 0-1
or SMD).</p>
<details><summary>Show every evidence row</summary>{_evidence(root)}</details>
<h2 id="run">Run metadata</h2>
{_meta(summary)}
</div>
</main></body></html>
"""


def write_report(posterior_dir: str | Path, out_file: str | Path, *, full: bool = False) -> Path:
    """Write the self-contained HTML report of the run in ``posterior_dir`` to ``out_file``
    (atomically) and return its path. ``full`` embeds every original figure."""
    root = Path(posterior_dir)
    out = Path(out_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = render(root, full=full, link_to=out.parent.resolve())
    atomic_write_text(out, text)
    return out
