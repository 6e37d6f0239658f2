"""Shared fixtures for the person-level tests: tiny synthetic data, one real fit per session."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from bayes_bijstand.microdata import validate_microdata
from bayes_bijstand.simulate import simulate_microdata

EFFECTS = {"zelf_in_actie": 0.0, "extra_hulp": 0.5, "werken_loont": 0.3}
SMALL = {"gemeenten": ["oss", "nijmegen"], "scale": 0.8, "tau": 0.05, "sigma_coach": 0.2}
LEAN = ("work_gt12h_m24 ~ arm + sex + benefit_duration + (arm | gemeente) "
        "+ (1 | gemeente:coach)")
"""Fewer covariates than the default formula: a smaller graph compiles faster in tests."""
FIT = {"draws": 200, "tune": 200, "chains": 2, "cores": 1, "sampler": "pymc",
       "participants_only": True, "formula": LEAN}


@pytest.fixture(scope="session")
def small_data() -> pd.DataFrame:
    """~550 synthetic clients in Oss and Nijmegen (validated)."""
    return validate_microdata(simulate_microdata(effects=EFFECTS, seed=7, **SMALL))


@pytest.fixture(scope="session")
def small_fit(small_data: pd.DataFrame):  # noqa: ANN201
    """The person-level model (lean formula) fitted once: collapsed, participants only."""
    from bayes_bijstand.models.person_level import fit_person

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_person(small_data, random_seed=1, **FIT)


@pytest.fixture(scope="session")
def settings() -> dict:
    """The effects, simulation and sampler settings shared by the slow tests."""
    return {"effects": EFFECTS, "small": SMALL, "fit": FIT}
