"""Raw counts enter binomially: the graph's binomial term is scipy's binomial log
likelihood (up to the binomial coefficients), and arms that share a control group share its
count once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from bayes_bijstand.models.summary_level import (
    P_EPS,
    binomial_sections,
    build_model,
    exact_sizes,
    prepare,
)
from bayes_bijstand.specs import ModelSpec


def _row(arm: str, xt: int, nt: int, xc: int, nc: int) -> dict[str, object]:
    return {"row_id": f"r-{arm}", "gemeente": "g", "arm": arm, "comparator": "control",
            "comparison": "vs_control", "estimand": "itt", "months": 24, "model_variant": "raw",
            "grade": "counts", "family": "binomial", "used": True, "reason": "",
            "y": xt / nt - xc / nc, "se": np.nan, "se_design": 0.04, "se_lo": 0.0,
            "se_hi": np.inf, "z_lo": 0.0, "z_hi": np.inf, "sign": 0, "n_t": float(nt),
            "n_c": float(nc), "takeup": 1.0, "conversion": "", "source": "s", "line": 1,
            "quality": "ok", "covariates": False, "design_effect": 1.0, "se_latent": False,
            "x_t": float(xt), "x_c": float(xc), "bias_term": ""}


def test_binomial_term_is_the_binomial_likelihood() -> None:
    table = pd.DataFrame([_row("extra_hulp", 18, 207, 9, 119), _row("zelf_in_actie", 30, 150, 9, 119)])
    spec = ModelSpec(name="t", kind="meta_arms")
    data = prepare(table, "o", "binary", spec)
    pos, ctrl, keys = binomial_sections(data)
    assert len(pos) == 2 and len(keys) == 1 and list(ctrl) == [0, 0]  # one shared control
    model = build_model(data, spec, pooling="partial", sizes=exact_sizes(data))
    fn = model.compile_fn([model["binomial_counts"], model["row_mean_b"], model["p_control"]],
                          inputs=model.value_vars, on_unused_input="ignore", mode="FAST_COMPILE")
    rng = np.random.default_rng(1)
    ip = model.initial_point()
    for _ in range(3):
        pt_ = {k: rng.normal(0, 0.3, np.shape(v)) for k, v in ip.items()}
        ll, m, pc = fn(pt_)
        p_t = np.clip(pc[0] + m, P_EPS, 1 - P_EPS)  # as the model does
        expect = (stats.binom.logpmf(9, 119, pc[0]) - np.log(special.comb(119, 9))
                  + sum(stats.binom.logpmf(x, n, p) - np.log(special.comb(n, x))
                        for x, n, p in zip((18, 30), (207, 150), p_t, strict=True)))
        assert ll == pytest.approx(expect, rel=1e-10)
