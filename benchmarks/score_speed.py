"""How long ``labelspace score`` takes on ImageNet's scale: 50,000 x 1,000 scores.

The validation set of ImageNet-1k holds 50,000 images of 1,000 classes. The script draws
seeded logits of that size, writes them as ``.npy``, and times (1) the Python function on
tensors already in memory, split into building the classes' hierarchy and cost matrix and
scoring (metrics, CRM, back-off), and (2) the whole command from the files, as a user runs it.

    python benchmarks/score_speed.py [--images 50000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from labelspace.analysis.score import score, scored_classes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=50_000)
    args = parser.parse_args()
    listed = resources.files("labelspace.pretrained") / "sources" / "imagenet-1k.txt"
    wnids = [w for w in listed.read_text(encoding="utf-8").split() if w]
    rng = np.random.default_rng(0)
    targets = rng.integers(0, len(wnids), args.images)
    logits = rng.normal(size=(args.images, len(wnids))).astype(np.float32)
    logits[np.arange(args.images), targets] += 3.0
    print(
        f"{args.images:,} images x {len(wnids):,} classes, torch threads {torch.get_num_threads()}"
    )

    start = time.perf_counter()
    space = scored_classes(wnids)
    _ = space.cost  # the LCA heights of every class pair
    built = time.perf_counter() - start
    start = time.perf_counter()
    result = score(torch.from_numpy(logits), torch.from_numpy(targets), space)
    scored = time.perf_counter() - start
    print(f"python: classes and costs {built:.1f} s, scoring with CRM and back-off {scored:.1f} s")
    print(f"  top-1 {result['metrics']['top1']:.4f}, CRM top-1 {result['crm']['top1']:.4f}")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        np.save(folder / "logits.npy", logits)
        np.save(folder / "labels.npy", targets)
        (folder / "classes.txt").write_text("\n".join(wnids) + "\n", encoding="utf-8")
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "labelspace", "score", str(folder / "logits.npy"),
             "--labels", str(folder / "labels.npy"), "--classes", str(folder / "classes.txt"),
             "--json", str(folder / "out.json")],
            check=True, capture_output=True,
        )  # fmt: skip
        print(f"command, from the files to the JSON: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
