"""INRIA Copydays -> VISSL's copy-detection layout (``queries/``, ``database/``).

The official archives hold JPEGs named by a six-digit number; ``number // 100`` is the block of
one original photo. ``copydays_original.tar.gz`` has the 157 originals (``200000.jpg``: numbers
divisible by 100), ``copydays_strong.tar.gz`` the 229 strong attacks (``200001.jpg``, ...: same
block, never divisible by 100), ``copydays_crop.tar.gz`` ``crops/{10..80}/<original>.jpg`` and
``copydays_jpeg.tar.gz`` ``jpegqual/{3..75}/<original>.jpg`` (the percentage cropped away and the
JPEG quality). VISSL's ``CopyDaysDataset`` (and ``ssl_evaluation.evaluate_copydays``) read
``queries/*.jpg`` whose stem is ``{split}_{number}`` and ``database/*.jpg`` holding the originals.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from ssl_data.atomic_files import make_temp_dir
from ssl_data.prep.outputs import link_or_copy, require_dir

__all__ = ["COPYDAYS_CROPS", "COPYDAYS_JPEG_QUALITIES", "copydays", "copydays_split"]

#: the percentages of the image cropped away in ``crops/<level>/``.
COPYDAYS_CROPS: tuple[int, ...] = (10, 15, 20, 30, 40, 50, 60, 70, 80)
#: the JPEG qualities in ``jpegqual/<quality>/``.
COPYDAYS_JPEG_QUALITIES: tuple[int, ...] = (3, 5, 8, 10, 15, 20, 30, 50, 75)

_CROP_DIRS = ("crops", "crop")
_JPEG_DIRS = ("jpegqual", "jpeg")
_JPEG_SUFFIXES = (".jpg", ".jpeg")


def copydays_split(relative_path: str | Path) -> tuple[str, str]:
    """``(query split, image number)`` of one official Copydays file from its path below ``-i``.

    ``crops/30/200000.jpg`` -> ``("crops_30", "200000")``, ``jpegqual/3/200000.jpg`` ->
    ``("jpegqual_3", ...)``, a file under a ``*strong*`` folder or a number not divisible by 100
    -> ``"strong"``, else ``"original"``. ValueError for a file that is not ``<number>.jpg`` or a
    numbered folder outside ``crops/`` and ``jpegqual/``.
    """
    rel = Path(relative_path)
    if not rel.stem.isdigit():
        raise ValueError(f"Copydays file name is not <image number>.jpg: {rel}")
    folders = [p.lower() for p in rel.parts[:-1]]
    for prefix, names in (("crops", _CROP_DIRS), ("jpegqual", _JPEG_DIRS)):
        for i, folder in enumerate(folders):
            if folder in names:
                level = folders[i + 1] if i + 1 < len(folders) else ""
                if not level.isdigit():
                    raise ValueError(f"Copydays file {rel}: expected {folder}/<level>/<image number>.jpg")
                return f"{prefix}_{int(level)}", rel.stem
    if any(f.isdigit() for f in folders):
        raise ValueError(f"Copydays file {rel}: a numbered folder outside crops/ or jpegqual/")
    if any("strong" in f for f in folders) or int(rel.stem) % 100 != 0:
        return "strong", rel.stem
    return "original", rel.stem


def _official_files(root: Path, skip: Path) -> list[Path]:
    """Every visible ``.jpg`` below ``root`` (sorted), not descending into ``skip``."""
    found = []
    for folder, dirs, files in os.walk(root, followlinks=True):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d).resolve() != skip)
        found += [here / f for f in files if not f.startswith(".") and f.lower().endswith(_JPEG_SUFFIXES)]
    return sorted(found)


def _split_order(split: str) -> tuple[int, int]:
    kind, _, level = split.partition("_")
    return ({"original": 0, "strong": 1, "jpegqual": 2, "crops": 3}[kind], int(level or 0))


def copydays(input_path: Path, output_dir: Path, distractors: Path | None = None) -> dict[str, Any]:
    """Copydays in its official layout (the four archives extracted anywhere below ``-i``; crops
    and JPEG ones are optional) -> ``OUT/copydays/``, the folder VISSL's ``IMG_RETRIEVAL.DATASET_PATH``
    and ``ssl_evaluation.evaluate_copydays(feature_fn, OUT/copydays)`` read:

    - ``queries/{split}_{number}.jpg`` for every file: splits ``original``, ``strong``,
      ``jpegqual_{q}``, ``crops_{c}``;
    - ``database/{number}.jpg``: the originals (VISSL's ``database_splits``);
    - with ``distractors`` (a folder of ``.jpg`` images, searched recursively):
      ``database_and_distractors/`` = the originals + ``distractor_{i:06d}.jpg`` (never a match).

    Files are hard-linked (copied across file systems). The folder is built hidden next to its
    final place and renamed in only when complete (an existing ``OUT/copydays`` is replaced).
    ValueError for a name that is not ``<number>.jpg``, two files that would get one name, or a
    distorted image without its original; FileNotFoundError when no original is found.
    """
    root = require_dir(Path(input_path), "Copydays folder")
    out = Path(output_dir)
    final = out / "copydays"
    queries: dict[str, Path] = {}
    database: dict[str, Path] = {}
    for path in _official_files(root, final.resolve()):
        split, number = copydays_split(path.relative_to(root))
        name = f"{split}_{number}.jpg"
        if name in queries:
            raise ValueError(f"two Copydays files for query {name}: {queries[name]} and {path}")
        queries[name] = path
        if split == "original":
            database[f"{number}.jpg"] = path
    if not database:
        raise FileNotFoundError(f"no Copydays originals (<number>.jpg, number divisible by 100) found below {root}")
    blocks = {int(Path(n).stem) // 100 for n in database}
    orphans = [str(p) for n, p in queries.items() if int(Path(n).stem.rsplit("_", 1)[1]) // 100 not in blocks]
    if orphans:
        raise ValueError(f"{len(orphans)} Copydays image(s) have no original in {root}, e.g. {orphans[0]}")
    extra: list[Path] = []
    if distractors is not None:
        extra = _official_files(require_dir(Path(distractors), "distractor folder"), final.resolve())
        if not extra:
            raise FileNotFoundError(f"no .jpg images found below the distractor folder {distractors}")

    tmp = make_temp_dir(out, "copydays")
    try:
        folders = {"queries": queries, "database": database}
        if distractors is not None:
            with_distractors = dict(database)
            with_distractors.update({f"distractor_{i:06d}.jpg": p for i, p in enumerate(extra)})
            folders["database_and_distractors"] = with_distractors
        for folder, files in folders.items():
            (tmp / folder).mkdir()
            for name, src in files.items():
                link_or_copy(src, tmp / folder / name)
        old = None
        if final.exists():
            old = make_temp_dir(out, "copydays.old")
            os.replace(final, old / "copydays")
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    counts: dict[str, int] = {}
    for name in queries:
        split = name.rsplit("_", 1)[0]
        counts[split] = counts.get(split, 0) + 1
    return {
        "data_dir": str(final),
        "queries": {s: counts[s] for s in sorted(counts, key=_split_order)},
        "database": len(database),
        "distractors": len(extra),
    }
