"""Frequentist meta-analysis: metafor-compatible benchmarks for the Bayesian models.

See ``docs/frequentist.md``. Public entry points: :func:`rma` (univariate random-/mixed-effects
models), :func:`rma_mv` (multivariate/multilevel models with known sampling covariance),
:func:`escalc`, :func:`mantel_haenszel`, :func:`peto` and :func:`two_proportions`.
"""

from ._common import MetaAnalysisError
from .effects import escalc, mantel_haenszel, peto, two_proportions
from .meta import confint_tau2, influence, leave1out, predict, rma
from .multivariate import RandomInnerOuter, RandomIntercept, nested, rma_mv

__all__ = [
    "MetaAnalysisError",
    "RandomInnerOuter",
    "RandomIntercept",
    "confint_tau2",
    "escalc",
    "influence",
    "leave1out",
    "mantel_haenszel",
    "nested",
    "peto",
    "predict",
    "rma",
    "rma_mv",
    "two_proportions",
]
