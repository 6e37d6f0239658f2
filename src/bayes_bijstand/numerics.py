"""Compile with IEEE floating point, so that a seed gives the same draws on every machine state.

PyTensor's numba backend compiles with LLVM fast-math flags by default
(``pytensor.config.numba__fastmath``: reassociation, contraction, approximate functions).
Their effect depends on how the code is inlined, and a freshly compiled log density is
inlined differently from one that PyTensor's on-disk numba cache loads. So the same seed gave
different draws on a fresh machine than on a rerun. Measured on ``work_gt8h``: the first
draws and the posterior mean of ``mu`` differed, and one grade-contribution refit passed
the diagnostics cold and failed them warm. Without fast-math the cold and the warm compile
give identical draws, and sampling is no slower (14.8 s against 15.7 s for two warm fits).

PyTensor's numba cache key includes the flag, so code cached with fast-math on is never
reused here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def exact_float() -> Iterator[None]:
    """Within the block, PyTensor compiles numba code without fast-math flags."""
    import pytensor

    with pytensor.config.change_flags(numba__fastmath=False):
        yield
