"""L-inf adversarial attacks (FGSM and PGD) and class scores of a whole attacked data set.

A small, self-contained implementation so that robustness can be measured the same way for
every label-space method. Images are float pixels in [0, 1]; ``forward`` does any
normalisation itself, so the eps-ball and the [0, 1] box are in pixel space, as in the papers
(Goodfellow et al. 2015 for FGSM, Madry et al. 2018 for PGD).

The attacks never touch the model: they take gradients with respect to the images only
(``torch.autograd.grad``), so parameter ``.grad`` fields and the train/eval mode stay as they
were. Put the model in eval mode before attacking it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

log = logging.getLogger(__name__)

Forward = Callable[[torch.Tensor], torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
ScoresFn = Callable[[torch.Tensor], torch.Tensor]


# ----------------------------------------------------------------------------- checks
def _check_eps(eps: float) -> float:
    eps = float(eps)
    if not math.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be a finite number >= 0, got {eps}")
    return eps


def _check_images(images: torch.Tensor, targets: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        raise ValueError("images must be a floating-point tensor of pixels in [0, 1]")
    if images.ndim < 1 or images.shape[0] != len(targets):
        raise ValueError(
            f"images and targets must have the same length, got {tuple(images.shape)} images "
            f"and {len(targets)} targets"
        )
    if images.numel() and (images.min() < 0 or images.max() > 1):
        raise ValueError(
            f"images must be pixels in [0, 1] (normalise inside forward), got values in "
            f"[{float(images.min()):.3g}, {float(images.max()):.3g}]"
        )


def _input_gradient(
    forward: Forward, loss_fn: LossFn, images: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """d loss / d images, without touching any parameter's ``.grad``."""
    x = images.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        loss = loss_fn(forward(x), targets)
        if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
            shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
            raise ValueError(f"loss_fn must return a scalar tensor, got {shape}")
        if not loss.requires_grad:
            raise ValueError(
                "the loss does not depend on the images through autograd (is forward running "
                "under torch.no_grad or detaching its input?)"
            )
        (grad,) = torch.autograd.grad(loss, x, allow_unused=True)
    return torch.zeros_like(images) if grad is None else grad.detach()


# ----------------------------------------------------------------------------- attacks
def fgsm(
    forward: Forward,
    loss_fn: LossFn,
    images: torch.Tensor,
    targets: torch.Tensor,
    eps: float,
) -> torch.Tensor:
    """Fast gradient sign method: one step of size ``eps`` along sign(grad of the loss).

    Returns ``clamp(x + eps * sign(d loss / d x), 0, 1)``, detached; ``eps=0`` returns a copy
    of the input.
    """
    eps = _check_eps(eps)
    _check_images(images, targets)
    if eps == 0:
        return images.detach().clone()
    grad = _input_gradient(forward, loss_fn, images, targets)
    return (images.detach() + eps * grad.sign()).clamp_(0, 1)


def pgd(
    forward: Forward,
    loss_fn: LossFn,
    images: torch.Tensor,
    targets: torch.Tensor,
    eps: float,
    *,
    steps: int = 10,
    step_size: float | None = None,
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Projected gradient descent (Madry et al.): signed-gradient ascent on the loss, projected
    after every step to the L-inf ball of radius ``eps`` around the images and to [0, 1].

    ``step_size`` defaults to ``2.5 * eps / steps``. With ``random_start`` the walk starts at a
    uniform random point of the ball, drawn from ``generator`` (so a seeded generator repeats
    the attack exactly). ``eps=0`` returns a copy of the input.
    """
    eps = _check_eps(eps)
    _check_images(images, targets)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if step_size is None:
        step_size = 2.5 * eps / steps
    step_size = float(step_size)
    if not math.isfinite(step_size) or step_size < 0:
        raise ValueError(f"step_size must be a finite number >= 0, got {step_size}")
    clean = images.detach()
    if eps == 0:
        return clean.clone()
    low, high = (clean - eps).clamp_(0, 1), (clean + eps).clamp_(0, 1)
    x = clean.clone()
    if random_start:
        device = generator.device if generator is not None else clean.device
        noise = torch.rand(clean.shape, generator=generator, device=device, dtype=clean.dtype)
        x = torch.minimum(torch.maximum(x + (2 * noise.to(clean.device) - 1) * eps, low), high)
    for _ in range(steps):
        grad = _input_gradient(forward, loss_fn, x, targets)
        x = torch.minimum(torch.maximum(x + step_size * grad.sign(), low), high)
    return x


ATTACKS: dict[str, Callable[..., torch.Tensor]] = {"fgsm": fgsm, "pgd": pgd}


def attack(
    name: str,
    *inputs: Any,
    steps: int = 10,
    seed: int = 0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Run the attack called ``name`` (a key of :data:`ATTACKS`) on ``inputs`` (``forward,
    loss_fn, images, targets, eps``, as :func:`pgd` takes them) with a generator seeded by
    ``seed`` unless one is given, so that the same call gives the same images. ``steps`` is
    ignored by FGSM."""
    generator = generator if generator is not None else torch.Generator().manual_seed(seed)
    return _apply(_check_name(name), inputs, steps=steps, generator=generator)


def _check_name(name: str) -> str:
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; choose one of {', '.join(sorted(ATTACKS))}")
    return name


def _apply(
    name: str, inputs: tuple[Any, ...], *, steps: int, generator: torch.Generator
) -> torch.Tensor:
    if name == "fgsm":
        return fgsm(*inputs)
    return pgd(*inputs, steps=steps, generator=generator)


def attack_dataset(
    forward: Forward,
    loss_fn: LossFn,
    scores_fn: ScoresFn,
    images_uint8: torch.Tensor,
    targets: torch.Tensor,
    eps_list: Sequence[float],
    *,
    attack: str = "pgd",
    steps: int = 10,
    batch_size: int = 256,
    seed: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
    device: torch.device | str | None = None,
) -> dict[float, torch.Tensor]:
    """Class scores of the attacked images, for every eps: ``{eps: (N, C) scores}`` on the CPU.

    Batch by batch, the uint8 images are scaled to [0, 1], attacked, passed through
    ``forward`` and turned into class scores (higher is better) by ``scores_fn``. ``eps=0``
    gives the clean scores. Batches move to ``device`` when given. ``on_progress(done, total)``
    is called after every batch, counting images over all eps.
    """
    name = _check_name(attack)
    if not isinstance(images_uint8, torch.Tensor) or images_uint8.dtype != torch.uint8:
        raise ValueError("images_uint8 must be a uint8 tensor of shape (N, C, H, W)")
    if images_uint8.ndim != 4:
        raise ValueError(
            f"images_uint8 must have shape (N, C, H, W), got {tuple(images_uint8.shape)}"
        )
    n = images_uint8.shape[0]
    if n == 0:
        raise ValueError("no images to attack")
    if len(targets) != n:
        raise ValueError(f"{n} images but {len(targets)} targets: they must have the same length")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    eps_values = [_check_eps(e) for e in eps_list]
    if not eps_values:
        raise ValueError("eps_list is empty: give at least one eps (0 for the clean scores)")
    targets = torch.as_tensor(targets)
    total, done = len(eps_values) * n, 0
    out: dict[float, torch.Tensor] = {}
    for eps in eps_values:
        generator = torch.Generator().manual_seed(seed)
        parts = []
        for start in range(0, n, batch_size):
            x = images_uint8[start : start + batch_size]
            y = targets[start : start + batch_size]
            if device is not None:
                x, y = x.to(device), y.to(device)
            x = x.float() / 255
            if eps > 0:
                inputs = (forward, loss_fn, x, y, eps)
                x = _apply(name, inputs, steps=steps, generator=generator)
            with torch.no_grad():
                parts.append(scores_fn(forward(x)).detach().cpu())
            done += len(y)
            if on_progress is not None:
                on_progress(done, total)
        out[eps] = torch.cat(parts)
        log.debug("attack %s eps=%g: scores %s", name, eps, tuple(out[eps].shape))
    return out
