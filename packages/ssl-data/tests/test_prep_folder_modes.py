"""Preparers that stage their output in a hidden folder and rename it into place: the final folders
and files follow the user's umask (they were 0700 from ``tempfile.mkdtemp``, whatever the umask),
and no staging folder is left. Inputs are real files written here under the same umask (hard
links keep their source's mode), downloads come from a local http.server."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from test_prep_binary_retrieval import _norb_write
from test_prep_download import _jpeg_bytes, _tar_gz, serve
from test_prep_virb_datasets import _grey, _png16_rgb, _rgb, _video

from ssl_data.prep import prepare


def _small_norb(tmp: Path) -> None:
    rng = np.random.default_rng(0)
    (tmp / "in").mkdir()
    for stem in ("smallnorb-5x46789x9x18x6x2x96x96-training", "smallnorb-5x01235x9x18x6x2x96x96-testing"):
        _norb_write(tmp / "in" / f"{stem}-dat.mat", rng.integers(0, 256, (2, 2, 6, 6), dtype=np.uint8))
        _norb_write(tmp / "in" / f"{stem}-info.mat", np.array([[0, 1, 4, 0], [1, 8, 34, 2]], dtype=np.int32))
    prepare("small_norb_azimuth", tmp / "in", tmp / "out")


def _thor_num_steps(tmp: Path) -> None:
    root = tmp / "in" / "thor_num_steps"
    for split in ("train", "val"):
        _rgb(root / split / "FloorPlan1" / "x_rgb.jpg", fmt="JPEG")
        (root / f"{split}_labels.txt").write_text(f"{split}/FloorPlan1/x 3\n")
    prepare("thor_num_steps", tmp / "in", tmp / "out")


def pets_layout(root: Path) -> Path:
    """Oxford-IIIT Pets below ``root``: one train (beagle_1) and one test (pug_2) image with its
    trimap; returns the dataset folder."""
    pets = root / "oxford-iiit-pet"
    (pets / "annotations").mkdir(parents=True)
    for split, name in (("trainval", "beagle_1"), ("test", "pug_2")):
        (pets / "annotations" / f"{split}.txt").write_text(f"{name} 1 1 1\n")
        _rgb(pets / "images" / f"{name}.jpg", fmt="JPEG")
        _grey(pets / "annotations" / "trimaps" / f"{name}.png", np.ones((4, 6), dtype=np.uint8))
    return pets


def _pets_masks(tmp: Path) -> None:
    pets_layout(tmp / "in")
    prepare("pets_masks", tmp / "in", tmp / "out")


def _kinetics_frames(tmp: Path) -> None:
    for split in ("train", "val"):
        _video(tmp / "in" / split / "bowling" / f"{split}_000001_000011.mp4", [0, 50, 100])
    prepare("kinetics_frames", tmp / "in", tmp / "out", frames=2)


def _kitti_flow(tmp: Path) -> None:
    root = tmp / "in" / "training"
    for i in range(2):
        _rgb(root / "image_2" / f"{i:06d}_10.png")
        _rgb(root / "image_2" / f"{i:06d}_11.png")
        _png16_rgb(root / "flow_occ" / f"{i:06d}_10.png", np.full((4, 6, 3), 2**15, dtype=np.uint16))
    prepare("kitti_flow", tmp / "in", tmp / "out")


def _ucf101(tmp: Path) -> None:
    root = tmp / "in" / "ucf101"
    for cls in ("Archery", "Bowling"):
        _video(root / "UCF-101" / cls / f"v_{cls}_g01_c01.avi", [0, 100, 200])
    (root / "ucfTrainTestlist").mkdir()
    (root / "ucfTrainTestlist" / "trainlist01.txt").write_text("Archery/v_Archery_g01_c01.avi 1\n")
    (root / "ucfTrainTestlist" / "testlist01.txt").write_text("Bowling/v_Bowling_g01_c01.avi\n")
    prepare("ucf101", tmp / "in", tmp / "out")


def _download(tmp: Path) -> None:
    site = tmp / "site"
    _tar_gz(site / "copydays_original.tar.gz", {"originals/200000.jpg": _jpeg_bytes(0)})
    _tar_gz(site / "copydays_strong.tar.gz", {"strong/200001.jpg": _jpeg_bytes(1)})
    with serve(site) as url:
        prepare("copydays", tmp / "out" / "downloaded", tmp / "out" / "prepared", download=True, download_mirror=url)


PREPARERS: dict[str, Callable[[Path], None]] = {
    "binary_datasets (small_norb_azimuth)": _small_norb,
    "virb_image_data (thor_num_steps)": _thor_num_steps,
    "virb_pixel_data (pets_masks)": _pets_masks,
    "kinetics_frames": _kinetics_frames,
    "kitti_flow": _kitti_flow,
    "video_frames (ucf101)": _ucf101,
    "download (copydays -d)": _download,
}


@pytest.mark.parametrize(("mask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)],
                         ids=["umask022", "umask027"])
@pytest.mark.parametrize("name", list(PREPARERS))
def test_prepared_folders_and_files_follow_the_umask(tmp_path: Path, monkeypatch, name: str, mask: int, file_mode: int,
                                                     dir_mode: int) -> None:  # fmt: skip
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    before = os.umask(mask)
    try:
        PREPARERS[name](tmp_path)
    finally:
        os.umask(before)
    out = tmp_path / "out"
    entries = [out, *out.rglob("*")]
    wrong = {str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode)) for p in entries
             if stat.S_IMODE(p.stat().st_mode) != (dir_mode if p.is_dir() else file_mode)}  # fmt: skip
    assert wrong == {}, f"expected folders {oct(dir_mode)} and files {oct(file_mode)}"
    assert len(entries) > 4 and any(p.is_file() for p in entries)
    hidden = [p.name for p in tmp_path.rglob(".*")]
    assert hidden == [], "a staging folder was left"
