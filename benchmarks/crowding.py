"""How close the Poincaré model's class points sit to each other, per dataset and label radius.

The Poincaré image model aims each image at its class's point (the Poincaré embedding of the
class hierarchy, moved along its ray so that the farthest class lies ``--label-radius`` from
the origin). As classes multiply, siblings crowd: this prints, for each class set, the
distance from every class point to its nearest other class point (minimum and median) at
several label radii and dimensions, and the mean distance between sibling classes (LCA height
1; their number in brackets). "same radius" rows put every class exactly at the label radius
(directions kept) instead of moving all by one factor: what a radius that ignores depth
would change. No image model is trained. Usage::

    python benchmarks/crowding.py --tiny-imagenet path/to/tiny-imagenet-200
"""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from labelspace.data.layouts import scan_dataset
from labelspace.embeddings.geometry import expmap0, logmap0, pairwise_distance
from labelspace.embeddings.space import build_label_space
from labelspace.hierarchy.mapping import map_names
from labelspace.hierarchy.mapping_files import DATASET_CLASSES, dataset_synsets
from labelspace.models.methods.poincare import poincare_class_points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny-imagenet", help="a Tiny ImageNet-200 folder (official layout)")
    parser.add_argument("--radii", default="1.5,3,4.5", help="label radii, comma-separated")
    parser.add_argument("--dims", default="32", help="embedding dimensions, comma-separated")
    args = parser.parse_args()
    sets = {
        name: (DATASET_CLASSES[name], dataset_synsets(name))
        for name in ("fashion-mnist", "cifar10")
    }
    if args.tiny_imagenet:
        wnids = scan_dataset(args.tiny_imagenet).classes
        sets["tiny-imagenet"] = (wnids, map_names(wnids))
    table = Table(title="distance from each class point to its nearest other class point")
    for col in ("classes", "dim", "label radius", "min", "median", "sibling pairs: mean"):
        table.add_column(col, justify="right")
    for name, (classes, synsets) in sets.items():
        for dim in (int(d) for d in args.dims.split(",")):
            space = build_label_space(name, classes, synsets, "poincare", dim=dim, seed=0)
            tangent = logmap0(space.class_vectors.double(), space.curvature)
            radii = 2 * tangent.norm(dim=-1)  # distance from the origin, as embedded
            print(
                f"{name}, {dim}-d: classes lie {radii.min():.2f} to {radii.max():.2f} from the "
                f"origin (median {radii.median():.2f}) as embedded"
            )
            for radius in (float(r) for r in args.radii.split(",")):
                same = expmap0(tangent / tangent.norm(dim=-1, keepdim=True) * radius / 2)
                for how, points in (
                    ("", poincare_class_points(space, radius).double()),
                    (", same radius", same),
                ):
                    d = pairwise_distance(points, points, space.curvature)
                    siblings = space.lca_height == 1  # classes with a common parent
                    sibling_mean = d[siblings].mean() if siblings.any() else float("nan")
                    nearest = d.fill_diagonal_(float("inf")).min(1).values
                    table.add_row(
                        f"{name} ({len(classes)})", str(dim), f"{radius:g}{how}",
                        f"{nearest.min():.3f}", f"{nearest.median():.3f}",
                        f"{sibling_mean:.3f} ({int(siblings.sum()) // 2})",
                    )  # fmt: skip
    Console().print(table)


if __name__ == "__main__":
    main()
