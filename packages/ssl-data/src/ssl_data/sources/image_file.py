"""Decoding one image file to an RGB PIL image (palettes, alpha, grey and 16-bit modes)."""

from __future__ import annotations

import os

from PIL import Image

__all__ = ["IMAGE_EXTENSIONS", "load_rgb"]

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def load_rgb(path: str | os.PathLike[str], background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Open an image file fully and return it as an RGB PIL image.

    Transparent pixels (RGBA, LA, or a palette/grey image with a transparency entry) are
    composited onto ``background`` instead of keeping the arbitrary colour stored under them.
    Errors from a missing, truncated or undecodable file propagate (``OSError``,
    ``PIL.UnidentifiedImageError``, ``ValueError``, ``Image.DecompressionBombError``); the
    invalid-image handling of ``ssl_data`` catches them.
    """
    with Image.open(path) as img:
        img.load()
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
