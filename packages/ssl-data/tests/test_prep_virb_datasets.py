"""ViRB dataset preparers on tiny official layouts written here (PNG/JPEG/TIFF files, a MATLAB
polygons.mat, CIFAR pickles, real videos, 16-bit KITTI flow PNGs); expected targets are worked
out independently with NumPy."""

from __future__ import annotations

import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ssl_data.prep import prepare
from ssl_data.prep.virb_pixel_data import CITYSCAPES_TRAIN_IDS

RNG = np.random.default_rng(0)


def _rgb(path: Path, h: int = 4, w: int = 6, fmt: str = "PNG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path, format=fmt)
    return path


def _grey(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)
    return path


def _png16_rgb(path: Path, array: np.ndarray) -> Path:
    """A 16-bit RGB PNG written from the PNG specification (PIL cannot write one)."""
    h, w, _ = array.shape
    raw = b"".join(b"\x00" + array[i].astype(">u2").tobytes() for i in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))  # fmt: skip
    return path


def _mask(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


# ------------------------------------------------------------------ segmentation


def test_cityscapes_train_ids(tmp_path) -> None:
    expected = {}
    for split, names in (("train", ["aachen_000000_000019", "aachen_000001_000019"]), ("val", ["lindau_000000_000019"])):
        for name in names:
            city = name.split("_")[0]
            _rgb(tmp_path / "in" / "leftImg8bit" / split / city / f"{name}_leftImg8bit.png")
            ids = RNG.integers(0, 34, (4, 6), dtype=np.uint8)
            _grey(tmp_path / "in" / "gtFine" / split / city / f"{name}_gtFine_labelIds.png", ids)
            expected[(split, name)] = np.array([[CITYSCAPES_TRAIN_IDS.get(int(v), 255) for v in row] for row in ids])
    summary = prepare("cityscapes", tmp_path / "in", tmp_path / "out")
    assert summary["samples"] == {"train": 2, "val": 1}
    for (split, name), want in expected.items():
        np.testing.assert_array_equal(_mask(tmp_path / "out" / split / "masks" / f"{name}.png"), want)
        assert (tmp_path / "out" / split / "images" / f"{name}.png").is_file()


@pytest.mark.parametrize(("border", "value"), [("ignore", 255), ("pet", 1), ("background", 0)])
def test_pets_trimaps_to_binary_masks(tmp_path, border, value) -> None:
    root = tmp_path / "in" / "oxford-iiit-pet"
    trimaps = {}
    for split, names in (("trainval", ["Abyssinian_1", "beagle_2"]), ("test", ["pug_3"])):
        (root / "annotations").mkdir(parents=True, exist_ok=True)
        (root / "annotations" / f"{split}.txt").write_text("".join(f"{n} 1 1 1\n" for n in names))
        for n in names:
            _rgb(root / "images" / f"{n}.jpg", fmt="JPEG")
            trimaps[n] = _grey(root / "annotations" / "trimaps" / f"{n}.png", RNG.integers(1, 4, (4, 6), dtype=np.uint8))
    prepare("pets_masks", tmp_path / "in", tmp_path / "out", border=border)
    for n, path in trimaps.items():
        split = "val" if n == "pug_3" else "train"
        tri = _mask(path)
        want = np.where(tri == 1, 1, np.where(tri == 2, 0, value))
        np.testing.assert_array_equal(_mask(tmp_path / "out" / split / "masks" / f"{n}.png"), want)


def _egohands(root: Path, videos: dict[str, list[tuple[int, int, int, int]]]) -> None:
    """Each frame gets one 'myleft' axis-aligned rectangle (x0, y0, x1, y1) and no other hand."""
    from scipy.io import savemat

    for video, boxes in videos.items():
        folder = root / "_LABELLED_SAMPLES" / video
        records = np.zeros(len(boxes), dtype=[(f, object) for f in ("myleft", "myright", "yourleft", "yourright")])
        for i, (x0, y0, x1, y1) in enumerate(boxes):
            _rgb(folder / f"frame_{i:04d}.jpg", h=10, w=12, fmt="JPEG")
            records[i]["myleft"] = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)
            for f in ("myright", "yourleft", "yourright"):
                records[i][f] = np.zeros((0, 0))
        savemat(folder / "polygons.mat", {"polygons": records.reshape(1, -1)})


def test_egohands_polygons_rasterised(tmp_path) -> None:
    pytest.importorskip("scipy")
    boxes = {"CARDS_OFFICE_B_S": [(1, 2, 4, 6), (0, 0, 11, 9)], "CHESS_COURTYARD_H_T": [(5, 5, 7, 8)]}
    _egohands(tmp_path / "in" / "egohands_data", boxes)
    summary = prepare("egohands", tmp_path / "in", tmp_path / "out", val_fraction=0.5)
    assert sum(summary["samples"].values()) == 3
    for video, frames in boxes.items():
        for i, (x0, y0, x1, y1) in enumerate(frames):
            found = list((tmp_path / "out").glob(f"*/masks/{video}_frame_{i:04d}.png"))
            assert len(found) == 1
            want = np.zeros((10, 12), dtype=np.uint8)
            want[y0 : y1 + 1, x0 : x1 + 1] = 3  # myleft is class 3; PIL fills the outline too
            np.testing.assert_array_equal(_mask(found[0]), want)


def test_nyu_depth_and_walkable(tmp_path) -> None:
    root = tmp_path / "in" / "nyu"
    depths, walk = {}, {}
    for split in ("train", "test"):
        for i in range(2):
            _rgb(root / split / "images" / f"{i:04d}.png")
            depths[(split, i)] = RNG.uniform(0.5, 9.0, (4, 6)).astype(np.float32)
            depths[(split, i)][0, 0] = 0.0
            Image.fromarray(depths[(split, i)], mode="F").save(_mk(root / split / "depths" / f"{i:04d}.tiff"))
            walk[(split, i)] = _grey(root / split / "walkable" / f"{i:04d}.png", RNG.choice([0, 255], (4, 6)).astype(np.uint8))
    prepare("nyu_depth", tmp_path / "in", tmp_path / "depth")
    prepare("nyu_walkable", tmp_path / "in", tmp_path / "walk")
    for (split, i), want in depths.items():
        out = "val" if split == "test" else "train"
        np.testing.assert_array_equal(np.load(tmp_path / "depth" / out / "depth" / f"{i:04d}.npy"), want)
        np.testing.assert_array_equal(_mask(tmp_path / "walk" / out / "masks" / f"{i:04d}.png"), (_mask(walk[(split, i)]) != 0).astype(np.uint8))


def _mk(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_thor_depth_and_taskonomy_depth(tmp_path) -> None:
    thor = tmp_path / "thor" / "thor_depth_prediction"
    for split in ("train", "test"):
        _rgb(thor / split / "FloorPlan1" / "0_rgb.jpg", fmt="JPEG")
        _grey(thor / split / "FloorPlan1" / "0_depth.jpg", RNG.integers(0, 256, (4, 6), dtype=np.uint8))
    prepare("thor_depth", tmp_path / "thor", tmp_path / "thor_out")
    grey = _mask(thor / "test" / "FloorPlan1" / "0_depth.jpg").astype(np.float32)
    np.testing.assert_allclose(np.load(tmp_path / "thor_out" / "val" / "depth" / "FloorPlan1_0.npy"), (grey + 1) / 256)

    raw = {}
    for building in ("allensville", "beechwood", "coffeen"):
        _rgb(tmp_path / "tk" / building / "rgb" / "point_0_view_1_domain_rgb.png")
        raw[building] = RNG.integers(0, 5000, (4, 6)).astype(np.uint16)
        raw[building][1, 1] = 65535
        _grey(tmp_path / "tk" / building / "depth_zbuffer" / "point_0_view_1_domain_depth_zbuffer.png", raw[building])
    summary = prepare("taskonomy_depth", tmp_path / "tk", tmp_path / "tk_out", val_fraction=0.34)
    assert summary["samples"] == {"train": 2, "val": 1}
    for building, values in raw.items():
        (found,) = (tmp_path / "tk_out").glob(f"*/depth/{building}_point_0_view_1.npy")
        want = values.astype(np.float32) / 512
        want[1, 1] = 0
        np.testing.assert_allclose(np.load(found), want)


# ------------------------------------------------------------------ image-level


def test_cifar100_python_batches(tmp_path) -> None:
    root = tmp_path / "in" / "cifar-100-python"
    root.mkdir(parents=True)
    names = [f"class{i:02d}" for i in range(100)]
    (root / "meta").write_bytes(pickle.dumps({"fine_label_names": names, "coarse_label_names": ["c"] * 20}))
    batches = {}
    for batch, n in (("train", 5), ("test", 3)):
        batches[batch] = (RNG.integers(0, 256, (n, 3072), dtype=np.uint8), RNG.integers(0, 100, n).tolist())
        (root / batch).write_bytes(pickle.dumps({"data": batches[batch][0], "fine_labels": batches[batch][1]}))
    prepare("cifar100", tmp_path / "in", tmp_path / "out")
    for batch, split in (("train", "train"), ("test", "val")):
        data, labels = batches[batch]
        got = sorted((p.parent.name, _mask(p).tobytes()) for p in (tmp_path / "out" / split).rglob("*.png"))
        want = sorted((names[y], x.reshape(3, 32, 32).transpose(1, 2, 0).tobytes()) for x, y in zip(data, labels))
        assert got == want


def test_thor_num_steps_and_egomotion(tmp_path) -> None:
    steps = tmp_path / "steps" / "thor_num_steps"
    lines = {"train": [], "val": []}
    for split in ("train", "val"):
        for scene, count in (("FloorPlan1", 3), ("FloorPlan2", 7)):
            _rgb(steps / split / scene / "x_rgb.jpg", fmt="JPEG")  # same file name in both scenes
            lines[split].append(f"{split}/{scene}/x {count}")
        (steps / f"{split}_labels.txt").write_text("\n".join(lines[split]) + "\n")
    prepare("thor_num_steps", tmp_path / "steps", tmp_path / "steps_out")
    assert sorted(str(p.relative_to(tmp_path / "steps_out")) for p in (tmp_path / "steps_out").rglob("*.jpg")) == sorted(
        f"{s}/{c}/{scene}_x_rgb.jpg" for s in ("train", "val") for scene, c in (("FloorPlan1", 3), ("FloorPlan2", 7)))

    ego = tmp_path / "ego" / "thor_action_prediction"
    for split, rows in (("train", [("a/0", "RotateLeft"), ("a/1", "LookDown")]), ("val", [("b/0", "MoveAhead")])):
        for name, _ in rows:
            _rgb(ego / f"{name}_rgb_a.jpg", fmt="JPEG")
            _rgb(ego / f"{name}_rgb_b.jpg", fmt="JPEG")
        (ego / f"{split}_labels.txt").write_text("".join(f"{n} {a}\n" for n, a in rows))
    summary = prepare("thor_egomotion", tmp_path / "ego", tmp_path / "ego_out")
    assert summary["pairs"] == {"train": 2, "val": 1}
    rows = (tmp_path / "ego_out" / "train.csv").read_text().splitlines()
    assert rows[0] == "first,second,action"
    assert rows[1] == f"{(ego / 'a/0_rgb_a.jpg').resolve()},{(ego / 'a/0_rgb_b.jpg').resolve()},1"
    assert rows[2].endswith(",4")


# ------------------------------------------------------------------ video and flow


def _video(path: Path, levels: list[int]) -> Path:
    """A real MPEG-4 video whose frame t is uniformly grey at ``levels[t]``."""
    av = pytest.importorskip("av")
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        stream.options = {"qscale": "1"}
        for level in levels:
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), level, dtype=np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def test_kinetics_frames_evenly_spaced(tmp_path) -> None:
    levels = [20 * t for t in range(10)]
    _video(tmp_path / "in" / "train" / "abseiling" / "aaa_000001_000011.mp4", levels)
    _video(tmp_path / "in" / "train" / "bowling" / "bbb_000002_000012.mp4", levels[:3])  # too short
    _video(tmp_path / "in" / "validate" / "bowling" / "ccc_000003_000013.mp4", levels)
    summary = prepare("kinetics_frames", tmp_path / "in", tmp_path / "out", frames=6)
    assert summary["clips"] == {"train": 1, "val": 1} and summary["skipped_short_clips"] == {"train": 1, "val": 0}
    clip = tmp_path / "out" / "train" / "abseiling" / "aaa_000001_000011"
    means = [float(_mask(clip / f"frame_{i}.jpg").mean()) for i in range(6)]
    picked = np.round(np.linspace(0, 9, 6)).astype(int)  # frames 0, 2, 4, 5, 7, 9
    np.testing.assert_allclose(means, [levels[i] for i in picked], atol=6)
    assert not list((tmp_path / "out").glob(".*"))  # no staging folder left


def test_kitti_flow_from_a_known_shift(tmp_path) -> None:
    root = tmp_path / "in" / "training"
    for i in range(3):
        _rgb(root / "image_2" / f"{i:06d}_10.png", h=5, w=7)
        _rgb(root / "image_2" / f"{i:06d}_11.png", h=5, w=7)
        u, v = 2.5 + i, -1.0
        encoded = np.zeros((5, 7, 3), dtype=np.uint16)
        encoded[..., 0], encoded[..., 1], encoded[..., 2] = u * 64 + 2**15, v * 64 + 2**15, 1
        encoded[0, 0, 2] = 0  # one invalid pixel
        _png16_rgb(root / "flow_occ" / f"{i:06d}_10.png", encoded)
    summary = prepare("kitti_flow", tmp_path / "in", tmp_path / "out")
    assert summary["pairs"] == {"train": 2, "val": 1}
    flow = np.load(tmp_path / "out" / "val" / "flow" / "000002.npy")
    assert flow.shape == (5, 7, 2) and np.isnan(flow[0, 0]).all()
    np.testing.assert_array_equal(flow[1:, :, 0], 4.5)
    np.testing.assert_array_equal(flow[1:, :, 1], -1.0)
    assert (tmp_path / "out" / "train" / "second" / "000001.png").is_file()


# ------------------------------------------------------------------ malformed archives


def _bad_cityscapes(root: Path) -> None:
    for split in ("train", "val"):
        _rgb(root / "leftImg8bit" / split / "x" / "x_0_leftImg8bit.png")
        _grey(root / "gtFine" / split / "x" / "x_0_gtFine_labelIds.png", np.zeros((3, 3), np.uint8))  # wrong size


def _bad_pets(root: Path) -> None:
    (root / "annotations").mkdir(parents=True)
    for split in ("trainval", "test"):
        (root / "annotations" / f"{split}.txt").write_text("cat_1 1 1 1\n")
    _rgb(root / "images" / "cat_1.jpg", fmt="JPEG")
    _grey(root / "annotations" / "trimaps" / "cat_1.png", np.full((4, 6), 7, np.uint8))


def _bad_kitti(root: Path) -> None:
    for i in range(2):
        _rgb(root / "training" / "image_2" / f"{i}_10.png")
        _rgb(root / "training" / "image_2" / f"{i}_11.png")
        _grey(root / "training" / "flow_occ" / f"{i}_10.png", np.zeros((4, 6), np.uint8))  # 8-bit grey


def _bad_thor(root: Path) -> None:
    for split in ("train", "val"):
        _rgb(root / f"{split}0_rgb_a.jpg", fmt="JPEG")
        _rgb(root / f"{split}0_rgb_b.jpg", fmt="JPEG")
        (root / f"{split}_labels.txt").write_text(f"{split}0 Jump\n")


def _bad_cifar(root: Path) -> None:
    root.mkdir(parents=True)
    (root / "meta").write_bytes(pickle.dumps({"fine_label_names": [str(i) for i in range(100)]}))
    for b in ("train", "test"):
        (root / b).write_bytes(pickle.dumps({"data": np.zeros((2, 10), np.uint8), "fine_labels": [0, 1]}))


def _bad_kinetics(root: Path) -> None:
    for split in ("train", "val"):
        (root / split / "a").mkdir(parents=True)
        (root / split / "a" / "x.mp4").write_bytes(b"not a video")


def _bad_nyu(root: Path) -> None:
    for split in ("train", "test"):
        _rgb(root / split / "images" / "0.png")
        (root / split / "depths").mkdir(parents=True)


@pytest.mark.parametrize(("name", "build", "message"), [
    ("cityscapes", _bad_cityscapes, "is 3x3 but image"),
    ("pets_masks", _bad_pets, "must hold only the values 1, 2, 3"),
    ("kitti_flow", _bad_kitti, "must be a 16-bit RGB PNG"),
    ("thor_egomotion", _bad_thor, "unknown action 'Jump'"),
    ("cifar100", _bad_cifar, r"expected data \[N, 3072\]"),
    ("kinetics_frames", _bad_kinetics, "cannot decode video"),
    ("nyu_depth", _bad_nyu, "1 images but 0 files in depths/"),
    ("egohands", lambda root: (root / "_LABELLED_SAMPLES" / "v").mkdir(parents=True), "at least 2 video folders"),
])  # fmt: skip
def test_malformed_archive_is_one_line_and_writes_nothing(tmp_path, name, build, message) -> None:
    if name == "kinetics_frames":
        pytest.importorskip("av")
    build(tmp_path / "in")
    with pytest.raises((ValueError, FileNotFoundError), match=message) as e:
        prepare(name, tmp_path / "in", tmp_path / "out")
    assert "\n" not in str(e.value)
    assert not (tmp_path / "out").exists()
