"""UCF-101 as an image dataset: the middle frame of every video (VISSL's ucf101 preparer)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from PIL import Image

from ssl_data.atomic_files import make_temp_dir
from ssl_data.prep._roots import find_root
from ssl_data.prep.outputs import require_file, write_disk_folder
from ssl_data.progress import ProgressFn

__all__ = ["middle_frame", "ucf101"]


def middle_frame(video: Path) -> Image.Image:
    """The frame at the middle of ``video`` (decoded with PyAV), as an RGB PIL image."""
    try:
        import av
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("ucf101 needs PyAV to decode videos: pip install 'ssl-data[prep]'") from None
    try:
        with av.open(str(video)) as container:
            frames = [f.to_image() for f in container.decode(video=0)]
    except (av.error.FFmpegError, OSError) as e:
        raise ValueError(f"cannot decode video {video}: {e}") from None
    if not frames:
        raise ValueError(f"video without frames: {video}")
    return frames[len(frames) // 2].convert("RGB")


def ucf101(input_path: Path, output_dir: Path, split: int = 1, progress: ProgressFn | None = None) -> dict[str, Any]:
    """UCF-101 (``UCF-101/{class}/*.avi``, ``ucfTrainTestlist/{train,test}list0{split}.txt``) ->
    disk_folder ``train/`` and ``val/`` (the test list) holding the middle frame of each video as
    JPEG, one folder per action class; ``progress("videos (train|val)", decoded, total)``."""
    if split not in (1, 2, 3):
        raise ValueError(f"split must be 1, 2 or 3, got {split}")
    root = find_root(input_path, "ucfTrainTestlist", ("ucf101", "UCF101"))
    videos = root / "UCF-101"
    scratch = make_temp_dir(Path(output_dir), "ucf101-frames")
    try:
        items: dict[str, list[tuple[Path, str]]] = {}
        for out_split, list_name in (("train", f"trainlist0{split}.txt"), ("val", f"testlist0{split}.txt")):
            items[out_split] = []
            lines = require_file(root / "ucfTrainTestlist" / list_name, "UCF-101 split list").read_text().splitlines()
            lines = [ln for ln in lines if ln.strip()]
            for done, ln in enumerate(lines):
                if progress is not None:  # before each video, then once all are done
                    progress(f"videos ({out_split})", done, len(lines))
                rel = ln.split()[0]  # train lists add " class_index"
                video = require_file(videos / rel, "video")
                jpg = scratch / out_split / f"{Path(rel).stem}.jpg"
                jpg.parent.mkdir(parents=True, exist_ok=True)
                middle_frame(video).save(jpg, quality=95)
                items[out_split].append((jpg, rel.split("/")[0]))
            if progress is not None:
                progress(f"videos ({out_split})", len(lines), len(lines))
        return write_disk_folder(Path(output_dir), items, progress)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
