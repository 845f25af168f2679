"""Decoding one image file to an RGB PIL image (palettes, alpha, grey and 16-bit modes).

Decompression bombs are refused, not warned about: an image with more pixels than
``PIL.Image.MAX_IMAGE_PIXELS`` (89,478,485 by default; raise it there for genuinely huge images)
raises ``PIL.Image.DecompressionBombError`` naming the file, its pixel count and the limit, before
it is decoded. PIL itself only warns between one and two times the limit and decodes anyway.
"""

from __future__ import annotations

import os
import re
import warnings

from PIL import Image

__all__ = ["IMAGE_EXTENSIONS", "load_rgb"]

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def _bomb_error(path: str | os.PathLike[str], pixels: str) -> Image.DecompressionBombError:
    return Image.DecompressionBombError(
        f"{os.fspath(path)}: {pixels} pixels exceed the limit of {Image.MAX_IMAGE_PIXELS:,} "
        "(PIL.Image.MAX_IMAGE_PIXELS); refused as a possible decompression bomb"
    )


def _open_checked(path: str | os.PathLike[str]) -> Image.Image:
    """``Image.open`` (lazy: header only) that refuses images over the pixel limit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(path)
        except Image.DecompressionBombError as err:  # over twice the limit: PIL's own refusal
            found = re.search(r"\((\d+) pixels\)", str(err))
            raise _bomb_error(path, f"{int(found.group(1)):,}" if found else "more than twice the") from None
    limit = Image.MAX_IMAGE_PIXELS
    width, height = img.size
    if limit is not None and width * height > limit:
        img.close()
        raise _bomb_error(path, f"{width}x{height} = {width * height:,}")
    return img


def load_rgb(path: str | os.PathLike[str], background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Open an image file fully and return it as an RGB PIL image.

    Transparent pixels (RGBA, LA, or a palette/grey image with a transparency entry) are
    composited onto ``background`` instead of keeping the arbitrary colour stored under them.
    Errors from a missing, truncated or undecodable file propagate as ``OSError`` (PIL's
    ``UnidentifiedImageError`` included; any other exception PIL raises while decoding a broken
    file is turned into one ``OSError`` naming the path) or ``Image.DecompressionBombError``
    (over ``PIL.Image.MAX_IMAGE_PIXELS``); the invalid-image handling of ``ssl_data`` catches them.
    """
    img = _open_checked(path)
    with img:
        try:
            img.load()
        except (OSError, Image.DecompressionBombError):
            raise
        except Exception as err:  # noqa: BLE001 - a corrupt file can make a decoder raise anything
            raise OSError(f"{os.fspath(path)}: cannot decode the image ({type(err).__name__}: {err})") from err
        has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
        if has_alpha:
            rgba = img.convert("RGBA")
            canvas = Image.new("RGBA", rgba.size, (*background, 255))
            canvas.alpha_composite(rgba)
            return canvas.convert("RGB")
        if img.mode in ("I;16", "I;16B", "I;16L", "I"):
            # 16/32-bit grey: PIL's convert("RGB") clips at 255; rescale to 8 bits first.
            return img.point(lambda v: v / 256).convert("L").convert("RGB")
        return img.convert("RGB")
