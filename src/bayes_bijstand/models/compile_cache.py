"""nutpie's compiled log density kept on disk, so that a new process loads it instead of
compiling it again.

``nutpie.compile_pymc_model`` compiles a model in two steps: PyTensor turns the log density
and its gradient into numba functions (cached on disk by PyTensor itself, keyed by the
graph), and nutpie wraps them in two numba C callbacks (``numba.cfunc``) that the sampler
calls. Those wrappers are closures over per-process objects (the PyTensor function, random
field names of the shared-data record), so numba's own cache never finds them again, and
typing plus LLVM code generation of the wrapper took about 12 of the ~20 s of every
compilation of the summary-level model, in every process (the main job, each test worker).

:func:`cached_callbacks` compiles those wrappers with a disk cache whose key is their
*content*: the PyTensor cache key of the graph they call, the shapes and dtypes of the
shared data, the record layout (field names normalised), the bytecode of the wrapper
functions and the versions of nutpie, numba, llvmlite and PyTensor. Anything it cannot
describe (a closure over an object of unknown kind, a PyTensor function without a cache
key) is compiled as before, uncached. The cache lives in PyTensor's numba cache directory
(``pytensor.config.base_compiledir``/numba) under that key, so deleting PyTensor's cache
deletes it too; ``BAYES_BIJSTAND_COMPILE_CACHE=0`` in the environment turns it off. Loaded or compiled, the machine code is the same, so the draws are too
(``tests/models/test_compile_cache.py`` checks both in fresh processes).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
import types
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

import numpy as np

CACHE_VERSION = 1
"""Bumped when the key's recipe changes (old entries are then never found again)."""

_UUID = re.compile(r"[0-9a-f]{32}")
_LOCK = threading.Lock()
ENV = "BAYES_BIJSTAND_COMPILE_CACHE"
"""Environment variable: ``0`` compiles every callback as nutpie does (no disk cache)."""
STATS = {"hits": 0, "compiled": 0, "uncached": 0}
"""Counts of this process: wrappers loaded from disk, compiled and saved, compiled uncached."""


class _Uncacheable(Exception):
    """A closure holds something the key cannot describe."""


def _describe(v: Any, found: list[str], depth: int = 0) -> str:
    """A stable text for one closure value (raises :class:`_Uncacheable`)."""
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    if depth > 4:
        raise _Uncacheable("closure too deep")
    if isinstance(v, (bool, int, float, str, np.integer, np.floating)):
        return _UUID.sub("K", f"{type(v).__name__}:{v!r}")
    if isinstance(v, np.ndarray):  # shared data: read at run time, only shape/dtype compiled in
        return f"array{v.shape}{v.dtype.str}"
    if isinstance(v, np.dtype):
        return _UUID.sub("K", f"dtype{v.itemsize}:{v.descr!r}")
    if isinstance(v, tuple):
        return "(" + ",".join(_describe(x, found, depth + 1) for x in v) + ")"
    if isinstance(v, types.ModuleType):
        return f"module:{v.__name__}"
    py_func = getattr(v, "py_func", None)
    if py_func is not None:  # a numba dispatcher
        key = CACHED_SRC_FUNCTIONS.get(py_func)
        if key is not None:  # PyTensor's own content key of the compiled graph
            found.append(key)
            return f"pytensor:{key}"
        return "dispatcher:" + _describe_function(py_func, found, depth + 1)
    if isinstance(v, types.FunctionType):
        return _describe_function(v, found, depth + 1)
    if type(v).__name__ == "_Intrinsic":
        return f"intrinsic:{getattr(v, '_name', '')}:{_code_hash(v._defn)}"
    raise _Uncacheable(f"closure value of type {type(v).__name__}")


def _code_bytes(code: types.CodeType) -> bytes:
    """Bytecode, constants and names of ``code`` and its nested code objects (no addresses)."""
    parts = [code.co_code, repr(code.co_names).encode()]
    for c in code.co_consts:
        parts.append(_code_bytes(c) if isinstance(c, types.CodeType) else repr(c).encode())
    return b"|".join(parts)


def _code_hash(f: types.FunctionType) -> str:
    return hashlib.sha256(_code_bytes(f.__code__)).hexdigest()[:16]


def _describe_function(f: types.FunctionType, found: list[str], depth: int) -> str:
    cells = zip(f.__code__.co_freevars, f.__closure__ or (), strict=True)
    inner = ",".join(f"{n}={_describe(c.cell_contents, found, depth)}" for n, c in cells)
    return f"{f.__module__}.{f.__qualname__}#{_code_hash(f)}[{inner}]"


def callback_key(f: types.FunctionType) -> str | None:
    """The content key of the C callback made from ``f``; ``None`` where uncacheable."""
    found: list[str] = []
    try:
        text = _describe_function(f, found, 0)
    except _Uncacheable:
        return None
    if not found:  # no PyTensor graph key: nothing vouches for what the callback computes
        return None
    libs = ",".join(f"{p}={version(p)}" for p in ("nutpie", "numba", "llvmlite", "pytensor"))
    return hashlib.sha256(f"v{CACHE_VERSION}|{libs}|{text}".encode()).hexdigest()


def _cfunc(sig: Any, locals: Any = None, cache: bool = False, pipeline_class: Any = None,  # noqa: A002
           **options: Any) -> Any:
    """``numba.cfunc`` with a content-keyed disk cache (same signature and result)."""
    from numba.core import sigutils
    from numba.core.ccallback import CFunc
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    sig = sigutils.normalize_signature(sig)

    def wrapper(func: types.FunctionType) -> Any:
        extra = {"pipeline_class": pipeline_class} if pipeline_class is not None else {}
        res = CFunc(func, sig, locals=dict(locals or {}), options=options, **extra)
        key = callback_key(func)
        if key is None:
            STATS["uncached"] += 1
        else:
            # PyTensor's cache locator (first in numba's list) files a function registered
            # here under its directory with ``key`` as the disambiguator; the index key is
            # ``key`` too, instead of numba's hash of the closure objects (new every process).
            CACHED_SRC_FUNCTIONS[func] = key
            res.enable_caching()
            res._cache._index_key = lambda sig, codegen: (sig, codegen.magic_tuple(), key)
        res.compile()
        if key is not None:
            STATS["hits" if res._cache_hits else "compiled"] += 1
        return res

    return wrapper


@contextlib.contextmanager
def cached_callbacks() -> Iterator[None]:
    """Within the block, nutpie's ``numba.cfunc`` wrappers use the content-keyed disk cache
    (unless :data:`ENV` is ``0``)."""
    import numba

    if os.environ.get(ENV, "1").strip() == "0":
        yield
        return

    with _LOCK:
        real = numba.cfunc
        numba.cfunc = _cfunc
        try:
            yield
        finally:
            numba.cfunc = real
