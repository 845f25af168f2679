"""`ssl benchmark NAME` and `ssl benchmark suite` end to end on tiny generated datasets on disk.

The checkpoints are untrained tiny ResNet-18 trunks (width 1/8, 64 features); the datasets give
every class its own colour, so even a random trunk separates them and several answers can be
worked out by hand (a constant classifier, colour-matched retrieval). Most runs share one
`ssl benchmark suite` process (real subprocess, like a user); a few run in-process through
`ssl_cli.main.main` to keep the file fast.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

import bench_files as bf
from cli_runner import run_ssl

TRAIN_PER_CLASS, TEST_PER_CLASS, NUM_CLASSES = 8, 4, 3


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Checkpoints and every dataset layout, written once for the module."""
    from ssl_evaluation.robustness import ood_class_indices, ood_wnids

    root = tmp_path_factory.mktemp("bench")
    wnids = ood_wnids("imagenet-r")[:2]
    paths = {
        "root": root,
        "ckpt": bf.save_tiny_checkpoint(root / "tiny.pt"),
        # a 1000-way classifier that always answers the first ImageNet-R class (index in 1k order)
        "classifier": bf.save_tiny_checkpoint(root / "always_first.pt", 1000, favourite=ood_class_indices("imagenet-r")[0]),
        "colours": bf.write_image_folder(root / "colours", NUM_CLASSES, TRAIN_PER_CLASS, TEST_PER_CLASS),
        "voc": bf.write_voc(root / "VOC2007"),
        "coco": bf.write_coco(root / "coco"),
        "oxford": bf.write_revisited(root / "roxford5k"),
        "copydays": bf.write_copydays(root / "copydays"),
        "instre": bf.write_instre(root / "instre"),
        "ood": bf.write_ood_folder(root / "imagenet-r", wnids, per_class=2),
    }
    import ssl_data

    ssl_data.prepare("voc07", paths["voc"], root / "voc07-lists")  # the real preparer's output
    paths["voclists"] = root / "voc07-lists"
    return paths


def ssl_main(capsys, *args: str) -> tuple[int, str, str]:
    """``ssl ARGS`` in this process (the same entry point as the console script)."""
    from ssl_cli.main import main

    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def _one_error_line(code: int, err: str, *needles: str) -> str:
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("[")]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("ssl: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_knn_command_prints_json_with_high_accuracy_on_separable_colours(files, capsys):
    code, stdout, stderr = ssl_main(capsys, "benchmark", "knn", "--checkpoint", files["ckpt"], "--data", files["colours"],
                                    "extraction.image_size=16", "knn.k=5")
    assert code == 0, stderr
    results = json.loads(stdout)
    assert results["benchmark"] == "knn"
    assert results["data"]["train_images"] == NUM_CLASSES * TRAIN_PER_CLASS
    assert results["data"]["test_images"] == NUM_CLASSES * TEST_PER_CLASS
    knn = results["benchmarks"]["knn"]
    assert knn["top1"] >= 90.0 and knn["top5"] == 100.0  # 3 classes: top-5 holds every class
    assert results["protocol"]["knn"]["k"] == 5 and results["protocol"]["knn"]["temperature"] == 0.1
    assert "knn/top1" in stderr  # the short summary


SUITE = """
defaults:
  checkpoint: tiny.pt
runs:
  - {{benchmark: linear, data: colours, options: [extraction.image_size=16, linear.epochs=5]}}
  - {{benchmark: clustering, data: colours, options: {{extraction: {{image_size: 16}}}}}}
  - {{benchmark: all, data: colours, options: [extraction.image_size=16, knn.k=5, linear.epochs=2]}}
  - {{benchmark: multi-layer-linear, data: colours, options: {{image_size: 16, epochs: 2, layers: [res4, res5avg], pooling: global}}}}
  - {{benchmark: virb-grid, data: colours, options: {{image_size: 16, epochs: 2}}}}
  - {{benchmark: svm, name: colour-svm, data: colours, options: {{image_size: 16, cross_val_folds: 2}}}}
  - {{benchmark: low-shot, data: voc07-lists, options: {{image_size: 16, ks: [1], num_samples: 2}}}}
  - {{benchmark: finetune, data: colours, options: {{image_size: 16, epochs: 1, batch_size: 8}}}}
  - {{benchmark: semi-supervised, data: colours, options: {{image_size: 16, epochs: 1, fraction: 0.25}}}}
  - {{benchmark: low-shot-transfer, data: colours, options: {{image_size: 16, epochs: 1, data_limit: 6}}}}
  - {{benchmark: robustness, checkpoint: {classifier}, data: imagenet-r, options: {{resize: 20, crop: 16}}}}
  - {{benchmark: retrieval, data: copydays, options: {{resize_max: 24, pooling: rmac}}}}
  - {{benchmark: detection, data: coco, options: {{min_size: 32, max_size: 32, max_iters: 1, steps: [], warmup_iters: 1, rois_per_image: 16}}}}
"""


def test_suite_runs_every_benchmark_and_writes_one_table(files, capsys):
    root = files["root"]
    suite = root / "suite.yaml"
    suite.write_text(SUITE.format(classifier=files["classifier"]))  # relative paths resolve from the suite's folder
    out = root / "suite-out"
    proc = run_ssl("benchmark", "suite", str(suite), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    # no terminal: every long stage ends with one plain progress line (tests/test_cli_progress.py: the bars)
    for stage in ("features (train)", "kNN search", "linear probe", "k-means", "multi-layer linear", "linear grid",
                  "SVMs (classes)", "low-shot SVMs", "fine-tuning", "fine-tuning (test)", "imagenet-r",
                  "descriptors (queries)", "descriptors (database)", "detection (train)", "detection (test)"):
        assert f"\n{stage}: " in proc.stderr and "done in" in proc.stderr, stage
    results = json.loads((out / "results.json").read_text())
    runs = {r["name"]: r for r in results["runs"]}
    assert len(runs) == 13 and "colour-svm" in runs
    for run in results["runs"]:
        assert run["protocol"] and run["headline"], run["name"]
        assert all(math.isfinite(v) for v in run["headline"].values()), run["name"]
    everything = runs["3-all"]
    assert set(everything["protocol"]) == {"extraction", "knn", "linear", "clustering"}
    assert set(everything["headline"]) == {"knn/top1", "linear/top1", "clustering/nmi"}
    assert everything["benchmarks"]["knn"]["top1"] >= 90.0 and everything["protocol"]["knn"]["k"] == 5
    single = [r for r in results["runs"] if r["benchmark"] != "all"]
    bench = {r["benchmark"]: r["benchmarks"][r["benchmark"]] for r in single}
    proto = {r["benchmark"]: r["protocol"][r["benchmark"]] for r in single}

    assert bench["linear"]["top1"] >= 80.0 and proto["linear"]["epochs"] == 5
    assert bench["clustering"]["num_clusters"] == NUM_CLASSES and 0.0 <= bench["clustering"]["nmi"] <= 1.0
    # global pooling: a layer's width is its channel count (ResNet-18 x 1/8: res4 256/8, res5 512/8)
    assert bench["multi-layer-linear"]["res4"]["dim"] == 32 and bench["multi-layer-linear"]["res5avg"]["dim"] == 64
    assert proto["multi-layer-linear"]["milestones"] == [8, 16, 24] and proto["multi-layer-linear"]["nesterov"] is True
    assert len(bench["virb-grid"]["configs"]) == 10 and bench["virb-grid"]["best"]["config"] in bench["virb-grid"]["configs"]
    assert len(bench["svm"]["per_class_ap"]) == NUM_CLASSES and bench["svm"]["mAP"] >= 90.0
    assert proto["svm"]["class_weight"] == {"1": 2, "-1": 1} and proto["svm"]["cross_val_folds"] == 2
    k1 = bench["low-shot"]["k=1"]
    assert proto["low-shot"]["dataset_used"] == "voc" and 0.0 <= k1["min"] <= k1["mean"] <= k1["max"] <= 100.0
    assert bench["finetune"]["num_train"] == NUM_CLASSES * TRAIN_PER_CLASS and 0 <= bench["finetune"]["top1"] <= 100
    # 1/4 of 8 images per class, drawn per class: 2 x 3 classes
    assert bench["semi-supervised"]["num_train"] == NUM_CLASSES * max(1, round(0.25 * TRAIN_PER_CLASS))
    assert bench["low-shot-transfer"]["num_train"] == 6 and proto["low-shot-transfer"]["data_limit"] == 6
    # the classifier always answers the first of the 2 classes present: half the images are right
    assert bench["robustness"]["top1"] == 50.0 and bench["robustness"]["num_images"] == 4
    assert proto["robustness"]["output_mask"] is True and proto["robustness"]["num_classes"] == 200
    # each CopyDays query has exactly one same-colour original: it ranks first
    assert bench["retrieval"]["strong"]["mAP"] == 100.0 and proto["retrieval"]["pooling"] == "rmac"
    det = bench["detection"]
    assert det["iterations"] == 1 and math.isfinite(det["final_loss"]) and -1.0 <= det["bbox"]["AP"] <= 100.0
    assert proto["detection"]["num_classes"] == 3 and proto["detection"]["kind"] == "faster_rcnn"

    table = (out / "results.md").read_text().splitlines()
    rows = [line for line in table if line.startswith("| ") and not line.startswith("| run ")]
    assert len(rows) == sum(len(r["headline"]) for r in results["runs"])
    assert any(line.startswith("| colour-svm | svm | tiny.pt |") and "svm/mAP" in line for line in rows)
    with Image.open(out / "results.png") as png:
        assert png.format == "PNG" and png.size[0] > 100
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left
    # a second run into the same folder needs --overwrite, and leaves the first results alone
    before = (out / "results.json").read_bytes()
    code, _, err = ssl_main(capsys, "benchmark", "suite", suite, "--out", out)
    _one_error_line(code, err, "--overwrite")
    assert (out / "results.json").read_bytes() == before


def test_voc07_svm_on_the_preparer_output(files, capsys, tmp_path):
    code, out, err = ssl_main(capsys, "benchmark", "svm", "-c", files["ckpt"], "--data", files["voclists"],
                              "image_size=16", "cross_val_folds=2", "--out", tmp_path / "svm")
    assert code == 0, err
    results = json.loads((tmp_path / "svm" / "results.json").read_text())
    svm = results["benchmarks"]["svm"]
    assert len(svm["per_class_ap"]) == 20 and all(0.0 <= ap <= 100.0 for ap in svm["per_class_ap"])
    assert svm["mAP"] == pytest.approx(float(np.mean(svm["per_class_ap"])))
    assert results["data"]["train_images"] == 60 and results["data"]["test_images"] == 40
    assert "svm/mAP" in out


def test_preparer_voc_targets_reach_ssl_eval_as_written(files):
    # ssl-data's voc07 preparer writes VISSL's targets (1 present, 0 absent, -1 difficult), which is
    # ssl-eval's SVM convention: the CLI passes them on unchanged.
    from ssl_evaluation.suites import open_split

    # bf.write_voc's test split: image i shows class i % 20; the second class-0 image (i = 20) is
    # marked difficult. Its trainval split has no difficult object.
    test = open_split(str(files["voclists"]), "test", 16)
    expected = torch.zeros(40, 20, dtype=torch.int64)
    expected[torch.arange(40), torch.arange(40) % 20] = 1
    expected[20, 0] = -1
    assert test.targets.dtype == torch.int64 and torch.equal(test.targets, expected)
    train = open_split(str(files["voclists"]), "train", 16)
    expected = torch.zeros(60, 20, dtype=torch.int64)
    expected[torch.arange(60), torch.arange(60) % 20] = 1
    assert len(train) == 60 and torch.equal(train.targets, expected)


def test_revisited_retrieval_scores_worked_out_by_hand(files, capsys, tmp_path):
    # query 0: its 2 easy images are the only ones of its colour; query 1: easy 2, hard 3 (its colour),
    # junk 4. Colour-matched ranking puts them first, so E, M and H mAP are all 100.
    code, _, err = ssl_main(capsys, "benchmark", "retrieval", "-c", files["ckpt"], "--data", files["oxford"],
                            "resize_max=24", "--out", tmp_path / "r")
    assert code == 0, err
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    assert results["data"]["dataset"] == "roxford5k"
    scores = results["benchmarks"]["retrieval"]
    assert scores["mAP"] == {"e": 100.0, "m": 100.0, "h": 100.0}
    assert scores["mp@k"]["k"] == [1, 5, 10]
    assert results["protocol"]["retrieval"]["gem_p"] == 4.0 and results["protocol"]["retrieval"]["layer"] == "res5"


def test_instre_retrieval_worked_out_by_hand(files, capsys, tmp_path):
    # each query's 2 relevant images are the only ones of its colour: AP 100 for every query
    code, _, err = ssl_main(capsys, "benchmark", "retrieval", "-c", files["ckpt"], "--data", files["instre"],
                            "resize_max=24", "pooling=avg", "--out", tmp_path / "i")
    assert code == 0, err
    results = json.loads((tmp_path / "i" / "results.json").read_text())
    assert results["data"]["dataset"] == "instre"
    assert results["benchmarks"]["retrieval"]["mAP"] == 100.0
    assert results["benchmarks"]["retrieval"]["mAP_val"] is None  # fewer than 10 queries: no val subset
    assert results["protocol"]["retrieval"]["pooling"] == "avg"


def test_catalog_data_source(files, capsys, tmp_path, monkeypatch):
    import ssl_data

    monkeypatch.setenv("SSL_DATASET_CATALOG", str(tmp_path / "catalog.json"))
    colours = files["colours"]
    ssl_data.catalog_add("colours", {"train": [str(colours / "train"), "<ignored>"],
                                     "val": [str(colours / "val"), "<ignored>"]})
    code, stdout, err = ssl_main(capsys, "benchmark", "knn", "-c", files["ckpt"], "--data", "catalog:colours",
                                 "extraction.image_size=16", "knn.k=5")
    assert code == 0, err
    results = json.loads(stdout)
    assert results["data"]["train_images"] == NUM_CLASSES * TRAIN_PER_CLASS
    assert results["data"]["test_images"] == NUM_CLASSES * TEST_PER_CLASS
    assert results["benchmarks"]["knn"]["top1"] >= 90.0


def test_detection_on_a_voc_layout(files, capsys, tmp_path):
    main_dir = files["voc"] / "ImageSets" / "Main"
    ids = main_dir.joinpath("test.txt").read_text().split()
    main_dir.joinpath("mini.txt").write_text("\n".join(ids[:4]) + "\n")
    code, out, err = ssl_main(
        capsys, "benchmark", "detection", "-c", files["ckpt"], "--data", files["voc"], "train_split=mini",
        "test_split=mini", "min_size=32", "max_size=32", "max_iters=2", "steps=[1]",
        "warmup_iters=1", "rois_per_image=16", "--out", tmp_path / "det",
    )
    assert code == 0, err
    results = json.loads((tmp_path / "det" / "results.json").read_text())
    det = results["benchmarks"]["detection"]
    assert det["iterations"] == 2 and set(det["bbox"]) == {"AP", "AP50", "AP75", "APs", "APm", "APl"}
    assert results["protocol"]["detection"]["num_classes"] == 21 and results["data"]["format"] == "voc"
    assert results["protocol"]["detection"]["steps"] == [1]


def test_unknown_benchmark_is_one_line():
    proc = run_ssl("benchmark", "nosuch", "--checkpoint", "x.pt")
    _one_error_line(proc.returncode, proc.stderr, "unknown benchmark 'nosuch'", "svm", "detection")


def test_missing_checkpoint_and_missing_data(files, capsys, tmp_path):
    code, _, err = ssl_main(capsys, "benchmark", "svm", "-c", tmp_path / "none.pt", "--data", files["colours"],
                            "--out", tmp_path / "o")
    _one_error_line(code, err, "none.pt")
    code, _, err = ssl_main(capsys, "benchmark", "retrieval", "-c", files["ckpt"], "--data", tmp_path / "nowhere")
    _one_error_line(code, err, "nowhere")
    assert not (tmp_path / "o").exists()


def test_robustness_needs_a_1000_class_classifier(files, capsys):
    code, _, err = ssl_main(capsys, "benchmark", "robustness", "-c", files["ckpt"], "--data", files["ood"],
                            "resize=20", "crop=16")
    _one_error_line(code, err, "64 outputs", "1000")


def test_bad_suite_entries_are_all_reported_before_any_run(files, tmp_path, capsys):
    suite = tmp_path / "bad.yaml"
    suite.write_text(
        f"runs:\n"
        f"  - {{benchmark: knn, checkpoint: {files['ckpt']}, data: digits, options: [knn.k=20]}}\n"
        f"  - {{benchmark: knnn, checkpoint: {files['ckpt']}}}\n"
        f"  - {{benchmark: svm, checkpoint: {tmp_path / 'gone.pt'}}}\n"
        f"  - {{benchmark: linear, checkpoint: {files['ckpt']}, options: {{linear: {{epochs: many}}}}}}\n"
        f"  - {{benchmark: retrieval, checkpoint: {files['ckpt']}}}\n"
        f"  - {{benchmark: knn, checkpoint: {files['ckpt']}, data: {tmp_path / 'no-such-folder'}, colour: red}}\n"
        f"  - {{benchmark: svm, checkpoint: {files['ckpt']}, options: 3}}\n"
    )
    out = tmp_path / "out"
    code, stdout, err = ssl_main(capsys, "benchmark", "suite", suite, "--out", out)
    line = _one_error_line(code, err, "unknown benchmark 'knnn'", "gone.pt", "ProbeSuite.linear.epochs", "run 5 (retrieval): needs data", "no-such-folder",
                           "unknown key 'colour'", "run 7 (svm): options must be a list of key=value strings or a mapping")
    assert "run 1" not in line  # the good entry is not blamed
    assert "[1/" not in err and stdout == ""  # nothing ran
    assert not out.exists()


@pytest.mark.parametrize(
    ("content", "needle"),
    [("runs: [unclosed", "not valid YAML"), ("runs: []", "non-empty list 'runs'"), ("- 3", "run 1 is not a mapping")],
)
def test_malformed_suite_files(tmp_path, capsys, content, needle):
    suite = tmp_path / "suite.yaml"
    suite.write_text(content)
    code, _, err = ssl_main(capsys, "benchmark", "suite", suite, "--out", tmp_path / "out")
    _one_error_line(code, err, needle)
    code, _, err = ssl_main(capsys, "benchmark", "suite", tmp_path / "absent.yaml", "--out", tmp_path / "out")
    _one_error_line(code, err, "suite file not found", "absent.yaml")
    assert not (tmp_path / "out").exists()
