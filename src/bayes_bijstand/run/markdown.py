"""``summary.md``: a readable Markdown overview of a run."""

from __future__ import annotations

from typing import Any

import numpy as np

from .records import FitRecord


def _fmt(x: Any, f: float = 1.0, nd: int = 1) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return ""
    return f"{x * f:.{nd}f}"


def _interval_md(lo: Any, hi: Any, f: float = 1.0) -> str:
    """``[lo, hi]``, or an en dash where there is no interval (no row had a known SE)."""
    a, b = _fmt(lo, f), _fmt(hi, f)
    return f"[{a}, {b}]" if a and b else "\u2013"


def summary_markdown(summary: dict[str, Any], records: list[FitRecord]) -> str:
    """A readable Markdown overview: pooled effects per outcome and arm, diagnostics."""
    lev = f"{100 * summary.get('ci', {}).get('prob', 0.9):g}%"
    lines = ["# bayes_bijstand: pooled effects", "",
             f"Model spec `{summary['model_spec']}`, seed {summary['seed']}, "
             f"{summary['sampler']['chains']} chains x {summary['sampler']['draws']} draws. "
             f"Intervals are {lev} equal-tailed. Binary outcomes in percentage points, scores in "
             "standardised mean differences (SMD). Frequentist: REML + Knapp-Hartung on the rows "
             "with a known or design-based SE.", ""]
    for r in records:
        if r["role"] != "main":
            continue
        lines += [f"## {r['label_en']} ({r['label_nl']}) - `{r['outcome']}`", "",
                  f"Status: **{r['status']}**; {r['n_rows_used']} of {r['n_rows_total']} rows "
                  f"used; municipalities: {', '.join(r['gemeenten'])}.", ""]
        if r["status"] != "passed":
            from ..diagnostics import Diagnostics

            hint = Diagnostics.from_dict(r["diagnostics"]).hint()
            lines += ["**Failed diagnostics (after a retry) - excluded from the pooled "
                      "summaries:** " + "; ".join(r["diagnostics"].get("problems", []))
                      + (f". {hint[0].upper()}{hint[1:]}." if hint else ""), ""]
            continue
        f = r["display_factor"]
        lines += [f"| arm | pooled mean | {lev} interval | new municipality | P(>0) | tau | "
                  f"frequentist | freq. {lev} CI | k (freq.) |", "|---|---|---|---|---|---|---|---|---|"]
        pooled = {(p["parameter"], p["label"]): p for p in r["pooled"]}
        for arm in r["arms"]:
            p = pooled.get(("mu_arm", arm))
            if not p:
                continue
            n = pooled.get(("theta_new", arm), {})
            t = pooled.get(("tau_arm", arm), {})
            lines.append(
                f"| {arm} | {_fmt(p['mean'], f)} | [{_fmt(p['ci_low'], f)}, {_fmt(p['ci_high'], f)}] | "
                f"[{_fmt(n.get('ci_low'), f)}, {_fmt(n.get('ci_high'), f)}] | {_fmt(p['prob_gt_0'], 1, 2)} | "
                f"{_fmt(t.get('mean'), f)} | {_fmt(p.get('freq_estimate'), f)} | "
                f"{_interval_md(p.get('freq_ci_low'), p.get('freq_ci_high'), f)} | "
                f"{'' if p.get('freq_k') is None else int(p['freq_k'])} |")
        lines.append("")
    excluded = {k: v for k, v in summary["fits"].items() if v["status"] != "passed"}
    if excluded:
        lines += ["## Excluded fits", "",
                  "These fits failed the diagnostics gate (R-hat, ESS, divergences, E-BFMI) "
                  "after one retry; their numbers are not reported anywhere in the pooled "
                  "summaries.", ""]
        lines += [f"- `{k}`: {v['excluded_reason']}" for k, v in sorted(excluded.items())]
        lines.append("")
    if summary.get("municipalities"):
        lines += ["## Municipalities", "",
                  "Every municipality in the registry, with what this run used from it.", "",
                  "| municipality | AMvB | evidence rows | rows used | outcomes pooled | why none |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {m['gemeente']} | {'yes' if m['amvb'] else 'no'} | {m['evidence_rows']} | "
                  f"{m['rows_used']} | {m['outcomes_pooled']} | {m['reason_none']} |"
                  for m in summary["municipalities"]]
        lines.append("")
    lines += coach_markdown(summary, lev)
    lines += domains_markdown(summary.get("domains") or [], lev)
    lines += thresholds_markdown(summary.get("thresholds") or [], lev)
    lines += fiscal_markdown(summary.get("fiscal") or {}, lev)
    lines += trajectories_markdown(summary.get("trajectories") or {}, lev)
    if summary["not_fitted"]:
        lines += ["## Not pooled", ""] + [f"- `{o}`: {why}" for o, why in summary["not_fitted"].items()]
    return "\n".join(lines) + "\n"


def _eur(x: Any) -> str:
    return "" if x is None else f"{x:,.0f}"


def fiscal_markdown(fiscal: dict[str, Any], lev: str = "90%") -> list[str]:
    """The net fiscal effect section: per arm, pooled and for a new municipality."""
    if not fiscal:
        return []
    lines = ["## Net fiscal effect", ""]
    if not fiscal["rows"]:
        return lines + [f"Not computed: {fiscal['note']}.", ""]
    lines += [f"Benefit payments saved minus the extra cost of the arm, per participant, over "
              f"{fiscal['horizon_months']} months (effect profile '{fiscal['effect_profile']}'), "
              f"from the posterior of `{fiscal['outcome']}` and the cost inputs below "
              f"(docs/fiscal.md). Euros; {lev} intervals.", "",
              f"| arm | level | effect (pp) | net saving (EUR) | {lev} interval | P(net saving > 0) |",
              "|---|---|---|---|---|---|"]
    for r in fiscal["rows"]:
        if r["per"] != "participant" or r["level"] == "gemeente":
            continue
        lines.append(f"| {r['arm']} | {r['level']} | {r['effect_mean_pp']:.1f} | "
                     f"{_eur(r['mean_eur'])} | [{_eur(r['ci_low_eur'])}, {_eur(r['ci_high_eur'])}] | "
                     f"{r['prob_net_saving']:.2f} |")
    lines += ["", "| cost input | low (EUR) | high (EUR) | source |", "|---|---|---|---|"]
    lines += [f"| {i['input']} | {_eur(i['low_eur'])} | {_eur(i['high_eur'])} | {i['source']} |"
              for i in fiscal["inputs"]]
    return lines + [""]


def coach_markdown(summary: dict[str, Any], lev: str = "90%") -> list[str]:
    """Effects with these coaches beside the average coach, per coached arm."""
    rows = summary.get("coach") or []
    if not rows:
        return []
    kinds = {f["outcome"]: f.get("kind") for f in (summary.get("fits") or {}).values()}
    lines = ["## Coaches: the effect with these coaches and with the average coach", "",
             "Arms delivered by a known team carry coach variation sigma_coach^2 x sum of squared "
             "caseload shares; a new municipality gets a new team. pp for yes/no outcomes, SD for "
             f"scores; {lev} intervals.", "",
             "| outcome | municipality | arm | team | these coaches / new team | average coach "
             "| coach share |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        f = 100 if kinds.get(r["outcome"]) == "binary" else 1
        lines.append(f"| {r['outcome']} | {r['gemeente'] or 'new municipality'} | {r['arm']} | "
                     f"{r['basis']} | {_fmt(r['team_mean'], f)} "
                     f"{_interval_md(r['team_ci_low'], r['team_ci_high'], f)} | "
                     f"{_fmt(r['avg_mean'], f)} {_interval_md(r['avg_ci_low'], r['avg_ci_high'], f)} "
                     f"| {100 * r['coach_share']:.0f}% |")
    return lines + [""]


def domains_markdown(rows: list[dict[str, Any]], lev: str = "90%") -> list[str]:
    """Domain effects per arm (SD) with the members they pool."""
    if not rows:
        return []
    lines = ["## Domains: related survey items pooled", "",
             "One effect per municipality and arm behind a scale and the items that only one "
             f"municipality reports (docs/domains.md). SD units, {lev} intervals.", "",
             "| domain | arm | domain effect | members (municipalities) |", "|---|---|---|---|"]
    seen: dict[tuple[str, str], list[str]] = {}
    eff: dict[tuple[str, str], str] = {}
    for r in rows:
        key = (r["domain"], r["arm"])
        seen.setdefault(key, []).append(f"{r['outcome']} ({r['gemeenten'].replace(';', ', ')})")
        eff[key] = (f"{_fmt(r['domain_mean'], 1, 2)} "
                    f"{_interval_md(r['domain_ci_low'], r['domain_ci_high'], 1)}")
    for (d, a), members in seen.items():
        lines.append(f"| {d} | {a} | {eff[(d, a)]} | {'; '.join(members)} |")
    return lines + [""]


def thresholds_markdown(rows: list[dict[str, Any]], lev: str = "90%") -> list[str]:
    """Joint thresholds fit beside the separate fits (percentage points)."""
    if not rows:
        return []
    lines = ["## Nested thresholds: joint fit vs separate fits", "",
             "One latent shift per municipality and arm behind all thresholds of hours (and of "
             "income) of work, pooled; each threshold's implied effect beside its own fit. "
             f"Percentage points, {lev} intervals; 'disagree' where the means differ by more than "
             "1.645 combined SDs.", "",
             "| threshold | arm | joint | separate | disagree |", "|---|---|---|---|---|"]
    for r in rows:
        sep = ("" if r["separate_mean"] is None else
               f"{_fmt(r['separate_mean'], 100)} {_interval_md(r['separate_ci_low'], r['separate_ci_high'], 100)}")
        lines.append(f"| {r['outcome']} | {r['arm']} | {_fmt(r['joint_mean'], 100)} "
                     f"{_interval_md(r['joint_ci_low'], r['joint_ci_high'], 100)} | {sep} | "
                     f"{'' if r['disagree'] is None else ('yes' if r['disagree'] else 'no')} |")
    return lines + [""]


def _num(x: Any, f: float) -> str:
    """A value in percentage points (one decimal) or SD (two decimals)."""
    return _fmt(x, f, 1 if f > 1 else 2)


def _iv(lo: Any, hi: Any, f: float) -> str:
    a, b = _num(lo, f), _num(hi, f)
    return f"[{a}, {b}]" if a and b else "\u2013"


def trajectories_markdown(traj: dict[str, Any], lev: str = "90%") -> list[str]:
    """Effects by month (pooled, each arm) and P(effect at the last month > at the first)."""
    fits = traj.get("fits") or []
    if not fits:
        return []
    lines = ["## Effects by month (trajectories)", "",
             "Every time point of a study in one fit: per arm a level and a slope over months, "
             "pooled across municipalities; month 0 (before treatment) is the baseline that "
             f"anchors it, never effect evidence (docs/trajectories.md). {lev} intervals; "
             "binary outcomes in percentage points, scores in SD.", ""]
    failed = [f for f in fits if f["status"] != "passed"]
    for f in failed:
        lines.append(f"- `{f['fit']}` FAILED the diagnostics ({'; '.join(f['problems'])}): "
                     "not reported.")
    if failed:
        lines.append("")
    factor = {f["outcome"]: f["display_factor"] for f in fits}
    change = {(c["outcome"], c["arm"]): c for c in traj.get("changes", [])
              if c["gemeente"] == "pooled"}
    lines += ["| outcome | arm | month | effect | change last - first | P(last > first) |",
              "|---|---|---|---|---|---|"]
    for e in traj.get("effects", []):
        if e["gemeente"] != "pooled":
            continue
        f = factor.get(e["outcome"], 1.0)
        c = change.get((e["outcome"], e["arm"]))
        last = c is not None and e["month"] == c["month_late"]
        ch = (f"{_num(c['mean'], f)} {_iv(c['ci_low'], c['ci_high'], f)} "
              f"({c['month_late']:g} vs {c['month_early']:g} m)") if last else ""
        p = f"{c['prob_late_gt_early']:.2f}" if last else ""
        lines.append(f"| {e['outcome']} | {e['arm']} | {e['month']:g}{'' if e['observed'] else ' *'} | "
                     f"{_num(e['mean'], f)} {_iv(e['ci_low'], e['ci_high'], f)} | {ch} | {p} |")
    lines += ["", "\\* no row of that arm at that month: the pooled line, not a measurement.", ""]
    return lines
