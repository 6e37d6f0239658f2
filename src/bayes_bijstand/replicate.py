"""``python -m bayes_bijstand.replicate``: the frequentist side alone.

For every outcome with usable evidence: random-effects meta-analysis per arm (and a
component meta-regression) on the same rows the Bayesian model selects, with the chosen
tau² estimator and optional Knapp-Hartung adjustment; plus the replication table of the
reports' own claims recomputed from their printed counts. Writes CSV and JSON atomically and
prints each pooled estimate the way metafor's ``print(rma(...))`` does (estimate, SE, z or t,
p, CI, tau², I², H², Q). Conventions follow metafor: method names are case-insensitive, and
intervals are 95% on a user's estimates file (90%, the package's reporting level, on the
shipped evidence) unless ``--ci-prob`` says otherwise.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError
from .io import atomic_write_json, atomic_write_text

METHODS = ("REML", "DL", "ML", "PM", "HE", "SJ", "FE")
USER_CI_PROB = 0.95
"""Interval level for a user's estimates file (metafor's default); shipped evidence: CI_PROB."""


def method_name(text: str) -> str:
    """A tau² estimator name in metafor's spelling, whatever the case (``reml`` -> ``REML``)."""
    return {m.upper(): m for m in METHODS}.get(text.upper(), text)


def scale_of(outcome: str) -> str:
    """The scale the pooled values are on: a known outcome's model scale, else as given."""
    from .evidence.outcomes import get_outcome

    o = get_outcome(outcome)
    return o.scale.name if o.known else "as given"


def pooled_frequentist(evidence: pd.DataFrame, *, method: str = "REML", knha: bool = True,
                       ci_prob: float = 0.9, spec_path: Path | None = None) -> pd.DataFrame:
    """One row per outcome x arm (``mu_arm``) and component (``mu``): REML/DL/... estimates."""
    from .evidence.outcomes import outcome_kind
    from .frequentist.meta import rma
    from .frequentist.twin import twin_inputs, twin_summary
    from .models.selection import select_rows
    from .models.summary_level import prepare
    from .specs import default_spec_path, load_spec

    spec = load_spec(spec_path or default_spec_path())
    rows = []
    fits: dict[tuple[str, str], object] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for outcome in sorted(evidence["outcome"].unique()):
            kind = outcome_kind(outcome)
            table = select_rows(evidence, outcome, kind, spec)
            if table.empty or not table["used"].any():
                continue
            data = prepare(table, outcome, kind, spec)
            tw = twin_summary(data.rows, list(data.arms), list(data.components), data.W,
                              method=method, test="knha" if knha else "z", ci_prob=ci_prob)
            tw = tw[tw["freq_k"] > 0]
            if tw.empty:
                continue
            inputs = twin_inputs(data.rows)
            for _, r in tw.iterrows():
                rec = {"outcome": outcome, "scale": scale_of(outcome), **r.to_dict()}
                sub = inputs[inputs["arm"] == r["label"]] if r["parameter"] == "mu_arm" else inputs.iloc[0:0]
                if len(sub) >= 2:
                    res = rma(sub["yi"].to_numpy(), sub["vi"].to_numpy(), method=method,
                              test="knha" if knha else "z", level=ci_prob)
                    rec.update(Q=float(res.QE), Q_df=int(res.QE_df), Q_p=float(res.QE_p), H2=float(res.H2),
                               freq_df=float(res.df) if res.df is not None else np.nan)
                    fits[(outcome, str(r["label"]))] = res
                rec["gemeenten"] = ";".join(sorted(sub["gemeente"].unique())) if len(sub) else ""
                rows.append(rec)
    out = pd.DataFrame(rows)
    out.attrs["fits"] = fits
    return out


def format_pooled(pooled: pd.DataFrame) -> str:
    """What ``replicate`` prints: a metafor-style block per pooled arm with k >= 2, and one
    line (estimate, SE, z/t, p, CI) for each other pooled estimate."""
    from .printing import format_rma

    fits = pooled.attrs.get("fits", {})
    lines: list[str] = []
    for outcome, part in pooled.groupby("outcome", sort=False):
        scale = str(part["scale"].iloc[0])
        lines += ["", f"=== {outcome} (values on the scale: {scale}) ==="]
        for _, r in part.iterrows():
            what = "arm" if r["parameter"] == "mu_arm" else "component (meta-regression)"
            res = fits.get((outcome, str(r["label"]))) if r["parameter"] == "mu_arm" else None
            if res is not None:
                lines += ["", f"--- {what} {r['label']} ({r['gemeenten']})", format_rma(res)]
                continue
            if not np.isfinite(r.get("freq_estimate", np.nan)):
                continue
            stat = "t" if "KNHA" in str(r["freq_method"]) and r["freq_k"] > 1 else "z"
            lines.append(
                f"--- {what} {r['label']}: k = {int(r['freq_k'])}, estimate "
                f"{r['freq_estimate']:.4f}, se {r['freq_se']:.4f}, {stat} {r['freq_stat']:.3f}, "
                f"p {r['freq_p']:.4f}, {100 * r['freq_ci_prob']:g}% CI "
                f"[{r['freq_ci_low']:.4f}, {r['freq_ci_high']:.4f}]")
    return "\n".join(lines).lstrip("\n")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bayes_bijstand.replicate",
        description="Frequentist random-effects meta-analyses on the evidence base (metafor-"
                    "compatible), and a table that recomputes the reports' own claims from "
                    "their printed counts.")
    p.add_argument("--method", choices=METHODS, default="REML", type=method_name,
                   help="tau² estimator, any case as in metafor (default REML)")
    p.add_argument("--knha", action="store_true",
                   help="Knapp-Hartung (HKSJ) adjustment: t tests and CIs (default: z)")
    p.add_argument("--estimates", type=Path, metavar="FILE",
                   help="your own estimates file (evidence schema) instead of the shipped evidence")
    p.add_argument("--model", type=Path, metavar="SPEC", help="spec that selects the rows")
    p.add_argument("--ci-prob", type=float, default=None, metavar="P",
                   help=f"interval level (default {USER_CI_PROB} with --estimates, as in metafor; "
                        "0.9, the package's reporting level, on the shipped evidence)")
    p.add_argument("--quiet", action="store_true",
                   help="print only the line saying what was written")
    p.add_argument("--out", type=Path, default=Path("posterior") / "replicate", metavar="DIR",
                   help="output directory (default posterior/replicate)")
    p.add_argument("--debug", action="store_true",
                   help="on an error, show the Python traceback before the one-line message")
    return p


def usable_outcomes(evidence: pd.DataFrame, spec_path: Path | None, file: str) -> list[str]:
    """Outcomes with at least one row that enters a model: ``fit``'s usability rule.

    Raises the same one-line :class:`InputError` as ``fit`` when no outcome has usable
    evidence, so ``replicate`` never exits 0 with nothing pooled on a file ``fit`` rejects.
    """
    from .meta import outcome_kind
    from .models.selection import select_rows
    from .specs import check_spec_selection, default_spec_path, load_spec

    spec = load_spec(spec_path or default_spec_path())
    check_spec_selection(spec, set(evidence["outcome"]))
    usable = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for outcome in sorted(evidence["outcome"].unique()):
            t = select_rows(evidence, outcome, outcome_kind(outcome), spec)
            if len(t) and t["used"].any():
                usable.append(outcome)
    if not usable:
        raise InputError(file, "no outcome has usable evidence")
    return usable


def main(argv: list[str] | None = None) -> int:
    """Entry point: one ``error:`` line and exit code 2 for bad input, never a traceback."""
    from .cli import guard, wants_debug

    return guard(lambda: _main(argv), debug=wants_debug(argv),
                 interrupted="nothing was written")


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.ci_prob is None:
        from .constants import CI_PROB

        args.ci_prob = USER_CI_PROB if args.estimates else CI_PROB
    if not 0 < args.ci_prob < 1:
        raise InputError("--ci-prob", f"must be between 0 and 1 (e.g. 0.95), got {args.ci_prob:g}")
    if args.out.exists() and not args.out.is_dir():
        raise InputError("--out", f"{args.out} exists and is not a directory")
    from .evidence.load import load_evidence
    from .frequentist.replication import replication_table
    from .models.selection import registry_sizes

    ev = load_evidence(args.estimates) if args.estimates else load_evidence()
    usable = usable_outcomes(ev, args.model, str(args.estimates or "evidence"))
    pooled = pooled_frequentist(ev, method=args.method, knha=args.knha,
                                ci_prob=args.ci_prob, spec_path=args.model)
    not_pooled = sorted(set(usable) - set(pooled["outcome"] if len(pooled) else ()))
    for o in not_pooled:
        # Usable for the Bayesian model (e.g. only significance markers) but no row with a
        # known SE: said, not silently dropped.
        print(f"warning: {args.estimates or 'evidence'}: outcome '{o}' has usable rows but none "
              "with a known or design-based SE: no frequentist estimate (fit pools it)",
              file=sys.stderr)
    if pooled.empty:
        raise InputError(str(args.estimates or "evidence"), "no outcome has a row with a known "
                         "or design-based SE: nothing for a frequentist meta-analysis (fit "
                         "can still pool the rows)")
    from .evidence.registry import load_arms

    sizes, _, _ = registry_sizes()
    arms = load_arms()
    part = arms[arms["stage"] == "participating"].dropna(subset=["n"])
    participating = {(r["gemeente"], r["arm"]): float(r["n"]) for _, r in part.iterrows()}
    claims = replication_table(ev, sizes, participating)
    out = args.out
    atomic_write_text(out / "frequentist.csv", pooled.to_csv(index=False))
    atomic_write_text(out / "replication.csv", claims.to_csv(index=False))
    atomic_write_json(out / "frequentist.json", {
        "method": args.method, "knha": args.knha, "ci_prob": args.ci_prob,
        "not_pooled": not_pooled,
        "pooled": pooled.replace({np.nan: None}).to_dict(orient="records"),
        "replication": claims.replace({np.nan: None}).to_dict(orient="records"),
    })
    n_bad = int((claims["agrees"] == False).sum()) if len(claims) else 0  # noqa: E712
    if not args.quiet and len(pooled):
        print(format_pooled(pooled) + "\n")
    print(f"wrote {out / 'frequentist.csv'} ({len(pooled)} pooled estimates) and "
          f"{out / 'replication.csv'} ({len(claims)} checks, {n_bad} do not replicate)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
