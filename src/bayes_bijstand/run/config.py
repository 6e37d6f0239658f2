"""The typed settings of a batch run and the progress protocol it reports to.

:class:`RunConfig` is what :mod:`bayes_bijstand.run` needs from the command line, and nothing
else: the CLI (:mod:`bayes_bijstand.fit`) builds one from its validated options, a library
user builds one directly. It is frozen, so a plan and its jobs cannot change it mid-run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from ..constants import CI_PROB, FIGURE_FORMATS

Selection = Literal["headline", "all", "none"]
"""Which outcomes get a sensitivity refit: the headline outcomes, all, or none."""

RefitSelection = Literal["auto", "headline", "all", "none"]
"""Which outcomes get the robustness refits (:mod:`~bayes_bijstand.run.refits`): ``auto`` is
``headline`` in a run over all outcomes and ``none`` in a run of chosen outcomes."""

Executor = Literal["local", "dask"]


@dataclass(frozen=True)
class RunConfig:
    """Settings of one batch run (``fit --all-gemeenten`` and its selections).

    Selection: ``gemeenten``, ``outcomes``, ``arms`` restrict the evidence (empty: all);
    ``min_gemeenten`` is how many municipalities an outcome needs to be pooled without an
    explicit ``outcomes``. Model: ``model`` (a spec TOML; default the shipped one) and
    ``estimates`` (a user estimates file; default the shipped evidence), with the sampler
    overrides ``draws``, ``tune``, ``chains``, ``seed``, ``sampler`` (``None``: the spec's).
    Sensitivity refits: ``compare_pooling`` and ``contributions``; robustness refits
    (leave one municipality out, multiverse): ``robustness`` and ``refit_draws`` (draws per
    chain of those refits; ``None``: half the spec's). ``trajectories``: which
    pooled outcomes with two or more post-baseline time points in a study also get a
    trajectory fit (effect by month) in a run over all outcomes. Outputs: ``out``,
    ``plots`` and ``figure_formats``, ``report``, ``resume``; ``costs`` (a cost TOML for the
    net fiscal effect; default the shipped ``evidence/data/costs.toml``); ``ci_prob``: the
    interval level of every table, figure and the frequentist twin (default 90%).
    Execution: ``executor``, and for Dask ``scheduler`` (``None``: a LocalCluster of
    ``workers`` workers).
    """

    out: Path = Path("posterior")
    gemeenten: tuple[str, ...] = ()
    outcomes: tuple[str, ...] = ()
    arms: tuple[str, ...] = ()
    min_gemeenten: int = 2
    model: Path | None = None
    estimates: Path | None = None
    draws: int | None = None
    tune: int | None = None
    chains: int | None = None
    seed: int | None = None
    sampler: str | None = None
    compare_pooling: Selection = "headline"
    contributions: Selection = "headline"
    robustness: RefitSelection = "auto"
    refit_draws: int | None = None
    trajectories: Selection = "headline"
    plots: bool = True
    figure_formats: tuple[str, ...] = FIGURE_FORMATS
    report: bool = True
    resume: bool = True
    costs: Path | None = None
    executor: Executor = "local"
    scheduler: str | None = None
    workers: int = 2
    ci_prob: float = CI_PROB

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))


class Progress(Protocol):
    """What a run reports its progress to (a ``tqdm`` bar satisfies it; so does
    :class:`NoProgress`)."""

    def update(self, n: int = 1) -> object: ...

    def set_postfix_str(self, s: str) -> object: ...

    def close(self) -> object: ...


class NoProgress:
    """A :class:`Progress` that shows nothing."""

    def update(self, n: int = 1) -> None:
        """Nothing to show."""

    def set_postfix_str(self, s: str) -> None:
        """Nothing to show."""

    def close(self) -> None:
        """Nothing to close."""
