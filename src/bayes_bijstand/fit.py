"""``python -m bayes_bijstand.fit``: pool the experiments across municipalities.

Flags -> a validated :class:`FitOptions` -> library calls (:func:`bayes_bijstand.meta.fit_meta`)
-> outputs written atomically into ``--out`` (default ``posterior/``). This module is the only
one that knows about argv, exit codes and progress bars.

Exit codes: 0 all pooled results passed diagnostics; 1 a main fit failed diagnostics (unless
``--allow-warnings``); a failed sensitivity refit (pooling comparison, grade contribution)
is excluded from its table and named in a WARNING on stderr but does not change the exit
code; 2 bad input or an unusable ``--out`` (one line on stderr naming file, row and field);
3 an unexpected internal error (one line; ``--debug`` shows the traceback); 130 interrupted
(Ctrl-C); 143 terminated (SIGTERM). See :mod:`bayes_bijstand.cli`.

Every input (model spec, estimates or microdata file, flags) is validated before anything is
sampled or written: bad input leaves ``--out`` untouched. ``--dry-run`` stops right there
and prints the plan. Warnings about the input (e.g. a near-miss of a known code) are one
``warning:`` line each on stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .constants import CI_PROB, FIGURE_FORMATS
from .errors import InputError
from .run.config import NoProgress, Progress, RunConfig
from .run.plan import HEADLINE
from .run.refits import REFIT_OUTCOMES

EPILOG = """examples:
  python -m bayes_bijstand.fit --all-gemeenten
  python -m bayes_bijstand.fit --outcome work_gt12h --gemeente groningen nijmegen utrecht
  python -m bayes_bijstand.fit --estimates my_estimates.csv --out results/
  python -m bayes_bijstand.fit --model models/meta_arms.toml --draws 2000
  python -m bayes_bijstand.fit --microdata synthetic.csv --formula "work_gt12h_m24 ~ arm + (arm | gemeente) + (1 | gemeente:coach)"

outputs (in --out): summary.json, summary.csv, summary.md, gemeenten.csv, evidence_used.csv,
diagnostics.csv, fits/<outcome>.nc (ArviZ DataTree), figures/, report.html
"""


@dataclass
class FitOptions:
    """Validated command-line options."""

    all_gemeenten: bool = False
    gemeenten: tuple[str, ...] = ()
    outcomes: tuple[str, ...] = ()
    arms: tuple[str, ...] = ()
    model: Path | None = None
    estimates: Path | None = None
    microdata: Path | None = None
    formula: str | None = None
    family: str = "bernoulli"
    out: Path = Path("posterior")
    draws: int | None = None
    tune: int | None = None
    chains: int | None = None
    seed: int | None = None
    sampler: str | None = None
    allow_warnings: bool = False
    compare_pooling: str = "headline"
    contributions: str = "headline"
    robustness: str = "auto"
    refit_draws: int | None = None
    trajectories: str = "all"
    plots: bool = True
    figure_formats: tuple[str, ...] = FIGURE_FORMATS
    report: bool = True
    resume: bool = True
    costs: Path | None = None
    executor: str = "local"
    scheduler: str | None = None
    workers: int = 2
    quiet: bool = False
    dry_run: bool = False
    min_gemeenten: int = 2
    ci_prob: float = CI_PROB
    secure_env: bool = False
    extra: dict[str, object] = field(default_factory=dict)

    def run_config(self) -> RunConfig:
        """The settings of the batch run these options describe."""
        return RunConfig(
            out=self.out, gemeenten=self.gemeenten, outcomes=self.outcomes, arms=self.arms,
            min_gemeenten=self.min_gemeenten, model=self.model, estimates=self.estimates,
            draws=self.draws, tune=self.tune, chains=self.chains, seed=self.seed,
            sampler=self.sampler, compare_pooling=self.compare_pooling,  # type: ignore[arg-type]
            contributions=self.contributions,  # type: ignore[arg-type]
            robustness=self.robustness,  # type: ignore[arg-type]
            refit_draws=self.refit_draws,
            trajectories=self.trajectories,  # type: ignore[arg-type]
            plots=self.plots, figure_formats=self.figure_formats, report=self.report,
            resume=self.resume, costs=self.costs,
            executor=self.executor,  # type: ignore[arg-type]
            scheduler=self.scheduler, workers=self.workers, ci_prob=self.ci_prob)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bayes_bijstand.fit",
        description="Fit hierarchical Bayesian meta-analyses of the Dutch bijstand experiments "
                    "(and their frequentist twins), check diagnostics, and write tables, "
                    "figures and an HTML report.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sel = p.add_argument_group("what to fit")
    sel.add_argument("--all-gemeenten", action="store_true",
                     help="the main job: every outcome that can be pooled, i.e. with usable "
                          "evidence from at least two municipalities (an outcome from one "
                          "municipality is listed as not fitted; name it with --outcome)")
    sel.add_argument("--gemeente", nargs="+", default=[], metavar="G",
                     help="only these municipalities, space-separated codes (e.g. groningen "
                          "nijmegen; --list-gemeenten shows them)")
    sel.add_argument("--outcome", nargs="+", default=[], metavar="O",
                     help="only these outcomes (e.g. work_gt12h social_trust; --list-outcomes "
                          "shows them); any outcome with evidence, even from one municipality")
    sel.add_argument("--arm", nargs="+", default=[], metavar="A",
                     help="only rows of these arms (e.g. zelf_in_actie extra_hulp+werken_loont; "
                          "--list-arms shows them)")
    sel.add_argument("--list-outcomes", action="store_true",
                     help="list the outcome codes with their labels and evidence, then exit "
                          "(of --estimates FILE if given)")
    sel.add_argument("--list-arms", action="store_true",
                     help="list the arm codes with their labels and evidence, then exit")
    sel.add_argument("--list-gemeenten", action="store_true",
                     help="list the municipality codes with their names and evidence, then exit")
    sel.add_argument("--model", type=Path, metavar="SPEC",
                     help="model specification: a TOML file, or the name of a shipped spec "
                          "(meta_components, meta_arms, meta_rct_only; default meta_components)")
    sel.add_argument("--estimates", type=Path, metavar="FILE",
                     help="your own estimates CSV/Parquet in the evidence schema instead of the "
                          "shipped evidence")
    sel.add_argument("--costs", type=Path, metavar="FILE", default=None,
                     help="cost inputs of the net fiscal effect (TOML, see docs/fiscal.md; "
                          "default: the shipped evidence/data/costs.toml, every amount cited)")
    sel.add_argument("--microdata", type=Path, metavar="FILE",
                     help="person-level data (see docs/person_level.md): fit a bambi model")
    sel.add_argument("--formula", help="bambi formula for --microdata")
    sel.add_argument("--family", default="bernoulli", choices=["bernoulli", "gaussian"],
                     help="likelihood for --microdata (default: bernoulli)")
    sel.add_argument("--secure-env", action="store_true",
                     help="--microdata inside the secure environment only: keep coach ids, "
                          "observed data and per-cell counts in fits/person_level.nc (default: "
                          "anonymised coach labels, posterior and sampler statistics only)")
    samp = p.add_argument_group("sampler (override the spec's [sampler] table; defaults are "
                                "the shipped specs')")
    samp.add_argument("--draws", type=int, metavar="N",
                      help="posterior draws per chain (default 1000); the diagnostics gate "
                           "needs a bulk and tail ESS of 400, and a failed gate says how many "
                           "draws it needs")
    samp.add_argument("--tune", type=int, metavar="N",
                      help="warm-up (tuning) iterations per chain (default 500)")
    samp.add_argument("--chains", type=int, metavar="N", help="chains (default 4)")
    samp.add_argument("--seed", type=int, help="random seed (default 2017; same seed, same "
                                               "summary.json)")
    samp.add_argument("--sampler", choices=["nutpie", "pymc"],
                      help="NUTS implementation (default nutpie: the model is compiled once "
                           "per process; pymc: PyMC's own NUTS on the readable reference model)")
    out = p.add_argument_group("output")
    out.add_argument("--out", type=Path, default=Path("posterior"), metavar="DIR",
                     help="output directory (default: posterior/)")
    out.add_argument("--ci-prob", type=float, default=CI_PROB, metavar="P",
                     help=f"interval level of every table, figure, the report and the "
                          f"frequentist twin (default {CI_PROB}; e.g. 0.95)")
    out.add_argument("--allow-warnings", action="store_true",
                     help="exit 0 even if a fit fails diagnostics (it is still reported as failed)")
    out.add_argument("--compare-pooling", choices=["headline", "all", "none"], default="headline",
                     help="also fit no-pooling and full-pooling versions (default: headline "
                          f"outcomes {', '.join(HEADLINE)})")
    out.add_argument("--contributions", choices=["headline", "all", "none"], default="headline",
                     help="refit without each evidence grade to show what it contributed")
    out.add_argument("--robustness", choices=["auto", "headline", "all", "none"], default="auto",
                     help="exact leave-one-municipality-out and multiverse refits (default auto: "
                          f"the outcomes {', '.join(REFIT_OUTCOMES)} in a run over all outcomes, "
                          "none in a run of chosen --outcome codes or of an --estimates file)")
    out.add_argument("--refit-draws", type=int, metavar="N",
                     help="draws per chain of those refits (default: half the spec's draws)")
    out.add_argument("--trajectories", choices=["headline", "all", "none"], default="headline",
                     help="also fit the effect by month (every time point, month 0 as the "
                          "baseline) of the pooled outcomes with two or more follow-up months "
                          "in a study, in a run over all outcomes: the headline outcomes "
                          "(work > 8 h, work > 12 h, social trust) or all 17 (default: headline)")
    out.add_argument("--no-plots", action="store_true", help="skip figures")
    out.add_argument("--svg", action="store_true",
                     help="also write every figure as SVG (vector, for print and slides; "
                          "about 4 s more per outcome); PNG is always written")
    out.add_argument("--no-report", action="store_true", help="skip report.html")
    out.add_argument("--no-resume", action="store_true",
                     help="refit even when a fit with identical inputs is already in --out")
    out.add_argument("--quiet", action="store_true", help="no progress bar")
    out.add_argument("--dry-run", action="store_true",
                     help="validate the inputs and print the fits that would run; fit and "
                          "write nothing")
    run = p.add_argument_group("execution")
    run.add_argument("--executor", choices=["local", "dask"], default="local",
                     help="run independent fits locally (default) or on Dask")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="Dask scheduler address, e.g. tcp://host:8786 (implies --executor "
                          "dask; default: start a LocalCluster)")
    run.add_argument("--workers", type=int, default=2, help="Dask LocalCluster workers (default 2)")
    run.add_argument("--debug", action="store_true",
                     help="on an error, show the Python traceback before the one-line message")
    return p


def parse_options(argv: list[str] | None = None) -> FitOptions:
    """Parse and validate argv; raises SystemExit(2) with a usage message on misuse."""
    parser = build_parser()
    a = parser.parse_args(argv)
    listing = [k for k in ("outcomes", "arms", "gemeenten") if getattr(a, f"list_{k}")]
    if listing:
        return FitOptions(estimates=a.estimates, extra={"list": tuple(listing)})
    if not (a.all_gemeenten or a.outcome or a.gemeente or a.estimates or a.microdata):
        parser.error("say what to fit: --all-gemeenten, --outcome, --gemeente, --estimates or "
                     "--microdata")
    for name in ("draws", "tune", "chains", "workers", "refit_draws"):
        v = getattr(a, name)
        if v is not None and v < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer")
    if not 0.5 <= a.ci_prob < 1:
        parser.error(f"--ci-prob must be at least 0.5 and below 1 (e.g. 0.95), got {a.ci_prob:g}")
    if a.seed is not None and not 0 <= a.seed < 2**32:
        parser.error("--seed must be between 0 and 2**32 - 1")
    if a.out.exists() and not a.out.is_dir():
        parser.error(f"--out {a.out} exists and is not a directory")
    if a.scheduler:
        a.executor = "dask"
    return FitOptions(
        all_gemeenten=a.all_gemeenten, gemeenten=tuple(a.gemeente), outcomes=tuple(a.outcome),
        arms=tuple(a.arm), model=a.model, estimates=a.estimates, microdata=a.microdata,
        costs=a.costs,
        formula=a.formula, family=a.family, out=a.out, draws=a.draws, tune=a.tune,
        chains=a.chains, seed=a.seed, sampler=a.sampler, allow_warnings=a.allow_warnings,
        compare_pooling=a.compare_pooling, contributions=a.contributions,
        robustness=a.robustness, refit_draws=a.refit_draws,
        trajectories=a.trajectories,
        plots=not a.no_plots, figure_formats=(*FIGURE_FORMATS, "svg") if a.svg else FIGURE_FORMATS,
        report=not a.no_report, resume=not a.no_resume,
        executor=a.executor, scheduler=a.scheduler, workers=a.workers, quiet=a.quiet,
        dry_run=a.dry_run, ci_prob=a.ci_prob, secure_env=a.secure_env)


def _progress(total: int, quiet: bool, desc: str) -> Progress:
    """A progress bar on stderr (``tqdm``), or none with ``quiet``."""
    if quiet:
        return NoProgress()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="fit", file=sys.stderr, dynamic_ncols=True)


def _validate_person_inputs(opts: FitOptions) -> None:
    """Everything ``--microdata`` needs, checked before any sampling (and any writing)."""
    from .microdata import load_microdata, outcome_columns

    if opts.model is not None:
        from .specs import load_spec

        load_spec(opts.model)
    from .models.person_level import DEFAULT_FORMULA, check_formula, prepare

    data = load_microdata(opts.microdata)
    formula = opts.formula or DEFAULT_FORMULA
    try:
        lhs, _ = check_formula(formula, list(data.columns))
    except ValueError as exc:
        if "outcome" in str(exc) and "is not a column" in str(exc):
            outs = ", ".join(outcome_columns(list(data.columns)))
            raise InputError(str(opts.microdata), f"{exc} (outcomes in the file: {outs}); "
                             "pass --formula", field=formula.partition("~")[0].strip()
                             ) from None
        raise InputError("--formula", str(exc)) from None
    try:
        prepare(data, formula=formula, family=opts.family)
    except ValueError as exc:
        raise InputError(str(opts.microdata), str(exc), field=lhs) from None
    if opts.dry_run:
        print(f"{opts.microdata}: {len(data)} persons, {data['gemeente'].nunique()} gemeenten; "
              "valid (dry run: nothing fitted or written)")


def run(opts: FitOptions) -> int:
    """Run the fits described by ``opts``; returns the process exit code."""
    if opts.extra.get("list"):
        from .codes import listing
        from .evidence.load import load_evidence

        ev = load_evidence(opts.estimates) if opts.estimates else load_evidence()
        print("\n\n".join(listing(ev, str(k)) for k in opts.extra["list"]))  # type: ignore[attr-defined]
        return 0
    if opts.microdata is not None:
        _validate_person_inputs(opts)
        if opts.dry_run:
            return 0
        from .person_cli import run_person

        return run_person(opts)
    from .run import plan_fits, run_plan

    cfg = opts.run_config()
    plan = plan_fits(cfg)  # validates the spec, then the evidence: raises before any writing
    from .specs import check_spec_selection

    check_spec_selection(plan.spec, set(plan.evidence["outcome"]))
    if not plan.jobs:
        raise InputError(str(opts.estimates or "evidence"), "the selection (spec "
                         "select.outcomes, --outcome, --gemeente, --arm) leaves nothing to fit")
    _check_size(plan, opts)
    if opts.dry_run:
        print(f"{len(plan.jobs)} fits planned (dry run: nothing fitted or written):")
        for job in plan.jobs:
            print(f"  {job.name}")
        for o, why in plan.not_fitted.items():
            print(f"  not fitted: {o} ({why})")
        return 0
    from .io import check_output_dir

    # Before anything samples: a read-only or full --out is one line now, not an OSError
    # after the first fit (a netCDF of the default sampler settings is a few MiB).
    check_output_dir(opts.out, 64 * 1024**2 + 16 * 1024**2 * len(plan.jobs))
    created = not opts.out.exists()
    bar = _progress(len(plan.jobs), opts.quiet, "fitting")
    try:
        summary = run_plan(plan, cfg, progress=bar)
    except Exception:
        _remove_if_nothing_finished(opts.out, created)
        raise
    finally:
        bar.close()
    failed = [k for k, v in summary["fits"].items() if v["status"] != "passed"]
    resumed = len(plan.resumed)
    out = opts.out
    print(f"wrote {out / 'summary.json'} ({len(summary['fits'])} fits"
          f"{', ' + str(resumed) + ' resumed' if resumed else ''}"
          f"{', ' + str(len(failed)) + ' FAILED diagnostics' if failed else ', all passed diagnostics'})")
    if (out / "report.html").exists():
        print(f"report: {out / 'report.html'}")
    exact = [k for k in summary["fits"] if _sampler_of(out, k).startswith("exact")]
    if exact:
        print("exact path (normal-normal model: independent draws, no MCMC): " + ", ".join(exact))
    main_failed = [k for k in failed if summary["fits"][k]["role"] == "main"]
    side_failed = [k for k in failed if k not in main_failed]
    if side_failed:
        # Sensitivity refits (pooling modes, grade contributions): their rows are marked
        # failed and left out of the comparison tables; the pooled results do not rest on them.
        print("WARNING: comparison refits FAILED diagnostics (excluded): " + ", ".join(side_failed),
              file=sys.stderr)
    if main_failed:
        print("FAILED diagnostics (excluded from pooled summaries): " + ", ".join(main_failed),
              file=sys.stderr)
        from .diagnostics import Diagnostics

        chains = plan.spec.sampler.chains
        for k in main_failed:
            hint = Diagnostics.from_dict(summary["fits"][k]["diagnostics"]).hint(chains)
            if hint:
                print(f"  {k}: {hint}", file=sys.stderr)
        return 0 if opts.allow_warnings else 1
    return 0


def _sampler_of(out: Path, name: str) -> str:
    """The path a fit ran (its record's ``sampler``; empty if unknown)."""
    import json

    try:
        return str(json.loads((out / "fits" / f"{name}.json").read_text()).get("sampler", ""))
    except (OSError, ValueError):
        return ""


def _check_size(plan: object, opts: FitOptions) -> None:
    """The memory/size guard (:func:`bayes_bijstand.validation.check_fit_size`)."""
    from .validation import check_fit_size

    names = {j.outcome for j in plan.jobs}  # type: ignore[attr-defined]
    sizes = {o: len(g) for o, g in plan.usable.items() if o in names}  # type: ignore[attr-defined]
    why = check_fit_size(sizes, str(opts.estimates or "evidence"))
    if why:
        raise InputError(str(opts.estimates or "evidence"), why)


def _remove_if_nothing_finished(out: Path, created: bool) -> None:
    """A run that failed before any fit finished leaves no ``--out`` it created itself.

    Only a directory this run created is removed, and only while it holds no finished job
    record (``fits/*.json``): finished fits of a failed run are kept so that a rerun resumes.
    """
    import shutil

    if not created or not out.is_dir():
        return
    if any((out / "fits").glob("*.json")):
        return
    shutil.rmtree(out, ignore_errors=True)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _format_warning(message: Warning | str, category: type[Warning], filename: str,
                    lineno: int, line: str | None = None) -> str:
    """Warnings as one ``warning:`` line, without the source line Python adds by default."""
    return f"warning: {_one_line(message)}\n"


def main(argv: list[str] | None = None) -> int:
    """Entry point: one-line errors for bad input, exit code 2, never a traceback."""
    os.environ.setdefault("PYTENSOR_FLAGS", "")
    warnings.filterwarnings("ignore", category=FutureWarning)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    previous_format, warnings.formatwarning = warnings.formatwarning, _format_warning
    try:
        return _main(argv)
    finally:
        warnings.formatwarning = previous_format


def _main(argv: list[str] | None) -> int:
    """Parse, run, and turn anything that escapes into one line (:func:`cli.guard`)."""
    from .cli import guard, wants_debug

    def body() -> int:
        opts = parse_options(argv)
        t0 = time.perf_counter()
        code = run(opts)
        if not opts.quiet and not opts.dry_run and not opts.extra.get("list"):
            print(f"done in {time.perf_counter() - t0:.0f} s")
        return code

    return guard(body, debug=wants_debug(argv),
                 interrupted="completed fits are kept; rerun to resume")


if __name__ == "__main__":
    sys.exit(main())
