"""Image datasets for labelspace: loading into memory, splits, transforms.

Start with :func:`load_dataset`; it returns an :class:`ImageData` whose splits are
:class:`InMemoryImages` with transforms set and whose classes carry WordNet synsets. The
modules hold the rest: ``datasets`` (sources and layouts), ``fashion_mnist``, ``folders``
(ImageFolder trees), ``images``, ``splits``, ``transforms`` and ``errors``.
"""

from labelspace.data.datasets import ImageData, load_dataset
from labelspace.data.errors import DatasetError
from labelspace.data.images import InMemoryImages

__all__ = ["DatasetError", "ImageData", "InMemoryImages", "load_dataset"]
