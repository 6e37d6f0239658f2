"""Checks of a fitted model that return tables (no drawing): influence and prior sensitivity.

``psense_table`` runs ``arviz_stats.psense`` on the stored ``log_prior`` and
``log_likelihood`` groups.

Plots (:mod:`bayes_bijstand.plots`) draw these tables; the report reads them.
"""

from .influence import bayes_loo_table, freq_loo_table
from .sensitivity import psense_table, sensitivity_table

__all__ = ["bayes_loo_table", "freq_loo_table", "psense_table", "sensitivity_table"]
