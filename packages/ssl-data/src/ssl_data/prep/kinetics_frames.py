"""Kinetics clips -> ViRB's action-prediction input: a few evenly spaced frames per clip.

Reads the layout of the Kinetics downloaders (``SPLIT/LABEL/YOUTUBEID_START_END.mp4``, SPLIT
``train`` and ``val`` / ``valid`` / ``validate``) and writes
``OUT/{train,val}/LABEL/CLIP/frame_{i}.jpg`` for ``i < frames`` (ViRB encodes 6 frames per clip
and runs an LSTM over them). Clips with fewer decodable frames than ``frames`` are skipped and
counted, as ViRB skips them; a file that is not a video is an error.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ssl_data.atomic_files import make_temp_dir
from ssl_data.prep.outputs import require_dir
from ssl_data.progress import ProgressFn

__all__ = ["VIDEO_EXTENSIONS", "evenly_spaced_frames", "kinetics_frames"]

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov")


def evenly_spaced_frames(video: Path, count: int) -> list[Image.Image]:
    """``count`` RGB frames at indices ``round(linspace(0, n - 1, count))`` of ``video``'s ``n``
    decoded frames (PyAV); fewer than ``count`` frames -> an empty list."""
    try:
        import av
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("kinetics_frames needs PyAV to decode videos: pip install 'ssl-data[prep]'") from None
    try:
        with av.open(str(video)) as container:
            frames = [f.to_image().convert("RGB") for f in container.decode(video=0)]
    except (av.error.FFmpegError, OSError) as e:
        raise ValueError(f"cannot decode video {video}: {e}") from None
    if len(frames) < count:
        return []
    return [frames[int(i)] for i in np.round(np.linspace(0, len(frames) - 1, count))]


def kinetics_frames(input_path: Path, output_dir: Path, frames: int = 6, progress: ProgressFn | None = None) -> dict[str, Any]:
    """Kinetics videos -> per-clip frame folders (module docstring); ``progress("videos (train|val)",
    decoded, total)``."""
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    base = require_dir(Path(input_path), "Kinetics folder")
    val_name = next((n for n in ("val", "valid", "validate") if (base / n).is_dir()), None)
    if not (base / "train").is_dir() or val_name is None:
        raise FileNotFoundError(f"Kinetics layout not found: expected {base / 'train'} and {base / 'val'} (or valid/, validate/)")
    created = not Path(output_dir).exists()
    scratch = make_temp_dir(Path(output_dir), "kinetics")
    try:
        items: dict[str, list[tuple[Path, str]]] = {}
        skipped: dict[str, int] = {}
        for split, folder in (("train", "train"), ("val", val_name)):
            items[split], skipped[split] = [], 0
            videos = sorted(v for v in (base / folder).glob("*/*") if v.suffix.lower() in VIDEO_EXTENSIONS)
            for done, video in enumerate(videos):
                if progress is not None:  # before each video, then once all are done
                    progress(f"videos ({split})", done, len(videos))
                picked = evenly_spaced_frames(video, frames)
                if not picked:
                    skipped[split] += 1
                    continue
                clip = scratch / split / video.parent.name / video.stem
                clip.mkdir(parents=True)
                items[split].append((clip, video.parent.name))
                for i, frame in enumerate(picked):
                    frame.save(clip / f"frame_{i}.jpg", quality=95)
            if progress is not None:
                progress(f"videos ({split})", len(videos), len(videos))
        written = _write_clip_folders(Path(output_dir), items)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        if created:
            shutil.rmtree(output_dir, ignore_errors=True)
        raise
    shutil.rmtree(scratch, ignore_errors=True)
    return {"output": written, "clips": {s: len(v) for s, v in items.items()}, "skipped_short_clips": skipped}


def _write_clip_folders(output_dir: Path, items: dict[str, list[tuple[Path, str]]]) -> dict[str, str]:
    """Publish the scratch tree (already OUT's layout) with one rename per split, after checking
    that no split is empty."""
    for split, clips in items.items():
        if not clips:
            raise ValueError(f"no clip with enough frames for split {split!r}")
    written = {}
    for split, clips in items.items():
        src = clips[0][0].parent.parent
        final = output_dir / split
        if final.exists():
            shutil.rmtree(final)
        src.rename(final)
        written[split] = str(final)
    return written
