"""Does ``labelspace score`` give the numbers of the better-mistakes reference code?

Bertinetto et al. (CVPR 2020) compute their metrics in ``better_mistakes/model/run_xent.py``
of github.com/fiveai/making-better-mistakes, with the hierarchy and distance files of its
``data/`` folder. This script draws seeded random logits for a dataset's classes, runs that
code on them (imported from a checkout given with ``--mbm``; nothing of it is copied here),
runs ``labelspace score`` on the same logits with the same files, and prints both side by
side with their difference.

The reference code averages per batch, and its hierarchical precision divides each batch's
similarity by the best similarity summed over *all* classes; so that this equals the
per-image definition, every batch holds each class exactly once (batch size = number of
classes, ``--per-class`` batches). Its code assumes a GPU (``.cuda()``), an older NumPy
(``np.float``) and an older torch (``.view`` of a transposed tensor); the script runs it on
the CPU by making these three harmless, without changing what it computes.

    python benchmarks/mbm_agreement.py --mbm /path/to/making-better-mistakes \\
        --deps /path/to/extra-site-packages --dataset tiered_imagenet
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from argparse import Namespace
from pathlib import Path

import numpy as np
import torch

PAIRS = (  # labelspace key, reference key
    ("top1", "accuracy_top/01"),
    ("top5", "accuracy_top/05"),
    ("severity", "ilsvrc_dist_mistakes/avg01"),
    ("hdist@1", "ilsvrc_dist_avg/01"),
    ("hdist@5", "ilsvrc_dist_avg/05"),
    ("hsim@1", "ilsvrc_dist_precision/01"),
    ("hsim@5", "ilsvrc_dist_precision/05"),
)


def reference(mbm: Path, dataset: str, logits: np.ndarray, targets: np.ndarray, classes):
    """The reference code's summary of the logits (one batch per permutation of classes)."""
    sys.path.insert(0, str(mbm))
    np.float = float  # removed from NumPy 1.24; the reference code still uses it
    torch.Tensor.cuda = lambda self, *a, **k: self  # its evaluation loop calls .cuda()
    view = torch.Tensor.view

    def view_or_reshape(self: torch.Tensor, *shape):  # torch >= 1.x refuses its .view()
        try:  # of a transposed tensor; reshape gives the same values
            return view(self, *shape)
        except RuntimeError:
            return self.reshape(*shape)

    torch.Tensor.view = view_or_reshape
    from better_mistakes.model.run_xent import run
    from better_mistakes.trees import load_distances

    distances = load_distances(dataset.replace("_", "-"), "ilsvrc", str(mbm / "data"))
    batch = len(classes)
    loader = [
        (torch.from_numpy(logits[i : i + batch]), torch.from_numpy(targets[i : i + batch]))
        for i in range(0, len(targets), batch)
    ]
    opts = Namespace(
        loss="cross-entropy", batch_size=batch, gpu=None, out_folder=None, log_freq=1, epochs=1
    )
    summary, _ = run(
        loader,
        torch.nn.Identity(),
        torch.nn.CrossEntropyLoss(),
        distances,
        None,
        classes,
        opts,
        0,
        0,
        is_inference=True,
    )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mbm", type=Path, required=True, help="making-better-mistakes checkout")
    parser.add_argument("--deps", type=Path, help="extra site-packages (conditional, tensorboardX)")
    parser.add_argument(
        "--dataset", default="tiered_imagenet", help="tiered_imagenet or inaturalist19"
    )
    parser.add_argument("--per-class", type=int, default=10, help="images per class")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--distances", default="txt.xz", choices=("txt.xz", "pkl.xz"), help="file labelspace reads"
    )
    args = parser.parse_args()
    if args.deps:
        sys.path.append(str(args.deps))  # after the project's own packages: no shadowing
    sys.path.insert(0, str(args.mbm))
    from better_mistakes.trees import get_classes, load_hierarchy

    data = args.mbm / "data"
    key = {"tiered_imagenet": "tiered-imagenet-84", "inaturalist19": "inaturalist19-84"}
    classes, _ = get_classes(load_hierarchy(key[args.dataset], str(data)))
    rng = np.random.default_rng(args.seed)
    targets = np.concatenate([rng.permutation(len(classes)) for _ in range(args.per_class)])
    logits = rng.normal(size=(len(targets), len(classes))).astype(np.float32)
    logits[np.arange(len(targets)), targets] += 2.0  # a weak model: right on 12-15 % of images

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        np.save(folder / "logits.npy", logits)
        np.save(folder / "labels.npy", targets)
        (folder / "classes.txt").write_text("\n".join(classes) + "\n", encoding="utf-8")
        command = [
            sys.executable, "-m", "labelspace", "score", str(folder / "logits.npy"),
            "--labels", str(folder / "labels.npy"),
            "--classes", str(folder / "classes.txt"),
            "--hierarchy", str(data / f"{args.dataset}_tree.pkl"),
            "--distances", str(data / f"{args.dataset}_ilsvrc_distances.{args.distances}"),
            "--json", "-",
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"labelspace score failed: {done.stderr}")
        ours = json.loads(done.stdout)["results"]["logits"]["metrics"]
    theirs = reference(args.mbm, args.dataset, logits, targets, classes)
    print(f"{args.dataset}: {len(classes)} classes, {len(targets)} images, seed {args.seed}")
    print(
        f"{'labelspace':>12} {'reference':>28} {'labelspace':>12} {'reference':>12} {'|diff|':>9}"
    )
    worst = 0.0
    for mine, ref in PAIRS:
        value = float(theirs[ref])
        diff = abs(ours[mine] - value)
        worst = max(worst, diff)
        print(f"{mine:>12} {ref:>28} {ours[mine]:12.6f} {value:12.6f} {diff:9.2e}")
    print(
        f"largest difference {worst:.2e}: {'agrees' if worst < 5e-5 else 'DIFFERS'} to 4 decimals"
    )


if __name__ == "__main__":
    main()
