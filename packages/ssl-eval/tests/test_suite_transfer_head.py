"""``ssl benchmark transfer-head`` (ViRB's ImageNet-v2 reuse of the ImageNet head): a head trained
on a folder's train split scores a test-only folder. The test-only folders here are copies of the
source's own test images under other names, so the expected scores follow by hand: the same
images under index names score exactly the source's top-1; with the two classes swapped by a
label-map file, every right answer becomes wrong (top-1 = 100 - source top-1)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from ssl_evaluation import suites
from ssl_evaluation.suites.transfer_head_suite import TransferHeadProtocol, head_label_map, run_transfer_head


@pytest.fixture()
def trunk():
    import ssl_models

    torch.manual_seed(0)
    return ssl_models.build_trunk("resnet18", width_multiplier=0.125, small_input=True)


def _folder(root, per_class: dict[str, int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    for name, count in per_class.items():
        colour = (200, 30, 30) if name.endswith("a") else (30, 30, 200)
        (root / name).mkdir(parents=True)
        for i in range(count):
            pixels = np.clip(np.array(colour) + rng.integers(-40, 40, (16, 16, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")


def test_defaults_and_registration() -> None:
    # ViRB image-level head: Adam lr 1e-4, batch 32, 100 epochs
    p = TransferHeadProtocol()
    assert (p.lr, p.head_batch_size, p.epochs, p.label_map, p.test_data) == (1e-4, 32, 100, "auto", "")
    bench = suites.BENCHMARKS["transfer-head"]
    assert bench.run is run_transfer_head and bench.path_fields == ("test_data",)


def test_index_names_score_the_source_and_a_swapped_map_inverts_it(tmp_path, trunk) -> None:
    _folder(tmp_path / "src" / "train", {"n01_a": 6, "n02_b": 6}, 0)
    _folder(tmp_path / "src" / "val", {"n01_a": 4, "n02_b": 4}, 1)
    by_index = tmp_path / "v2"
    shutil.copytree(tmp_path / "src" / "val" / "n01_a", by_index / "0")
    shutil.copytree(tmp_path / "src" / "val" / "n02_b", by_index / "1")
    p = suites.load_protocol(TransferHeadProtocol(), ["image_size=16", "epochs=30", f"test_data={by_index}"])
    result = run_transfer_head(trunk, str(tmp_path / "src"), p)
    scores = result["metrics"]["transfer-head"]
    assert result["protocol"]["transfer-head"]["label_map_used"] == "index"
    assert scores["num_samples"] == 8 and result["data"]["test_only_images"] == 8
    assert scores["top1"] == pytest.approx(scores["source"]["top1"])
    assert set(suites.headline_metrics("transfer-head", result["metrics"])) == {
        "transfer-head/top1", "transfer-head/top5", "transfer-head/source/top1"}

    swap = tmp_path / "swap.json"
    swap.write_text(json.dumps({"0": "n02_b", "1": 0}))  # a class name and an index
    p_swap = suites.load_protocol(TransferHeadProtocol(), ["image_size=16", "epochs=30", f"test_data={by_index}",
                                                           f"label_map={swap}"])
    swapped = run_transfer_head(trunk, str(tmp_path / "src"), p_swap)["metrics"]["transfer-head"]
    assert swapped["top1"] == pytest.approx(100.0 - scores["source"]["top1"])


def test_label_map_rules() -> None:
    train = ["n01", "n02", "n03"]
    assert head_label_map(["n03", "n01"], train, 3, "auto") == ({0: 2, 1: 0}, "name")
    assert head_label_map(["0", "10", "2"], train, 11, "auto") == ({0: 0, 1: 10, 2: 2}, "index")
    with pytest.raises(ValueError, match="not train classes"):
        head_label_map(["0"], train, 3, "name")
    with pytest.raises(ValueError, match="cannot map"):
        head_label_map(["cats"], train, 3, "auto")


def test_missing_test_data_is_one_clear_error(tmp_path, trunk) -> None:
    _folder(tmp_path / "src" / "train", {"n01_a": 2, "n02_b": 2}, 0)
    _folder(tmp_path / "src" / "val", {"n01_a": 1, "n02_b": 1}, 1)
    with pytest.raises(ValueError, match="needs test_data=FOLDER"):
        run_transfer_head(trunk, str(tmp_path / "src"), suites.load_protocol(TransferHeadProtocol(), ["image_size=16"]))
    p = suites.load_protocol(TransferHeadProtocol(), ["image_size=16", f"test_data={tmp_path / 'nope'}"])
    with pytest.raises(FileNotFoundError, match="nope"):
        run_transfer_head(trunk, str(tmp_path / "src"), p)
