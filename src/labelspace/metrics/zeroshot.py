"""Zero-shot recognition: classes with no training image, recognised through the label space.

Unseen classes stay in the label space (they have label vectors and hierarchy nodes) while
their images are left out of training and validation. The test set then answers two
questions (Xian et al., "Zero-Shot Learning — The Good, the Bad and the Ugly", CVPR 2017):

- ZSL: unseen test images, ranked against the unseen labels only;
- generalised ZSL: every test image against every label, reported as the accuracy on seen
  and on unseen images and their harmonic mean, which is high only when both are.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from labelspace.errors import InputError


def resolve_unseen(
    names: Sequence[str], classes: Sequence[str], synsets: Sequence[str]
) -> list[int]:
    """Target ids of the classes named in ``names`` (dataset class names or synset names).

    Matching ignores case and treats spaces, underscores and hyphens alike. An unknown name,
    a repeated one, or leaving fewer than two seen classes is an error that lists the classes.
    ``["random:N"]`` or ``["random:N:SEED"]`` draws N classes at random with the seed (0 if
    not given), the same N for the same classes and seed whatever the training seed: a
    seeded split for datasets with too many classes to name.
    """
    if len(names) == 1 and names[0].strip().lower().startswith("random:"):
        names = [classes[i] for i in _random_split(names[0], len(classes))]

    def key(name: str) -> str:
        return name.strip().lower().replace("_", " ").replace("-", " ")

    lookup: dict[str, int] = {}
    for i, (cls, syn) in enumerate(zip(classes, synsets, strict=True)):
        lookup.setdefault(key(cls), i)
        lookup.setdefault(key(syn), i)
    unknown = [n for n in names if key(n) not in lookup]
    if unknown:
        raise InputError(
            f"--unseen names no class of this dataset: {', '.join(unknown)}. Its classes are: "
            f"{', '.join(classes)}"
        )
    targets = [lookup[key(n)] for n in names]
    if len(set(targets)) != len(targets):
        raise InputError(f"--unseen names a class twice: {', '.join(names)}")
    if len(classes) - len(targets) < 2:
        raise InputError(
            f"--unseen leaves {len(classes) - len(targets)} seen classes; training needs >= 2"
        )
    return sorted(targets)


def _topk_hits(scores: torch.Tensor, targets: torch.Tensor, k: int) -> float:
    if len(targets) == 0:
        return float("nan")
    k = min(k, scores.shape[1])
    return (scores.topk(k, dim=1).indices == targets[:, None]).any(1).double().mean().item()


def harmonic_mean(a: float, b: float) -> float:
    """2ab / (a + b); 0 when both are 0."""
    return 0.0 if a + b == 0 else 2 * a * b / (a + b)


def zero_shot_metrics(
    scores: torch.Tensor, targets: torch.Tensor, unseen: Sequence[int], ks: Sequence[int] = (1, 5)
) -> dict[str, float]:
    """ZSL and generalised-ZSL accuracies from class scores ``(N, C)`` (higher is better).

    Keys, for each k: ``zsl_top{k}`` (unseen images, unseen labels), ``gzsl_seen_top{k}``,
    ``gzsl_unseen_top{k}`` and ``gzsl_h_top{k}`` (all labels), and ``seen_top{k}`` (seen
    images against seen labels: the ordinary accuracy the unseen classes do not disturb).
    ZSL top-k with k at least the number of unseen classes is always 1 and is left out.
    """
    if scores.ndim != 2 or scores.shape[0] != targets.shape[0]:
        raise ValueError(
            f"scores must be (N, C) with one row per target; got {tuple(scores.shape)} for "
            f"{tuple(targets.shape)} targets"
        )
    num_classes = scores.shape[1]
    unseen_ids = torch.as_tensor(sorted(set(int(u) for u in unseen)), dtype=torch.long)
    if len(unseen_ids) == 0 or int(unseen_ids.max()) >= num_classes or int(unseen_ids.min()) < 0:
        raise ValueError(f"unseen must name classes in [0, {num_classes}); got {list(unseen)}")
    is_unseen_class = torch.zeros(num_classes, dtype=torch.bool)
    is_unseen_class[unseen_ids] = True
    seen_ids = torch.nonzero(~is_unseen_class).reshape(-1)
    unseen_rows = is_unseen_class[targets]
    remap = torch.full((num_classes,), -1, dtype=torch.long)
    remap[unseen_ids] = torch.arange(len(unseen_ids))
    seen_remap = torch.full((num_classes,), -1, dtype=torch.long)
    seen_remap[seen_ids] = torch.arange(len(seen_ids))

    out: dict[str, float] = {}
    for k in ks:
        if k < len(unseen_ids):
            out[f"zsl_top{k}"] = _topk_hits(
                scores[unseen_rows][:, unseen_ids], remap[targets[unseen_rows]], k
            )
        seen_acc = _topk_hits(scores[~unseen_rows], targets[~unseen_rows], k)
        unseen_acc = _topk_hits(scores[unseen_rows], targets[unseen_rows], k)
        out[f"gzsl_seen_top{k}"] = seen_acc
        out[f"gzsl_unseen_top{k}"] = unseen_acc
        out[f"gzsl_h_top{k}"] = harmonic_mean(seen_acc, unseen_acc)
        out[f"seen_top{k}"] = _topk_hits(
            scores[~unseen_rows][:, seen_ids], seen_remap[targets[~unseen_rows]], k
        )
    return out


def _random_split(spec: str, num_classes: int) -> list[int]:
    """The class positions ``random:N[:SEED]`` draws (see :func:`resolve_unseen`)."""
    import numpy as np

    parts = spec.strip().split(":")
    try:
        count, seed = int(parts[1]), int(parts[2]) if len(parts) == 3 else 0
        if len(parts) > 3 or count < 1 or seed < 0:
            raise ValueError
    except (ValueError, IndexError):
        raise InputError(
            f"--unseen {spec!r}: write random:N or random:N:SEED with N >= 1 classes and a "
            "seed >= 0 (e.g. random:50)"
        ) from None
    if num_classes - count < 2:
        raise InputError(
            f"--unseen {spec}: leaves {num_classes - count} of {num_classes} classes seen; "
            "training needs >= 2"
        )
    return sorted(np.random.default_rng(seed).choice(num_classes, count, replace=False).tolist())
