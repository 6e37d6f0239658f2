"""One number-validation layer: strict parsing and domain limits per scale.

Every number a user gives the package - a cell of an estimates file, a prior scale in a model
spec, a cell of a microdata file - passes through here, so that ``fit``, ``replicate``,
specs and microdata agree on what a number is and which values are possible:

* :func:`parse_number` accepts plain decimal numbers only (``0.02``, ``-1.5e-3``, a decimal
  comma where the file uses one). Python's ``float()`` extras are refused: ``0_02`` (read as
  2.0 by Python), ``inf``/``nan`` words, hexadecimal, and ``1,000`` where a comma could be a
  thousands separator or a decimal mark. A trailing ``%`` is reported, not silently dropped:
  the caller decides whether the row's scale is percent.
* :data:`DOMAINS` gives per scale of an estimates file the values that can occur: a risk
  difference on the ``proportion`` scale lies in [-1, 1], on the ``percent`` scale in
  [-100, 100]; a standard error or a confidence interval's width must exceed a floor relative
  to the scale's unit (an SE of 1e-300 is a typo, and breaks every sampler and twin).
* :func:`infer_scale` is the rule for a row without a ``scale``: the outcome's kind decides
  (binary -> ``proportion``, score -> ``score``, count -> ``count``, euro -> ``euro``; an
  outcome code the package does not know is taken as binary, as the model does).
* :data:`PRIOR_LIMITS` bounds the prior scales of a model spec (finite, positive, and on the
  outcome scale: a binary ``mu_sd`` of 1e308 is refused).

Messages are plain strings; callers wrap them into an :class:`~bayes_bijstand.errors.InputError`
or :class:`~bayes_bijstand.errors.SpecError` that names file, row and field (or line and key).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = [
    "ABSURD",
    "DOMAINS",
    "Domain",
    "NumberError",
    "PRIOR_LIMITS",
    "check_code",
    "check_fit_size",
    "check_prior",
    "infer_scale",
    "parse_number",
]

ABSURD = 1e7
"""Magnitude beyond which any number in a user file is taken as a typo."""

_PLAIN = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+")
_NON_FINITE = re.compile(r"[+-]?(?:inf(?:inity)?|nan)", re.IGNORECASE)


CODE_MAX = 64
"""Longest code (outcome, gemeente, arm) accepted in a user file."""

_CODE = re.compile(r"[^\W_][\w+\-]*")
_OUTCOME_CODE = re.compile(r"[^\W_][\w\-]*")


def check_code(value: str, column: str) -> str | None:
    """Why ``value`` is not a safe code for ``column`` (``None``: it is).

    Codes become file names (``fits/<outcome>.nc``, ``figures/<outcome>/``) and figure
    labels, so they are letters (any alphabet), digits, ``_`` and ``-`` (arms also ``+``, for
    bundled arms), start with a letter or digit and are at most :data:`CODE_MAX` characters:
    no ``/``, ``..``, ``.`` (the run's internal job names such as ``work_gt12h.pooling-none``
    contain a dot, so they can never equal a code), spaces, ``$`` or control characters.
    """
    pattern = _OUTCOME_CODE if column == "outcome" else _CODE
    if len(value) > CODE_MAX:
        return f"code is {len(value)} characters long (at most {CODE_MAX})"
    if not pattern.fullmatch(value):
        allowed = "letters, digits, '_' and '-'" + (" and '+'" if column != "outcome" else "")
        shown = value.encode("unicode_escape").decode("ascii")
        return f"'{shown}' is not a valid code ({allowed}, starting with a letter or digit)"
    return None


class NumberError(ValueError):
    """A cell that is not a number this package accepts (message: why, one line)."""


def parse_number(cell: str, decimal: str = ".") -> tuple[float, bool]:
    """Parse one cell strictly; returns ``(value, had_percent_sign)``.

    ``decimal`` is the file's decimal mark (``","`` for a semicolon-separated Dutch Excel
    export, where ``1.234,5`` is 1234.5). Raises :class:`NumberError` for anything that is
    not a plain finite decimal number (``0_02``, ``0x10``, ``inf``, ``1,000`` in a file with
    a decimal point).
    """
    raw = str(cell)
    s = raw.strip().replace("\u2212", "-").replace("\u2013", "-").replace("\u00a0", "")
    percent = s.endswith("%")
    if percent:
        s = s[:-1].strip()
    if _NON_FINITE.fullmatch(s):
        raise NumberError(f"'{raw.strip()}' is not a finite number")
    if decimal == ",":
        if "," in s:
            s = s.replace(".", "").replace(",", ".")
    elif "," in s:
        if "." in s or _THOUSANDS.fullmatch(s):
            raise NumberError(f"'{raw.strip()}' is ambiguous (thousands separator or decimal "
                              "comma?): write the number without separators, e.g. 1000 or 0.5")
        s = s.replace(",", ".")
    if not _PLAIN.fullmatch(s):
        raise NumberError(f"'{raw.strip()}' is not a number")
    value = float(s)
    if not math.isfinite(value):
        raise NumberError(f"'{raw.strip()}' is not a finite number")
    return value, percent


@dataclass(frozen=True)
class Domain:
    """The values an estimates-file number can take on one scale.

    ``unit``: the size of one unit of effect on this scale (1 for a proportion, 100 for
    percent), or ``None`` where the scale has no fixed unit (raw scores, counts, euros):
    there the floors are relative to the size of the row's own numbers. ``bound``: the
    largest possible magnitude of an estimate or CI end (``None``: only :data:`ABSURD`).
    ``positive``: ratio scales, where estimate and CI ends must be > 0.
    """

    scale: str
    unit: float | None
    bound: float | None = None
    positive: bool = False
    describe: str = ""

    FLOOR = 1e-5
    """An SE or CI width below ``FLOOR`` units (1e-5 = one thousandth of a percentage point
    on the proportion scale) cannot come from a real study: it is a typo."""

    def floor(self, *values: float) -> float:
        """The smallest SE / CI width accepted, given the row's other numbers."""
        if self.unit is not None:
            return self.FLOOR * self.unit
        size = max([1.0, *(abs(v) for v in values if v == v)])
        return 1e-8 * size


DOMAINS: dict[str, Domain] = {
    "proportion": Domain("proportion", 1.0, 1.0, describe="a risk difference on the proportion "
                         "scale (0.03 = 3 percentage points) lies in [-1, 1]"),
    "percent": Domain("percent", 100.0, 100.0, describe="a difference in percentage points "
                      "lies in [-100, 100]"),
    "log_odds": Domain("log_odds", 1.0, 30.0, describe="a log odds ratio lies in [-30, 30]"),
    "odds_ratio": Domain("odds_ratio", 1.0, 1e6, positive=True,
                         describe="an odds ratio is positive"),
    "hazard_ratio": Domain("hazard_ratio", 1.0, 1e6, positive=True,
                           describe="a hazard ratio is positive"),
    "smd": Domain("smd", 1.0, 20.0, describe="a standardised mean difference lies in [-20, 20]"),
    "r2": Domain("r2", 1.0, 1.0, describe="an R-squared lies in [-1, 1]"),
    "score": Domain("score", None),
    "count": Domain("count", None),
    "months": Domain("months", None),
    "euro": Domain("euro", None),
}
"""Domain per ``scale`` code of the evidence schema."""

_KIND_SCALE = {"binary": "proportion", "score": "score", "count": "count", "euro": "euro"}


def infer_scale(outcome_kind: str | None) -> str:
    """The scale of a row that declares none: from its outcome's kind (see module doc)."""
    return _KIND_SCALE.get(outcome_kind or "binary", "proportion")


@dataclass(frozen=True)
class PriorLimit:
    """Sane range of one prior setting of a model spec (inclusive)."""

    low: float
    high: float
    scale: str


PRIOR_LIMITS: dict[str, PriorLimit] = {
    # risk-difference scale: an SD of 1 already spans every possible risk difference
    "priors.binary.mu_sd": PriorLimit(1e-4, 1.0, "risk difference"),
    "priors.binary.tau_sd": PriorLimit(1e-4, 1.0, "risk difference"),
    "priors.binary.interaction_sd": PriorLimit(1e-4, 1.0, "risk difference"),
    "priors.binary.mid": PriorLimit(-1.0, 1.0, "risk difference"),
    "priors.binary.lkj_eta": PriorLimit(1e-3, 1e3, "LKJ shape"),
    "priors.binary.coach_sd": PriorLimit(1e-4, 1.0, "risk difference"),
    # standardised mean differences: 10 SD is far beyond any social-policy effect
    "priors.score.mu_sd": PriorLimit(1e-4, 10.0, "SMD"),
    "priors.score.tau_sd": PriorLimit(1e-4, 10.0, "SMD"),
    "priors.score.interaction_sd": PriorLimit(1e-4, 10.0, "SMD"),
    "priors.score.mid": PriorLimit(-10.0, 10.0, "SMD"),
    "priors.score.lkj_eta": PriorLimit(1e-3, 1e3, "LKJ shape"),
    "priors.score.coach_sd": PriorLimit(1e-4, 10.0, "SMD"),
    "bias": PriorLimit(1e-4, 10.0, "model scale"),
    "pooling.offer_spillover_sd": PriorLimit(0.0, 1.0, "risk difference"),
    "covariate_adjustment.r2_alpha": PriorLimit(1e-3, 1e4, "Beta shape"),
    "covariate_adjustment.r2_beta": PriorLimit(1e-3, 1e4, "Beta shape"),
    "coach.new_team_size": PriorLimit(1.0, 1e4, "number of coaches"),
}
"""Limits of the numeric prior settings of a spec, keyed by dotted key (``bias``: every
``bias.<comparison>``)."""


def check_prior(key: str, value: float) -> str | None:
    """Why ``value`` is not a sane setting for ``key`` (``None``: it is)."""
    limit = PRIOR_LIMITS.get("bias" if key.startswith("bias.") else key)
    if limit is None:
        return None
    if not limit.low <= value <= limit.high:
        return (f"must be between {limit.low:g} and {limit.high:g} on the {limit.scale} scale, "
                f"got {value!r}")
    return None


MAX_GEMEENTEN = 2000
"""Most municipalities in one fit (``BAYES_BIJSTAND_MAX_GEMEENTEN`` changes it). The
summary-level model's memory grows with the square of the number of municipalities: 1,000
did not finish in 10 minutes, 10,000 reached 11 GB before anything was sampled."""

_BYTES_PER_GEMEENTE_SQ = 120
"""Measured: 10,000 municipalities -> about 11 GB resident (11e9 / 1e8 ~ 110 bytes)."""


def fit_memory_estimate(n_gemeenten: int) -> int:
    """Rough peak memory (bytes) of one summary-level fit with ``n_gemeenten``."""
    return 400 * 1024**2 + _BYTES_PER_GEMEENTE_SQ * n_gemeenten**2


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_fit_size(gemeenten_per_fit: dict[str, int], file: str) -> str | None:
    """Why the planned fits are too large for this machine (``None``: they fit).

    ``gemeenten_per_fit``: outcome -> number of municipalities it pools. Refuses above
    :data:`MAX_GEMEENTEN`, or where the estimated memory of the largest fit exceeds 80% of
    the memory available now, so a too-large input is a clear message, not a machine
    that swaps until it is killed.
    """
    import os

    if not gemeenten_per_fit:
        return None
    outcome, n = max(gemeenten_per_fit.items(), key=lambda kv: kv[1])
    try:
        cap = int(os.environ.get("BAYES_BIJSTAND_MAX_GEMEENTEN", "") or MAX_GEMEENTEN)
    except ValueError:
        cap = MAX_GEMEENTEN
    if n > cap:
        return (f"outcome '{outcome}' pools {n} municipalities, more than the limit of {cap} "
                "for one fit (memory grows with the square of the number; set "
                "BAYES_BIJSTAND_MAX_GEMEENTEN to raise it)")
    need, avail = fit_memory_estimate(n), _available_memory()
    if avail is not None and need > 0.8 * avail:
        return (f"outcome '{outcome}' pools {n} municipalities: the fit needs about "
                f"{need / 1024**3:.1f} GiB of memory, {avail / 1024**3:.1f} GiB is available")
    return None
