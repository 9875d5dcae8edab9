"""A finished run as the comparison report reads it: :class:`MethodResult`, and its numbers
under one flat namespace (test metrics, zero-shot figures, analysis) for the statistics over
seeds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class MethodResult:
    """One method's run, as the report needs it."""

    name: str
    metrics: dict[str, Any]
    scores: torch.Tensor
    targets: torch.Tensor
    analysis: dict[str, Any] | None = None
    seed: int = 0


def _eps_name(eps: float) -> str:
    return f"{round(eps * 255)}/255" if eps > 0 else "0"


def flat_metrics(r: MethodResult) -> dict[str, float]:
    """One run's numbers under one flat namespace, for the statistics over seeds."""
    flat = {k: float(v) for k, v in r.metrics["test"].items() if isinstance(v, int | float)}
    zero_shot = r.metrics.get("zero_shot", {})
    flat.update({k: float(v) for k, v in zero_shot.items() if k not in ("unseen", "note")})
    flat["train_seconds"] = float(r.metrics.get("train_seconds", float("nan")))
    a = r.analysis or {}
    if "backoff" in a:
        flat["backoff_auc"] = float(a["backoff"]["auc"])
        curve = a["backoff"]["curve"]
        sure = [
            x
            for x, y in zip(curve["informativeness"], curve["correctness"], strict=True)
            if y >= 0.99
        ]
        flat["backoff_info@99"] = max(sure, default=0.0)
    for point in a.get("robustness", {}).get("points", []):
        name = _eps_name(point["eps"])
        flat[f"adv_top1@{name}"] = float(point["top1"])
        flat[f"adv_severity@{name}"] = float(point["severity"])
    for level, value in a.get("representations", {}).get("silhouette", {}).items():
        flat[f"silhouette@h{level}"] = float(value)
    if "saliency" in a:
        flat["saliency_pointing"] = float(a["saliency"]["pointing_game"])
        flat["saliency_mass"] = float(a["saliency"]["mass_in_box"])
        flat["saliency_box_area"] = float(a["saliency"]["box_area"])
    multi = a.get("multilabel")
    if multi:
        flat["multi_single_in_set"] = float(multi["single"]["class_in_set"])
        flat["multi_single_size"] = float(multi["single"]["set_size"])
        for composition in ("side-by-side", "pasted"):
            for key, value in multi[composition].items():
                flat[f"multi_{composition}_{key}"] = float(value)
    return flat


def crm_rows(results: dict[str, list[MethodResult]]) -> dict[str, list[dict[str, float]]]:
    """Conditional-risk re-ranking of each method with probabilities, as rows of its own."""
    rows: dict[str, list[dict[str, float]]] = {}
    for name, runs in results.items():
        if all(r.analysis and "crm" in r.analysis.get("backoff", {}) for r in runs):
            rows[f"{name} +CRM"] = [
                {k: float(v) for k, v in r.analysis["backoff"]["crm"].items()} for r in runs
            ]
    return rows
