"""A label space's embedding without training it needlessly, and never silently for minutes.

:func:`label_embedding` gives the embedding of a kind for a label graph: the shipped one when
it is exactly what training would give (:func:`~labelspace.embeddings.pretrained.shipped_for`),
the one built already in the same comparison (inside :func:`built_once`), or one trained now,
with a progress line every few seconds.

The lines go to the ``labelspace.progress`` logger, whose level is INFO: the command line
shows them without ``--verbose`` (its handler takes every record a logger passes on), while a
Python program that configured no logging sees nothing (Python's last-resort handler shows
warnings only). ``logging.getLogger("labelspace.progress").setLevel(logging.WARNING)``
silences them.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import asdict, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labelspace.embeddings.poincare_config import PoincareConfig
    from labelspace.embeddings.store import LabelEmbedding
    from labelspace.hierarchy.sources import LabelGraph

progress_log = logging.getLogger("labelspace.progress")
progress_log.setLevel(logging.INFO)

PROGRESS_EVERY_S = 10.0  # seconds between two progress lines of a training

_Key = tuple[object, ...]
_built: ContextVar[dict[_Key, LabelEmbedding] | None] = ContextVar("_built", default=None)


@contextlib.contextmanager
def built_once() -> Iterator[None]:
    """Within the block, each label embedding (kind, hierarchy, options, device) is built once
    and handed out again to every later run that asks for it: a comparison trains its
    methods' shared label space once, not once per method."""
    token = _built.set({})
    try:
        yield
    finally:
        _built.reset(token)


def label_embedding(
    graph: LabelGraph,
    kind: str,
    config: PoincareConfig,
    *,
    device: str = "cpu",
    shipped: bool = True,
) -> LabelEmbedding:
    """The ``kind`` embedding of ``graph`` with ``config``: shipped (when ``shipped`` and one
    is exactly this), built earlier within :func:`built_once`, or built now."""
    memo = _built.get()
    options = tuple(sorted(asdict(config).items()))
    key: _Key = (kind, graph.hierarchy, graph.wordnet, options, str(device))
    if memo is not None and key in memo:
        progress_log.info(
            "%s label embedding of %s: built already in this comparison, used again",
            kind,
            _size(graph),
        )
        return _copy(memo[key])
    embedding = _shipped(graph, kind, config) if shipped else None
    if embedding is None:
        embedding = _build(graph, kind, config, device)
    if memo is not None:
        memo[key] = _copy(embedding)
    return embedding


def _shipped(graph: LabelGraph, kind: str, config: PoincareConfig) -> LabelEmbedding | None:
    from labelspace.embeddings.pretrained import PREFIX, shipped_for

    embedding = shipped_for(graph, kind, config)
    if embedding is not None:
        progress_log.info(
            "%s label embedding of %s: using the shipped %s%s, trained with these options "
            "(dim %d, seed %d) on exactly this hierarchy, instead of training it",
            kind,
            _size(graph),
            PREFIX,
            embedding.training["pretrained"],
            config.dim,
            config.seed,
        )
    return embedding


def _build(graph: LabelGraph, kind: str, config: PoincareConfig, device: str) -> LabelEmbedding:
    """Build the embedding, saying so first and, while it trains, every few seconds."""
    from labelspace.embeddings import build

    trained = build.KINDS[kind].trained if kind in build.KINDS else False
    what = f"{kind} label embedding of {_size(graph)}"
    progress_log.info(
        "%s: %s", what, f"training it ({config.epochs} epochs)" if trained else "building it"
    )
    start = time.perf_counter()
    on_epoch = _progress_lines(what, config.epochs, start) if trained else None
    embedding = build.build_embedding(graph, kind, config=config, device=device, on_epoch=on_epoch)
    progress_log.info("%s: built in %.1f s", what, time.perf_counter() - start)
    return embedding


def _progress_lines(what: str, epochs: int, start: float) -> Callable[[int, float, object], None]:
    """An ``on_epoch`` callback that logs a line every :data:`PROGRESS_EVERY_S` seconds."""
    last = start

    def on_epoch(epoch: int, loss: float, _table: object) -> None:
        nonlocal last
        now = time.perf_counter()
        if now - last < PROGRESS_EVERY_S or epoch + 1 == epochs:
            return
        last = now
        elapsed = now - start
        left = elapsed / (epoch + 1) * (epochs - epoch - 1)
        progress_log.info(
            "%s: epoch %d/%d, loss %.4f, %.0f s so far, about %.0f s left",
            what,
            epoch + 1,
            epochs,
            loss,
            elapsed,
            left,
        )

    return on_epoch


def _size(graph: LabelGraph) -> str:
    h = graph.hierarchy
    return f"{len(h.classes):,} classes ({len(h):,} nodes)"


def _copy(embedding: LabelEmbedding) -> LabelEmbedding:
    """A copy whose vectors and records the caller may change without changing the kept one."""
    return replace(
        embedding,
        labels=list(embedding.labels),
        vectors=embedding.vectors.clone(),
        synsets=list(embedding.synsets),
        training=dict(embedding.training),
    )
