"""Poincaré embeddings: labelspace against gensim's PoincareModel, side by side in one run.

Both embed the same closure (the reference project's mammal or noun closure) and both are
scored by the same reconstruction code (mean rank, MAP). Prints wall time, quality and the
ratios. Usage:

    python benchmarks/poincare.py                       # mammals, dim 5 (labelspace) / 10 (gensim)
    python benchmarks/poincare.py --closure nouns --skip-gensim --epochs 200 ...

Timings are wall-clock on whatever machine runs it; run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import time

import numpy as np
import torch

from labelspace.embeddings.evaluate import reconstruction
from labelspace.embeddings.poincare import _single_threaded, train_poincare
from labelspace.embeddings.poincare_config import PoincareConfig, linear_decay
from labelspace.hierarchy.sources import load_source

# progress lines show up in a log file at once
print = functools.partial(print, flush=True)


def run_labelspace(graph, args) -> dict:
    config = PoincareConfig(
        dim=args.dim,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        negatives=args.negatives,
        init=args.init,
        init_link_gap=None if args.init_link_gap == "none" else float(args.init_link_gap),
        burnin_epochs=args.burnin,
        direction_lr=args.direction_lr,
        seed=args.seed,
    )
    factors = None
    if args.decay_from is not None:
        factors = linear_decay(args.epochs, args.decay_from, args.decay_to)
    eval_seconds = [0.0]

    def progress(epoch: int, loss: float, table: torch.Tensor) -> None:
        if args.eval_every and (epoch + 1) % args.eval_every == 0:
            t0 = time.perf_counter()
            q = reconstruction(table, graph.pairs, sample_nodes=1000, seed=args.seed)
            eval_seconds[0] += time.perf_counter() - t0
            print(
                f"  epoch {epoch + 1}: loss {loss:.4f}, sampled mean rank {q.mean_rank:.2f}, "
                f"MAP {q.map:.4f}, {time.perf_counter() - start - eval_seconds[0]:.0f} s training",
                flush=True,
            )

    device = torch.device(args.device)
    where = str(device)
    if device.type == "cpu":
        single = _single_threaded(config, len(graph.labels), device)
        where += f", {1 if single else torch.get_num_threads()} thread(s)"
    print(f"  labelspace trains on {where}")
    start = time.perf_counter()
    result = train_poincare(
        graph.pairs,
        len(graph.labels),
        config,
        hierarchy=graph.hierarchy,
        device=args.device,
        on_epoch=progress,
        lr_factors=factors,
    )
    seconds = time.perf_counter() - start - eval_seconds[0]
    start = time.perf_counter()
    quality = reconstruction(result.vectors, graph.pairs, sample_nodes=args.sample_nodes)
    print(f"  labelspace evaluation took {time.perf_counter() - start:.1f} s", flush=True)
    config_record = {**config.__dict__, "lr_factors": factors}
    return {"seconds": seconds, **quality.as_dict(), "config": config_record}


def run_gensim(graph, args) -> dict:
    from gensim.models.poincare import PoincareModel

    logging.getLogger("gensim").setLevel(logging.WARNING)
    names = graph.labels
    relations = [(names[a], names[b]) for a, b in graph.pairs]
    start = time.perf_counter()
    model = PoincareModel(
        relations, size=args.gensim_dim, negative=args.gensim_negatives, burn_in=10, seed=args.seed
    )
    model.train(epochs=args.gensim_epochs, batch_size=10)
    seconds = time.perf_counter() - start
    vectors = torch.tensor(np.stack([model.kv[n] for n in names]))
    quality = reconstruction(vectors, graph.pairs, sample_nodes=args.sample_nodes)
    return {
        "seconds": seconds,
        **quality.as_dict(),
        "config": {
            "dim": args.gensim_dim,
            "epochs": args.gensim_epochs,
            "negatives": args.gensim_negatives,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--closure", choices=["mammals", "nouns"], default="mammals")
    parser.add_argument("--dim", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.3)
    parser.add_argument("--init", choices=["uniform", "hierarchy"], default="uniform")
    parser.add_argument(
        "--init-link-gap",
        default="2.0",
        help="hierarchy start: how close the parents of a shared child are drawn ('none': not)",
    )
    parser.add_argument(
        "--burnin", type=int, default=None, help="default: 20 (uniform start), 0 (hierarchy)"
    )
    parser.add_argument(
        "--direction-lr",
        type=float,
        default=None,
        help="direction steps of far points; default: 0.01 (hierarchy start), 0 (uniform)",
    )
    parser.add_argument(
        "--decay-from",
        type=int,
        default=None,
        help="from this epoch (counted from 0) both learning rates fall linearly to --decay-to "
        "times their value in the last epoch; default: constant",
    )
    parser.add_argument("--decay-to", type=float, default=0.1)
    parser.add_argument("--negatives", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--gensim-dim", type=int, default=10)
    parser.add_argument("--gensim-epochs", type=int, default=200)
    parser.add_argument("--gensim-negatives", type=int, default=10, help="gensim's default")
    parser.add_argument("--skip-gensim", action="store_true")
    parser.add_argument("--sample-nodes", type=int, default=None, help="evaluate a sample of nodes")
    parser.add_argument(
        "--eval-every",
        type=int,
        default=0,
        help="print a sampled evaluation every N epochs (not timed)",
    )
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    start = time.perf_counter()
    graph = load_source(args.closure)
    load_seconds = time.perf_counter() - start
    print(
        f"{args.closure}: {len(graph.labels):,} nodes, {len(graph.pairs):,} pairs "
        f"(built in {load_seconds:.1f} s)"
    )
    results = {"labelspace": run_labelspace(graph, args)}
    if not args.skip_gensim:
        results["gensim"] = run_gensim(graph, args)
    print(f"{'':12} {'dim':>4} {'epochs':>7} {'seconds':>9} {'mean rank':>10} {'MAP':>7}")
    for name, r in results.items():
        print(
            f"{name:12} {r['config']['dim']:>4} {r['config']['epochs']:>7} {r['seconds']:>9.1f} "
            f"{r['mean_rank']:>10.3f} {r['map']:>7.4f}"
        )
    if "gensim" in results:
        ls, gs = results["labelspace"], results["gensim"]
        print(
            f"ratio gensim/labelspace: time x{gs['seconds'] / ls['seconds']:.1f}, "
            f"MAP labelspace - gensim = {ls['map'] - gs['map']:+.4f}, "
            f"mean rank gensim/labelspace = x{gs['mean_rank'] / ls['mean_rank']:.2f}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"closure": args.closure, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
