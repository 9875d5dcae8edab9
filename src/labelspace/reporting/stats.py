"""Honest multi-seed comparisons: confidence intervals and paired tests across seeds.

A single run per method says little about which method is better; these helpers summarise
several seeds per method as a Student-t interval of the mean and test each method against a
baseline with a paired t-test, pairing seeds by position (seed i of every method shares its
data order and initialisation seed, so the paired test removes that shared noise).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats as sps

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Interval:
    """A mean with a symmetric confidence half width over `n` values (half width nan when n=1)."""

    mean: float
    half_width: float
    n: int

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"Interval needs n >= 1, got n={self.n}")
        if self.half_width < 0:
            raise ValueError(f"Interval half width must be >= 0 (or nan), got {self.half_width}")

    @property
    def low(self) -> float:
        """Lower end of the interval (nan when the half width is unknown)."""
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        """Upper end of the interval (nan when the half width is unknown)."""
        return self.mean + self.half_width

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; non-finite numbers become None (JSON has no NaN)."""
        return {
            "mean": _json_float(self.mean),
            "half_width": _json_float(self.half_width),
            "low": _json_float(self.low),
            "high": _json_float(self.high),
            "n": self.n,
        }


def _json_float(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _as_finite_array(values: Sequence[float], name: str) -> np.ndarray:
    """Values as a 1-D float array; raises ValueError on NaN/inf or a wrong shape."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a sequence of numbers: {err}") from err
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a flat sequence of numbers, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = [i for i, v in enumerate(arr) if not math.isfinite(v)]
        raise ValueError(f"{name} contains non-finite values (NaN or inf) at positions {bad}")
    return arr


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Student-t confidence interval of the mean of `values` (one value per seed).

    Uses the sample standard deviation (ddof=1) and t_{(1+confidence)/2, n-1}, which is the
    right interval for a handful of seeds (a normal interval would be far too narrow).
    With a single value the half width is nan: the spread is unknown, not zero.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")
    arr = _as_finite_array(values, "values")
    n = int(arr.size)
    if n == 0:
        raise ValueError("mean_ci needs at least one value, got an empty sequence")
    mean = float(arr.mean())
    if n == 1:
        return Interval(mean=mean, half_width=math.nan, n=1)
    sem = float(arr.std(ddof=1)) / math.sqrt(n)
    t_crit = float(sps.t.ppf((1.0 + confidence) / 2.0, df=n - 1))
    return Interval(mean=mean, half_width=t_crit * sem, n=n)


def paired_test(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided paired t-test p-value for a[i] vs b[i] (the same seed i for both methods).

    Returns nan when there are fewer than two pairs (no test is possible).
    When all differences a[i] - b[i] are exactly equal the t statistic is undefined
    (zero variance); we then decide by the differences themselves: all zero -> p = 1.0
    (no evidence of any difference), a constant nonzero shift -> p = 0.0 (every seed moved
    by the same amount, so the shift is as certain as these data can make it).
    """
    arr_a = _as_finite_array(a, "a")
    arr_b = _as_finite_array(b, "b")
    if arr_a.size != arr_b.size:
        raise ValueError(
            f"paired_test needs one value per seed for both methods; "
            f"got {arr_a.size} and {arr_b.size} values"
        )
    if arr_a.size < 2:
        return math.nan
    diffs = arr_a - arr_b
    if np.all(diffs == diffs[0]):
        return 1.0 if diffs[0] == 0 else 0.0
    return float(sps.ttest_rel(arr_a, arr_b).pvalue)


@dataclass(frozen=True)
class MetricComparison:
    """One method's metric over seeds, and (when testable) its paired test to the baseline.

    `difference` is the mean of method - baseline over paired seeds; `difference`,
    `p_value` and `significant` are None when no test was made (this is the baseline, the
    baseline is missing or has a different number of seeds or lacks the metric).
    `significant` is also None when a test was made but has no p-value (a single seed).
    """

    metric: str
    interval: Interval
    difference: float | None = None
    p_value: float | None = None
    significant: bool | None = None

    @property
    def tested(self) -> bool:
        """Whether a paired test against the baseline was made."""
        return self.difference is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; non-finite numbers become None."""
        return {
            "metric": self.metric,
            "interval": self.interval.to_dict(),
            "difference": _json_float(self.difference),
            "p_value": _json_float(self.p_value),
            "significant": self.significant,
        }


@dataclass(frozen=True)
class SeedComparison:
    """Per-method, per-metric multi-seed summaries against one baseline method."""

    baseline: str
    alpha: float
    confidence: float
    methods: dict[str, dict[str, MetricComparison]] = field(default_factory=dict)

    @property
    def has_baseline(self) -> bool:
        """Whether the baseline method was among the compared methods."""
        return self.baseline in self.methods

    def get(self, method: str, metric: str) -> MetricComparison | None:
        """The comparison for one method and metric, or None when it was skipped."""
        return self.methods.get(method, {}).get(metric)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready nested dict (strict JSON: no NaN)."""
        return {
            "baseline": self.baseline,
            "alpha": self.alpha,
            "confidence": self.confidence,
            "methods": {
                method: {metric: comp.to_dict() for metric, comp in metrics.items()}
                for method, metrics in self.methods.items()
            },
        }


def _finite_column(seeds: Sequence[Mapping[str, Any]], metric: str) -> list[float] | None:
    """The metric's value in every seed, or None if any seed lacks it or it is not finite."""
    column: list[float] = []
    for seed in seeds:
        value = seed.get(metric)
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            return None
        value = float(value)
        if not math.isfinite(value):
            return None
        column.append(value)
    return column


def _candidate_metrics(
    seeds: Sequence[Mapping[str, Any]], metrics: Sequence[str] | None
) -> list[str]:
    if metrics is not None:
        return list(dict.fromkeys(metrics))
    common = [key for key in seeds[0] if all(key in seed for seed in seeds[1:])]
    return common


def compare_seeds(
    per_method: Mapping[str, Sequence[Mapping[str, float]]],
    baseline: str = "softmax",
    alpha: float = 0.05,
    metrics: Sequence[str] | None = None,
    *,
    confidence: float = 0.95,
) -> SeedComparison:
    """Summarise each method's metrics over seeds and test each method against `baseline`.

    `per_method[name][i]` is the metrics dict of seed i; seeds are paired by position.
    A metric is kept for a method only if every seed has a finite number for it (so e.g. an
    ECE of nan for methods without probabilities is skipped, not an error); `metrics`
    restricts and orders the metrics, otherwise those common to all seeds are used.
    A missing baseline, or one with a different number of seeds, just means no tests.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")
    if isinstance(metrics, str):
        raise ValueError(f"metrics must be a sequence of metric names, not the string {metrics!r}")
    for name, seeds in per_method.items():
        if isinstance(seeds, Mapping) or len(seeds) == 0:
            raise ValueError(f"method {name!r} needs a non-empty sequence of per-seed metric dicts")

    base_seeds = per_method.get(baseline)
    if base_seeds is None and per_method:
        log.info("baseline %r not among methods %s; no paired tests", baseline, list(per_method))

    result: dict[str, dict[str, MetricComparison]] = {}
    for name, seeds in per_method.items():
        testable = name != baseline and base_seeds is not None
        if testable and len(base_seeds) != len(seeds):
            log.warning(
                "method %r has %d seeds but baseline %r has %d; no paired tests for it",
                name,
                len(seeds),
                baseline,
                len(base_seeds),
            )
            testable = False
        comps: dict[str, MetricComparison] = {}
        for metric in _candidate_metrics(seeds, metrics):
            column = _finite_column(seeds, metric)
            if column is None:
                continue
            interval = mean_ci(column, confidence)
            base_column = _finite_column(base_seeds, metric) if testable else None
            if base_column is None:
                comps[metric] = MetricComparison(metric=metric, interval=interval)
                continue
            difference = float(np.mean(np.subtract(column, base_column)))
            p_value = paired_test(column, base_column)
            significant = None if math.isnan(p_value) else bool(p_value < alpha)
            comps[metric] = MetricComparison(
                metric=metric,
                interval=interval,
                difference=difference,
                p_value=p_value,
                significant=significant,
            )
        result[name] = comps
    return SeedComparison(baseline=baseline, alpha=alpha, confidence=confidence, methods=result)


def format_cell(
    interval: Interval,
    *,
    scale: float = 1.0,
    digits: int = 2,
    significant: bool | None = None,
) -> str:
    """Table cell text such as "92.41 ± 0.18" (use scale=100 to show shares as percent).

    A single seed (or unknown half width) shows just the mean; a non-finite mean shows "–".
    `significant=True` appends " *", `False` appends " (n.s.)", None appends nothing.
    """
    if digits < 0:
        raise ValueError(f"digits must be >= 0, got {digits}")
    if not math.isfinite(scale):
        raise ValueError(f"scale must be finite, got {scale}")
    if not math.isfinite(interval.mean):
        text = "–"
    elif interval.n == 1 or not math.isfinite(interval.half_width):
        text = f"{interval.mean * scale:.{digits}f}"
    else:
        text = f"{interval.mean * scale:.{digits}f} ± {interval.half_width * abs(scale):.{digits}f}"
    if significant is True:
        text += " *"
    elif significant is False:
        text += " (n.s.)"
    return text


def seed_mean(values: Sequence[float]) -> float:
    """The plain mean over seeds; NaN when any seed lacks the value (or there is none)."""
    return float(np.mean(np.asarray(values, dtype=float))) if len(values) else math.nan
