"""Opening and decoding one image file: the guarded opener every reader of image files uses.

Decompression bombs are refused, not warned about: an image with more pixels than
``PIL.Image.MAX_IMAGE_PIXELS`` (89,478,485 by default; raise it there for genuinely huge images)
is refused from its header, before it is decoded, with an error naming the file, its pixel count
and the limit. PIL itself only warns between one and two times the limit and decodes anyway.

- :func:`load_rgb` (datasets) raises PIL's errors (``OSError``, ``Image.DecompressionBombError``),
  which ``ssl_data``'s invalid-image handling counts and replaces;
- :func:`open_image` (preparers, benchmark readers that stop at a bad file) raises one
  :class:`UnreadableImageError` (a ``ValueError``) naming the file and what is wrong with it.
"""

from __future__ import annotations

import os
import re
import warnings

from PIL import Image

from ssl_data.invalid_images import DECODE_ERRORS

__all__ = ["IMAGE_EXTENSIONS", "UnreadableImageError", "load_rgb", "open_image"]

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
_BAND_PIXELS = 1 << 20  # pixels composited at a time (see _to_rgb)


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


class UnreadableImageError(ValueError):
    """An image file that cannot be read: not an image, truncated, corrupt, or over the pixel
    limit (a possible decompression bomb). The message is one line naming the file."""


def _decode(img: Image.Image, path: str | os.PathLike[str]) -> None:
    """Decode the pixels now; any exception a broken file makes a decoder raise becomes ``OSError``."""
    try:
        img.load()
    except (OSError, Image.DecompressionBombError):
        raise
    except Exception as err:  # noqa: BLE001 - a corrupt file can make a decoder raise anything
        raise OSError(f"{os.fspath(path)}: cannot decode the image ({type(err).__name__}: {err})") from err


def _to_rgb(img: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """RGB copy of a decoded image: transparency composited onto ``background``, 16-bit grey scaled.

    Transparent images are composited a band of rows at a time (about 2**20 pixels), so besides
    the decoded image and its RGB copy only one band is held (composited whole, a 40-Mpixel RGBA
    PNG took four full-size copies: 600 MB); the result is the same pixel for pixel."""
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    if has_alpha:
        out = Image.new("RGB", img.size, background)
        rows = max(1, _BAND_PIXELS // max(1, img.width))
        for top in range(0, img.height, rows):
            band = img.crop((0, top, img.width, min(img.height, top + rows)))
            canvas = Image.new("RGBA", band.size, (*background, 255))
            canvas.alpha_composite(band if band.mode == "RGBA" else band.convert("RGBA"))
            out.paste(canvas.convert("RGB"), (0, top))
        return out
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grey: PIL's convert("RGB") clips at 255; rescale to 8 bits first.
        return img.point(lambda v: v / 256).convert("L").convert("RGB")
    return img.convert("RGB")


def load_rgb(path: str | os.PathLike[str], background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Open an image file fully and return it as an RGB PIL image.

    Transparent pixels (RGBA, LA, or a palette/grey image with a transparency entry) are
    composited onto ``background`` instead of keeping the arbitrary colour stored under them.
    Errors from a missing, truncated or undecodable file propagate as ``OSError`` (PIL's
    ``UnidentifiedImageError`` included; any other exception PIL raises while decoding a broken
    file is turned into one ``OSError`` naming the path) or ``Image.DecompressionBombError``
    (over ``PIL.Image.MAX_IMAGE_PIXELS``); the invalid-image handling of ``ssl_data`` catches them.
    """
    with _open_checked(path) as img:
        _decode(img, path)
        return _to_rgb(img, background)


def open_image(
    path: str | os.PathLike[str], *, what: str = "image", decode: bool = True, rgb: bool = False
) -> Image.Image:
    """Open an image file, refusing decompression bombs from the header; errors are one line.

    Args:
        path: the file.
        what: how the message names the file ("mask", "depth map", ...).
        decode: decode the pixels now, so that a truncated or corrupt file fails here; False
            reads the header only (size, mode), for callers that need no pixels.
        rgb: return an RGB copy made as :func:`load_rgb` makes it (implies ``decode``).

    Returns:
        the PIL image in the file's own mode (use it in a ``with`` block), or its RGB copy.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnreadableImageError: not an image, truncated, corrupt, or more pixels than
            ``PIL.Image.MAX_IMAGE_PIXELS``; the message names ``what``, the file and the reason.
    """
    try:
        img = _open_checked(path)
    except FileNotFoundError:
        raise
    except Image.DecompressionBombError as err:  # its message starts with the path
        raise UnreadableImageError(f"cannot read {what} {err}") from None
    except DECODE_ERRORS as err:
        raise UnreadableImageError(f"cannot read {what} {os.fspath(path)}: {err}") from None
    if not (decode or rgb):
        return img
    try:
        _decode(img, path)
        return _to_rgb(img, (255, 255, 255)) if rgb else img
    except OSError as err:
        img.close()
        raise UnreadableImageError(f"cannot read {what} {os.fspath(path)}: {err}") from None
    finally:
        if rgb:
            img.close()
