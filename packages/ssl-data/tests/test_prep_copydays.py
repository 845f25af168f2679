"""Copydays preparer on a tiny fake copy of the official archives (real JPEG files, real names)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ssl_data.prep import copydays_split, prepare

ORIGINALS = ("200000", "200100", "200200")
STRONG = ("200001", "200002", "200101")  # attacks of blocks 2000 (twice) and 2001
CROPS = (10, 80)
QUALITIES = (3, 75)


def _photo(seed: int) -> Image.Image:
    """A 24x32 RGB 'photo' of 4x4-pixel colour blocks (distinct per seed)."""
    grid = np.random.default_rng(seed).integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    return Image.fromarray(np.kron(grid, np.ones((4, 4, 1), dtype=np.uint8)))


def _save(img: Image.Image, path: Path, quality: int = 95) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="JPEG", quality=quality)
    return path


def official_copydays(root: Path, strong_dir: str = "strong") -> dict[str, tuple[Path, str]]:
    """The four official archives extracted into ``root``: originals flat, strong attacks in
    ``strong_dir`` ("" = flat, as when both FAIR-mirror archives go into one folder),
    ``crops/<c>/`` and ``jpegqual/<q>/``. Returns expected query name -> (source file, original)."""
    expected: dict[str, tuple[Path, str]] = {}
    photos = {n: _photo(i) for i, n in enumerate(ORIGINALS)}
    for n, img in photos.items():
        expected[f"original_{n}.jpg"] = (_save(img, root / f"{n}.jpg"), n)
        for c in CROPS:
            w, h = img.size
            keep = (100 - c) / 100
            crop = img.crop((0, 0, max(1, round(w * keep)), max(1, round(h * keep))))
            expected[f"crops_{c}_{n}.jpg"] = (_save(crop, root / "crops" / str(c) / f"{n}.jpg"), n)
        for q in QUALITIES:
            expected[f"jpegqual_{q}_{n}.jpg"] = (_save(img, root / "jpegqual" / str(q) / f"{n}.jpg", q), n)
    for s in STRONG:
        original = f"{s[:4]}00"
        attacked = photos[original].rotate(90, expand=True)
        expected[f"strong_{s}.jpg"] = (_save(attacked, root / strong_dir / f"{s}.jpg"), original)
    return expected


def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_split_of_official_paths() -> None:
    assert copydays_split("200000.jpg") == ("original", "200000")
    assert copydays_split("200001.jpg") == ("strong", "200001")
    assert copydays_split("copydays_strong/200100.jpg") == ("strong", "200100")
    assert copydays_split("crops/30/200000.jpg") == ("crops_30", "200000")
    assert copydays_split("copydays_jpeg/jpegqual/5/201000.jpg") == ("jpegqual_5", "201000")
    with pytest.raises(ValueError, match="not <image number>.jpg"):
        copydays_split("crops/30/holiday.jpg")
    with pytest.raises(ValueError, match="numbered folder"):
        copydays_split("copydays_crop/30/200000.jpg")
    with pytest.raises(ValueError, match="crops/<level>"):
        copydays_split("crops/200000.jpg")


def test_official_layout_to_vissl_layout(tmp_path) -> None:
    expected = official_copydays(tmp_path / "in")
    summary = prepare("copydays", tmp_path / "in", tmp_path / "out")
    data = tmp_path / "out" / "copydays"
    assert summary["data_dir"] == str(data)
    assert _names(data) == {"queries", "database"}
    assert _names(data / "queries") == set(expected)
    assert _names(data / "database") == {f"{n}.jpg" for n in ORIGINALS}
    for name, (src, original) in expected.items():
        out = data / "queries" / name
        assert out.read_bytes() == src.read_bytes()
        assert Image.open(out).format == "JPEG"
    for n in ORIGINALS:
        assert (data / "database" / f"{n}.jpg").read_bytes() == (tmp_path / "in" / f"{n}.jpg").read_bytes()
    assert summary["queries"] == {
        "original": 3, "strong": 3, "jpegqual_3": 3, "jpegqual_75": 3, "crops_10": 3, "crops_80": 3,
    }
    assert summary["database"] == 3 and summary["distractors"] == 0
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_output_is_what_ssl_eval_reads(tmp_path) -> None:
    retrieval = pytest.importorskip("ssl_evaluation.retrieval")
    torch = pytest.importorskip("torch")
    expected = official_copydays(tmp_path / "in")
    data = Path(prepare("copydays", tmp_path / "in", tmp_path / "out")["data_dir"])
    queries = sorted((data / "queries").iterdir())
    database = sorted((data / "database").iterdir())
    splits, relevant = retrieval.copydays_ground_truth(queries, database)
    # ground truth from how the files were made: each query matches exactly its original
    for i, q in enumerate(queries):
        assert [database[j].name for j in relevant[i]] == [f"{expected[q.name][1]}.jpg"]
    assert set(splits) == {"original", "strong", "jpegqual_3", "jpegqual_75", "crops_10", "crops_80"}

    def colour_grid(x):  # [1, 3, H, W] -> [1, 3, 4, 4]: a fixed 'trunk' that needs no weights
        return torch.nn.functional.adaptive_avg_pool2d(x, 4)

    scores = retrieval.evaluate_copydays(colour_grid, data, resize_max=32)
    assert set(scores) == set(splits) | {"protocol"}
    assert scores["original"]["mAP"] == pytest.approx(100.0)  # a file always finds itself first


def test_flat_strong_and_distractors(tmp_path) -> None:
    expected = official_copydays(tmp_path / "in", strong_dir="")
    for i in range(2):
        _save(_photo(100 + i), tmp_path / "yfcc" / f"sub{i}" / f"photo{i}.jpg")
    summary = prepare("copydays", tmp_path / "in", tmp_path / "out", distractors=tmp_path / "yfcc")
    data = tmp_path / "out" / "copydays"
    assert _names(data / "queries") == set(expected) and summary["distractors"] == 2
    assert _names(data / "database_and_distractors") == (
        {f"{n}.jpg" for n in ORIGINALS} | {"distractor_000000.jpg", "distractor_000001.jpg"}
    )
    assert (data / "database_and_distractors" / "distractor_000001.jpg").read_bytes() == (
        tmp_path / "yfcc" / "sub1" / "photo1.jpg"
    ).read_bytes()


def test_bad_layouts_fail_clearly_and_keep_the_previous_output(tmp_path) -> None:
    root = tmp_path / "in"
    official_copydays(root)
    prepare("copydays", root, tmp_path / "out")
    before = sorted(p.name for p in (tmp_path / "out" / "copydays" / "queries").iterdir())

    _save(_photo(7), root / "strong" / "300001.jpg")  # an attack whose original is missing
    with pytest.raises(ValueError, match="no original.*300001.jpg"):
        prepare("copydays", root, tmp_path / "out")
    (root / "strong" / "300001.jpg").unlink()

    _save(_photo(8), root / "original" / "200000.jpg")  # the same original twice
    with pytest.raises(ValueError, match="two Copydays files for query original_200000.jpg"):
        prepare("copydays", root, tmp_path / "out")
    (root / "original" / "200000.jpg").unlink()

    _save(_photo(9), root / "strong" / "holiday.jpg")
    with pytest.raises(ValueError, match="holiday.jpg"):
        prepare("copydays", root, tmp_path / "out")

    # nothing half-written: the earlier output is intact and no temporary folder is left
    assert sorted(p.name for p in (tmp_path / "out" / "copydays" / "queries").iterdir()) == before
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["copydays"]

    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no Copydays originals"):
        prepare("copydays", tmp_path / "empty", tmp_path / "out2")
    with pytest.raises(FileNotFoundError, match="Copydays folder not found"):
        prepare("copydays", tmp_path / "missing", tmp_path / "out2")
    assert not (tmp_path / "out2").exists()
