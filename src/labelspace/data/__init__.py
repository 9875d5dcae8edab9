"""Image datasets for labelspace: loading into memory, splits, transforms.

Start with :func:`load_dataset`; it returns an :class:`ImageData` whose splits are
:class:`InMemoryImages` with transforms set and whose classes carry WordNet synsets.
"""

from labelspace.data.datasets import (
    DATASET_SPECS,
    ImageData,
    default_torchvision_root,
    load_dataset,
)
from labelspace.data.errors import (
    ClassMismatchError,
    CorruptImageError,
    DatasetError,
    DatasetNotFoundError,
    EmptyClassError,
    IdxFormatError,
    ImageSizeError,
)
from labelspace.data.fashion_mnist import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    load_fashion_mnist,
    read_fashion_mnist,
    read_idx,
)
from labelspace.data.folders import (
    IMAGE_EXTENSIONS,
    decode_images,
    load_image_folder,
    scan_image_folder,
)
from labelspace.data.images import InMemoryImages, filter_classes
from labelspace.data.splits import stratified_split, val_count
from labelspace.data.transforms import (
    AUGMENTATIONS,
    DATASET_STATS,
    Normalize,
    channel_stats,
    default_augmentation,
    eval_transform,
    train_transform,
)

__all__ = [
    "AUGMENTATIONS",
    "DATASET_SPECS",
    "DATASET_STATS",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR",
    "IMAGE_EXTENSIONS",
    "ClassMismatchError",
    "CorruptImageError",
    "DatasetError",
    "DatasetNotFoundError",
    "EmptyClassError",
    "IdxFormatError",
    "ImageData",
    "ImageSizeError",
    "InMemoryImages",
    "Normalize",
    "channel_stats",
    "decode_images",
    "default_augmentation",
    "default_torchvision_root",
    "eval_transform",
    "filter_classes",
    "load_dataset",
    "load_fashion_mnist",
    "load_image_folder",
    "read_fashion_mnist",
    "read_idx",
    "scan_image_folder",
    "stratified_split",
    "train_transform",
    "val_count",
]
