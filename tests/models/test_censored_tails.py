"""The censored (prose-row) likelihood stays finite, with finite gradients, far into the tails.

A trajectory of the sampler can put a prose row's expected z far above its significance
band; the log-probability of the band must then be very negative, not -inf (which nutpie
reports as a divergence: "logp function returned error").
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from scipy.special import log_ndtr

from bayes_bijstand.models.summary_level import log_interval_prob


def _reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(Phi(b) - Phi(a)) from scipy's tail-accurate log_ndtr, mirrored above the mean."""
    lo, hi = np.where(a > 0, -b, a), np.where(a > 0, -a, b)
    lb, la = log_ndtr(hi), log_ndtr(lo)
    return lb + np.log1p(-np.exp(la - lb))


def test_log_interval_prob_matches_scipy_in_both_tails() -> None:
    a = np.array([-50.0, -10.0, -1.0, -3.0, 0.5, 5.0, 10.0, 30.0, 45.0, -45.0])
    b = a + np.array([1.0, 1.0, 2.0, 0.1, 1.0, 1.0, 2.0, 10.0, 3.0, 90.0])
    av, bv = pt.dvector("a"), pt.dvector("b")
    out = log_interval_prob(av, bv)
    fn = pytensor.function([av, bv], [out, *pytensor.grad(out.sum(), [av, bv])])
    val, ga, gb = fn(a, b)
    ref = _reference(a, b)
    assert np.all(np.isfinite(ref))
    # Relative 1e-7 in the tails; near log(1) = 0 the one-branch log-CDF is exact to an
    # absolute ~1e-13 (the rounding of x^2 / 2), which no log density can notice.
    np.testing.assert_allclose(val, ref, rtol=1e-7, atol=1e-12)
    assert np.all(np.isfinite(ga)) and np.all(np.isfinite(gb))
    # Far above the mean: the old formula log(Phi(b) - Phi(a)) rounds both CDFs to 1.
    assert val[8] < -1000
    # Numerical derivative of the value agrees with the gradient (upper and lower tail).
    h = 1e-6
    for i in (1, 6):
        da = (fn(a + h * (np.arange(len(a)) == i), b)[0][i] - val[i]) / h
        assert abs(da - ga[i]) < 1e-3 * max(1.0, abs(ga[i]))
