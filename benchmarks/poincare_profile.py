"""Where an epoch of the all-nouns Poincaré embedding spends its time (cProfile).

Trains the embedding of all 82,115 WordNet nouns (the reference closure, 743,086 pairs) for a
few epochs from the hierarchy start, with the batch size and negatives given (by default those
of docs/benchmarks.md's 30-minute run; the 5-minute run uses --batch-size 1024 --negatives
100), prints each epoch's wall time and the functions that took the most time of their own.

    python benchmarks/poincare_profile.py [--epochs 3] [--batch-size 256] [--negatives 50]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

from labelspace.embeddings.poincare import train_poincare
from labelspace.embeddings.poincare_config import PoincareConfig
from labelspace.hierarchy.sources import load_source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--negatives", type=int, default=50)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--top", type=int, default=15, help="functions shown")
    args = parser.parse_args()
    start = time.perf_counter()
    graph = load_source("nouns")
    print(f"closure: {len(graph.pairs):,} pairs in {time.perf_counter() - start:.1f} s")
    config = PoincareConfig(
        dim=10,
        epochs=args.epochs,
        batch_size=args.batch_size,
        negatives=args.negatives,
        init="hierarchy",
        seed=0,
    )
    ends = [time.perf_counter()]

    def on_epoch(epoch: int, loss: float, table) -> None:
        ends.append(time.perf_counter())
        print(f"  epoch {epoch + 1}: {ends[-1] - ends[-2]:.1f} s (loss {loss:.4f})")

    profile = cProfile.Profile()
    profile.enable()
    train_poincare(
        graph.pairs,
        len(graph.labels),
        config,
        hierarchy=graph.hierarchy,
        device=args.device,
        on_epoch=on_epoch,
    )
    profile.disable()
    print(f"training {ends[-1] - ends[0]:.1f} s (the first epoch includes the layout)")
    pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
