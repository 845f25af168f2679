"""The preparers with long loops and the downloads report ``progress(stage, done, total)``."""

from __future__ import annotations

import functools
import http.server
import io
import pickle
import tarfile
import threading
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from ssl_data import prepare
from ssl_data.prep import download_dataset, preparer_options


class Recorder:
    def __init__(self) -> None:
        self.calls: dict[str, list[tuple[int, int]]] = defaultdict(list)

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.calls[stage].append((done, total))


def _cifar100(root: Path, counts: dict[str, int]) -> None:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    (root / "meta").write_bytes(pickle.dumps({"fine_label_names": [f"c{i}" for i in range(100)]}))
    for batch, n in counts.items():
        data = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "fine_labels": rng.integers(0, 100, n).tolist()}
        (root / batch).write_bytes(pickle.dumps(data))


def test_png_writers_report_every_image(tmp_path: Path) -> None:
    _cifar100(tmp_path / "in" / "cifar-100-python", {"train": 5, "test": 3})
    rec = Recorder()
    prepare("cifar100", tmp_path / "in", tmp_path / "out", progress=rec)
    assert rec.calls["PNGs (train)"] == [(i, 5) for i in range(1, 6)]
    assert rec.calls["PNGs (val)"] == [(i, 3) for i in range(1, 4)]
    assert len(list((tmp_path / "out").rglob("*.png"))) == 8


def test_progress_is_no_tool_option(tmp_path: Path) -> None:
    assert "progress" not in preparer_options("cifar100") and "progress" not in preparer_options("kinetics_frames")
    _cifar100(tmp_path / "in" / "cifar-100-python", {"train": 2, "test": 2})
    prepare("cifar100", tmp_path / "in", tmp_path / "out")  # no callback: silent, same output
    assert len(list((tmp_path / "out").rglob("*.png"))) == 4


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def test_streamed_download_reports_bytes(tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    payload = np.random.default_rng(1).integers(0, 256, 3 << 20, dtype=np.uint8).tobytes()  # 3 MiB: 3 reads
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("dtd/images/blob.bin")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    (served / "dtd-r1.0.1.tar.gz").write_bytes(buffer.getvalue())
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rec = Recorder()
    try:
        download_dataset("dtd", tmp_path / "raw", mirror=f"http://127.0.0.1:{server.server_port}", timeout=10, progress=rec)
    finally:
        server.shutdown()
        server.server_close()
    size = len(buffer.getvalue())
    seen = rec.calls["download dtd-r1.0.1.tar.gz"]
    assert seen[-1] == (size, size) and all(total == size for _, total in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert (tmp_path / "raw" / "dtd" / "images" / "blob.bin").read_bytes() == payload


def _video(path: Path, frames: int) -> None:
    """A real MPEG-4 video of ``frames`` grey frames (PyAV)."""
    av = pytest.importorskip("av")
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for t in range(frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.full((32, 32, 3), 20 * t, dtype=np.uint8), format="rgb24")))
        container.mux(stream.encode())


def test_video_decoders_report_every_video(tmp_path: Path) -> None:
    _video(tmp_path / "in" / "train" / "a" / "x.mp4", 8)
    _video(tmp_path / "in" / "train" / "b" / "y.mp4", 2)  # too short: skipped, still counted as done
    _video(tmp_path / "in" / "val" / "a" / "z.mp4", 8)
    rec = Recorder()
    prepare("kinetics_frames", tmp_path / "in", tmp_path / "out", frames=4, progress=rec)
    assert rec.calls["videos (train)"] == [(0, 2), (1, 2), (2, 2)]
    assert rec.calls["videos (val)"] == [(0, 1), (1, 1)]


def _png(path: Path, value: int = 0) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((4, 4, 3), value, dtype=np.uint8)).save(path)
    return path


def _steps(total: int) -> list[tuple[int, int]]:
    return [(i, total) for i in range(total + 1)]


def test_filelist_preparers_report_folders_and_paths(tmp_path: Path) -> None:
    counts = {("train", "a"): 3, ("train", "b"): 2, ("val", "a"): 1, ("val", "b"): 1}
    for (split, cls), n in counts.items():
        for i in range(n):
            _png(tmp_path / "in" / split / cls / f"{i}.png")
    rec = Recorder()
    prepare("folder", tmp_path / "in", tmp_path / "out", progress=rec)
    assert rec.calls["class folders (train)"] == _steps(2) and rec.calls["class folders (val)"] == _steps(2)
    assert rec.calls["filelist (train)"] == _steps(5) and rec.calls["filelist (val)"] == _steps(2)
    prepare("folder", tmp_path / "in", tmp_path / "quiet")  # no callback: the same files
    for name in ("train_images.npy", "train_labels.npy", "val_images.npy", "val_labels.npy"):
        assert np.array_equal(np.load(tmp_path / "out" / name), np.load(tmp_path / "quiet" / name))

    sun = tmp_path / "sun"
    _png(sun / "SUN397" / "a" / "abbey" / "sun_a.jpg")
    _png(sun / "SUN397" / "b" / "bakery" / "sun_b.jpg")
    (sun / "Partitions").mkdir()
    (sun / "Partitions" / "Training_01.txt").write_text("/a/abbey/sun_a.jpg\n/b/bakery/sun_b.jpg\n")
    (sun / "Partitions" / "Testing_01.txt").write_text("/b/bakery/sun_b.jpg\n")
    rec = Recorder()
    prepare("sun397", sun, tmp_path / "sun_out", progress=rec)
    assert rec.calls["filelist (train)"] == _steps(2) and rec.calls["filelist (val)"] == _steps(1)


def test_disk_folder_preparers_report_every_image(tmp_path: Path) -> None:
    for cls in ("AnnualCrop", "Forest"):  # EuroSAT: a seeded quarter of each class is val
        for i in range(4):
            _png(tmp_path / "eurosat" / "2750" / cls / f"{cls}_{i}.jpg")
    rec = Recorder()
    prepare("euro_sat", tmp_path / "eurosat", tmp_path / "sat_out", val_fraction=0.25, progress=rec)
    assert rec.calls["images (train)"] == _steps(6) and rec.calls["images (val)"] == _steps(2)
    assert len(list((tmp_path / "sat_out").rglob("*.jpg"))) == 8

    n = 6
    np.savez(tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz", imgs=np.zeros((n, 8, 8), dtype=np.uint8),
             latents_classes=np.zeros((n, 6), dtype=np.int64))
    rec = Recorder()
    prepare("dsprites_location", tmp_path, tmp_path / "loc", num_train=4, num_val=2, progress=rec)
    assert rec.calls["PNGs"] == _steps(6)
    assert rec.calls["images (train)"] == _steps(4) and rec.calls["images (val)"] == _steps(2)

    kitti = tmp_path / "kitti" / "training"
    for stem in ("000000", "000001"):
        _png(kitti / "image_2" / f"{stem}.png")
        (kitti / "label_2").mkdir(parents=True, exist_ok=True)
        (kitti / "label_2" / f"{stem}.txt").write_text("Car 0 0 0 1 2 3 4 1.5 1.6 3.9 1.0 1.5 25.0 0.1\n")
    rec = Recorder()
    prepare("kitti_dist", tmp_path / "kitti", tmp_path / "kitti_out", val_fraction=0.5, progress=rec)
    assert rec.calls["label files"] == _steps(2)
