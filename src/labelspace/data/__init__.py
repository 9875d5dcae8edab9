"""Image datasets for labelspace: loading into memory, splits, transforms.

Start with :func:`load_dataset`; it returns an :class:`ImageData` whose splits are
:class:`InMemoryImages` with transforms set and whose classes carry WordNet synsets. The
modules hold the rest: ``datasets`` (the entry point), ``named`` (the registry of named
datasets: mapping, pixel statistics, augmentation, loaders), ``layouts`` (datasets on disk),
``shards`` (packed datasets), ``fashion_mnist``, ``folders`` (decoding a listing), ``images``,
``streaming``, ``storage`` (memory or streaming), ``probe`` (statistics of a sample),
``splits`` (stratified splits and samples), ``transforms`` and ``errors``.
"""

from labelspace.data.datasets import ImageData, load_dataset
from labelspace.data.errors import DatasetError
from labelspace.data.images import InMemoryImages

__all__ = ["DatasetError", "ImageData", "InMemoryImages", "load_dataset"]
