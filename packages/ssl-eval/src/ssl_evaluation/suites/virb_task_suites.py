"""More ViRB end tasks as `ssl benchmark` suites: ``virb-video`` (an LSTM over per-frame
encodings), ``virb-flow`` (optical flow from a decoder on both frames' maps) and
``pixel-finetune`` (segmentation or depth with the encoder fine-tuned, ViRB's end-to-end mode).

Layouts (``data=DIR``; the test split is ``val`` or else ``test``):

* ``virb-video``: ``DIR/{train,val}/CLASS/CLIP/*.png|jpg`` (a clip is a folder of frames in name
  order; ``num_frames`` are taken evenly spaced, every clip needs at least that many);
* ``virb-flow``: ``DIR/{train,val}/first/NAME.png`` + ``second/NAME.png`` + ``flow/NAME.npy``
  (float ``[H, W, 2]`` pixels (u, v), NaN = invalid); frames are used at their own size, which
  must be one size per split (resizing would change the flow vectors);
* ``pixel-finetune``: the ``segmentation`` or ``depth`` layout (``task=``).
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ssl_evaluation.suites.image_splits import checked_trunk, suite_result
from ssl_evaluation.progress import ProgressFn, tracked
from ssl_evaluation.suites.virb_suites import (
    _IMAGE_EXTS,
    _data_root,
    _normalized,
    _pixel_data,
    _pixel_result,
    _read_image,
    _square,
    _test_dir,
)

__all__ = [
    "FlowProtocol", "PixelFinetuneProtocol", "PixelTask", "VideoProtocol", "run_flow", "run_pixel_finetune", "run_video",
]

VIDEO_LAYOUT = "DIR/{train,val}/CLASS/CLIP/FRAME.png"
FLOW_LAYOUT = "DIR/{train,val}/first/NAME.png + second/NAME.png + flow/NAME.npy ([H, W, 2])"


def _frames(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _IMAGE_EXTS)


# ---------------------------------------------------------------- video


@dataclass
class VideoProtocol:
    """ViRB's Kinetics task (its ``VideoClassificationHead``: an LSTM, Adam 1e-4, batch 32);
    ``num_frames`` evenly spaced frames per clip (8: our choice for CPU runs), ``hidden`` LSTM
    units (ViRB: 512), frames resized (shorter side) to ``image_size`` and centre-cropped."""

    image_size: int = 0
    num_frames: int = 8
    hidden: int = 512
    epochs: int = 100
    batch_size: int = 32
    lr: float = 1e-4
    encode_batch_size: int = 64
    limit: int = 0
    seed: int = 0


def _clips(folder: Path, num_frames: int, size: int, classes: list[str] | None, limit: int,
           progress: ProgressFn | None = None) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """uint8 clips ``[N, T, 3, S, S]``, class ids ``[N]`` and the class names of one split (the first
    ``limit`` clips when ``limit > 0``); ``progress(f"clips ({folder.name})", read, N)``."""
    if not folder.is_dir():
        raise FileNotFoundError(f"folder not found: {folder} (layout: {VIDEO_LAYOUT})")
    names = classes or sorted(p.name for p in folder.iterdir() if p.is_dir())
    found = [(label, clip_dir) for label, name in enumerate(names) if (folder / name).is_dir()
             for clip_dir in sorted(p for p in (folder / name).iterdir() if p.is_dir())]
    if not found:
        raise ValueError(f"no clips (folders of frames) in class folders under {folder} (layout: {VIDEO_LAYOUT})")
    found = found[:limit] if limit > 0 else found
    clips = []
    for _, clip_dir in tracked(found, f"clips ({folder.name})", len(found), progress):
        frames = _frames(clip_dir)
        if len(frames) < num_frames:
            raise ValueError(f"clip {clip_dir} has {len(frames)} frame(s), fewer than num_frames={num_frames}")
        picks = np.linspace(0, len(frames) - 1, num_frames).round().astype(int)
        clips.append(torch.stack([_square(_read_image(frames[i]), size, nearest=False) for i in picks]))
    return torch.stack(clips), torch.tensor([label for label, _ in found]), names


def run_video(checkpoint: str | Path | nn.Module, data: str, protocol: VideoProtocol | None = None,
              progress: ProgressFn | None = None) -> dict[str, Any]:
    """ViRB video classification, ``{metrics: {"virb-video": {"top1", "top5", ...}}, ...}``."""
    import ssl_evaluation
    from ssl_evaluation.virb.video_task import encode_clips

    started, p = time.perf_counter(), protocol or VideoProtocol()
    if p.num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {p.num_frames}")
    root = _data_root(data, VIDEO_LAYOUT)
    trunk, size = checked_trunk(checkpoint, p.image_size, (), "virb-video")
    train, train_y, classes = _clips(root / "train", p.num_frames, size, None, p.limit, progress)
    test, test_y, _ = _clips(_test_dir(root), p.num_frames, size, classes, 0, progress)

    def encode(clips: torch.Tensor) -> torch.Tensor:
        flat = _normalized(clips.flatten(0, 1)).view(*clips.shape[:2], *clips.shape[2:])
        return encode_clips(trunk, flat, p.encode_batch_size, progress=progress)

    scores = ssl_evaluation.video_task(encode(train), train_y, encode(test), test_y, len(classes), hidden=p.hidden,
                                       epochs=p.epochs, batch_size=p.batch_size, lr=p.lr, seed=p.seed, progress=progress)
    summary = {"name": data, "source": str(root), "image_size": size, "train_clips": len(train),
               "test_clips": len(test), "classes": len(classes)}
    return suite_result("virb-video", scores, p, summary, checkpoint, started,
                        {**scores.pop("protocol"), "image_size_used": size, "frames": "evenly spaced"})


# ---------------------------------------------------------------- optical flow


@dataclass
class FlowProtocol:
    """ViRB's KITTI optical-flow task: a decoder on both frames' ``conv1..res5`` maps
    (concatenated), EPE loss; defaults are ``ssl_evaluation.flow_task``'s."""

    layers: list[str] = field(default_factory=lambda: ["conv1", "res2", "res3", "res4", "res5"])
    epochs: int = 50
    batch_size: int = 8
    lr: float = 3e-4
    width: int = 64
    limit: int = 0
    seed: int = 0


def _flow_split(folder: Path, limit: int, progress: ProgressFn | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frames uint8 ``[N, 3, H, W]`` (first, second) and flow float ``[N, H, W, 2]``;
    ``progress(f"frame pairs ({folder.name})", read, N)``."""
    dirs = {name: folder / name for name in ("first", "second", "flow")}
    for path in dirs.values():
        if not path.is_dir():
            raise FileNotFoundError(f"folder not found: {path} (layout: {FLOW_LAYOUT})")
    files = _frames(dirs["first"])[: limit or None]
    if not files:
        raise ValueError(f"no images in {dirs['first']}")
    first, second, flows = [], [], []
    for file in tracked(files, f"frame pairs ({folder.name})", len(files), progress):
        partner = next((p for p in dirs["second"].glob(f"{file.stem}.*") if p.suffix.lower() in _IMAGE_EXTS), None)
        flow_path = dirs["flow"] / f"{file.stem}.npy"
        if partner is None or not flow_path.is_file():
            raise FileNotFoundError(f"{file} has no second frame or flow: expected second/{file.stem}.* and {flow_path}")
        a, b = _read_image(file), _read_image(partner)
        flow = np.load(flow_path, allow_pickle=False)
        if a.shape != b.shape or flow.shape != (a.shape[1], a.shape[2], 2):
            raise ValueError(f"{file.stem}: frames {tuple(a.shape[1:])} / {tuple(b.shape[1:])} and flow "
                             f"{tuple(flow.shape)} must share H x W (flow [H, W, 2])")
        if first and a.shape != first[0].shape:
            raise ValueError(f"{file} is {tuple(a.shape[1:])} px but {files[0]} is {tuple(first[0].shape[1:])} px: "
                             "one frame size per split")
        first.append(a), second.append(b), flows.append(torch.from_numpy(flow.astype(np.float32)))
    return torch.stack(first), torch.stack(second), torch.stack(flows)


def run_flow(checkpoint: str | Path | nn.Module, data: str, protocol: FlowProtocol | None = None,
             progress: ProgressFn | None = None) -> dict[str, Any]:
    """ViRB optical flow, ``{metrics: {"virb-flow": {"epe", "fl_all", ...}}, ...}``."""
    import ssl_evaluation

    started, p = time.perf_counter(), protocol or FlowProtocol()
    root = _data_root(data, FLOW_LAYOUT)
    trunk, _ = checked_trunk(checkpoint, 0, p.layers, "virb-flow")
    train, test = _flow_split(root / "train", p.limit, progress), _flow_split(_test_dir(root), 0, progress)
    scores = ssl_evaluation.flow_task(
        trunk, _normalized(train[0]), _normalized(train[1]), train[2], _normalized(test[0]), _normalized(test[1]), test[2],
        layers=list(p.layers), epochs=p.epochs, batch_size=p.batch_size, lr=p.lr, width=p.width, seed=p.seed,
        progress=progress,
    )
    summary = {"name": data, "source": str(root), "frame_size": list(train[0].shape[2:]), "train_pairs": len(train[0]),
               "test_pairs": len(test[0])}
    return suite_result("virb-flow", scores, p, summary, checkpoint, started, scores.pop("protocol"))


# ---------------------------------------------------------------- pixelwise tasks, encoder fine-tuned


class PixelTask(str, enum.Enum):
    segmentation = "segmentation"
    depth = "depth"


@dataclass
class PixelFinetuneProtocol:
    """ViRB's end-to-end mode of the pixelwise tasks: trunk and decoder trained together
    (``finetune=false`` trains the decoder alone); ``trunk_lr`` 0 = ``lr``; ``class_weights``
    (segmentation) empty = uniform; defaults are ``ssl_evaluation.pixel_finetune_task``'s."""

    task: PixelTask = PixelTask.segmentation
    image_size: int = 0
    limit: int = 0
    layers: list[str] = field(default_factory=lambda: ["conv1", "res2", "res3", "res4", "res5"])
    finetune: bool = True
    num_classes: int = 0
    class_weights: list[float] = field(default_factory=list)
    depth_scale: float = 0.001
    epochs: int = 20
    batch_size: int = 16
    lr: float = 3e-4
    trunk_lr: float = 0.0
    width: int = 64
    ignore_index: int = 255
    seed: int = 0


def run_pixel_finetune(checkpoint: str | Path | nn.Module, data: str, protocol: PixelFinetuneProtocol | None = None,
                       progress: ProgressFn | None = None) -> dict[str, Any]:
    """Segmentation (mIoU) or depth (RMSE) with the encoder fine-tuned, ``{metrics: {"pixel-finetune": ...}}``."""
    import ssl_evaluation

    started, p = time.perf_counter(), protocol or PixelFinetuneProtocol()
    task = p.task.value
    trunk, size = checked_trunk(checkpoint, p.image_size, p.layers, "pixel-finetune")
    train, test = _pixel_data(data, task, size, p.depth_scale, p.limit, progress)
    classes = 1
    if task == "segmentation":
        ids = torch.cat([s.targets[s.targets != p.ignore_index].flatten() for s in (train, test)])
        classes = p.num_classes or (int(ids.max()) + 1 if ids.numel() else 0)
        if classes < 1:
            raise ValueError(f"every mask pixel is ignore_index {p.ignore_index}; there is nothing to learn")
    scores = ssl_evaluation.pixel_finetune_task(
        trunk, _normalized(train.images), train.targets, _normalized(test.images), test.targets, task,
        num_classes=classes, layers=list(p.layers), finetune=p.finetune,
        class_weights=torch.tensor(p.class_weights) if p.class_weights else None, epochs=p.epochs,
        batch_size=p.batch_size, lr=p.lr, trunk_lr=p.trunk_lr or None, width=p.width, ignore_index=p.ignore_index,
        seed=p.seed, progress=progress,
    )
    return _pixel_result(checkpoint, data, size, "pixel-finetune", train, test, scores, p, started, task=task)
