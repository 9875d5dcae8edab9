"""The Poincaré trainer: gradients, repeatability, boundary safety and real quality."""

import math

import numpy as np
import pytest
import torch

from labelspace.embeddings import poincare_negatives
from labelspace.embeddings.evaluate import reconstruction
from labelspace.embeddings.geometry import distance, riemannian_scale
from labelspace.embeddings.poincare import train_poincare
from labelspace.embeddings.poincare_config import PoincareConfig, linear_decay
from labelspace.embeddings.poincare_layout import hierarchy_layout, link_partners
from labelspace.embeddings.poincare_steps import euclidean_step, poincare_step, polar_step
from labelspace.hierarchy.graph import Hierarchy, HierarchyError


def _numbered(parents: list[list[int]]) -> Hierarchy:
    """The hierarchy of a parent list whose parents come before their children: node i is
    named by its zero-padded number, so the hierarchy's node order is the list's."""
    h = Hierarchy.from_parents(
        {f"{i:04d}": [f"{p:04d}" for p in ps] for i, ps in enumerate(parents)},
        restrict_to_classes=False,
    )
    assert h.nodes == tuple(f"{i:04d}" for i in range(len(parents)))
    return h


@pytest.mark.parametrize(
    ("step", "dist"),
    [
        (poincare_step, lambda a, b: distance(a, b)),
        (euclidean_step, lambda a, b: (a - b).norm(dim=-1)),
    ],
)
def test_closed_form_gradients_match_autograd(step, dist):
    g = torch.Generator().manual_seed(0)
    table = (torch.rand(20, 4, generator=g, dtype=torch.float64) - 0.5) * 0.9
    u = torch.tensor([0, 1, 2])
    cand = torch.tensor([[3, 4, 5], [6, 7, 8], [9, 10, 11]])
    invalid = torch.zeros(3, 3, dtype=torch.bool)
    invalid[1, 2] = True
    loss, gx, gy, _, _ = step(table, u, cand, invalid)
    x = table[u].clone().requires_grad_()
    y = table[cand].clone().requires_grad_()
    logits = (-dist(x[:, None], y)).masked_fill(invalid, -math.inf)
    expected = -torch.log_softmax(logits, 1)[:, 0].sum()
    expected.backward()
    assert float(loss) == pytest.approx(float(expected.detach()))
    assert torch.allclose(gx, x.grad, atol=1e-10)
    assert torch.allclose(gy, y.grad, atol=1e-10)


def test_finite_near_the_boundary():
    table = torch.tensor(
        [[0.99999, 0.0], [-0.99999, 0.0], [0.0, 0.99999], [0.0, 0.0]], dtype=torch.float32
    )
    loss, gx, gy, _, _ = poincare_step(
        table,
        torch.tensor([0, 1]),
        torch.tensor([[1, 2, 3], [0, 2, 3]]),
        torch.zeros(2, 3, dtype=torch.bool),
    )
    assert torch.isfinite(loss) and torch.isfinite(gx).all() and torch.isfinite(gy).all()


def test_training_from_the_boundary_stays_in_the_ball():
    # a star: every leaf under node 0; a huge learning rate pushes points to the edge
    pairs = np.array([(i, 0) for i in range(1, 30)])
    result = train_poincare(
        pairs, 30, PoincareConfig(dim=2, epochs=30, lr=50.0, batch_size=8, burnin_epochs=0)
    )
    norms = result.vectors.norm(dim=1)
    assert torch.isfinite(result.vectors).all()
    assert (norms < 1.0).all()
    assert math.isfinite(result.final_loss)


def test_same_seed_same_embedding():
    pairs = np.array([(1, 0), (2, 0), (3, 1), (3, 0), (4, 1), (4, 0)])
    cfg = PoincareConfig(dim=3, epochs=5, batch_size=2, seed=7)
    a = train_poincare(pairs, 5, cfg).vectors
    b = train_poincare(pairs, 5, cfg).vectors
    c = train_poincare(pairs, 5, PoincareConfig(dim=3, epochs=5, batch_size=2, seed=8)).vectors
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_learning_rates_decay_linearly_over_the_last_epochs():
    assert linear_decay(6, 2, 0.2) == pytest.approx([1.0, 1.0, 0.8, 0.6, 0.4, 0.2])
    assert linear_decay(3, 0, 0.5) == pytest.approx([5 / 6, 2 / 3, 0.5])
    for bad in [dict(start=6, final=0.1), dict(start=-1, final=0.1), dict(start=2, final=0.0)]:
        with pytest.raises(ValueError, match="decay"):
            linear_decay(6, **bad)
    pairs = np.array([(1, 0), (2, 0), (3, 1), (3, 0), (4, 1), (4, 0)])
    cfg = PoincareConfig(dim=3, epochs=5, batch_size=2, burnin_epochs=0, seed=7)
    plain = train_poincare(pairs, 5, cfg)
    ones = train_poincare(pairs, 5, cfg, lr_factors=[1.0] * 5)
    assert torch.equal(plain.vectors, ones.vectors)  # factors of 1 change nothing
    assert "lr_factors" not in plain.record() and ones.record()["lr_factors"] == [1.0] * 5
    decayed = train_poincare(pairs, 5, cfg, lr_factors=linear_decay(5, 2, 0.1))
    assert not torch.equal(plain.vectors, decayed.vectors)
    assert torch.equal(  # a factor scales the learning rate of its epoch
        train_poincare(pairs, 5, cfg, lr_factors=[2.0] * 5).vectors,
        train_poincare(pairs, 5, PoincareConfig(**{**cfg.__dict__, "lr": 0.6})).vectors,
    )
    with pytest.raises(ValueError, match="lr_factors"):
        train_poincare(pairs, 5, cfg, lr_factors=[1.0] * 4)
    with pytest.raises(ValueError, match="lr_factors"):
        train_poincare(pairs, 5, cfg, lr_factors=[1.0, 1.0, 0.0, 1.0, 1.0])


def test_bad_config_is_refused():
    pairs = np.array([(1, 0)])
    with pytest.raises(ValueError, match="manifold"):
        train_poincare(pairs, 2, PoincareConfig(manifold="sphere"))
    with pytest.raises(ValueError, match="dim"):
        train_poincare(pairs, 2, PoincareConfig(dim=0))
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        train_poincare(np.array([(5, 0)]), 2)
    with pytest.raises(ValueError, match="without pairs"):
        train_poincare(np.zeros((0, 2), dtype=np.int64), 2)


@pytest.fixture(scope="module")
def mammals():
    from labelspace.hierarchy.sources import load_source

    return load_source("mammals")


def test_mammals_embed_well_and_beat_euclidean(mammals):
    """A short run on the real mammal closure: hyperbolic beats Euclidean at dim 5."""
    cfg = PoincareConfig(dim=5, epochs=50, burnin_epochs=10, batch_size=128)
    hyper = train_poincare(mammals.pairs, len(mammals.labels), cfg)
    flat = train_poincare(
        mammals.pairs,
        len(mammals.labels),
        PoincareConfig(**{**cfg.__dict__, "manifold": "euclidean"}),
    )
    h = reconstruction(hyper.vectors, mammals.pairs, manifold="poincare")
    e = reconstruction(flat.vectors, mammals.pairs, manifold="euclidean")
    assert h.map > 0.85, h
    assert h.mean_rank < 3.0, h
    assert h.map > e.map + 0.05, (h, e)
    # generality is encoded in the norm: the root sits nearer the origin than the leaves
    norms = hyper.vectors.norm(dim=1)
    root = mammals.hierarchy.index["mammal.n.01"]
    leaves = torch.from_numpy(mammals.hierarchy.class_indices)
    assert norms[root] < norms[leaves].median()


def test_hierarchy_layout_follows_depth_and_parents(mammals):
    h = mammals.hierarchy
    cfg = PoincareConfig(dim=5, init="hierarchy")
    layout = hierarchy_layout(h, cfg)
    assert torch.equal(layout, hierarchy_layout(h, cfg))  # seeded
    assert not torch.equal(layout, hierarchy_layout(h, PoincareConfig(dim=5, seed=1)))
    norms = layout.norm(dim=1)
    assert float(norms[h.index["mammal.n.01"]]) == 0.0
    assert float(norms.max()) < 1.0
    radius = 2 * torch.atanh(norms)
    depth = torch.from_numpy(h.depth).double()
    assert torch.allclose(radius, cfg.init_step * depth, atol=1e-6)  # mammals are not capped
    # a node points nearer to its parent than to a node of another subtree
    unit = layout / norms.clamp_min(1e-12)[:, None]
    child, parent = torch.from_numpy(h.edges()).T
    other = torch.from_numpy(np.random.default_rng(0).permutation(len(h.nodes)))[child]
    to_parent = (unit[child] * unit[parent]).sum(1)
    to_other = (unit[child] * unit[other]).sum(1)
    assert float(to_parent.mean()) > float(to_other.mean()) + 0.3
    # before any training the layout already ranks ancestors far better than a random start
    start = reconstruction(layout, mammals.pairs)
    uniform = reconstruction(torch.rand(len(h.nodes), 5) * 2e-3 - 1e-3, mammals.pairs)
    assert start.map > uniform.map + 0.2, (start, uniform)


def _two_chains_joined(length: int = 6) -> list[list[int]]:
    """Root 0, chains 1..L and L+1..2L below it, and one node that is a child of both ends."""
    a = list(range(1, length + 1))
    b = list(range(length + 1, 2 * length + 1))
    parents: list[list[int]] = [[]]
    parents += [[0]] + [[x] for x in a[:-1]]
    parents += [[0]] + [[x] for x in b[:-1]]
    parents.append([a[-1], b[-1]])
    return parents


def test_link_partners_pair_the_paths_above_a_shared_child():
    h = _numbered(_two_chains_joined(3))  # chains 1-2-3 and 4-5-6, node 7 below 3 and 6
    assert h.depth.tolist() == [0, 1, 2, 3, 1, 2, 3, 4]
    partners = link_partners(h)
    assert partners == {3: {6}, 6: {3}, 2: {5}, 5: {2}, 1: {4}, 4: {1}}
    assert link_partners(_numbered([[], [0], [0], [1]])) == {}  # a tree


def test_layout_draws_the_parents_of_a_shared_child_together():
    h = _numbered(_two_chains_joined(6))
    a_end, b_end, child = 6, 12, 13

    def angles(gap: float | None) -> tuple[float, float]:
        between, to_child = [], []
        for seed in range(20):
            cfg = PoincareConfig(dim=10, seed=seed, init="hierarchy", init_link_gap=gap)
            unit = torch.nn.functional.normalize(hierarchy_layout(h, cfg), dim=1)
            between.append(float(unit[a_end] @ unit[b_end]))
            to_child.append(float(min(unit[child] @ unit[a_end], unit[child] @ unit[b_end])))
        return float(np.mean(between)), float(np.mean(to_child))

    free_between, free_child = angles(None)
    drawn_between, drawn_child = angles(2.0)
    assert free_between < 0.3  # without the pull the two chains point anywhere
    assert drawn_between > 0.6  # with it, their ends point alike (cosine, mean over seeds)
    assert drawn_child > 0.85 > free_child  # and the shared child is nearer both parents
    with pytest.raises(ValueError, match="--init-link-gap"):
        PoincareConfig(init_link_gap=0.0).validate()


def test_layout_caps_depth_inside_the_ball():
    chain = _numbered([[]] + [[i] for i in range(40)])  # a path 40 levels deep
    layout = hierarchy_layout(chain, PoincareConfig(dim=3))
    assert torch.isfinite(layout).all()
    assert float(layout.norm(dim=1).max()) < 1.0 - 1e-5


def test_hierarchy_start_needs_parents_and_refuses_cycles():
    pairs = np.array([(1, 0), (2, 1), (2, 0)])
    cfg = PoincareConfig(dim=2, epochs=1, init="hierarchy")
    assert cfg.burnin_epochs == 0 and PoincareConfig().burnin_epochs == 20
    with pytest.raises(ValueError, match="hierarchy"):
        train_poincare(pairs, 3, cfg)
    with pytest.raises(HierarchyError, match="cycle"):
        _numbered([[2], [0], [1]])
    with pytest.raises(ValueError, match="init"):
        train_poincare(pairs, 3, PoincareConfig(init="random"))
    result = train_poincare(pairs, 3, cfg, hierarchy=_numbered([[], [0], [1]]))
    assert torch.isfinite(result.vectors).all()


def test_neighbour_test_all_layouts_agree(monkeypatch):
    pairs = torch.tensor([(1, 0), (2, 0), (2, 1), (3, 0), (4, 3)])
    u = torch.tensor([2, 4, 0])
    w = torch.tensor([[0, 1, 3, 2], [3, 0, 4, 1], [0, 1, 2, 3]])
    expected = torch.tensor(
        [[True, True, False, True], [True, False, True, False], [True, False, False, False]]
    )
    dense = poincare_negatives.NeighbourTest(pairs, 5)
    assert dense.dense is not None
    assert torch.equal(dense(u, w), expected)
    monkeypatch.setattr(poincare_negatives.NeighbourTest, "MAX_DENSE", 4)
    padded = poincare_negatives.NeighbourTest(pairs, 5)
    assert padded.dense is None and padded.table is not None
    assert torch.equal(padded(u, w), expected)
    monkeypatch.setattr(poincare_negatives.NeighbourTest, "MAX_CELLS", 1)
    searched = poincare_negatives.NeighbourTest(pairs, 5)
    assert searched.table is None and searched.keys is not None
    assert torch.equal(searched(u, w), expected)


def test_neighbour_filter_keeps_every_neighbour(mammals, monkeypatch):
    """The padded layout's one-word filter passes every true neighbour: on the mammals, with
    candidates drawn so that a third are neighbours, it answers as the dense table does."""
    pairs = torch.from_numpy(mammals.pairs)
    n = len(mammals.labels)
    dense = poincare_negatives.NeighbourTest(pairs, n)
    monkeypatch.setattr(poincare_negatives.NeighbourTest, "MAX_DENSE", 1)
    padded = poincare_negatives.NeighbourTest(pairs, n)
    assert padded.table is not None
    gen = torch.Generator().manual_seed(0)
    pick = torch.randint(len(pairs), (4000,), generator=gen)
    u = pairs[pick, 0]
    w = torch.randint(n, (4000, 6), generator=gen)
    w[:, 0] = pairs[torch.randint(len(pairs), (4000,), generator=gen), 1]  # some ancestors
    w[:, 1] = pairs[pick, 1]  # u's own ancestors
    w[::7, 2] = u[::7]  # u itself
    expected = dense(u, w)
    assert expected[:, 1].all() and expected[::7, 2].all()
    assert torch.equal(padded(u, w), expected)


def _polar(x: torch.Tensor, grad: torch.Tensor, rows: list[int], direction_lr: float = 0.01):
    table = x.clone()
    buffer = torch.zeros_like(table)
    index = torch.tensor(rows)
    gathered = table[index]
    polar_step(table, index, gathered, gathered.pow(2).sum(-1), grad, buffer, 0.3, direction_lr)
    assert not buffer.any()  # left zero for the next batch
    return table


def test_polar_step_turns_far_points_and_keeps_their_radius():
    x = torch.tensor([[0.0, 0.0, 0.0], [0.99, 0.0, 0.0], [0.0, 0.999, 0.0]], dtype=torch.float64)
    sideways = torch.tensor([[0.0, 2.0, 0.0], [0.0, 0.0, -1.0]], dtype=torch.float64)
    new = _polar(x, sideways, [1, 2])
    assert torch.allclose(new.norm(dim=1), x.norm(dim=1))  # a sideways pull changes no radius
    angle = torch.acos(torch.nn.functional.cosine_similarity(new, x, dim=1).clamp(-1, 1))
    assert math.isclose(float(angle[1]), math.atan(0.02), rel_tol=1e-6)  # step 0.01 x 2
    assert float(new[1, 1]) < 0 and float(new[2, 2]) > 0  # against the gradient
    # a Riemannian step would have turned them by a factor (1 - |x|²)² / 4 less
    riemann = x[1:] - 0.3 * riemannian_scale(x[1:]) * sideways
    riemann_angle = torch.atan2(riemann[:, 1:].abs().sum(1), riemann[:, :1].abs().sum(1))
    assert float(riemann_angle[0]) < float(angle[1]) / 100
    # huge gradients turn by at most atan(DIRECTION_CLIP)
    new = _polar(x, torch.tensor([[0.0, 1e6, 0.0]], dtype=torch.float64), [1])
    assert math.isclose(
        math.atan2(-float(new[1, 1]), float(new[1, 0])), math.atan(0.05), rel_tol=1e-6
    )


def test_polar_step_is_riemannian_along_the_radius_and_near_the_origin():
    x = torch.tensor([[0.1, 0.2, 0.0], [0.0, 0.0, 0.95]], dtype=torch.float64)
    grad = torch.tensor([[1.0, -2.0, 0.5], [0.0, 0.0, -40.0]], dtype=torch.float64)
    new = _polar(x, grad, [0, 1])
    riemann = x - 0.3 * riemannian_scale(x) * grad
    assert torch.allclose(new, riemann)
    # a row named twice moves once, by the sum of its gradients
    twice = _polar(x, torch.cat([grad[1:] / 4, grad[1:] * 3 / 4]), [1, 1])
    assert torch.allclose(twice, riemann.index_copy(0, torch.tensor([0]), x[:1]))


def _plain_polar(x: torch.Tensor, g: torch.Tensor, lr: float, direction_lr: float) -> torch.Tensor:
    """The direction step written out on vectors: radius by Riemannian SGD, direction turned
    on the sphere with the clip, Riemannian near the origin, then projected into the ball."""
    from labelspace.embeddings.geometry import project
    from labelspace.embeddings.poincare_steps import DIRECTION_CLIP, POLAR_MIN_NORM

    norm = x.norm(dim=-1, keepdim=True)
    metric = riemannian_scale(x)
    unit = x / norm.clamp_min(1e-12)
    g_radial = (g * unit).sum(-1, keepdim=True)
    turn = direction_lr * (g - g_radial * unit)
    turn = turn * (DIRECTION_CLIP / turn.norm(dim=-1, keepdim=True).clamp_min(DIRECTION_CLIP))
    direction = torch.nn.functional.normalize(unit - turn, dim=-1)
    polar = (norm - lr * metric * g_radial) * direction
    return project(torch.where(norm > POLAR_MIN_NORM, polar, x - lr * metric * g))


@pytest.mark.parametrize("nodes", [40, 2000])  # the buffer cleared whole, or row by row
def test_polar_step_matches_the_step_written_on_vectors(nodes):
    gen = torch.Generator().manual_seed(0)
    radius = torch.rand(nodes, 1, generator=gen, dtype=torch.float64) * 12
    unit = torch.nn.functional.normalize(torch.randn(nodes, 6, generator=gen, dtype=torch.float64))
    x = torch.tanh(radius / 2) * unit
    x[0] = 0.0  # the root of a layout sits at the origin
    rows = torch.randint(nodes, (300,), generator=gen)
    rows[:3] = torch.tensor([0, 5, 5])  # repeats move once, by the sum of their gradients
    scale = torch.rand(300, 1, generator=gen, dtype=torch.float64) * 100
    grad = torch.randn(300, 6, generator=gen, dtype=torch.float64) * scale
    summed = torch.zeros_like(x).index_add_(0, rows, grad)
    touched = torch.zeros(nodes, dtype=torch.bool)
    touched[rows] = True
    expected = x.clone()
    expected[touched] = _plain_polar(x[touched], summed[touched], 0.3, 0.01)
    got = _polar(x, grad, rows.tolist())
    assert torch.allclose(got, expected, atol=1e-12, rtol=0)
    assert bool((got.norm(dim=1) < 1.0).all())


def test_polar_step_keeps_far_points_in_the_ball_under_huge_gradients():
    """In float32, a huge radial gradient leaves the tangential part orthogonal to x only up to
    rounding far larger than the ball's margin; the rows still end on the clamped edge."""
    from labelspace.embeddings.geometry import max_norm

    gen = torch.Generator().manual_seed(1)
    unit = torch.nn.functional.normalize(torch.randn(500, 10, generator=gen))
    x = unit * torch.tanh(torch.rand(500, 1, generator=gen) + 4.5)  # radius 9 to 11
    grad = -unit * 1e7 + torch.randn(500, 10, generator=gen) * 1e3  # outward, and sideways
    new = _polar(x, grad, list(range(500)))
    assert bool((new.double().norm(dim=1) <= max_norm() + 3e-7).all())  # a few float32 steps


def test_direction_steps_default_on_from_the_layout_only(mammals):
    assert PoincareConfig(init="hierarchy").direction_lr == 0.01
    assert PoincareConfig().direction_lr == 0.0
    assert PoincareConfig(init="hierarchy", manifold="euclidean").direction_lr == 0.0
    with pytest.raises(ValueError, match="--direction-lr"):
        PoincareConfig(direction_lr=-1.0).validate()
    with pytest.raises(ValueError, match="Poincaré ball only"):
        PoincareConfig(manifold="euclidean", direction_lr=0.01).validate()
    h = mammals.hierarchy
    losses = {}
    for lr in (0.0, 0.01):
        cfg = PoincareConfig(dim=5, epochs=15, init="hierarchy", direction_lr=lr)
        result = train_poincare(mammals.pairs, len(mammals.labels), cfg, hierarchy=h)
        losses[lr] = result.final_loss
    assert losses[0.01] < losses[0.0] * 0.9, losses


def test_lr_factors_scale_the_direction_steps_too(mammals):
    h, n = mammals.hierarchy, len(mammals.labels)
    cfg = PoincareConfig(dim=5, epochs=2, init="hierarchy", lr=0.15, direction_lr=0.005)
    doubled = PoincareConfig(dim=5, epochs=2, init="hierarchy", lr=0.3, direction_lr=0.01)
    scaled = train_poincare(mammals.pairs, n, cfg, hierarchy=h, lr_factors=[2.0, 2.0])
    assert torch.equal(
        scaled.vectors, train_poincare(mammals.pairs, n, doubled, hierarchy=h).vectors
    )


def _batch_by_batch(pairs: np.ndarray, n: int, cfg: PoincareConfig, hierarchy=None) -> torch.Tensor:
    """The trainer written plainly: one batch at a time, gradients as in the paper's terms.

    :func:`train_poincare` draws the negatives of many batches at once, gathers and scatters
    all rows of a batch together and projects only rows that left the ball; for the same seed
    it must give exactly this.
    """
    from labelspace.embeddings.geometry import BOUNDARY_EPS, project

    gen = torch.Generator().manual_seed(cfg.seed)
    pairs_t = torch.from_numpy(pairs)
    related = torch.zeros(n, n, dtype=torch.bool)  # related[u, v]: (u, v) is a closure pair
    related[pairs_t[:, 0], pairs_t[:, 1]] = True
    counts = torch.ones(n, dtype=torch.float64)
    counts.index_add_(0, pairs_t[:, 1], torch.ones(len(pairs_t), dtype=torch.float64))
    unigram = counts.pow(0.75)
    unigram /= unigram.sum()
    if cfg.init == "hierarchy":
        table = hierarchy_layout(hierarchy, cfg)
    else:
        table = (
            torch.rand(n, cfg.dim, generator=gen, dtype=torch.float64) * 2 - 1
        ) * cfg.init_range
    table = table.to(getattr(torch, cfg.dtype))
    poincare = cfg.manifold == "poincare"
    for epoch in range(cfg.epochs):
        burnin = epoch < cfg.burnin_epochs
        lr = cfg.lr * (cfg.burnin_lr_factor if burnin else 1.0)
        order = torch.randperm(len(pairs_t), generator=gen)
        for b0 in range(0, len(order), cfg.batch_size):
            batch = pairs_t[order[b0 : b0 + cfg.batch_size]]
            u, b = batch[:, 0], len(batch)
            if burnin:
                neg = torch.multinomial(unigram, b * cfg.negatives, replacement=True, generator=gen)
                neg = neg.view(b, cfg.negatives)
            else:
                neg = torch.randint(n, (b, cfg.negatives), generator=gen)
            invalid = torch.zeros(b, cfg.negatives + 1, dtype=torch.bool)
            invalid[:, 1:] = related[u.unsqueeze(1), neg] | (neg == u.unsqueeze(1))
            cand = torch.cat([batch[:, 1:2], neg], dim=1)
            x, y = table[u], table[cand]
            diff = x.unsqueeze(1) - y
            sq = diff.pow(2).sum(-1)
            if poincare:
                alpha = (1.0 - x.pow(2).sum(-1, keepdim=True)).clamp_min(BOUNDARY_EPS)
                beta = (1.0 - y.pow(2).sum(-1)).clamp_min(BOUNDARY_EPS)
                gamma = 1.0 + 2.0 * sq / (alpha * beta)
                root = torch.sqrt((gamma.pow(2) - 1.0).clamp_min(1e-12))
                dist = torch.log(gamma + root)
            else:
                dist = sq.clamp_min(1e-18).sqrt()
            logp = torch.log_softmax((-dist).masked_fill(invalid, -math.inf), dim=1)
            g = -logp.exp()
            g[:, 0] += 1.0
            if poincare:
                cx = g / root * 4.0 / (alpha * beta)
                gx = torch.bmm(cx.unsqueeze(1), diff).squeeze(1)
                gx = gx + (cx * sq).sum(1, keepdim=True) / alpha * x
                gy = torch.addcmul(
                    y * (cx * sq / beta).unsqueeze(-1), diff, cx.unsqueeze(-1), value=-1.0
                )
                gx, gy = gx * riemannian_scale(x), gy * riemannian_scale(y)
            else:
                unit = diff * (g / dist)[..., None]
                gx, gy = unit.sum(1), -unit
            rows = torch.cat([u, cand.reshape(-1)])
            table.index_add_(0, rows, torch.cat([gx, gy.reshape(-1, cfg.dim)]).mul_(-lr))
            if poincare:
                table.index_copy_(0, rows, project(table[rows]))
    return table.float()


@pytest.mark.parametrize(
    "cfg",
    [
        pytest.param(  # the longest; at-the-edge burns in too, in the fast suite
            PoincareConfig(dim=5, epochs=4, burnin_epochs=2, batch_size=100, seed=3),
            marks=pytest.mark.slow,
        ),
        PoincareConfig(dim=3, epochs=3, burnin_epochs=1, lr=5.0, negatives=7, seed=1),
        PoincareConfig(dim=4, epochs=3, manifold="euclidean", dtype="float64"),
    ],
    ids=["burn-in", "at-the-edge", "euclidean"],
)
@pytest.mark.parametrize("layout", ["dense", "padded"])
def test_trainer_gives_exactly_the_batch_by_batch_result(mammals, monkeypatch, cfg, layout):
    monkeypatch.setattr(poincare_negatives, "BLOCK_CELLS", 20_000)  # several blocks per epoch
    if layout == "padded":
        monkeypatch.setattr(poincare_negatives.NeighbourTest, "MAX_DENSE", 1)
    n = len(mammals.labels)
    expected = _batch_by_batch(mammals.pairs, n, cfg)
    assert torch.equal(train_poincare(mammals.pairs, n, cfg).vectors, expected)
