"""ssl-evaluation's image readers and the `ssl` commands refuse decompression bombs in one line.

Each reader gets a real PNG whose header claims 90 million pixels (over PIL's limit, where PIL
itself only warns and decodes the whole image); it must stop with one ``UnreadableImageError``
line naming the file (ssl_data's guarded opener), and the command with ``ssl: error:`` and exit 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from test_cli_virb import S, one_error_line, save_trunk, ssl_main, write_pixel_dataset

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "packages" / "ssl-data" / "tests"))
from test_prep_bomb_images import BOMB, LIMIT, refused_in_one_line  # noqa: E402
from test_prep_folder_modes import pets_layout  # noqa: E402


def _retrieval(tmp: Path) -> None:
    from ssl_evaluation.retrieval import load_retrieval_image

    (tmp / "bomb.jpg").write_bytes(BOMB)
    load_retrieval_image(tmp / "bomb.jpg")


def _coco(tmp: Path) -> None:
    from ssl_evaluation.detection.coco import COCODetection

    (tmp / "images").mkdir()
    (tmp / "images" / "bomb.jpg").write_bytes(BOMB)
    annotations = {"images": [{"id": 1, "file_name": "bomb.jpg"}], "categories": [{"id": 1, "name": "cat"}],
                   "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5]}]}  # fmt: skip
    (tmp / "instances.json").write_text(json.dumps(annotations))
    COCODetection(tmp / "images", tmp / "instances.json")[0]


def _voc(tmp: Path) -> None:
    from ssl_evaluation.detection.voc import VOCDetection

    for sub in ("ImageSets/Main", "Annotations", "JPEGImages"):
        (tmp / sub).mkdir(parents=True)
    (tmp / "ImageSets" / "Main" / "val.txt").write_text("000001\n")
    (tmp / "Annotations" / "000001.xml").write_text(
        "<annotation><size><width>9</width><height>9</height><depth>3</depth></size><object><name>cat</name>"
        "<difficult>0</difficult><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox>"
        "</object></annotation>"
    )
    (tmp / "JPEGImages" / "000001.jpg").write_bytes(BOMB)
    VOCDetection(tmp, "val")[0]


def _pixel_split(kind: str, task: str) -> Callable[[Path], None]:
    def run(tmp: Path) -> None:
        from ssl_evaluation.suites.virb_suites import load_pixel_split

        data = write_pixel_dataset(tmp / "pixels", n_train=2, n_val=1)
        (data / "train" / kind / "001.png").write_bytes(BOMB)
        load_pixel_split(data, "train", task, S)

    return run


CASES: dict[str, Callable[[Path], None]] = {
    "retrieval: load_retrieval_image": _retrieval,
    "detection: COCODetection": _coco,
    "detection: VOCDetection": _voc,
    "virb suites: image": _pixel_split("images", "segmentation"),
    "virb suites: mask": _pixel_split("masks", "segmentation"),
    "virb suites: 16-bit depth map": _pixel_split("depth", "depth"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_evaluation_readers_refuse_bombs_in_one_line(tmp_path: Path, case: str) -> None:
    message = refused_in_one_line(lambda: CASES[case](tmp_path))
    bomb = next(p for p in tmp_path.rglob("*") if p.is_file() and p.read_bytes() == BOMB)
    assert str(bomb) in message


def test_commands_refuse_bombs_with_one_error_line(capsys, tmp_path: Path) -> None:
    ckpt = save_trunk(tmp_path / "tiny.pt", width_multiplier=0.125, small_input=True)
    data = write_pixel_dataset(tmp_path / "pixels", n_train=2, n_val=1)
    (data / "val" / "images" / "000.png").write_bytes(BOMB)
    out = tmp_path / "seg-out"
    code, _, err = ssl_main(capsys, "benchmark", "segmentation", "-c", ckpt, "--data", data, f"image_size={S}",
                            "epochs=1", "--out", out)  # fmt: skip
    one_error_line(code, err, str(data / "val" / "images" / "000.png"), LIMIT)
    assert not out.exists()

    pets = pets_layout(tmp_path / "in")
    (pets / "annotations" / "trimaps" / "pug_2.png").write_bytes(BOMB)
    code, _, err = ssl_main(capsys, "data", "prepare", "pets_masks", "-i", tmp_path / "in", "-o", tmp_path / "prep")
    one_error_line(code, err, "cannot read Pets trimap", str(pets / "annotations" / "trimaps" / "pug_2.png"), LIMIT)
    assert not (tmp_path / "prep").exists() or not any((tmp_path / "prep").rglob("*"))
