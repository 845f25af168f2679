"""The long steps that reported nothing before issue 14's last round show progress through the real
`ssl` command: `ssl convert` (reading, fitting, serialising, verifying, writing), BatchNorm
re-estimation in `ssl run`, the ViRB clip and CSV readers, the transfer head's training, and the
filelist / VTAB preparers of `ssl data prepare`. On a terminal each is a rich bar with its ETA; in a
log it is a plain ``STAGE: DONE/TOTAL, RATE/s, done in H:MM:SS`` line when the stage ends."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

import bench_files as bf
from cli_runner import ssl_in_process
from test_cli_progress import ETA, run_in_terminal


def done_line(err: str, stage: str, total: int) -> None:
    pattern = rf"^{re.escape(stage)}: {total}/{total}, [\d,.]+/s, done in \d+:\d\d:\d\d$"
    assert re.search(pattern, err, re.M), f"no finished line for {stage!r} ({total}):\n{err}"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("stages")
    return {"ckpt": bf.save_tiny_checkpoint(root / "tiny.pt"), "colours": bf.write_image_folder(root / "colours"),
            "root": root}


@pytest.mark.slow
def test_convert_shows_its_steps(files, tmp_path):
    code, screen = run_in_terminal("convert", str(files["ckpt"]), str(tmp_path / "tv.pth"), "--to", "torchvision",
                                   "--verify")
    assert code == 0, screen[-3000:]
    assert re.search(r"^convert .*5/5 .*" + ETA, screen, re.M), screen[-2000:]
    code, out, err = ssl_in_process("convert", files["ckpt"], tmp_path / "vissl.torch", "--to", "vissl")
    assert code == 0 and "vissl" in out, err
    done_line(err, "convert", 4)
    code, _, err = ssl_in_process("convert", files["ckpt"], tmp_path / "quiet.pth", "--to", "torchvision", "--no-progress")
    assert code == 0 and err == "", err


@pytest.mark.slow
def test_run_shows_batchnorm_reestimation_on_a_terminal(files, tmp_path):
    code, screen = run_in_terminal(
        "run", "simclr", "--data", str(files["colours"]), "--out", str(tmp_path / "run"), "data.image_size=16",
        "data.batch_size=8", "train.max_steps=2", "train.epochs=1", "train.tensorboard=false",
        "monitor.knn_every_epochs=0", "model.width_multiplier=0.125", "data.num_workers=0",
        "benchmark.linear.epochs=1", "benchmark.bn_batches=2", "benchmark.extraction.batch_size=8")
    assert code == 0, screen[-3000:]
    assert re.search(r"^BatchNorm statistics .*2/2 .*" + ETA, screen, re.M), screen[-3000:]


def _png(path, array) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture()
def one_thread():
    """Tiny convolutions on a loaded 2-core box run far faster on one thread (see test_cli_virb)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_virb_clip_and_csv_readers_report_what_they_read(files, tmp_path, one_thread):
    rng = np.random.default_rng(0)
    clips = {"train": 3, "val": 2}
    for split, per_class in clips.items():
        for c in range(2):
            for k in range(per_class):
                for t in range(3):
                    _png(tmp_path / "video" / split / f"c{c}" / f"clip{k}" / f"{t}.png",
                         rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))
    code, _, err = ssl_in_process("benchmark", "virb-video", "-c", files["ckpt"], "--data", tmp_path / "video",
                                  "image_size=16", "num_frames=2", "epochs=1", "hidden=4")
    assert code == 0, err
    done_line(err, "clips (train)", 6)
    done_line(err, "clips (val)", 4)

    rows = {"train": [], "val": []}
    for split, n in (("train", 5), ("val", 3)):
        for i in range(n):
            _png(tmp_path / "table" / "img" / f"{split}{i}.png", rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))
            rows[split].append(f"img/{split}{i}.png,{i / n}")
        (tmp_path / "table" / f"{split}.csv").write_text("image,level\n" + "\n".join(rows[split]) + "\n")
    code, _, err = ssl_in_process("benchmark", "virb-image", "-c", files["ckpt"], "--data", tmp_path / "table",
                                  "task=regression", "image_size=16")
    assert code == 0, err
    for stage, total in (("images (train)", 5), ("features (train)", 5), ("images (test)", 3), ("features (test)", 3)):
        done_line(err, stage, total)


def test_transfer_head_reports_its_training(files):
    colours = files["colours"]
    code, _, err = ssl_in_process("benchmark", "transfer-head", "-c", files["ckpt"], "--data", colours,
                                  f"test_data={colours / 'val'}", "image_size=16", "epochs=2", "head_batch_size=8")
    assert code == 0, err
    done_line(err, "image head", 2 * 3)  # 24 train images in batches of 8, 2 epochs


def test_filelist_and_vtab_preparers_report_progress(files, tmp_path):
    code, _, err = ssl_in_process("data", "prepare", "folder", "-i", files["colours"], "-o", tmp_path / "lists")
    assert code == 0, err
    done_line(err, "class folders (train)", 3)
    done_line(err, "filelist (train)", 24)
    done_line(err, "filelist (val)", 12)
    dtd = tmp_path / "dtd_in" / "dtd"
    for cls in ("banded", "dotted"):
        for i in range(2):
            _png(dtd / "images" / cls / f"{cls}_{i}.jpg", np.zeros((4, 4, 3), dtype=np.uint8))
    (dtd / "labels").mkdir()
    (dtd / "labels" / "train1.txt").write_text("banded/banded_0.jpg\ndotted/dotted_0.jpg\n")
    (dtd / "labels" / "val1.txt").write_text("banded/banded_1.jpg\n")
    (dtd / "labels" / "test1.txt").write_text("dotted/dotted_1.jpg\n")
    code, _, err = ssl_in_process("data", "prepare", "dtd", "-i", tmp_path / "dtd_in", "-o", tmp_path / "dtd_out")
    assert code == 0, err
    done_line(err, "images (train)", 3)
    done_line(err, "images (test)", 1)
