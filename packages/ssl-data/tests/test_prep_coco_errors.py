"""The ``coco`` preparer on malformed inputs: one clear error naming the file and the id / field,
and nothing written to the output folder (real JSON and image files in tmp_path)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from ssl_data.prep import prepare


def _good_annotations() -> dict[str, Any]:
    return {
        "images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
        "categories": [{"id": 1, "name": "y"}, {"id": 90, "name": "x"}],
        "annotations": [{"image_id": 1, "category_id": 90}, {"image_id": 2, "category_id": 1}],
    }


def _coco(root: Path, val: dict[str, Any] | str | None = None) -> Path:
    """COCO 2014 layout with a valid train split; ``val`` replaces the val annotation content
    (a dict is JSON-encoded, a str written as is). Both images exist in both splits."""
    (root / "annotations").mkdir(parents=True)
    for split in ("train", "val"):
        for name in ("a.jpg", "b.jpg"):
            (root / f"{split}2014").mkdir(exist_ok=True)
            Image.new("RGB", (4, 4), (50, 50, 50)).save(root / f"{split}2014" / name)
        content = _good_annotations() if split == "train" or val is None else val
        text = content if isinstance(content, str) else json.dumps(content)
        (root / "annotations" / f"instances_{split}2014.json").write_text(text)
    return root


def _val_file(root: Path) -> str:
    return str(root / "annotations" / "instances_val2014.json")


def _without(key: str) -> dict[str, Any]:
    ann = _good_annotations()
    del ann[key]
    return ann


def _with_annotation(annotation: dict[str, Any]) -> dict[str, Any]:
    ann = _good_annotations()
    ann["annotations"].append(annotation)
    return ann


def _with_image(image: dict[str, Any]) -> dict[str, Any]:
    ann = _good_annotations()
    ann["images"].append(image)
    return ann


@pytest.mark.parametrize(
    ("val", "error", "needle"),
    [
        (_with_annotation({"image_id": 777, "category_id": 1}), ValueError, "annotations[2] refers to unknown image_id 777"),
        (_with_annotation({"image_id": 1, "category_id": 555}), ValueError, "annotations[2] refers to unknown category_id 555"),
        (_without("images"), ValueError, "missing key 'images'"),
        (_without("annotations"), ValueError, "missing key 'annotations'"),
        (_without("categories"), ValueError, "missing key 'categories'"),
        ('{"images": [', ValueError, "is not valid JSON"),
        ("[1, 2]", ValueError, "top level is not a JSON object"),
        ({**_good_annotations(), "images": {"id": 1}}, ValueError, "'images' must be a list"),
        (_with_annotation({"image_id": 1}), ValueError, "annotations[2] has no 'category_id' field"),
        (_with_image({"file_name": "c.jpg"}), ValueError, "images[2] has no 'id' field"),
        (_with_image({"id": 3}), ValueError, "images[2] (id 3) has no 'file_name' field"),
        (_with_image({"id": 1, "file_name": "a.jpg"}), ValueError, "image id 1 is listed twice"),
        (_with_annotation({"image_id": "1", "category_id": 1}), ValueError, "'image_id' must be an integer id, got '1'"),
        ({**_good_annotations(), "images": [], "annotations": []}, ValueError, "'images' is empty"),
        (_with_image({"id": 3, "file_name": "gone.jpg"}), FileNotFoundError, "image id 3 is listed but its file is missing"),
    ],
)
def test_malformed_coco_is_one_clear_error_and_writes_nothing(tmp_path, val, error, needle) -> None:
    root = _coco(tmp_path / "coco", val)
    out = tmp_path / "out"
    with pytest.raises(error) as info:
        prepare("coco", root, out)
    message = str(info.value)
    assert type(info.value) is error  # not a bare KeyError / TypeError
    assert needle in message and _val_file(root) in message and "\n" not in message
    # the train split was valid, yet nothing of it (nor a temp file) may be left behind
    assert not out.exists() or list(out.iterdir()) == []


def test_valid_layout_still_prepares(tmp_path) -> None:
    root = _coco(tmp_path / "coco")
    prepare("coco", root, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "train_images.npy", "train_labels.npy", "val_images.npy", "val_labels.npy",
    ]  # fmt: skip


def test_cli_prints_one_error_line_and_exits_2(tmp_path) -> None:
    root = _coco(tmp_path / "coco", _with_annotation({"image_id": 777, "category_id": 1}))
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "ssl_cli", "data", "prepare", "coco", "-i", str(root), "-o", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ssl: error: "), proc.stderr
    assert "unknown image_id 777" in lines[0] and _val_file(root) in lines[0]
    assert not out.exists() or list(out.iterdir()) == []
