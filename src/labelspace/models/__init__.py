"""Models: backbones, shared heads, the methods (``methods``: a package, one module per family,
with the registry) and decoding.

Import from the modules (``labelspace.models.backbones`` ...): this package imports nothing,
so that the option defaults in ``labelspace.models.options`` load without torch.
"""
