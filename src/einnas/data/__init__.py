"""Data sets for training evaluators: MNIST-1D, Fashion-MNIST and Unseen-NAS folders."""

from einnas.data.datasets import (
    FASHION_MNIST_DIR,
    SPLITS,
    Dataset,
    DatasetError,
    cache_dir,
    canonical_dataset_name,
    fashion_mnist_arrays,
    load_dataset,
    load_fashion_mnist,
    load_folder,
    load_mnist1d,
    normalise_per_channel,
)

__all__ = [
    "FASHION_MNIST_DIR",
    "SPLITS",
    "Dataset",
    "DatasetError",
    "cache_dir",
    "canonical_dataset_name",
    "fashion_mnist_arrays",
    "load_dataset",
    "load_fashion_mnist",
    "load_folder",
    "load_mnist1d",
    "normalise_per_channel",
]
