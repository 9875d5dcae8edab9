"""The methods, one module per family, and the registry they enter when this package loads.

A family module (``softmax``, ``poincare``, ``cosine``, ``devise``, ``haf``, ``hsoftmax``)
holds its heads, its losses (which own the class scores) and the :func:`register` calls
that name its methods. This package imports every module in its folder, so a new method is
one new file here (and its tests): nothing else lists methods. The shared loss base classes
are in :mod:`labelspace.models.methods.base`, the registry in
:mod:`labelspace.models.methods.registry`.
"""

from __future__ import annotations

import importlib
import pkgutil

from labelspace.models.methods.registry import METHODS, Method, get_method, register

__all__ = ["METHODS", "Method", "get_method", "register"]

_INFRASTRUCTURE = {"base", "registry"}

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in _INFRASTRUCTURE:
        importlib.import_module(f"{__name__}.{_module.name}")
