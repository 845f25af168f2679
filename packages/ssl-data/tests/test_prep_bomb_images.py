"""Preparers that read images refuse decompression bombs: a real PNG whose header claims 90 million
pixels (over ``PIL.Image.MAX_IMAGE_PIXELS``, where PIL itself only warns and decodes) stops the
preparer with one ``UnreadableImageError`` line naming the file, before anything is written."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_invalid_images import _bomb_png
from test_prep_folder_modes import pets_layout
from test_prep_virb_datasets import _egohands, _png16_rgb, _rgb

from ssl_data.prep import prepare
from ssl_data.prep.color_bins import colorization_bins
from ssl_data.sources import UnreadableImageError

BOMB = _bomb_png(10_000, 9_000)  # 90,000,000 pixels in about 11 kB
LIMIT = "10000x9000 = 90,000,000 pixels exceed the limit of 89,478,485 (PIL.Image.MAX_IMAGE_PIXELS)"


def _pets(tmp: Path, bomb: str) -> None:
    pets = pets_layout(tmp / "in")
    (pets / ("annotations/trimaps/pug_2.png" if bomb == "trimap" else "images/pug_2.jpg")).write_bytes(BOMB)
    prepare("pets_masks", tmp / "in", tmp / "out")


def _egohands_frame(tmp: Path) -> None:
    pytest.importorskip("scipy")
    _egohands(tmp / "in" / "egohands_data", {"CARDS_OFFICE_B_S": [(1, 2, 4, 6)], "CHESS_COURTYARD_H_T": [(5, 5, 7, 8)]})
    target = tmp / "in" / "egohands_data" / "_LABELLED_SAMPLES" / "CHESS_COURTYARD_H_T" / "frame_0000.jpg"
    target.write_bytes(BOMB)
    prepare("egohands", tmp / "in", tmp / "out", val_fraction=0.5)


def _kitti(tmp: Path, bomb: str) -> None:
    root = tmp / "in" / "training"
    for i in range(2):
        _rgb(root / "image_2" / f"{i:06d}_10.png")
        _rgb(root / "image_2" / f"{i:06d}_11.png")
        _png16_rgb(root / "flow_occ" / f"{i:06d}_10.png", np.full((4, 6, 3), 2**15, dtype=np.uint16))
    target = root / ("image_2/000001_11.png" if bomb == "frame" else "flow_occ/000001_10.png")
    target.write_bytes(BOMB)
    prepare("kitti_flow", tmp / "in", tmp / "out")


def _lvis(tmp: Path) -> None:
    folder = tmp / "in" / "train" / "n07739125"
    folder.mkdir(parents=True)
    Image.new("RGB", (5, 3)).save(folder / "a.JPEG")
    (folder / "b.JPEG").write_bytes(BOMB)
    lvis = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "apple", "wnid": "n07739125"}]}
    (tmp / "lvis.json").write_text(json.dumps(lvis))
    prepare("imagenet_lvis", tmp / "in", tmp / "out", lvis_path=tmp / "lvis.json")


def _color_bins(tmp: Path) -> None:
    good = _rgb(tmp / "in" / "a.png")
    (tmp / "in" / "b.png").write_bytes(BOMB)
    colorization_bins([good, tmp / "in" / "b.png"])


CASES: dict[str, Callable[[Path], None]] = {
    "virb_pixel_data: pets trimap (decoded)": lambda tmp: _pets(tmp, "trimap"),
    "virb_pixel_data: pets image (size only)": lambda tmp: _pets(tmp, "image"),
    "virb_pixel_data: egohands frame (size only)": _egohands_frame,
    "kitti_flow: frame (size only)": lambda tmp: _kitti(tmp, "frame"),
    "kitti_flow: flow map (before torchvision decodes it)": lambda tmp: _kitti(tmp, "flow"),
    "lvis: imagenet_lvis image sizes": _lvis,
    "color_bins: colorization_bins": _color_bins,
}


def refused_in_one_line(run: Callable[[], None]) -> str:
    """``run()`` must stop with one UnreadableImageError line naming the bomb's pixels and PIL's
    limit (a DecompressionBombWarning, PIL's own reaction, fails); returns the message."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with pytest.raises(UnreadableImageError) as err:
            run()
    message = str(err.value)
    assert "\n" not in message and "decompression bomb" in message and LIMIT in message, message
    return message


@pytest.mark.parametrize("case", list(CASES))
def test_preparers_refuse_bombs_in_one_line(tmp_path: Path, case: str) -> None:
    message = refused_in_one_line(lambda: CASES[case](tmp_path))
    bomb = next(p for p in (tmp_path / "in").rglob("*") if p.is_file() and p.read_bytes() == BOMB)
    assert str(bomb) in message
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))
