"""SmallNORB, PatchCamelyon, revisited Oxford/Paris and ImageNet-subset preparers on fake files."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ssl_data.prep import prepare


def _norb_write(path: Path, arr: np.ndarray) -> None:
    magic = 0x1E3D4C55 if arr.dtype == np.uint8 else 0x1E3D4C54
    dims = list(arr.shape) + [1] * max(0, 3 - arr.ndim)
    header = np.array([magic, arr.ndim, *dims], dtype="<i4").tobytes()
    path.write_bytes(header + arr.astype(arr.dtype.newbyteorder("<")).tobytes())


def test_small_norb(tmp_path) -> None:
    rng = np.random.default_rng(0)
    for stem in ("smallnorb-5x46789x9x18x6x2x96x96-training", "smallnorb-5x01235x9x18x6x2x96x96-testing"):
        dat = rng.integers(0, 256, (3, 2, 6, 6), dtype=np.uint8)
        info = np.array([[0, 1, 4, 0], [1, 8, 34, 2], [2, 0, 0, 5]], dtype=np.int32)  # instance, elevation, azimuth, lighting
        _norb_write(tmp_path / f"{stem}-dat.mat", dat)
        _norb_write(tmp_path / f"{stem}-info.mat", info)
    prepare("small_norb_azimuth", tmp_path, tmp_path / "az")
    assert sorted(p.name for p in (tmp_path / "az" / "train").iterdir()) == ["0", "17", "2"]
    prepare("small_norb_elevation", tmp_path, tmp_path / "el")
    assert sorted(p.name for p in (tmp_path / "el" / "val").iterdir()) == ["0", "1", "8"]
    png = next((tmp_path / "el" / "val" / "8").iterdir())
    dat = np.frombuffer((tmp_path / "smallnorb-5x01235x9x18x6x2x96x96-testing-dat.mat").read_bytes()[24:], np.uint8).reshape(3, 2, 6, 6)
    np.testing.assert_array_equal(np.asarray(Image.open(png)), dat[1, 0])  # first camera image of row 1
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "smallnorb-5x46789x9x18x6x2x96x96-training-dat.mat").write_bytes(b"nonsense")
    with pytest.raises(ValueError, match="not a SmallNORB binary matrix"):
        prepare("small_norb_azimuth", tmp_path / "bad", tmp_path / "o")


def test_patch_camelyon(tmp_path) -> None:
    h5py = pytest.importorskip("h5py")
    for split, labels in (("train", [0, 1, 1]), ("valid", [1]), ("test", [0])):
        with h5py.File(tmp_path / f"camelyonpatch_level_2_split_{split}_x.h5", "w") as f:
            f["x"] = np.full((len(labels), 4, 4, 3), 7, dtype=np.uint8)
        with h5py.File(tmp_path / f"camelyonpatch_level_2_split_{split}_y.h5", "w") as f:
            f["y"] = np.array(labels, dtype=np.uint8).reshape(-1, 1, 1, 1)
    prepare("patch_camelyon", tmp_path, tmp_path / "out")
    counts = {c.name: len(list(c.iterdir())) for c in (tmp_path / "out" / "train").iterdir()}
    assert counts == {"0": 1, "1": 2} and (tmp_path / "out" / "val" / "1").is_dir()


def test_revisited_oxford(tmp_path) -> None:
    root = tmp_path / "roxford5k"
    for n in ("all_souls_1", "radcliffe_2", "q1"):
        (root / "jpg").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 4)).save(root / "jpg" / f"{n}.jpg")
    gnd = {"imlist": ["all_souls_1", "radcliffe_2"], "qimlist": ["q1"], "gnd": [{"bbx": [1, 2, 3, 4], "easy": [0], "hard": [], "junk": []}]}
    with (root / "gnd_roxford5k.pkl").open("wb") as f:
        pickle.dump(gnd, f)
    out = prepare("roxford5k", tmp_path, tmp_path / "out")
    assert [Path(p).name for p in np.load(out["database"])] == ["all_souls_1.jpg", "radcliffe_2.jpg"]
    assert np.load(out["query_bbox"]).tolist() == [[1, 2, 3, 4]]
    with pytest.raises(FileNotFoundError, match="gnd_rparis6k.pkl"):
        prepare("rparis6k", tmp_path, tmp_path / "out")


def test_imagenet_subset(tmp_path) -> None:
    for wnid in ("n01", "n02"):
        for i in range(2):
            (tmp_path / "train" / wnid).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (4, 4)).save(tmp_path / "train" / wnid / f"{wnid}_{i}.JPEG")
    (tmp_path / "1percent.txt").write_text("n02_1.JPEG\nn01_0.JPEG\n")
    prepare("imagenet_subset", tmp_path, tmp_path / "out", subset_file=tmp_path / "1percent.txt")
    assert np.load(tmp_path / "out" / "train_labels.npy").tolist() == [1, 0]
    (tmp_path / "bad.txt").write_text("n03_1.JPEG\n")
    with pytest.raises(ValueError, match="class folder"):
        prepare("imagenet_subset", tmp_path, tmp_path / "out", subset_file=tmp_path / "bad.txt")


def test_ucf101_middle_frames(tmp_path) -> None:
    av = pytest.importorskip("av")
    root = tmp_path / "ucf101"
    for cls, name in (("ApplyEyeMakeup", "v_ApplyEyeMakeup_g01_c01"), ("Archery", "v_Archery_g02_c01")):
        (root / "UCF-101" / cls).mkdir(parents=True)
        with av.open(str(root / "UCF-101" / cls / f"{name}.avi"), "w") as c:
            s = c.add_stream("mpeg4", rate=5)
            s.width = s.height = 16
            s.pix_fmt = "yuv420p"
            for i in range(5):  # frame i is uniformly grey level 50 * i; the middle one is 100
                for pkt in s.encode(av.VideoFrame.from_ndarray(np.full((16, 16, 3), 50 * i, np.uint8), format="rgb24")):
                    c.mux(pkt)
            for pkt in s.encode():
                c.mux(pkt)
    (root / "ucfTrainTestlist").mkdir()
    (root / "ucfTrainTestlist" / "trainlist01.txt").write_text("ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi 1\n")
    (root / "ucfTrainTestlist" / "testlist01.txt").write_text("Archery/v_Archery_g02_c01.avi\n")
    prepare("ucf101", tmp_path, tmp_path / "out")
    frame = np.asarray(Image.open(tmp_path / "out" / "val" / "Archery" / "v_Archery_g02_c01.jpg"))
    assert abs(frame.mean() - 100) < 4
    assert (tmp_path / "out" / "train" / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g01_c01.jpg").is_file()
