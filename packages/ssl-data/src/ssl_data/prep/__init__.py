"""Data-prep tools behind ``ssl data prepare NAME -i IN -o OUT`` (VISSL's unified interface)."""

from ssl_data.prep.benchmark_filelists import VOC_CLASSES, VOC_LIST_TO_TARGET
from ssl_data.prep.color_bins import colorization_bins
from ssl_data.prep.copydays import COPYDAYS_CROPS, COPYDAYS_JPEG_QUALITIES, copydays_split
from ssl_data.prep.download import DOWNLOADS, DownloadError, download_dataset, download_torchvision_dataset, download_urls
from ssl_data.prep.jigsaw_permutations import generate_jigsaw_permutations
from ssl_data.prep.low_shot import sample_voc_low_shot
from ssl_data.prep.registry import PREPARERS, prepare, preparer_options
from ssl_data.prep.tool_options import parse_tool_options

__all__ = [
    "COPYDAYS_CROPS",
    "COPYDAYS_JPEG_QUALITIES",
    "DOWNLOADS",
    "DownloadError",
    "PREPARERS",
    "VOC_CLASSES",
    "VOC_LIST_TO_TARGET",
    "colorization_bins",
    "copydays_split",
    "download_dataset",
    "download_torchvision_dataset",
    "download_urls",
    "generate_jigsaw_permutations",
    "parse_tool_options",
    "prepare",
    "preparer_options",
    "sample_voc_low_shot",
]
