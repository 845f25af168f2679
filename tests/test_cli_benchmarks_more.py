"""`ssl benchmark retrieval` on a revisited-Paris layout and `ssl benchmark detection --kind mask_rcnn`
on a COCO layout with polygon masks, end to end through the CLI entry point on tiny files on disk.

The retrieval scores are worked out by hand from the revisited protocol's definitions (Radenović et
al., CVPR 2018, and the revisitop evaluation code): junk removed first, trapezoidal AP, and
mP@k with the cut-off capped at the last relevant position.
"""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
from PIL import Image

import bench_files as bf

BOX_KEYS = {"AP", "AP50", "AP75", "APs", "APm", "APl"}


def ssl_main(capsys, *args: object) -> tuple[int, str, str]:
    """``ssl ARGS`` in this process (the same entry point as the console script)."""
    from ssl_cli.main import main

    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return bf.save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt")


def _write_rparis(root, size: int = 24):
    """``gnd_rparis6k.pkl`` (Python-2-era pickle protocol 2, plain lists as in the download) + ``jpg/``.

    Database: 3 images of colour A (indices 0, 1, 2), then 3 of colour B (3, 4, 5); query 0 has
    colour A, query 1 colour B. A same-colour image always outranks an other-colour one, while the
    order inside a colour group is unknown, so every group below is either all non-negatives
    (easy/hard/junk, whose scored positions do not depend on their order) or all negatives.
    """
    rng = np.random.default_rng(7)
    (root / "jpg").mkdir(parents=True)
    colours = [bf.class_colour(0, 2), bf.class_colour(1, 2)]  # red and cyan

    def save(name: str, c: int) -> None:
        noisy = colours[c].astype(np.int16) + rng.integers(-10, 11, (size, size, 3))
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(root / "jpg" / f"{name}.jpg", quality=95)

    imlist = [f"paris_{'defense' if c == 0 else 'louvre'}_{i:06d}" for c in (0, 1) for i in range(3)]
    for k, name in enumerate(imlist):
        save(name, k // 3)
    qimlist = ["paris_defense_000900", "paris_louvre_000900"]
    for q, name in enumerate(qimlist):
        save(name, q)
    bbx = [0.0, 0.0, float(size), float(size)]
    gnd = [
        # query 0: its own colour group holds easy, hard and junk -> 100 everywhere
        {"bbx": bbx, "easy": [0], "hard": [1], "junk": [2]},
        # query 1 (colour B): the 3 B images are negatives and rank first; its positives are colour A
        {"bbx": bbx, "easy": [0, 1], "hard": [2], "junk": []},
    ]
    with (root / "gnd_rparis6k.pkl").open("wb") as f:
        pickle.dump({"imlist": imlist, "qimlist": qimlist, "gnd": gnd}, f, protocol=2)
    return root


def test_rparis6k_retrieval_scores_worked_out_by_hand(ckpt, capsys, tmp_path):
    data = _write_rparis(tmp_path / "rparis6k")
    code, _, err = ssl_main(capsys, "benchmark", "retrieval", "-c", ckpt, "--data", data,
                            "resize_max=24", "--out", tmp_path / "r")
    assert code == 0, err
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    assert results["data"]["dataset"] == "rparis6k"  # guessed from gnd_rparis6k.pkl
    scores = results["benchmarks"]["retrieval"]
    # Query 0: E ok {0} (hard 1 and junk 2 dropped) -> position 0; M ok {0, 1} -> positions 0, 1;
    # H ok {1} -> position 0: AP 1 and P@k 1 in all three.
    # Query 1 ranks its 3 negatives (B) first, then the A group (0-based positions 3, 4, 5).
    #   E: ok {0, 1}, junk {2}: positions 3, 4.
    #      AP = [(0 + 1/4)/2 + (1/4 + 2/5)/2] / 2 = (1/8 + 13/40) / 2 = 9/40 = 0.225
    #   M: ok {0, 1, 2}: positions 3, 4, 5.
    #      AP = [1/8 + 13/40 + (2/5 + 3/6)/2] / 3 = (0.125 + 0.325 + 0.45) / 3 = 0.3
    #   H: ok {2}, junk {0, 1}: position 3. AP = (0 + 1/4)/2 = 0.125
    assert scores["mAP"]["e"] == pytest.approx(100 * (1 + 0.225) / 2)  # 61.25
    assert scores["mAP"]["m"] == pytest.approx(100 * (1 + 0.3) / 2)  # 65
    assert scores["mAP"]["h"] == pytest.approx(100 * (1 + 0.125) / 2)  # 56.25
    # mP@k, query 1, 1-based positions: E {4, 5}: k=1 -> 0/1, k=5 -> 2/5, k=10 -> capped at 5: 2/5;
    # M {4, 5, 6}: 0, 2/5, capped at 6: 3/6; H {4}: 0, capped at 4: 1/4, 1/4. Query 0 gives 1.
    mp = scores["mp@k"]
    assert mp["k"] == [1, 5, 10]
    assert mp["e"] == pytest.approx([50.0, 70.0, 70.0])
    assert mp["m"] == pytest.approx([50.0, 70.0, 75.0])
    assert mp["h"] == pytest.approx([50.0, 62.5, 62.5])
    protocol = results["protocol"]["retrieval"]
    assert protocol["dataset"] == "rparis6k" and protocol["pooling"] == "gem" and protocol["layer"] == "res5"


def _write_coco_with_polygons(root, size: int = 64):
    """bf.write_coco's layout (one coloured square per image) plus each square as a COCO polygon."""
    bf.write_coco(root, per_split={"train2017": 3, "val2017": 2}, size=size)
    for split in ("train2017", "val2017"):
        path = root / "annotations" / f"instances_{split}.json"
        doc = json.loads(path.read_text())
        for ann in doc["annotations"]:
            x, y, w, h = ann["bbox"]
            ann["segmentation"] = [[x, y, x + w, y, x + w, y + h, x, y + h]]
        path.write_text(json.dumps(doc))
    return root


def test_mask_rcnn_on_a_coco_layout_with_polygons(ckpt, capsys, tmp_path):
    data = _write_coco_with_polygons(tmp_path / "coco")
    code, _, err = ssl_main(
        capsys, "benchmark", "detection", "-c", ckpt, "--data", data, "kind=mask_rcnn",
        "min_size=64", "max_size=64", "max_iters=2", "warmup_iters=1", "steps=[100]",
        "batch_size=1", "rois_per_image=16", "--out", tmp_path / "det",
    )
    assert code == 0, err
    results = json.loads((tmp_path / "det" / "results.json").read_text())
    det = results["benchmarks"]["detection"]
    assert det["iterations"] == 2 and math.isfinite(det["final_loss"])
    for iou_type in ("bbox", "segm"):
        assert set(det[iou_type]) == BOX_KEYS, iou_type
        # percent, or COCO's -1 for "nothing to score" (e.g. no objects of that size)
        assert all(v == -1.0 or 0.0 <= v <= 100.0 for v in det[iou_type].values()), det[iou_type]
    # every object is a 21-32 px square in a 64 px image: small (< 32^2 px) or medium, never large
    assert det["bbox"]["APl"] == -1.0 and det["segm"]["APl"] == -1.0
    protocol = results["protocol"]["detection"]
    assert protocol["kind"] == "mask_rcnn" and protocol["num_classes"] == 3 and protocol["steps"] == [100]
    assert results["data"]["format"] == "coco" and results["data"]["test_images"] == 2


def test_mask_rcnn_on_a_voc_layout_is_one_error_line(ckpt, capsys, tmp_path):
    voc = bf.write_voc(tmp_path / "VOC2007", trainval_per_class=1, test_per_class=1)
    code, _, err = ssl_main(capsys, "benchmark", "detection", "-c", ckpt, "--data", voc, "kind=mask_rcnn",
                            "--out", tmp_path / "det")
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("[")]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("ssl: error: "), err
    assert "kind=mask_rcnn" in lines[0] and "COCO" in lines[0] and "Traceback" not in err
    assert not (tmp_path / "det").exists()
