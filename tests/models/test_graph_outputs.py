"""The graph outputs (deterministics, log-likelihood, replicated rows) are evaluated by a
rewritten graph; the rewrite must not change a single bit."""

from __future__ import annotations

import numpy as np
import pytest

from bayes_bijstand.evidence.load import load_evidence
from bayes_bijstand.models import backends as B
from bayes_bijstand.models.selection import select_rows
from bayes_bijstand.models.summary_level import choose_sizes, model_arrays, prepare
from bayes_bijstand.specs import load_spec


def _work_gt8h(seed: int, draws: int) -> tuple[object, dict[str, np.ndarray],
                                               dict[str, np.ndarray]]:
    """(padding, data arrays, random draws of every stored variable) of work_gt8h."""
    spec = load_spec("meta_components")
    table = select_rows(load_evidence(), "work_gt8h", "binary", spec)
    data = prepare(table, "work_gt8h", "binary", spec)
    sizes = choose_sizes(data)
    arrays = model_arrays(data, spec, sizes, pooling="partial")
    model = B._graph(sizes)
    rng = np.random.default_rng(seed)
    raw = {n: rng.normal(0.0, 0.5, size=(2, draws, *[int(d) for d in model[n].shape.eval()]))
           for n in B.STORED}
    return sizes, arrays, raw


def test_fill_as_broadcast_gives_the_same_outputs_bit_for_bit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from pytensor.scalar.basic import Second
    from pytensor.tensor.elemwise import Elemwise

    sizes, arrays, raw = _work_gt8h(seed=7, draws=40)
    saved = dict(B._FNS)
    try:
        B._FNS.clear()
        rewritten = B.graph_outputs(sizes, arrays, raw, seed=3)
        fn = B._FNS[(sizes, "posterior")][0]
        assert not [n for n in fn.maker.fgraph.apply_nodes  # type: ignore[attr-defined]
                    if isinstance(n.op, Elemwise) and isinstance(n.op.scalar_op, Second)]
        B._FNS.clear()
        monkeypatch.setattr(B, "_fill_as_broadcast", lambda outs: outs)
        plain = B.graph_outputs(sizes, arrays, raw, seed=3)
    finally:
        B._FNS.clear()
        B._FNS.update(saved)
    assert plain.keys() == rewritten.keys()
    for k in plain:
        assert np.array_equal(np.asarray(plain[k]), np.asarray(rewritten[k]), equal_nan=True), k


def test_inlined_logaddexp_gives_the_same_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    """``logaddexp`` (a symbolic op) is inlined into elementwise arithmetic: no ``Blockwise``
    left to C-compile, and the same outputs: bit for bit on a shipped outcome (no two-band
    rows), to rounding where a two-band prose row is switched on."""
    from pytensor.compile.builders import OpFromGraph
    from pytensor.tensor.blockwise import Blockwise

    sizes, arrays, raw = _work_gt8h(seed=11, draws=30)
    assert sizes.two_band >= 1 and sizes.cens_row >= 1 and not sizes.indexed
    two = dict(arrays)  # one prose slot observed as two bands: |z| in [1.5, 3], sign unknown
    for k, v in {"d_c_lo": 1.5, "d_c_hi": 3.0, "d_c_one": 0.0}.items():
        two[k] = arrays[k].copy()
        two[k][0] = v
    for k, v in {"d_t_mask": 1.0, "d_t_lo": -3.0, "d_t_hi": -1.5}.items():
        two[k] = arrays[k].copy()
        two[k][0] = v
    two["d_t_Q"] = np.zeros_like(arrays["d_t_Q"])
    two["d_t_Q"][0, 0] = 1.0
    saved = dict(B._FNS)
    try:
        B._FNS.clear()
        inlined = [B.graph_outputs(sizes, a, raw, seed=3) for a in (arrays, two)]
        fn = B._FNS[(sizes, "posterior")][0]
        assert not [n for n in fn.maker.fgraph.apply_nodes  # type: ignore[attr-defined]
                    if isinstance(n.op, (Blockwise, OpFromGraph))]
        B._FNS.clear()
        monkeypatch.setattr(B, "_inline_symbolic", lambda outs: outs)
        plain = [B.graph_outputs(sizes, a, raw, seed=3) for a in (arrays, two)]
        fn = B._FNS[(sizes, "posterior")][0]
        assert [n for n in fn.maker.fgraph.apply_nodes  # type: ignore[attr-defined]
                if isinstance(n.op, Blockwise)]  # the case the rewrite is for
    finally:
        B._FNS.clear()
        B._FNS.update(saved)
    for k in plain[0]:
        assert np.array_equal(np.asarray(plain[0][k]), np.asarray(inlined[0][k]),
                              equal_nan=True), k
    ll_two, ll_one = plain[1]["loglik_gemeente"], plain[0]["loglik_gemeente"]
    assert not np.allclose(ll_two, ll_one)  # the second band counts
    np.testing.assert_allclose(inlined[1]["loglik_gemeente"], ll_two, rtol=1e-13, atol=1e-13)
