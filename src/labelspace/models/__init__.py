"""Models: backbones, heads, losses, the method registry (``methods``) and decoding.

Import from the modules (``labelspace.models.backbones`` ...): this package imports nothing,
so that the option defaults in ``labelspace.models.options`` load without torch.
"""
