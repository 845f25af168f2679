"""``virb-video``, ``virb-flow`` and ``pixel-finetune`` in ``suites.BENCHMARKS``: defaults are
ViRB's published ones, and each runner reads its folder layout (written here) and returns the
common result shape; bad layouts are one clear error."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ssl_evaluation import suites


def test_defaults_are_virbs() -> None:
    # ViRB VideoClassificationHead: LSTM with 512 hidden units, Adam lr 1e-4, batch 32
    v = suites.VideoProtocol()
    assert (v.hidden, v.lr, v.batch_size) == (512, 1e-4, 32)
    # ViRB pixelwise decoders read conv1..res5 (ResNet stages) at 64 channels, Adam 3e-4
    f, p = suites.FlowProtocol(), suites.PixelFinetuneProtocol()
    assert f.layers == p.layers == ["conv1", "res2", "res3", "res4", "res5"]
    assert (f.lr, p.lr, f.width, p.width) == (3e-4, 3e-4, 64, 64)
    assert p.finetune is True and p.task.value == "segmentation"
    for name in ("virb-video", "virb-flow", "pixel-finetune"):
        assert name in suites.BENCHMARKS


@pytest.fixture()
def trunk():
    import ssl_models

    torch.manual_seed(0)
    return ssl_models.build_trunk("resnet18", width_multiplier=0.125, small_input=True)


def _png(path, array) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_video_runner_on_clips_of_frames(tmp_path, trunk) -> None:
    rng = np.random.default_rng(0)
    for split, per_class in (("train", 3), ("val", 2)):
        for c, colour in enumerate(((220, 20, 20), (20, 20, 220))):
            for k in range(per_class):
                for t in range(4):
                    frame = np.clip(np.array(colour) + rng.integers(-10, 10, (16, 16, 3)), 0, 255).astype(np.uint8)
                    _png(tmp_path / split / f"c{c}" / f"clip{k}" / f"{t:03d}.png", frame)
    p = suites.load_protocol(suites.VideoProtocol(), ["image_size=16", "num_frames=3", "epochs=30", "hidden=16"])
    result = suites.run_video(trunk, str(tmp_path), p)
    scores = result["metrics"]["virb-video"]
    assert result["data"]["train_clips"] == 6 and result["data"]["test_clips"] == 4
    assert 0.0 <= scores["top1"] <= 100.0 and len(scores["train_loss"]) == 30
    assert scores["train_loss"][-1] < scores["train_loss"][0]
    with pytest.raises(ValueError, match="fewer than num_frames"):
        suites.run_video(trunk, str(tmp_path), suites.load_protocol(suites.VideoProtocol(), ["image_size=16", "num_frames=9"]))


def test_flow_runner_on_image_pairs(tmp_path, trunk) -> None:
    rng = np.random.default_rng(1)
    for split, count in (("train", 2), ("val", 1)):
        for i in range(count):
            first = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
            _png(tmp_path / split / "first" / f"{i}.png", first)
            _png(tmp_path / split / "second" / f"{i}.png", np.roll(first, 1, axis=1))
            flow = np.zeros((32, 32, 2), np.float32)
            flow[..., 0] = 1.0  # every pixel moves one to the right
            (tmp_path / split / "flow").mkdir(parents=True, exist_ok=True)
            np.save(tmp_path / split / "flow" / f"{i}.npy", flow)
    p = suites.load_protocol(suites.FlowProtocol(), ["epochs=2", "width=8"])
    result = suites.run_flow(trunk, str(tmp_path), p)
    scores = result["metrics"]["virb-flow"]
    assert result["data"]["train_pairs"] == 2 and result["data"]["frame_size"] == [32, 32]
    assert scores["epe"] >= 0.0 and 0.0 <= scores["fl_all"] <= 100.0 and scores["num_pixels"] == 32 * 32
    (tmp_path / "train" / "flow" / "1.npy").unlink()
    with pytest.raises(FileNotFoundError, match="no second frame or flow"):
        suites.run_flow(trunk, str(tmp_path), p)


def test_pixel_finetune_runner_on_the_segmentation_layout(tmp_path, trunk) -> None:
    rng = np.random.default_rng(2)
    for split, count in (("train", 2), ("val", 1)):
        for i in range(count):
            _png(tmp_path / split / "images" / f"{i}.png", rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
            mask = np.zeros((32, 32), np.uint8)
            mask[:, 16:] = 1
            _png(tmp_path / split / "masks" / f"{i}.png", mask)
    p = suites.load_protocol(suites.PixelFinetuneProtocol(), ["image_size=32", "epochs=1", "width=8", "batch_size=2"])
    result = suites.run_pixel_finetune(trunk, str(tmp_path), p)
    scores = result["metrics"]["pixel-finetune"]
    assert 0.0 <= scores["miou"] <= 100.0 and result["protocol"]["pixel-finetune"]["task"] == "segmentation"
    assert result["data"]["train_images"] == 2 and result["data"]["test_images"] == 1
    assert "pixel-finetune/miou" in suites.headline_metrics("pixel-finetune", result["metrics"])
