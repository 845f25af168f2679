"""``nuscenes_egomotion`` on a tiny nuScenes v1.0 layout written here (the published table
schema, real JPEGs): ego poses placed at hand-chosen headings and positions, so each pair's
forward / left / yaw and class are worked out by hand below."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ssl_data.prep import prepare

US = 1_000_000  # nuScenes timestamps are microseconds


def _yaw_quaternion(deg: float) -> list[float]:
    half = math.radians(deg) / 2
    return [math.cos(half), 0.0, 0.0, math.sin(half)]


def _write_nuscenes(root: Path, poses: dict[str, list[tuple[float, float, float, float]]], sweeps_on_disk: bool = True) -> None:
    """Scenes of CAM_FRONT frames (and one CAM_BACK / LIDAR frame each, to be ignored):
    ``poses[scene] = [(seconds, x, y, heading_deg), ...]``; every 2nd frame is a key frame."""
    meta = root / "v1.0-mini"
    meta.mkdir(parents=True)
    tables: dict[str, list[dict]] = {k: [] for k in ("sample_data", "ego_pose", "calibrated_sensor", "sensor", "sample", "scene")}
    for channel in ("CAM_FRONT", "CAM_BACK", "LIDAR_TOP"):
        tables["sensor"].append({"token": f"s-{channel}", "channel": channel, "modality": "camera"})
        tables["calibrated_sensor"].append({"token": f"cs-{channel}", "sensor_token": f"s-{channel}",
                                            "translation": [1.0, 0.0, 1.5], "rotation": [1.0, 0, 0, 0]})
    rng = np.random.default_rng(0)
    for scene, frames in poses.items():
        tables["scene"].append({"token": f"sc-{scene}", "name": scene, "log_token": "log"})
        tables["sample"].append({"token": f"sa-{scene}", "scene_token": f"sc-{scene}", "timestamp": 0})
        tokens = [f"sd-{scene}-{i}" for i in range(len(frames))]
        for i, (sec, x, y, heading) in enumerate(frames):
            key = i % 2 == 0
            rel = f"{'samples' if key else 'sweeps'}/CAM_FRONT/{scene}_{i}.jpg"
            if key or sweeps_on_disk:
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 255, (8, 12, 3), dtype=np.uint8)).save(root / rel)
            tables["ego_pose"].append({"token": f"ep-{scene}-{i}", "timestamp": int(sec * US),
                                       "rotation": _yaw_quaternion(heading), "translation": [x, y, 0.0]})
            tables["sample_data"].append({
                "token": tokens[i], "sample_token": f"sa-{scene}", "ego_pose_token": f"ep-{scene}-{i}",
                "calibrated_sensor_token": "cs-CAM_FRONT", "timestamp": int(sec * US), "fileformat": "jpg",
                "is_key_frame": key, "height": 8, "width": 12, "filename": rel,
                "prev": tokens[i - 1] if i else "", "next": tokens[i + 1] if i + 1 < len(frames) else "",
            })  # fmt: skip
        for other in ("CAM_BACK", "LIDAR_TOP"):
            tables["sample_data"].append({
                "token": f"sd-{scene}-{other}", "sample_token": f"sa-{scene}", "ego_pose_token": f"ep-{scene}-0",
                "calibrated_sensor_token": f"cs-{other}", "timestamp": 0, "fileformat": "jpg", "is_key_frame": True,
                "height": 8, "width": 12, "filename": f"samples/{other}/missing.jpg", "prev": "", "next": tokens[0],
            })  # fmt: skip
    for name, records in tables.items():
        (meta / f"{name}.json").write_text(json.dumps(records))


# scene-a: straight 2 m forward in 0.5 s along global +x; then 0.5 s without moving.
# scene-b: heading 90 deg (facing global +y) at (10, 5); moves 2 m along +y while turning to 100 deg
# (forward 2, left 0, yaw +10 in 0.5 s = 20 deg/s: left); then 1 m along heading 100 while turning
# to 80 deg (forward 1, left 0, yaw -20: right).
H100 = math.radians(100)
POSES = {
    "scene-a": [(0.0, 0.0, 0.0, 0.0), (0.5, 2.0, 0.0, 0.0), (1.0, 2.0, 0.0, 0.0)],
    "scene-b": [(0.0, 10.0, 5.0, 90.0), (0.5, 10.0, 7.0, 100.0), (1.0, 10.0 + math.cos(H100), 7.0 + math.sin(H100), 80.0)],
}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_pose_targets_are_the_hand_worked_motions(tmp_path) -> None:
    _write_nuscenes(tmp_path / "nus", POSES)
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ["scene-b"], "val": ["scene-a"]}))
    summary = prepare("nuscenes_egomotion", tmp_path / "nus", tmp_path / "out", target="pose", split_file=split)
    assert summary["pairs"] == {"train": 2, "val": 2}
    train = _rows(tmp_path / "out" / "train.csv")
    assert list(train[0]) == ["first", "second", "forward_m", "left_m", "yaw_deg"]
    got = [[float(r[k]) for k in ("forward_m", "left_m", "yaw_deg")] for r in train]
    np.testing.assert_allclose(got, [[2.0, 0.0, 10.0], [1.0, 0.0, -20.0]], atol=1e-5)
    assert train[0]["first"] == str((tmp_path / "nus" / "samples/CAM_FRONT/scene-b_0.jpg").resolve())
    assert train[0]["second"] == str((tmp_path / "nus" / "sweeps/CAM_FRONT/scene-b_1.jpg").resolve())
    val = [[float(r[k]) for k in ("forward_m", "left_m", "yaw_deg")] for r in _rows(tmp_path / "out" / "val.csv")]
    np.testing.assert_allclose(val, [[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]], atol=1e-5)


def test_motion_classes_and_keyframes_only(tmp_path) -> None:
    _write_nuscenes(tmp_path / "nus", POSES)
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ["scene-b"], "val": ["scene-a"]}))
    prepare("nuscenes_egomotion", tmp_path / "nus", tmp_path / "out", split_file=split)
    # 4 m/s straight -> 0, still -> 3 (scene-a); 20 deg/s left -> 1, 40 deg/s right -> 2 (scene-b)
    assert [r["motion"] for r in _rows(tmp_path / "out" / "val.csv")] == ["0", "3"]
    assert [r["motion"] for r in _rows(tmp_path / "out" / "train.csv")] == ["1", "2"]
    # key frames 0 and 2 only: scene-b's pose 2 in pose 0's frame, worked by hand: heading 90 -> 80
    # (yaw -10); displacement (cos 100 deg, 2 + sin 100 deg) rotated by -90 deg -> (2 + sin 100, -cos 100)
    prepare("nuscenes_egomotion", tmp_path / "nus", tmp_path / "key", split_file=split, keyframes_only=True, target="pose")
    (row,) = _rows(tmp_path / "key" / "train.csv")
    np.testing.assert_allclose([float(row[k]) for k in ("forward_m", "left_m", "yaw_deg")],
                               [2 + math.sin(H100), -math.cos(H100), -10.0], atol=1e-5)


def test_scene_split_by_fraction_keeps_scenes_whole(tmp_path) -> None:
    _write_nuscenes(tmp_path / "nus", POSES)
    summary = prepare("nuscenes_egomotion", tmp_path / "nus", tmp_path / "out", target="yaw", val_fraction=0.5, seed=3)
    assert summary["scenes"] == {"train": 1, "val": 1} and summary["pairs"] == {"train": 2, "val": 2}
    scenes = {s: {Path(r["first"]).name.split("_")[0] for r in _rows(tmp_path / "out" / f"{s}.csv")} for s in ("train", "val")}
    assert scenes["train"].isdisjoint(scenes["val"])


def _truncate_ego_pose(root: Path) -> None:
    path = root / "v1.0-mini" / "ego_pose.json"
    path.write_text(path.read_text()[:50])


def _dangling_pose(root: Path) -> None:
    path = root / "v1.0-mini" / "sample_data.json"
    records = json.loads(path.read_text())
    records[1]["ego_pose_token"] = "nope"
    path.write_text(json.dumps(records))


def _zero_quaternion(root: Path) -> None:
    path = root / "v1.0-mini" / "ego_pose.json"
    records = json.loads(path.read_text())
    records[0]["rotation"] = [0, 0, 0, 0]
    path.write_text(json.dumps(records))


def _record_without_filename(root: Path) -> None:
    path = root / "v1.0-mini" / "sample_data.json"
    records = json.loads(path.read_text())
    del records[2]["filename"]
    path.write_text(json.dumps(records))


@pytest.mark.parametrize(("damage", "message"), [
    (_truncate_ego_pose, "ego_pose.json is not valid JSON"),
    (_dangling_pose, "ego_pose token 'nope'"),
    (_zero_quaternion, "not a valid quaternion"),
    (_record_without_filename, "record 2 lacks filename"),
    (lambda root: (root / "v1.0-mini" / "scene.json").unlink(), "scene.json"),
])  # fmt: skip
def test_malformed_tables_are_one_line_and_write_nothing(tmp_path, damage, message) -> None:
    _write_nuscenes(tmp_path / "nus", POSES)
    damage(tmp_path / "nus")
    with pytest.raises((ValueError, FileNotFoundError), match=message) as e:
        prepare("nuscenes_egomotion", tmp_path / "nus", tmp_path / "out", val_fraction=0.5)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "out").exists()


def test_missing_sweeps_name_the_file_and_keyframes_still_work(tmp_path) -> None:
    _write_nuscenes(tmp_path / "nus", POSES, sweeps_on_disk=False)
    with pytest.raises(FileNotFoundError, match="keyframes_only=true"):
        prepare("nuscenes_egomotion", tmp_path / "nus", tmp_path / "out", val_fraction=0.5)
    assert not (tmp_path / "out").exists()
    summary = prepare("nuscenes_egomotion", tmp_path / "nus", tmp_path / "out", val_fraction=0.5, keyframes_only=True)
    assert summary["pairs"] == {"train": 1, "val": 1}
