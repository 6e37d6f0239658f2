"""bayes_bijstand: pool the Dutch social-assistance experiments with honest uncertainty.

Public API::

    load_evidence()      published results, one row per result (pandas)
    load_registry()      the study registry (studies, arms, coaches)
    fit_meta(...)        Bayesian hierarchical meta-analysis of one outcome
    load_spec(path)      a model specification from models/*.toml
"""

from __future__ import annotations

from typing import Any

from ._version import __version__

__all__ = ["load_evidence", "load_registry", "fit_meta", "load_spec", "__version__"]


def load_evidence(*args: Any, **kwargs: Any):  # noqa: ANN201 - thin lazy re-export
    """See :func:`bayes_bijstand.evidence.load.load_evidence`."""
    from .evidence.load import load_evidence as _f

    return _f(*args, **kwargs)


def load_registry() -> dict[str, Any]:
    """The registry as three tables: ``studies``, ``arms``, ``coaches``."""
    from .evidence.registry import load_arms, load_coaches, load_studies

    return {"studies": load_studies(), "arms": load_arms(), "coaches": load_coaches()}


def fit_meta(*args: Any, **kwargs: Any):  # noqa: ANN201
    """See :func:`bayes_bijstand.meta.fit_meta`."""
    from .meta import fit_meta as _f

    return _f(*args, **kwargs)


def load_spec(*args: Any, **kwargs: Any):  # noqa: ANN201
    """See :func:`bayes_bijstand.specs.load_spec`."""
    from .specs import load_spec as _f

    return _f(*args, **kwargs)
