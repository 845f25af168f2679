"""Data sources: where images and labels come from (VISSL's DATA_SOURCES)."""

from ssl_data.sources.data_limit import data_limit_indices, limit_dataset
from ssl_data.sources.default import default_dataset
from ssl_data.sources.digits import load_digits
from ssl_data.sources.disk_filelist import FileListSource, rewrite_path_prefix
from ssl_data.sources.fashion_mnist import (
    DEFAULT_FASHION_MNIST_ROOT,
    FASHION_MNIST_CLASSES,
    fashion_mnist_available,
    load_fashion_mnist,
    read_idx,
)
from ssl_data.sources.image_file import IMAGE_EXTENSIONS, UnreadableImageError, load_rgb, open_image
from ssl_data.sources.image_folder import ImageFolderSource
from ssl_data.sources.label_type import LABEL_TYPES, apply_label_type, check_label_type
from ssl_data.sources.multi_source import MultiSourceDataset
from ssl_data.sources.synthetic import SyntheticImageDataset
from ssl_data.sources.tensor_dataset import TensorImageDataset
from ssl_data.sources.torchvision_local import TORCHVISION_DATASETS, TorchvisionSource

__all__ = [
    "DEFAULT_FASHION_MNIST_ROOT",
    "IMAGE_EXTENSIONS",
    "LABEL_TYPES",
    "TORCHVISION_DATASETS",
    "FileListSource",
    "ImageFolderSource",
    "MultiSourceDataset",
    "SyntheticImageDataset",
    "TensorImageDataset",
    "TorchvisionSource",
    "UnreadableImageError",
    "apply_label_type",
    "check_label_type",
    "data_limit_indices",
    "default_dataset",
    "FASHION_MNIST_CLASSES",
    "fashion_mnist_available",
    "limit_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_rgb",
    "open_image",
    "read_idx",
    "rewrite_path_prefix",
]
