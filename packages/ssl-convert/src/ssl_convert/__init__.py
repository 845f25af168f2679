"""Checkpoint converters between ssl, torchvision, VISSL, detectron2, ClassyVision and timm formats, with verification."""

from ssl_convert.__about__ import __version__
from ssl_convert.convert import OUTPUT_FORMATS, ConversionReport, convert
from ssl_convert.detect import INPUT_FORMATS, detect_format
from ssl_convert.errors import (
    ArchKwargsError,
    ConversionError,
    FormatError,
    KeyMappingError,
    UnsafeLoadError,
    VerificationError,
)
from ssl_convert.reading import read_file

__all__ = [
    "INPUT_FORMATS",
    "OUTPUT_FORMATS",
    "ArchKwargsError",
    "ConversionError",
    "ConversionReport",
    "FormatError",
    "KeyMappingError",
    "UnsafeLoadError",
    "VerificationError",
    "__version__",
    "convert",
    "detect_format",
    "read_file",
]
