"""Methods and limitations, generated from the spec that ran.

The spec is read from the first main fit's netCDF (``model_spec_toml`` attribute: the exact
text that ran), falling back to ``inputs.spec_path`` of ``summary.json``. Every number in
the methods section (priors, bias SDs, Zelen decliner shift, covariate credit, selection
rules) is read from that spec, so the text cannot drift from the model.
"""

from __future__ import annotations

import html
import math
import tempfile
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ..evidence.grade_registry import REGISTRY as GRADE_REGISTRY
from ..specs import ModelSpec, get_model_kind, load_spec
from .vocab import COMPARISON_LABEL, evidence_type


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def spec_text_of_run(root: Path, summary: dict[str, Any]) -> str:
    """The TOML text of the spec that ran ("" if no fit file carries it)."""
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5netcdf needs it
        h5py = None
    if h5py is not None:
        for fit in summary.get("fits", {}).values():
            nc = fit.get("netcdf")
            if fit.get("role") != "main" or not nc or not (root / nc).is_file():
                continue
            try:
                with h5py.File(root / nc, "r") as f:
                    v = f.attrs.get("model_spec_toml")
            except OSError:
                continue
            if v is not None:
                return v.decode("utf-8") if isinstance(v, bytes) else str(v)
    p = Path(str(summary.get("inputs", {}).get("spec_path", "")))
    if p.is_file():
        try:
            return p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return ""
    return ""


def spec_of_run(root: Path, summary: dict[str, Any]) -> tuple[ModelSpec | None, str]:
    """(parsed spec, its text) of the run in ``root``; (None, "") when it cannot be found."""
    text = spec_text_of_run(root, summary)
    if not text:
        return None, ""
    name = str(summary.get("model_spec") or "spec")
    with tempfile.TemporaryDirectory(prefix="bb-report-") as d:
        p = Path(d) / f"{name}.toml"
        p.write_text(text, encoding="utf-8")
        try:
            spec = load_spec(p)
        except SpecError:
            return None, text
    return spec, text


GRADE_LIKELIHOOD: dict[str, str] = {g.name: g.likelihood for g in GRADE_REGISTRY}
"""How the model uses a row of each evidence grade (the grade registry's words)."""


def _pp(x: float, kind: str) -> str:
    return f"{100 * x:g} pp" if kind == "binary" else f"{x:g} SD"


def methods_html(spec: ModelSpec | None, spec_text: str, summary: dict[str, Any]) -> str:
    """The methods section (HTML)."""
    if spec is None:
        return ("<p class='note'>The spec of this run could not be read (no netCDF with the "
                "spec text and no spec file at inputs.spec_path); see docs/model.md.</p>")
    ci = int(100 * float(summary.get("ci", {}).get("prob", 0.9)))
    s = summary.get("sampler", {})
    parts = [
        "<h3>Question and estimand</h3>",
        "<p>For each outcome, the effect of each policy <b>per participant</b>, compared with the "
        "control group under the usual regime, in the average municipality (the pooled effect) "
        "and in a new municipality like these (the prediction). Yes/no outcomes are risk "
        "differences in percentage points (pp), survey scores standardised mean differences "
        "(SD). Positive means more than the control group (for stress: more stress).</p>",
        "<h3>Model</h3>",
        f"<p>One Bayesian hierarchical model per outcome (<code>{_e(spec.name)}</code>, kind "
        f"<code>{_e(spec.kind)}</code>, pooling <code>{_e(spec.pooling)}</code>). "
        + get_model_kind(spec.kind).description
        + "The published estimates of one arm in one municipality enter once, through the "
        "likelihood of their evidence type (below).</p>",
        "<h3>Priors</h3><table><thead><tr><th>Quantity</th><th>Yes/no outcomes</th>"
        "<th>Survey scores</th></tr></thead><tbody>",
    ]
    b, sc = spec.binary, spec.score
    rows = [
        ("Pooled component effect mu", f"Normal(0, {_pp(b.mu_sd, 'binary')})",
         f"Normal(0, {_pp(sc.mu_sd, 'score')})"),
        ("Between-municipality SD tau", f"HalfNormal({_pp(b.tau_sd, 'binary')})",
         f"HalfNormal({_pp(sc.tau_sd, 'score')})"),
        ("Interaction of a bundled arm gamma", f"Normal(0, {_pp(b.interaction_sd, 'binary')})",
         f"Normal(0, {_pp(sc.interaction_sd, 'score')})"),
        ("Correlation of components Omega", f"LKJ({b.lkj_eta:g})", f"LKJ({sc.lkj_eta:g})"),
        ("Minimal important difference (MID)", _pp(b.mid, "binary"), _pp(sc.mid, "score")),
    ]
    parts += [f"<tr><td>{_e(a)}</td><td>{_e(x)}</td><td>{_e(y)}</td></tr>" for a, x, y in rows]
    parts.append("</tbody></table><p class='note'>Read: before seeing any data, the model holds a "
                 f"pooled effect beyond {_pp(2 * b.mu_sd, 'binary')} (or {_pp(2 * sc.mu_sd, 'score')}) "
                 "unlikely (5%). The certainty column compares each posterior SD with this prior "
                 "SD.</p>")
    parts.append("<h3>How each evidence type enters</h3><table><thead><tr><th>Evidence type</th>"
                 "<th>Likelihood</th></tr></thead><tbody>")
    for g in spec.grades:
        parts.append(f"<tr><td>{_e(evidence_type(g))}</td><td>{_e(GRADE_LIKELIHOOD.get(g, g))}</td></tr>")
    parts.append(
        "</tbody></table>"
        f"<p>Covariate-adjustment credit of group-count rows: R2 ~ Beta({spec.r2_alpha:g}, "
        f"{spec.r2_beta:g}) per study (prior mean {spec.r2_alpha / (spec.r2_alpha + spec.r2_beta):.2f}). "
        f"Rows sharing a control group enter jointly with correlated errors; one arm's estimates "
        f"at different time points correlate {spec.rho_months:g} per 8 months.</p>")
    parts.append("<h3>Which rows enter</h3><ul>"
                 f"<li>Time point: <code>{_e(spec.months)}</code> (each study's last measurement "
                 "unless a list of months is given).</li>"
                 "<li>Comparisons, in order of preference per municipality and arm: "
                 + ", ".join(_e(COMPARISON_LABEL.get(c, c)) for c in spec.comparisons) + ".</li>"
                 "<li>Evidence types: " + ", ".join(_e(evidence_type(g)) for g in spec.grades)
                 + "; per municipality and arm the strongest.</li>"
                 "<li>Excluded extraction quality: " + (", ".join(_e(q) for q in spec.exclude_quality)
                                                        or "none") + ".</li>"
                 "<li>Every row considered, used or not and why, is in the evidence appendix.</li>"
                 "</ul>")
    parts.append("<h3>Weaker comparisons and their bias priors</h3><table><thead><tr>"
                 "<th>Comparison</th><th>Bias prior (yes/no outcomes)</th><th>Used</th></tr>"
                 "</thead><tbody>")
    for c, sd in spec.bias_sd.items():
        used = "yes" if c in spec.comparisons else "no (not selected)"
        parts.append(f"<tr><td>{_e(COMPARISON_LABEL.get(c, c))}</td>"
                     f"<td>Normal(0, {_e(_pp(sd, 'binary'))})</td><td>{used}</td></tr>")
    parts.append(
        "</tbody></table>"
        "<h3>Zelen design (Groningen)</h3><p>Groningen randomised before asking for consent, so its "
        "randomised contrasts are effects of the <i>offer</i>, with about 10% take-up. The model "
        "divides by take-up to reach the effect per participant, which magnifies any difference "
        "among the 90% who declined; a common decliner shift "
        f"Normal(0, {_e(_pp(spec.offer_spillover_sd, 'binary'))}) absorbs it.</p>"
        "<h3>Sampling and checks</h3>"
        f"<p>{_e(s.get('sampler', ''))} NUTS, {_e(s.get('chains', ''))} chains x "
        f"{_e(s.get('draws', ''))} draws after {_e(s.get('tune', ''))} warm-up, target acceptance "
        f"{_e(s.get('target_accept', ''))}. A result is reported only when R-hat &le; 1.01, bulk and "
        "tail ESS &ge; 400, there are no divergent transitions and E-BFMI &ge; 0.3. "
        f"All intervals are {ci}% equal-tailed posterior intervals; P(effect &gt; 0) is a posterior "
        "probability, not a p-value.</p>"
        "<h3>Frequentist twin</h3><p>Beside each pooled effect, a random-effects meta-analysis "
        "(REML with the Knapp-Hartung adjustment) of the rows with a printed or design-based SE. "
        "Markers and prose cannot enter it without inventing a number; with one such row it is a "
        "single study, not a pooled estimate.</p>")
    if spec_text:
        parts.append("<details><summary>The model specification that ran (verbatim)</summary>"
                     f"<pre class='small'>{_e(spec_text)}</pre></details>")
    return "".join(parts)


def expected_by_chance(n: int, threshold: float = 0.9) -> tuple[float, int, int]:
    """Expected number (and a 90% range) of results with P(effect > 0) > ``threshold`` among
    ``n`` results if every true effect were zero, treating them as independent.

    With a flat-ish prior, P(effect > 0) is about 1 - (one-sided p), which is uniform under a
    zero effect, so each result crosses the threshold with probability 1 - threshold.
    """
    from scipy import stats

    q = 1.0 - threshold
    lo, hi = stats.binom.ppf([0.05, 0.95], n, q) if n else (0, 0)
    return n * q, int(lo), int(hi)


def limitations_html(results: list[Any], summary: dict[str, Any]) -> str:
    """The limitations section (HTML): outcome reporting, prior dominance, multiplicity."""
    n = len(results)
    exp, lo, hi = expected_by_chance(n)
    seen = sum(1 for r in results if math.isfinite(r.p_gt0) and r.p_gt0 > 0.9)
    seen_low = sum(1 for r in results if math.isfinite(r.p_gt0) and r.p_gt0 < 0.1)
    n_prior = sum(1 for r in results if r.certainty.mostly_prior)
    n_one = sum(1 for r in results if r.certainty.n_gemeenten <= 1)
    n_vlow = sum(1 for r in results if r.certainty.level == "very low")
    failed = [n for n, f in summary.get("fits", {}).items()
              if f.get("role") == "main" and f.get("status") != "passed"]
    items = [
        f"<li><b>Multiplicity.</b> The report shows {n} pooled results. If no policy had any effect "
        f"on anything, about {exp:.0f} of them (90% range {lo}-{hi}, treating them as independent) "
        f"would still show P(effect &gt; 0) &gt; 90%, and as many P(effect &gt; 0) &lt; 10%. This run "
        f"has {seen} above 90% and {seen_low} below 10%. Results on related outcomes (work &gt; 8, "
        "12, 27 h) share municipalities and are strongly correlated, so a pattern across them is "
        "one finding, not several. Read single results with P between 90% and 97.5% as hints.</li>",
        "<li><b>Outcome reporting.</b> Prose statements and significance markers are selective by "
        "nature: reports describe in words what they found notable, so the absence of a statement "
        "is not the absence of an effect, and a prose row tells the direction and the significance "
        "band only. Survey outcomes rest almost entirely on such rows and on the respondents of "
        "the last wave (non-response).</li>",
        f"<li><b>The prior speaks for {n_prior} of {n} results</b> (posterior SD more than 80% of "
        f"the prior SD); {n_one} results rest on a single municipality; {n_vlow} have very low "
        "certainty. The between-municipality SD tau is barely informed anywhere (a handful of "
        "municipalities), so the new-municipality ranges mostly reflect its prior.</li>",
        "<li><b>Zelen design.</b> Groningen's per-participant effects divide offer effects by "
        "about 10% take-up; they are only as good as the assumption that decliners are "
        "unaffected up to the decliner shift allowed by the model.</li>",
        "<li><b>Weaker comparisons.</b> Participants-only, reference-group and non-randomised "
        "rows enter with a bias prior whose width is an assumption, not an estimate.</li>",
    ]
    if failed:
        items.append(f"<li><b>Failed fits.</b> {len(failed)} outcome(s) failed the sampler checks "
                     "and are left out of every summary (red banners at the top): "
                     + ", ".join(_e(x) for x in failed) + ".</li>")
    return "<ul>" + "".join(items) + "</ul>"
