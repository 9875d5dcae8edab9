"""Tests for multi-seed confidence intervals, paired tests and seed comparisons."""

from __future__ import annotations

import json
import math

import pytest
from scipy import stats as sps

from labelspace.reporting.stats import (
    Interval,
    SeedComparison,
    compare_seeds,
    format_cell,
    mean_ci,
    paired_test,
)


def test_mean_ci_hand_computed() -> None:
    ci = mean_ci([1.0, 2.0, 3.0])
    # sd = 1, sem = 1/sqrt(3), t_{0.975, 2} = 4.302653
    assert ci.mean == pytest.approx(2.0)
    assert ci.n == 3
    assert ci.half_width == pytest.approx(4.302653 / math.sqrt(3), abs=1e-5)
    assert ci.half_width == pytest.approx(2.4841, abs=1e-4)
    assert ci.low == pytest.approx(2.0 - 2.4841, abs=1e-4)
    assert ci.high == pytest.approx(2.0 + 2.4841, abs=1e-4)


def test_mean_ci_confidence_changes_width() -> None:
    assert mean_ci([1, 2, 3], confidence=0.99).half_width > mean_ci([1, 2, 3]).half_width


def test_mean_ci_single_value_has_unknown_width() -> None:
    ci = mean_ci([0.9])
    assert ci.mean == 0.9
    assert ci.n == 1
    assert math.isnan(ci.half_width)
    assert math.isnan(ci.low) and math.isnan(ci.high)


def test_mean_ci_identical_values_have_zero_width() -> None:
    assert mean_ci([0.5, 0.5, 0.5]).half_width == 0.0


@pytest.mark.parametrize(
    ("values", "kwargs", "match"),
    [
        ([], {}, "at least one"),
        ([1.0, math.nan], {}, "non-finite"),
        ([1.0, math.inf], {}, "non-finite"),
        ([1.0, 2.0], {"confidence": 1.0}, "confidence"),
        ([1.0, 2.0], {"confidence": 0.0}, "confidence"),
        ([[1.0, 2.0]], {}, "flat"),
        (["a", "b"], {}, "numbers"),
    ],
)
def test_mean_ci_errors(values, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        mean_ci(values, **kwargs)


def test_interval_validates() -> None:
    with pytest.raises(ValueError, match="n >= 1"):
        Interval(mean=1.0, half_width=0.1, n=0)
    with pytest.raises(ValueError, match="half width"):
        Interval(mean=1.0, half_width=-0.1, n=2)


def test_paired_test_hand_case() -> None:
    a = [1.0, 2.0, 3.0, 4.0]
    b = [1.1, 2.3, 2.9, 4.4]
    diffs = [x - y for x, y in zip(a, b, strict=True)]  # -0.1, -0.3, 0.1, -0.4
    n = len(diffs)
    mean = sum(diffs) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    t_stat = mean / (sd / math.sqrt(n))
    expected = 2 * sps.t.sf(abs(t_stat), df=n - 1)
    assert t_stat == pytest.approx(-1.57842, abs=1e-4)
    assert expected == pytest.approx(0.2125, abs=1e-3)
    assert paired_test(a, b) == pytest.approx(expected, rel=1e-9)
    assert paired_test(b, a) == pytest.approx(expected, rel=1e-9)


def test_paired_test_zero_variance_rules() -> None:
    assert paired_test([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 1.0
    # a constant nonzero shift on every seed is treated as certain
    assert paired_test([2.0, 3.0, 4.0], [1.0, 2.0, 3.0]) == 0.0
    assert paired_test([0.5, 0.5], [0.25, 0.25]) == 0.0


def test_paired_test_too_few_pairs_is_nan() -> None:
    assert math.isnan(paired_test([1.0], [2.0]))
    assert math.isnan(paired_test([], []))


def test_paired_test_errors() -> None:
    with pytest.raises(ValueError, match="got 3 and 2"):
        paired_test([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="non-finite"):
        paired_test([1.0, math.nan], [1.0, 2.0])


def _seeds(**columns: list[float]) -> list[dict[str, float]]:
    n = len(next(iter(columns.values())))
    return [{key: values[i] for key, values in columns.items()} for i in range(n)]


@pytest.fixture
def five_seed_runs() -> dict[str, list[dict[str, float]]]:
    base_top1 = [0.900, 0.910, 0.905, 0.902, 0.908]
    base_sev = [1.50, 1.62, 1.55, 1.48, 1.60]
    gain = [0.050, 0.051, 0.049, 0.050, 0.052]
    noise = [0.05, -0.06, 0.02, -0.04, 0.01]
    return {
        "softmax": _seeds(top1=base_top1, severity=base_sev, ece=[0.03, 0.04, 0.03, 0.05, 0.04]),
        "hyperbolic": _seeds(
            # a large, nearly constant gain on every seed
            top1=[x + d for x, d in zip(base_top1, gain, strict=True)],
            # noise of both signs around the baseline
            severity=[x + d for x, d in zip(base_sev, noise, strict=True)],
            ece=[math.nan] * 5,
        ),
    }


def test_compare_seeds_significance(five_seed_runs) -> None:
    result = compare_seeds(five_seed_runs)
    assert isinstance(result, SeedComparison)
    assert result.has_baseline

    top1 = result.get("hyperbolic", "top1")
    assert top1 is not None and top1.tested
    assert top1.difference == pytest.approx(0.0504)
    assert top1.p_value is not None and top1.p_value < 1e-6
    assert top1.significant is True
    assert top1.interval.n == 5
    assert top1.interval.mean == pytest.approx(0.905 + 0.0504)

    severity = result.get("hyperbolic", "severity")
    assert severity is not None
    assert severity.difference == pytest.approx(-0.004)
    assert severity.p_value is not None and severity.p_value > 0.5
    assert severity.significant is False


def test_compare_seeds_skips_nan_metric_and_does_not_test_baseline(five_seed_runs) -> None:
    result = compare_seeds(five_seed_runs)
    assert result.get("hyperbolic", "ece") is None
    assert list(result.methods["hyperbolic"]) == ["top1", "severity"]
    base_ece = result.get("softmax", "ece")
    assert base_ece is not None and base_ece.interval.mean == pytest.approx(0.038)
    for comp in result.methods["softmax"].values():
        assert not comp.tested
        assert comp.p_value is None and comp.significant is None


def test_compare_seeds_metric_selection(five_seed_runs) -> None:
    result = compare_seeds(five_seed_runs, metrics=["severity", "top1", "missing"])
    assert list(result.methods["softmax"]) == ["severity", "top1"]
    assert list(result.methods["hyperbolic"]) == ["severity", "top1"]


def test_compare_seeds_missing_baseline_means_no_tests(five_seed_runs) -> None:
    result = compare_seeds(five_seed_runs, baseline="ce")
    assert not result.has_baseline
    assert all(not c.tested for m in result.methods.values() for c in m.values())


def test_compare_seeds_seed_count_mismatch_means_no_tests(five_seed_runs) -> None:
    five_seed_runs["hyperbolic"] = five_seed_runs["hyperbolic"][:3]
    result = compare_seeds(five_seed_runs)
    top1 = result.get("hyperbolic", "top1")
    assert top1 is not None and top1.interval.n == 3 and not top1.tested


def test_compare_seeds_skips_metric_missing_in_some_seed() -> None:
    runs = {"softmax": [{"top1": 0.9, "hp@1": 0.8}, {"top1": 0.91}]}
    assert list(compare_seeds(runs).methods["softmax"]) == ["top1"]


def test_compare_seeds_single_seed_has_no_significance() -> None:
    runs = {"softmax": [{"top1": 0.90}], "other": [{"top1": 0.95}]}
    top1 = compare_seeds(runs).get("other", "top1")
    assert top1 is not None and top1.tested
    assert top1.difference == pytest.approx(0.05)
    assert top1.p_value is not None and math.isnan(top1.p_value)
    assert top1.significant is None


def test_compare_seeds_to_dict_is_strict_json(five_seed_runs) -> None:
    five_seed_runs["single"] = [{"top1": 0.5}]
    data = compare_seeds(five_seed_runs).to_dict()
    text = json.dumps(data, allow_nan=False)
    loaded = json.loads(text)
    assert loaded["baseline"] == "softmax"
    assert loaded["methods"]["hyperbolic"]["top1"]["significant"] is True
    assert loaded["methods"]["single"]["top1"]["interval"]["half_width"] is None
    assert "ece" not in loaded["methods"]["hyperbolic"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"confidence": 2.0}, "confidence"),
        ({"metrics": "top1"}, "metrics"),
    ],
)
def test_compare_seeds_errors(five_seed_runs, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        compare_seeds(five_seed_runs, **kwargs)


def test_compare_seeds_empty_method_is_error() -> None:
    with pytest.raises(ValueError, match="'empty'"):
        compare_seeds({"softmax": [{"top1": 0.9}], "empty": []})


def test_format_cell() -> None:
    ci = Interval(mean=0.92412, half_width=0.0018, n=5)
    assert format_cell(ci, scale=100) == "92.41 ± 0.18"
    assert format_cell(ci, scale=100, significant=True) == "92.41 ± 0.18 *"
    assert format_cell(ci, scale=100, significant=False) == "92.41 ± 0.18 (n.s.)"
    assert format_cell(ci, digits=3) == "0.924 ± 0.002"
    assert format_cell(Interval(mean=1.5, half_width=math.nan, n=1)) == "1.50"
    assert format_cell(Interval(mean=math.nan, half_width=math.nan, n=1)) == "–"
    assert format_cell(mean_ci([1, 2, 3]), digits=1) == "2.0 ± 2.5"
    with pytest.raises(ValueError, match="digits"):
        format_cell(ci, digits=-1)


def test_the_first_seed_table_shows_each_metric_at_its_own_scale() -> None:
    """Shares as percent, heights and ECE as they are, and the zero-shot figures of a
    zero-shot run (they live beside the test metrics)."""
    import torch

    from labelspace.reporting.results import MethodResult
    from labelspace.reporting.tables import markdown_table

    metrics = {
        "test": {"top1": 0.5, "severity": 2.5, "ece": 0.04, "acc@h1": 0.75},
        "zero_shot": {"zsl_top1": 0.25, "unseen": ["Sneaker"]},
        "train_images_per_second": 812.4,
    }
    result = MethodResult("poincare", metrics, torch.zeros(1, 2), torch.zeros(1))
    head, _, row = markdown_table([result]).splitlines()
    cells = dict(zip(head.strip("| ").split(" | "), row.strip("| ").split(" | "), strict=True))
    assert cells["top-1 %"] == "50.00" and cells["mistake severity ↓"] == "2.500"
    assert cells["ECE ↓"] == "0.040" and cells["acc@h1 %"] == "75.00"
    assert cells["ZSL top-1 %"] == "25.00" and cells["train img/s"] == "812"
    assert cells["hdist@1 ↓"] == "–"


def test_saliency_table_tests_the_maps_but_not_the_box_share() -> None:
    """The box share describes the test images, the same for every method of a seed: it gets
    no paired-test mark; the saliency mass does."""
    from labelspace.reporting.stats import compare_seeds
    from labelspace.reporting.tables import SALIENCY_COLUMNS, seed_table

    runs = {
        "softmax": [{"saliency_mass": m, "saliency_box_area": b} for m, b in
                    ((0.50, 0.5), (0.52, 0.6), (0.51, 0.55))],
        "poincare": [{"saliency_mass": m, "saliency_box_area": b} for m, b in
                     ((0.40, 0.5), (0.43, 0.6), (0.41, 0.55))],
    }  # fmt: skip
    table = seed_table(compare_seeds(runs), ["softmax", "poincare"], SALIENCY_COLUMNS)
    head, _, _, poincare = table.splitlines()
    cells = dict(zip(head.strip("| ").split(" | "), poincare.strip("| ").split(" | "), strict=True))
    assert cells["saliency mass in the box %"].endswith("*")
    assert cells["box share of the image %"] == "55.00 ± 12.42"
