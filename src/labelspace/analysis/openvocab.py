"""Open-vocabulary evaluation: decode test images against every WordNet noun, or a subtree.

DeViSE (Frome et al., NIPS 2013) showed that a model mapping images into a text label space
can name labels it never trained on, ranked among tens of thousands. Here a run's test images
(by default those of its unseen classes) are decoded against all 82,115 WordNet nouns or the
nouns under one synset (``mammal.n.01``), and scored two ways:

- flat hit@k: the true class's synset is among the k best labels;
  (images of classes outside the label set are left out and listed)
- hierarchical precision@k (DeViSE): the share of the k labels that lie in the smallest
  neighbourhood of the true synset holding at least k labels, the neighbourhood growing one
  hop up WordNet at a time (all nouns below the ancestors within h hops).

Label vectors must exist for every candidate: text embeddings are computed for any synset
(lemma and gloss; cached, since all nouns take minutes on a CPU), and a run trained against
an embedding file that holds the candidates (say, a Poincaré embedding of all nouns) uses it.
A run whose embedding covers only its own hierarchy cannot decode other labels, and says so.

The slow steps (text embeddings of many labels, decoding many images) report their progress
through ``on_progress(step, done, total)``, which the command line shows as progress bars.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from labelspace.embeddings.store import LabelEmbedding
from labelspace.errors import InputError
from labelspace.hierarchy.graph import Hierarchy

log = logging.getLogger(__name__)

ALL_NOUNS = "nouns"
HIT_KS = (1, 2, 5, 10, 20)
TEXT_CHUNK = 2048  # labels encoded between two progress reports (about 7 s on a CPU)

# ``on_progress(step, done, total)``: how far a slow step has come
StepProgress = Callable[[str, int, int], None]


def _nouns() -> Hierarchy:
    """Every WordNet noun, instance links included."""
    from labelspace.hierarchy.nouns import noun_hierarchy

    return noun_hierarchy()


def label_set(spec: str) -> list[str]:
    """``nouns`` -> every WordNet noun synset; a synset (its name ``mammal.n.01`` or its wnid
    ``n01861778``) -> it and every noun below it; several joined by ``+``
    (``organism.n.01+artifact.n.01``) -> their union."""
    from labelspace.hierarchy.nouns import noun_graph
    from labelspace.hierarchy.wnids import is_wnid

    nouns = _nouns()
    if spec == ALL_NOUNS:
        return sorted(nouns.nodes)
    found: set[str] = set()
    for part in spec.split("+"):
        name = (noun_graph().from_wnid(part) or part) if is_wnid(part) else part
        if name not in nouns:
            raise InputError(
                f"--labels {spec!r}: {part!r} is not a WordNet noun synset; use '{ALL_NOUNS}', "
                "a synset name such as mammal.n.01 or its wnid (n01861778), or several joined "
                "by + (organism.n.01+artifact.n.01)"
            )
        found.update(nouns.subtree(name))
    return sorted(found)


def correct_set(truth: str, candidates: set[str], k: int) -> set[str]:
    """The DeViSE neighbourhood of ``truth``: nouns below its ancestors within h hops, for the
    smallest h whose neighbourhood holds at least ``k`` candidates (or the whole tree)."""
    nouns = _nouns()
    frontier, seen_up = [nouns.index[truth]], {nouns.index[truth]}
    found = set(nouns.subtree(truth)) & candidates
    while len(found) < k and frontier:
        nxt = []
        for node in frontier:
            for p in nouns.parents[node]:
                if p not in seen_up:
                    seen_up.add(p)
                    nxt.append(p)
                    found |= set(nouns.subtree(nouns.nodes[p])) & candidates
        frontier = nxt
    return found


def text_label_embedding(
    labels: Sequence[str], spec: str, on_progress: StepProgress | None = None
) -> LabelEmbedding:
    """Text vectors of ``labels``, cached per label set (all nouns take minutes on a CPU),
    computed :data:`TEXT_CHUNK` labels at a time so that ``on_progress`` can show how far."""
    from labelspace.embeddings.text import text_embedding
    from labelspace.paths import cache_location, writable_cache_dir

    path = cache_location() / f"text-{spec.replace('/', '_')}.safetensors"
    if path.is_file():
        cached = LabelEmbedding.load(path)
        if cached.labels == list(labels):
            return cached
    log.info("embedding %d labels with the text model (cached in %s)", len(labels), path)
    step = f"text embeddings of {len(labels):,} labels (once; cached)"
    parts: list[LabelEmbedding] = []
    for start in range(0, len(labels), TEXT_CHUNK):
        chunk = list(labels[start : start + TEXT_CHUNK])
        parts.append(text_embedding(chunk, chunk, batch_size=256))
        if on_progress is not None:
            on_progress(step, start + len(chunk), len(labels))
    emb = replace(
        parts[0],
        labels=list(labels),
        vectors=torch.cat([part.vectors for part in parts]),
        synsets=[synset for part in parts for synset in part.synsets],
    )
    if writable_cache_dir() is not None:  # an unusable cache: one warning, and no caching
        emb.save(path, overwrite=True)
    return emb


def check_decodes(method: str) -> None:
    """Only a method that scores images against label vectors can score labels it never
    trained on; any other is refused before its model and data load."""
    from labelspace.models.methods import get_method

    if not get_method(method).uses_embedding:
        raise InputError(
            f"a {method} run cannot decode other labels, with any --images: its method has no "
            "label embedding, so it scores only its training classes; use a run of a method "
            "with one (devise, poincare: `labelspace methods`)"
        )


def candidate_vectors(
    run_embedding: LabelEmbedding | None,
    labels: Sequence[str],
    spec: str,
    on_progress: StepProgress | None = None,
):
    """Vectors of ``labels`` in the run's label space, or a clear error when it has none."""
    if run_embedding is None:
        raise InputError(
            "this run's method uses no label embedding (softmax and its hierarchical peers "
            "score only their training classes), so it cannot decode other labels"
        )
    if run_embedding.kind == "text":
        return text_label_embedding(labels, spec, on_progress).vectors
    have = set(run_embedding.labels)
    missing = [lab for lab in labels if lab not in have]
    if missing:
        raise InputError(
            f"the run's {run_embedding.kind} embedding has no vector for {len(missing)} of the "
            f"{len(labels)} labels (e.g. {', '.join(missing[:3])}): it covers only "
            f"{len(have)} labels. Open-vocabulary decoding needs text embeddings (train with "
            "--method devise --embedding text), the shipped Poincaré embedding of all nouns "
            "(--embedding pretrained:nouns-poincare-10d) or an embedding file of all the "
            "labels (`labelspace embed nouns`, then --embedding FILE)"
        )
    return run_embedding.subset(list(labels)).vectors


def label_points(
    prepared, labels: Sequence[str], spec: str, on_progress: StepProgress | None = None
) -> torch.Tensor:
    """The points of ``labels`` where the run decodes: from the run's embedding (all of a
    shipped ``pretrained:NAME`` one, since a run keeps only its hierarchy's nodes), moved as
    the run's class points were (a Poincaré run's ``--label-radius``)."""
    from labelspace.embeddings.pretrained import PREFIX, pretrained

    config, space = prepared.config, prepared.space
    embedding = space.embedding
    asked = config.embedding  # as given to train; the run keeps a file of its nodes only
    if asked and asked.startswith(PREFIX):
        embedding = pretrained(asked)
    vectors = candidate_vectors(embedding, labels, spec, on_progress).float()
    return prepared.module.method.points(space, config.options, vectors)


def open_vocabulary(
    run: Path,
    spec: str = ALL_NOUNS,
    *,
    images: str = "unseen",
    ks: Sequence[int] = HIT_KS,
    on_progress: StepProgress | None = None,
    data: str | Path | None = None,
) -> dict[str, Any]:
    """Flat hit@k and hierarchical precision@k of a run's test images among ``spec``'s labels.

    ``images``: ``unseen`` (the run's unseen classes; the zero-shot question) or ``all``.
    ``on_progress(step, done, total)`` hears how far the slow steps are; ``data`` is where
    the run's dataset is now, if it has moved.
    """
    from labelspace.data.module import eval_loader
    from labelspace.metrics.zeroshot import resolve_unseen
    from labelspace.models.decode import topk_labels
    from labelspace.training.load import load_run

    if images not in ("unseen", "all"):
        raise InputError(f"images must be 'unseen' or 'all', got {images!r}")
    prepared = load_run(run, ("config",), data=data)
    config = prepared.config
    check_decodes(config.method)
    if images == "unseen" and not config.unseen:
        raise InputError(
            "this run has no unseen classes (train with --unseen); pass --images all "
            "(images='all' in Python) to decode every test image"
        )
    labels = label_set(spec)  # an unknown synset: refused before the model and data load

    def reading(done: int, total: int) -> None:
        if on_progress is not None:
            on_progress("reading the dataset", done, total)

    prepared.load("model", "data", on_progress=reading)
    space, module = prepared.space, prepared.module
    vectors = label_points(prepared, labels, spec, on_progress)
    dataset = prepared.test_set
    if images == "unseen":
        from labelspace.data.images import filter_classes

        dataset = filter_classes(
            dataset, resolve_unseen(config.unseen, space.classes, space.synsets)
        )
    geometry = module.method.geometry
    k_max = max(ks)
    tops, targets = [], []
    done = 0
    with torch.no_grad():
        for batch, target in eval_loader(dataset, workers=prepared.datamodule.workers):
            outputs = module.criterion.embedded(module.net(batch))
            _, idx = topk_labels(outputs, vectors, geometry, k_max, curvature=space.curvature)
            tops.append(idx)
            targets.append(target)
            done += len(target)
            if on_progress is not None:
                on_progress(f"decoding among {len(labels):,} labels", done, len(dataset))
    top = torch.cat(tops)
    target = torch.cat(targets)
    index = {lab: i for i, lab in enumerate(labels)}
    candidates = set(labels)
    # the WordNet synset of each class (chair.n.01 also for a class with a leaf of its own,
    # chair.n.01/chair, which is no WordNet noun): the candidates are WordNet nouns
    truth = [space.synsets[int(t)] for t in target]
    missing = sorted({t for t in truth if t not in index})
    result: dict[str, Any] = {
        "labels": spec,
        "num_labels": len(labels),
        "images": images,
        "num_images": len(target),
        "geometry": geometry,
    }
    if missing:  # their hit@k is 0 by construction and their neighbourhood is meaningless
        result["classes_outside_label_set"] = missing
        keep = torch.tensor([t in index for t in truth])
        if not bool(keep.any()):
            raise InputError(
                f"no test class lies in the label set {spec!r} ({', '.join(missing)} are "
                "outside it); choose labels that contain the classes, e.g. 'nouns'"
            )
        top, target = top[keep], target[keep]
        truth = [t for t in truth if t in index]
        result["num_images"] = len(target)
    truth_idx = torch.tensor([index[t] for t in truth])
    sets: dict[tuple[str, int], set[int]] = {}
    for k in ks:
        result[f"hit@{k}"] = (top[:, :k] == truth_idx[:, None]).any(1).double().mean().item()
        precision = []
        for row, t in zip(top[:, :k].tolist(), truth, strict=True):
            if (t, k) not in sets:
                sets[(t, k)] = {index[x] for x in correct_set(t, candidates, k)}
            precision.append(len(sets[(t, k)].intersection(row)) / k)
        result[f"hp@{k}"] = sum(precision) / len(precision)
    result["examples"] = _examples(top, target, labels, space.classes)
    return result


def _examples(top, target, labels, classes, per_class: int = 1) -> list[dict[str, Any]]:
    """The top-5 labels of the first image of each class, for the reader to judge."""
    shown: dict[int, int] = {}
    out = []
    for row, t in zip(top.tolist(), target.tolist(), strict=True):
        if shown.get(t, 0) >= per_class:
            continue
        shown[t] = shown.get(t, 0) + 1
        out.append({"class": classes[t], "top5": [labels[i] for i in row[:5]]})
    return out
