"""Build the pretrained label spaces shipped in src/labelspace/pretrained (``make pretrained``).

Trains each Poincaré embedding with fixed options and seed, evaluates its reconstruction on
every node and on a seeded sample of nodes (the figures the test suite re-measures), and
writes the files and ``manifest.json`` with their checksums. Existing files are replaced.
Usage::

    .venv/bin/python scripts/build_pretrained.py [NAME ...]
"""

from __future__ import annotations

import argparse
import json
import time

from labelspace.embeddings.build import build_embedding, evaluate_embedding
from labelspace.embeddings.poincare_config import PoincareConfig
from labelspace.embeddings.pretrained import MANIFEST, PRETRAINED_DIR, sha256, source_spec
from labelspace.files import atomic_write_text
from labelspace.hierarchy.sources import load_source

SAMPLE_NODES, SAMPLE_SEED = 500, 0
# name: (hierarchy source, Poincaré options); the nouns last, they take minutes
RECIPES: dict[str, tuple[str, dict]] = {
    "mammals-poincare-5d": ("mammals", {"dim": 5}),
    "fashion-mnist-poincare-32d": ("fashion-mnist", {"dim": 32}),
    "cifar10-poincare-32d": ("cifar10", {"dim": 32}),
    "cifar100-poincare-32d": ("cifar100", {"dim": 32}),
    "tiny-imagenet-200-poincare-32d": ("sources/tiny-imagenet-200.txt", {"dim": 32}),
    "imagenet-1k-poincare-32d": ("sources/imagenet-1k.txt", {"dim": 32}),
    "nouns-poincare-10d": (
        "nouns",
        {"dim": 10, "epochs": 32, "batch_size": 256, "init": "hierarchy"},
    ),
}


def build(name: str) -> dict:
    source, options = RECIPES[name]
    graph = load_source(source_spec(source))
    start = time.perf_counter()
    config = PoincareConfig(**options, seed=0)
    embedding = build_embedding(graph, "poincare", config=config)
    seconds = time.perf_counter() - start
    full = evaluate_embedding(embedding, graph)["reconstruction"]
    nodes = len(graph.hierarchy.nodes)
    sampled = SAMPLE_NODES if nodes > SAMPLE_NODES else None  # small hierarchies: every node
    sample = evaluate_embedding(embedding, graph, sample_nodes=sampled)["reconstruction"]
    path = embedding.save(PRETRAINED_DIR / f"{name}.safetensors", overwrite=True)
    print(f"{name}: {len(graph.hierarchy.nodes)} nodes, MAP {full['map']:.4f}, "
          f"mean rank {full['mean_rank']:.3f}, {seconds:.0f} s")  # fmt: skip
    return {
        "name": name,
        "source": source,
        "file": path.name,
        "sha256": sha256(path),
        "dim": embedding.vectors.shape[1],
        "nodes": len(embedding.labels),
        "quality": {
            "all": {"map": full["map"], "mean_rank": full["mean_rank"]},
            "sample": {
                "nodes": sampled or nodes,
                "seed": SAMPLE_SEED,
                "map": sample["map"],
                "mean_rank": sample["mean_rank"],
            },
        },
        "options": {**options, "seed": 0, "training_seconds": round(seconds, 1)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"some of {', '.join(RECIPES)} (default all)")
    names = parser.parse_args().names or list(RECIPES)
    entries = {}
    if MANIFEST.is_file():
        entries = {e["name"]: e for e in json.loads(MANIFEST.read_text())["embeddings"]}
    for name in names:
        entries[name] = build(name)
        ordered = [entries[n] for n in RECIPES if n in entries]
        atomic_write_text(MANIFEST, json.dumps({"embeddings": ordered}, indent=1) + "\n")


if __name__ == "__main__":
    main()
