"""The disk cache of nutpie's compiled log density (models/compile_cache.py).

What matters: a new process loads the production model's callbacks instead of compiling
them, and its draws are exactly those of a process that compiled them without the cache.
Each check runs in a fresh interpreter (the cache is for the next process, not this one).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types

import numba
import pytest

from bayes_bijstand.models import compile_cache

_SCRIPT = r"""
import json, warnings
from dataclasses import replace
warnings.simplefilter("ignore")
from bayes_bijstand import load_evidence, load_spec
from bayes_bijstand.evidence.outcomes import outcome_kind
from bayes_bijstand.models import backends, compile_cache
from bayes_bijstand.models.selection import select_rows
from bayes_bijstand.models.summary_level import prepare
ev, spec = load_evidence(), load_spec("meta_components")
o = "work_gt8h"
data = prepare(select_rows(ev, o, outcome_kind(o), spec), o, outcome_kind(o), spec)
tree = backends.sample(data, spec, "partial", replace(spec.sampler, draws=30, tune=30, chains=2),
                       cores=1, posterior_predictive=False)
print(json.dumps({"stats": compile_cache.STATS,
                  "mu": tree["posterior"]["mu"].values.ravel().tolist()}))
"""


def _run(cache: bool) -> dict[str, object]:
    env = {**os.environ, compile_cache.ENV: "1" if cache else "0"}
    out = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True,
                         text=True, timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_new_process_loads_the_callbacks_and_draws_the_same() -> None:
    _run(cache=True)  # compiles and saves (or already finds) the two callbacks
    loaded = _run(cache=True)
    assert loaded["stats"] == {"hits": 2, "compiled": 0, "uncached": 0}
    fresh = _run(cache=False)
    assert fresh["stats"] == {"hits": 0, "compiled": 0, "uncached": 0}
    assert loaded["mu"] == fresh["mu"]  # bit for bit


def _closure(value: object) -> types.FunctionType:
    def f(x: float) -> float:
        return value(x)  # type: ignore[operator]

    return f


def test_key_needs_a_pytensor_graph_key() -> None:
    # A callback around a plain numba function: nothing vouches for what it computes.
    inner = numba.njit(lambda x: x + 1.0)
    assert compile_cache.callback_key(_closure(inner)) is None
    # A closure over an object the key cannot describe.
    assert compile_cache.callback_key(_closure(object())) is None


def test_key_follows_the_pytensor_key_and_the_shapes() -> None:
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    def make(key: str, n: int) -> types.FunctionType:
        inner = numba.njit(lambda x: x)
        CACHED_SRC_FUNCTIONS[inner.py_func] = key

        def f(x: float) -> float:
            return inner(x) + n

        return f

    a, b, c = make("k1", 3), make("k1", 3), make("k2", 3)
    assert compile_cache.callback_key(a) == compile_cache.callback_key(b) is not None
    assert compile_cache.callback_key(a) != compile_cache.callback_key(c)
    assert compile_cache.callback_key(a) != compile_cache.callback_key(make("k1", 4))
