"""Data sources, catalog, transforms, collators, samplers and data-prep tools for self-supervised learning."""

from ssl_data.__about__ import __version__
from ssl_data.catalog import catalog_add, catalog_list, catalog_path, catalog_remove, catalog_show, dataset_from_catalog
from ssl_data.dataset import SSLDataset
from ssl_data.invalid_images import TooManyInvalidImagesError
from ssl_data.loader import SSLDataLoader, build_loader
from ssl_data.sources.fashion_mnist_fetch import locate_fashion_mnist
from ssl_data.sampling import StatefulDistributedSampler, per_sample_uniforms, sample_seed, worker_init_fn
from ssl_data.sources import (
    FASHION_MNIST_CLASSES,
    FileListSource,
    ImageFolderSource,
    MultiSourceDataset,
    SyntheticImageDataset,
    TensorImageDataset,
    TorchvisionSource,
    default_dataset,
    limit_dataset,
    load_digits,
    load_fashion_mnist,
)

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FileListSource",
    "ImageFolderSource",
    "MultiSourceDataset",
    "SSLDataLoader",
    "SSLDataset",
    "StatefulDistributedSampler",
    "SyntheticImageDataset",
    "TensorImageDataset",
    "TooManyInvalidImagesError",
    "TorchvisionSource",
    "__version__",
    "build_loader",
    "catalog_add",
    "catalog_list",
    "catalog_path",
    "catalog_remove",
    "catalog_show",
    "dataset_from_catalog",
    "default_dataset",
    "limit_dataset",
    "load_digits",
    "FASHION_MNIST_CLASSES",
    "load_fashion_mnist",
    "locate_fashion_mnist",
    "per_sample_uniforms",
    "sample_seed",
    "worker_init_fn",
]

# --- part B: transforms, collators, data-prep tools (owned by the transforms/collators engineer)
from ssl_data.collators import COLLATORS, build_collator  # noqa: E402
from ssl_data.prep import PREPARERS, prepare  # noqa: E402
from ssl_data.transforms import (  # noqa: E402
    VISSL_TRANSFORMS,
    BatchedSimCLRAugment,
    MultiView,
    VisslTransforms,
    barlow_twins_transform,
    build_transform,
    byol_transform,
    dino_transform,
    moco_v2_transform,
    multicrop_transform,
    simclr_transform,
)

__all__ += [
    "COLLATORS",
    "PREPARERS",
    "VISSL_TRANSFORMS",
    "BatchedSimCLRAugment",
    "MultiView",
    "VisslTransforms",
    "barlow_twins_transform",
    "build_collator",
    "build_transform",
    "byol_transform",
    "dino_transform",
    "moco_v2_transform",
    "multicrop_transform",
    "prepare",
    "simclr_transform",
]
