"""The Python API: what the command line does, as functions a researcher can call.

The package root re-exports exactly these names (``labelspace.__all__``); they are the stable
interface, documented with a worked example in ``docs/api.md``. Everything else is internal
and may change. Each function takes the same options as its command, in the same dataclasses
(:class:`TrainConfig`, :class:`MethodOptions`, :class:`AnalysisConfig`), and raises the same
clear errors (subclasses of :class:`LabelspaceError`, a ``ValueError``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import labelspace
from labelspace.analysis.config import AnalysisConfig
from labelspace.embeddings.space import LabelSpace
from labelspace.errors import InputError
from labelspace.errors import LabelspaceError as LabelspaceError  # re-exported
from labelspace.models.options import MethodOptions as MethodOptions  # re-exported
from labelspace.training.config import TrainConfig

# the package root lists the stable names once (its own package, imported before this
# module in any case); it loads them from here on first use
__all__ = list(labelspace.__all__)


DEFAULT_ANALYSIS = AnalysisConfig()


def methods() -> dict[str, str]:
    """The registered methods (``TrainConfig.method``), each with a one-line summary."""
    from labelspace.models.methods import METHODS

    return {name: method.summary for name, method in METHODS.items()}


def label_space(
    source: str | Path | Sequence[str],
    *,
    embedding: str | Path | None = "poincare",
    dim: int = 10,
    seed: int = 0,
    mapping: str | Path | None = None,
    edge_order: str | None = None,
) -> LabelSpace:
    """The label space of a set of classes: their hierarchy and a label embedding.

    ``source`` is a dataset name (``"cifar10"``), class names, synset names or wnids (a list,
    or one comma-separated string), mapped to WordNet (``mapping``: a name<TAB>synset file of
    your own senses), or a hierarchy file (.tsv/.csv/.txt edge list, .json tree or .pkl[.xz]
    pickled nltk tree) whose leaves are the classes (sorted by name). ``edge_order``
    (``"child-parent"`` or ``"parent-child"``, the is_a convention) is an edge list's column
    order (docs/formats.md). ``embedding`` is a kind (``poincare``, ``euclidean``, ``sphere``,
    ``text``, ``poincare+text``, ``random``, ``onehot``), a file written by ``labelspace
    embed``, or ``None`` for the hierarchy alone; ``dim`` and ``seed`` set a trained
    embedding's dimension and seed.
    """
    from labelspace.embeddings.space import build_label_space
    from labelspace.hierarchy.mapping import map_names
    from labelspace.hierarchy.mapping_files import DATASET_CLASSES, dataset_synsets
    from labelspace.hierarchy.sources import load_source
    from labelspace.hierarchy.wnid_lists import wnid_list, wnid_list_key

    spec = str(source) if isinstance(source, str | Path) else ",".join(source)
    key = spec.strip().lower()
    if not spec.strip():
        raise InputError("label_space needs classes: a dataset name, class names or a file")
    if key in DATASET_CLASSES and mapping is None and edge_order is None:
        classes, synsets = list(DATASET_CLASSES[key]), dataset_synsets(key)
        return build_label_space(key, classes, synsets, embedding, dim=dim, seed=seed)
    # checks files, names, the mapping and the edge order
    graph = load_source(spec, mapping=mapping, edge_order=edge_order)
    if graph.wordnet:
        if key in DATASET_CLASSES:
            classes = list(DATASET_CLASSES[key])
        elif wnid_list_key(key) is not None:  # imagenet, imagenet12k, ...: wnids as classes
            classes = list(wnid_list(key))
        else:
            classes = [n.strip() for n in spec.split(",") if n.strip()]
        synsets = map_names(classes, overrides=mapping)
        return build_label_space(graph.name, classes, synsets, embedding, dim=dim, seed=seed)
    # a hierarchy file: its leaves are the classes, named as the file names them
    classes = list(graph.hierarchy.classes)
    space = LabelSpace(classes, classes, graph.hierarchy, notes=list(graph.hierarchy.notes))
    if embedding is not None:
        space.embedding = _embed(graph, embedding, dim, seed)
    return space


def _embed(graph, embedding: str | Path, dim: int, seed: int):
    from labelspace.embeddings.build import KINDS, build_embedding
    from labelspace.embeddings.poincare_config import PoincareConfig
    from labelspace.embeddings.store import LabelEmbedding

    if str(embedding) in KINDS:
        return build_embedding(graph, str(embedding), config=PoincareConfig(dim=dim, seed=seed))
    return LabelEmbedding.load(embedding)


def pretrained(name: str):
    """A pretrained label space shipped with labelspace (``labelspace embeddings`` lists them),
    as a :class:`~labelspace.embeddings.store.LabelEmbedding`; its checksum is verified."""
    from labelspace.embeddings.pretrained import pretrained as load_pretrained

    return load_pretrained(name)


def train(config: TrainConfig, run: str | Path, *, overwrite: bool = False) -> dict[str, Any]:
    """Train a model into the folder ``run`` and evaluate it; returns its metrics
    (``metrics.json``). A run that exists is refused unless ``overwrite``."""
    from labelspace.training.fit import train as train_run

    config.validate()
    return train_run(config, Path(run), overwrite=overwrite, progress=False)


def resume(run: str | Path) -> dict[str, Any]:
    """Continue a stopped run from its last finished epoch, with its own options."""
    from labelspace.training.fit import train as train_run

    return train_run(TrainConfig(), Path(run), resume=True, progress=False)


def evaluate(
    run: str | Path, *, distances: str | Path | None = None, data: str | Path | None = None
) -> dict[str, Any]:
    """Evaluate a run's final weights on its test set again; returns the metrics.
    ``distances``: a published distance file that gives the cost of every mistake; ``data``:
    where the run's dataset is now, if it has moved since training."""
    from labelspace.training.evaluate import evaluate_run

    return evaluate_run(Path(run), distances=distances, data=data)


def score(
    scores: Any,
    targets: Any,
    classes: str | Sequence[str],
    distances: str | Path | None = None,
    *,
    hierarchy: str | Path | None = None,
    kind: str = "auto",
) -> dict[str, Any]:
    """The metrics of any model's ``(N, C)`` scores (logits or probabilities; an array or a
    tensor) against ``targets`` (N class indices): the metric table of a run, the CRM
    re-ranking and the back-off curve.

    ``classes`` lists the classes in column order (names, synset names or wnids), or is a
    hierarchy source (``"cifar100"``, ``"imagenet"``, a hierarchy file) whose classes are the
    columns. ``hierarchy`` is the source the listed classes live in (default: WordNet).
    ``distances`` is a published distance file for the cost of each mistake (default: the
    LCA height in the class tree). ``kind``: ``auto``, ``logits`` or ``probabilities``."""
    from labelspace.analysis.score import score as score_scores

    return score_scores(scores, targets, classes, distances, hierarchy=hierarchy, kind=kind)


def predict(
    run: str | Path, images: Sequence[str | Path], *, k: int = 5
) -> dict[str | Path, list[tuple[str, float, list[str]]]]:
    """The ``k`` best classes of each image file: ``{image: [(class, score, path to the
    root), ...]}``, best first, keyed by the images as given. Scores are probabilities where
    the method has them."""
    from labelspace.analysis.predict import predict_images

    answers = predict_images(Path(run), [Path(p) for p in images], k=k)
    return {image: answers[Path(image)] for image in images}


def backoff(
    run: str | Path, images: Sequence[str | Path], *, threshold: float = 0.9
) -> dict[str | Path, tuple[str, float]]:
    """Each image's most specific label (a class or a coarser node) whose probability
    reaches ``threshold``: ``{image: (label, probability)}``, keyed by the images as given."""
    from labelspace.analysis.predict import backoff_answers

    answers = backoff_answers(Path(run), [Path(p) for p in images], threshold=threshold)
    return {image: answers[Path(image)][:2] for image in images}


def compare(
    out: str | Path,
    methods: Sequence[str],
    config: TrainConfig,
    *,
    seeds: int = 1,
    analysis: AnalysisConfig | None = DEFAULT_ANALYSIS,
    overwrite: bool = False,
) -> Path:
    """Train every method for every seed with ``config``'s data, backbone and budget, analyse
    each run (``analysis=None``: skip), and write the report; returns ``out/report.md``.
    Finished runs under ``out`` are reused unless ``overwrite``."""
    from labelspace.experiments.compare import parse_methods, run_comparison

    config.validate()
    return run_comparison(
        parse_methods(list(methods)),
        config,
        Path(out),
        seeds=seeds,
        analysis=analysis,
        overwrite=overwrite,
        progress=False,
    )
