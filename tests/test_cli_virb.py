"""`ssl benchmark virb-image|segmentation|depth` on generated image / mask / depth files.

Every dataset is written as real files in a tmp folder and has a learnable answer: the mask is
the bright half of the image, the depth is 1 m where the image is bright and 3 m where it is dark,
a class is a colour, a count is a number of white squares, a regression target is the grey level.
The trunk is an untrained tiny ResNet-18 (width 1/8, small input). The scores are compared with
the best constant predictor, computed here with NumPy from the test files.

The module runs torch on one thread: on a shared, loaded 2-core box two threads make these tiny
convolutions about 50x slower (measured: a 20-step decoder run 30 s vs 0.4 s).
"""

from __future__ import annotations

import csv
import json
import math
import re

import numpy as np
import pytest
import torch
from PIL import Image

S = 16  # image side the benchmarks run at


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def ssl_main(capsys, *args: object) -> tuple[int, str, str]:
    """``ssl ARGS`` in this process (the console script's entry point)."""
    from ssl_cli.main import main

    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


PROGRESS_LINE = re.compile(r"^[^:]+: \d+/(\d+|\?), [\d,.]+/s, ")  # what ran before the error (a log's progress)


def one_error_line(code: int, err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip() and not PROGRESS_LINE.match(line)]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("ssl: error: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]


def save_trunk(path, name: str = "resnet18", **kwargs):
    import ssl_models
    from ssl_models import checkpoint as ckpt

    torch.manual_seed(0)
    return ckpt.save_checkpoint(ckpt.model_payload(ssl_models.build_trunk(name, **kwargs)), path)


def half_image(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 ``[S, S, 3]`` with one bright half (left, right, top or bottom) and the bright
    mask ``[S, S]`` (1 bright, 0 dark)."""
    bright = np.zeros((S, S), dtype=bool)
    side = int(rng.integers(4))
    if side == 0:
        bright[:, : S // 2] = True
    elif side == 1:
        bright[:, S // 2 :] = True
    elif side == 2:
        bright[: S // 2] = True
    else:
        bright[S // 2 :] = True
    grey = np.where(bright, 200, 40) + rng.integers(-20, 21, size=(S, S))
    return np.repeat(grey.clip(0, 255).astype(np.uint8)[..., None], 3, axis=2), bright.astype(np.uint8)


def write_pixel_dataset(root, n_train: int = 16, n_val: int = 8):
    """DIR/{train,val}/images/*.png + masks/*.png (255 on the first row = ignore) + depth maps:
    16-bit PNG millimetres in train, float .npy metres in val; depth 0 on the last column."""
    rng = np.random.default_rng(0)
    for split, count in (("train", n_train), ("val", n_val)):
        for sub in ("images", "masks", "depth"):
            (root / split / sub).mkdir(parents=True)
        for i in range(count):
            image, bright = half_image(rng)
            mask = bright.copy()
            mask[0] = 255
            depth_m = np.where(bright == 1, 1.0, 3.0)
            depth_m[:, -1] = 0.0
            Image.fromarray(image).save(root / split / "images" / f"{i:03d}.png")
            Image.fromarray(mask).save(root / split / "masks" / f"{i:03d}.png")
            if split == "train":
                Image.fromarray((depth_m * 1000).astype(np.uint16)).save(root / split / "depth" / f"{i:03d}.png")
            else:
                np.save(root / split / "depth" / f"{i:03d}.npy", depth_m.astype(np.float32))
    return root


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("virb")
    return {"root": root, "ckpt": save_trunk(root / "tiny.pt", width_multiplier=0.125, small_input=True),
            "pixels": write_pixel_dataset(root / "pixels")}


def run_json(capsys, out, *args: object) -> dict:
    code, stdout, err = ssl_main(capsys, "benchmark", *args, "--out", out)
    assert code == 0, err
    lines = stdout.strip().splitlines()
    assert len(lines) == 2 and lines[1] == f"wrote {out / 'results.json'}", stdout  # summary + where
    return json.loads((out / "results.json").read_text())


def test_segmentation_beats_the_best_constant(files, capsys, tmp_path):
    res = run_json(capsys, tmp_path, "segmentation", "-c", files["ckpt"], "--data", files["pixels"],
                   f"image_size={S}", f"epochs={40}", f"batch_size={8}", f"lr={3e-3}", f"width={16}")
    masks = np.stack([np.array(Image.open(p)) for p in sorted((files["pixels"] / "val" / "masks").glob("*.png"))])
    valid = masks != 255
    # best constant prediction: IoU of the constant class = its frequency, the other class 0
    constant = max(float((masks[valid] == c).mean()) * 100 / 2 for c in (0, 1))
    seg = res["benchmarks"]["segmentation"]
    assert seg["num_pixels"] == int(valid.sum())  # the ignored first rows are left out
    assert seg["miou"] > constant + 40, (seg["miou"], constant)
    proto = res["protocol"]["segmentation"]
    assert proto["num_classes"] == 2 and proto["ignore_index"] == 255 and proto["image_size"] == S
    assert proto["layers"] == ["conv1", "res2", "res3", "res4", "res5"] and proto["scheduler"] == "poly"
    assert res["data"]["train_images"] == 16 and res["data"]["test_images"] == 8
    assert res["benchmark"] == "segmentation"


def test_depth_from_16bit_png_and_npy_beats_the_best_constant(files, capsys, tmp_path):
    res = run_json(capsys, tmp_path, "depth", "-c", files["ckpt"], "--data", files["pixels"], f"image_size={S}",
                   f"epochs={60}", f"batch_size={8}", f"lr={3e-3}", f"width={16}")
    # the train maps are millimetres: the constant is their valid mean in metres
    train = np.stack([np.array(Image.open(p)) for p in sorted((files["pixels"] / "train" / "depth").glob("*.png"))])
    const = float(train[train > 0].mean()) / 1000.0
    val = np.stack([np.load(p) for p in sorted((files["pixels"] / "val" / "depth").glob("*.npy"))])
    truth = val[val > 0]
    const_rmse = float(np.sqrt(np.mean((truth - const) ** 2)))
    const_delta1 = float(np.mean(np.maximum(truth / const, const / truth) < 1.25)) * 100
    depth = res["benchmarks"]["depth"]
    assert depth["num_pixels"] == truth.size  # depth 0 (the last column) is left out
    assert depth["rmse"] < 0.5 * const_rmse, (depth["rmse"], const_rmse)
    assert depth["delta1"] > const_delta1 + 20, (depth["delta1"], const_delta1)
    assert res["protocol"]["depth"]["depth_scale"] == 0.001 and res["protocol"]["depth"]["loss"] == "l1 on valid pixels"


def test_pixel_split_resizes_masks_with_nearest_samples(tmp_path):
    """A 48x32 image and mask at size 16: shorter side halved (nearest-exact picks odd pixels),
    then the centre 16 of the 24 columns."""
    from ssl_evaluation.suites.virb_suites import load_pixel_split

    rng = np.random.default_rng(1)
    mask = rng.integers(0, 5, size=(32, 48)).astype(np.uint8)
    depth = rng.integers(1, 5000, size=(32, 48)).astype(np.uint16)
    for split in ("train", "val"):
        for sub in ("images", "masks", "depth"):
            (tmp_path / split / sub).mkdir(parents=True)
        image = rng.integers(0, 256, size=(32, 48, 3), dtype=np.uint8)
        Image.fromarray(image).save(tmp_path / split / "images" / "a.jpg")
        Image.fromarray(mask).save(tmp_path / split / "masks" / "a.png")
        Image.fromarray(depth).save(tmp_path / split / "depth" / "a.png")
    seg = load_pixel_split(tmp_path, "test", "segmentation", 16)
    assert seg.images.shape == (1, 3, 16, 16) and seg.images.dtype == torch.uint8
    np.testing.assert_array_equal(seg.targets[0].numpy(), mask[1::2, 1::2][:, 4:20])
    dep = load_pixel_split(tmp_path, "train", "depth", 16, depth_scale=0.001)
    np.testing.assert_allclose(dep.targets[0].numpy(), depth[1::2, 1::2][:, 4:20] / 1000.0, rtol=1e-6)


def write_folder(root, split: str, classes: dict[str, list[np.ndarray]]) -> None:
    for name, images in classes.items():
        (root / split / name).mkdir(parents=True)
        for i, image in enumerate(images):
            Image.fromarray(image).save(root / split / name / f"{i}.png")


def colour(rgb, rng) -> np.ndarray:
    noise = rng.integers(-25, 26, size=(S, S, 3))
    return (np.array(rgb)[None, None] + noise).clip(0, 255).astype(np.uint8)


def test_classification_labels_follow_folder_names_across_splits(files, capsys, tmp_path):
    """val/ lacks the class 'green': its 'red' images must still get red's label."""
    rng = np.random.default_rng(2)
    rgb = {"blue": (40, 40, 220), "green": (40, 220, 40), "red": (220, 40, 40)}
    write_folder(tmp_path / "data", "train", {n: [colour(c, rng) for _ in range(8)] for n, c in rgb.items()})
    write_folder(tmp_path / "data", "val", {n: [colour(rgb[n], rng) for _ in range(6)] for n in ("blue", "red")})
    res = run_json(capsys, tmp_path / "out", "virb-image", "-c", files["ckpt"], "--data", tmp_path / "data",
                   f"image_size={S}", f"lr={0.01}", f"epochs={30}")
    scores = res["benchmarks"]["virb-image"]
    assert scores["top1"] >= 90.0  # chance 50 on val; a shifted 'red' label would give about 50
    proto = res["protocol"]["virb-image"]
    assert proto["task"] == "classification" and proto["num_classes"] == 3 and proto["epochs"] == 30
    assert proto["configs"] == ["adam-lr0.01-constant"]  # ViRB's head: Adam, constant lr


def squares(count: int, rng) -> np.ndarray:
    """Dark ``S x S`` image with ``count`` white 3x3 squares in distinct cells of a 4 x 4 grid."""
    image = np.full((S, S, 3), 10, dtype=np.uint8)
    for cell in rng.choice(16, size=count, replace=False):
        r, c = divmod(int(cell), 4)
        image[r * 4 : r * 4 + 3, c * 4 : c * 4 + 3] = 245
    return image


def test_counting_reads_counts_from_folder_names(files, capsys, tmp_path):
    rng = np.random.default_rng(3)
    counts = (1, 2, 10)  # sorted as names: "1", "10", "2" -- the label must be the number
    for split, n in (("train", 16), ("val", 5)):
        write_folder(tmp_path / "data", split, {str(k): [squares(k, rng) for _ in range(n)] for k in counts})
    res = run_json(capsys, tmp_path / "out", "virb-image", "-c", files["ckpt"], "--data", tmp_path / "data",
                   "task=counting", f"image_size={S}", f"lr={0.01}", f"epochs={40}")
    scores = res["benchmarks"]["virb-image"]
    truth = np.repeat(counts, 5)
    constant_mae = float(np.abs(truth - np.median(truth)).mean())  # the best constant count
    # names read as indices ("1", "10", "2" -> 0, 1, 2) would put the counts far off
    assert scores["top1"] >= 70.0 and scores["count_mae"] < 0.5 * constant_mae, (scores, constant_mae)
    assert scores["count_mae"] <= (1 - scores["top1"] / 100) * 10 + 1e-9  # counts live in 0..10
    assert res["protocol"]["virb-image"]["num_classes"] == 11


def grey(level: int, rng) -> np.ndarray:
    return (level + rng.integers(-6, 7, size=(S, S, 3))).clip(0, 255).astype(np.uint8)


def write_csv(path, header, rows) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def test_regression_csv_beats_the_mean(files, capsys, tmp_path):
    rng = np.random.default_rng(4)
    (tmp_path / "data" / "img").mkdir(parents=True)
    tables = {}
    for split, n in (("train", 30), ("val", 10)):
        rows = []
        for i in range(n):
            level = int(rng.integers(20, 236))
            Image.fromarray(grey(level, rng)).save(tmp_path / "data" / "img" / f"{split}{i}.png")
            rows.append([f"img/{split}{i}.png", level / 255, 1 - level / 255])
        write_csv(tmp_path / "data" / f"{split}.csv", ["image", "light", "dark"], rows)
        tables[split] = np.array([r[1:] for r in rows])
    res = run_json(capsys, tmp_path / "out", "virb-image", "-c", files["ckpt"], "--data", tmp_path / "data",
                   "task=regression", f"image_size={S}", f"alpha={0.1}")
    scores = res["benchmarks"]["virb-image"]
    val = tables["val"]
    constant_rmse = float(np.sqrt(((val - tables["train"].mean(axis=0)) ** 2).mean()))
    assert scores["rmse"] < 0.5 * constant_rmse and scores["r2"] > 0.5, (scores, constant_rmse)
    proto = res["protocol"]["virb-image"]
    assert proto["targets"] == ["light", "dark"] and proto["solver"] == "ridge" and proto["pairs"] is False
    assert res["data"]["train_rows"] == 30 and res["data"]["test_rows"] == 10


def test_egomotion_pairs_binned_by_edges(files, capsys, tmp_path):
    """Class = did the image get brighter (delta >= 0) or darker; --bins 0 makes the two classes."""
    rng = np.random.default_rng(5)
    levels = [20 + 20 * i for i in range(11)]
    frames = tmp_path / "data" / "frames"
    frames.mkdir(parents=True)
    for i, level in enumerate(levels):
        Image.fromarray(grey(level, rng)).save(frames / f"{i}.png")
    labels = {}
    for split, n in (("train", 40), ("val", 16)):
        rows = []
        while len(rows) < n:
            a, b = (int(v) for v in rng.choice(len(levels), size=2, replace=False))
            if abs(a - b) >= 2:
                rows.append([f"frames/{a}.png", f"frames/{b}.png", levels[b] - levels[a]])
        write_csv(tmp_path / "data" / f"{split}.csv", ["first", "second", "delta"], rows)
        labels[split] = np.array([r[2] >= 0 for r in rows])
    res = run_json(capsys, tmp_path / "out", "virb-image", "-c", files["ckpt"], "--data", tmp_path / "data",
                   "task=egomotion", "bins=[0]", f"image_size={S}", f"lr={0.01}", f"epochs={60}")
    majority = max(labels["val"].mean(), 1 - labels["val"].mean()) * 100
    scores = res["benchmarks"]["virb-image"]
    assert scores["top1"] >= min(90.0, majority + 25), (scores["top1"], majority)
    proto = res["protocol"]["virb-image"]
    assert proto["bins"] == [0.0] and proto["num_classes"] == 2 and proto["pairs"] is True


def test_suite_accepts_the_virb_benchmarks(files, capsys, tmp_path):
    suite = tmp_path / "suite.yaml"
    pixels = files["pixels"]
    suite.write_text(f"""
defaults: {{checkpoint: {files['ckpt']}, options: {{image_size: {S}, epochs: 1, width: 8}}}}
runs:
  - {{benchmark: segmentation, data: {pixels}, options: {{batch_size: 8, cache_features: false}}}}
  - {{benchmark: depth, data: {pixels}, options: {{limit: 4}}}}
""")
    code, stdout, err = ssl_main(capsys, "benchmark", "suite", suite, "--out", tmp_path / "out")
    assert code == 0, err
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    seg, dep = results["runs"]
    assert set(seg["headline"]) == {"segmentation/miou", "segmentation/pixel_accuracy"}
    assert set(dep["headline"]) == {"depth/rmse", "depth/delta1"}
    assert dep["data"]["train_images"] == 4 and all(math.isfinite(v) for v in dep["headline"].values())
    assert seg["protocol"]["segmentation"]["epochs"] == 1 and "1-segmentation (segmentation): " in stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text(f"""
runs:
  - {{benchmark: virb-image, checkpoint: {files['ckpt']}}}
  - {{benchmark: depth, checkpoint: {files['ckpt']}, data: {pixels}, options: {{bins: [0]}}}}
""")
    code, _, err = ssl_main(capsys, "benchmark", "suite", bad, "--out", tmp_path / "bad-out")
    one_error_line(code, err, "run 1 (virb-image): needs data", "run 2 (depth):", "Key 'bins' not in 'DepthProtocol'")


def test_bad_pixel_inputs_are_one_line(files, capsys, tmp_path):
    ckpt, args = files["ckpt"], (f"image_size={S}", f"epochs={1}")
    code, _, err = ssl_main(capsys, "benchmark", "segmentation", "-c", ckpt, "--data", tmp_path / "none", *args)
    one_error_line(code, err, "data path does not exist", "none")

    data = write_pixel_dataset(tmp_path / "d", n_train=2, n_val=1)
    (data / "val" / "masks" / "000.png").unlink()
    code, _, err = ssl_main(capsys, "benchmark", "segmentation", "-c", ckpt, "--data", data, *args)
    one_error_line(code, err, "no mask for image", str(data / "val" / "images" / "000.png"))

    Image.fromarray(np.zeros((S, S + 2), dtype=np.uint8)).save(data / "val" / "masks" / "000.png")
    code, _, err = ssl_main(capsys, "benchmark", "segmentation", "-c", ckpt, "--data", data, *args)
    one_error_line(code, err, str(data / "val" / "masks" / "000.png"), "is 18x16 px", "is 16x16 px")

    Image.fromarray(np.zeros((S, S, 3), dtype=np.uint8)).save(data / "val" / "masks" / "000.png")
    code, _, err = ssl_main(capsys, "benchmark", "segmentation", "-c", ckpt, "--data", data, *args)
    one_error_line(code, err, "must be one channel of class ids", "mode RGB")

    (data / "train" / "depth" / "001.png").unlink()
    code, _, err = ssl_main(capsys, "benchmark", "depth", "-c", ckpt, "--data", data, *args)
    one_error_line(code, err, "no depth map for image", "001.png")

    alexnet = save_trunk(tmp_path / "alexnet.pt", "alexnet_rotnet")
    code, _, err = ssl_main(capsys, "benchmark", "depth", "-c", alexnet, "--data", files["pixels"], *args)
    one_error_line(code, err, "alexnet_rotnet", "has no layer(s) res2, res3, res4, res5 needed by depth")


def test_bad_image_task_inputs_are_one_line(files, capsys, tmp_path):
    ckpt = files["ckpt"]
    black = np.zeros((S, S, 3), np.uint8)
    write_folder(tmp_path / "f", "train", {"cat": [black], "3": [black]})
    write_folder(tmp_path / "f", "val", {"cat": [black]})
    code, _, err = ssl_main(capsys, "benchmark", "virb-image", "-c", ckpt, "--data", tmp_path / "f",
                            "task=counting", f"image_size={S}")
    one_error_line(code, err, "class folders named by the count", "'cat'")

    (tmp_path / "t").mkdir()
    write_csv(tmp_path / "t" / "train.csv", ["image", "y"], [["a.png", 1.0]])
    write_csv(tmp_path / "t" / "val.csv", ["image", "y"], [["a.png", 1.0]])
    code, _, err = ssl_main(capsys, "benchmark", "virb-image", "-c", ckpt, "--data", tmp_path / "t",
                            "task=regression", f"image_size={S}")
    one_error_line(code, err, "train.csv:2: image not found", "a.png")

    Image.fromarray(np.zeros((S, S, 3), np.uint8)).save(tmp_path / "t" / "a.png")
    code, _, err = ssl_main(capsys, "benchmark", "virb-image", "-c", ckpt, "--data", tmp_path / "t",
                            "task=egomotion", f"image_size={S}")
    one_error_line(code, err, "egomotion needs a header first,second,TARGET")

    code, _, err = ssl_main(capsys, "benchmark", "virb-image", "-c", ckpt, "--data", tmp_path / "t",
                            "task=segment")
    one_error_line(code, err, "VirbImageProtocol.task", "segment", "classification, counting")
