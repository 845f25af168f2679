"""nuScenes (v1.0 metadata + camera images) -> ViRB's egomotion task input: consecutive frames of
one camera and the ego vehicle's motion between them.

Reads nuScenes' published tables in ``DATAROOT/{version}/`` (``sample_data.json``,
``ego_pose.json``, ``calibrated_sensor.json``, ``sensor.json``, ``sample.json``, ``scene.json``)
and the images they name (``samples/CAM_FRONT/*.jpg``, ``sweeps/CAM_FRONT/*.jpg``). For each
frame of ``channel`` and the next frame in its ``next`` chain (sweeps included unless
``keyframes_only``), the motion is the second ego pose expressed in the first one's frame
(nuScenes' ego frame: x forward, y left, z up; quaternions ``[w, x, y, z]``):

- ``forward_m``, ``left_m``: the translation ``R1^T (t2 - t1)`` (metres);
- ``yaw_deg``: the heading change about z, positive = turning left (degrees);
- ``motion`` class (``NUSCENES_MOTIONS``) from the rates over the frames' time difference:
  ``stopped`` (3) when the planar speed is below ``still_mps``, else ``left`` (1) / ``right`` (2)
  when ``|yaw rate| > turn_dps``, else ``straight`` (0).

Writes ``OUT/train.csv`` and ``OUT/val.csv`` in the layout ``ssl benchmark virb-image`` reads
(``first,second,TARGET...`` with absolute image paths, like ``thor_egomotion``): ``target=motion``
(class ids, ``--task egomotion``), ``yaw`` (``yaw_deg``, binned with ``bins=[...]``) or ``pose``
(``forward_m,left_m,yaw_deg``, ``--task regression``). Scenes are split by ``split_file`` (json
``{"train": [scene names], "val": [...]}``, e.g. nuscenes-devkit's ``create_splits_scenes()``
dumped to a file) or else by ``val_fraction`` of the scenes (seeded). ViRB's own
``nuScenes_{train,test}.json`` pair lists are not published in a documented format; this
derives the pairs from nuScenes' tables instead.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from ssl_data.atomic_files import write_atomically
from ssl_data.prep.outputs import read_json, require_dir, require_file

__all__ = ["NUSCENES_MOTIONS", "NUSCENES_TABLES", "nuscenes_egomotion", "relative_motion"]

#: Egomotion class ids written by ``target=motion``.
NUSCENES_MOTIONS = {"straight": 0, "left": 1, "right": 2, "stopped": 3}

#: The nuScenes v1.0 tables read, with the fields each record must have.
NUSCENES_TABLES = {
    "sample_data": ("token", "sample_token", "ego_pose_token", "calibrated_sensor_token", "timestamp", "filename",
                    "is_key_frame", "next"),
    "ego_pose": ("token", "timestamp", "rotation", "translation"),
    "calibrated_sensor": ("token", "sensor_token"),
    "sensor": ("token", "channel"),
    "sample": ("token", "scene_token"),
    "scene": ("token", "name"),
}
_TARGETS = {"motion": ("motion",), "yaw": ("yaw_deg",), "pose": ("forward_m", "left_m", "yaw_deg")}


def _table(folder: Path, name: str) -> dict[str, dict[str, Any]]:
    """``{token: record}`` of ``folder/name.json``; ValueError naming the file for anything else."""
    path = folder / f"{name}.json"
    records = read_json(path, f"nuScenes table {name}.json")
    if not isinstance(records, list):
        raise ValueError(f"{path} must be a JSON list of records, got {type(records).__name__}")
    out = {}
    for i, rec in enumerate(records):
        missing = [k for k in NUSCENES_TABLES[name] if not isinstance(rec, dict) or k not in rec]
        if missing:
            raise ValueError(f"{path}: record {i} lacks {', '.join(missing)}")
        out[rec["token"]] = rec
    return out


def _rotation(q: Any, where: str) -> np.ndarray:
    """3x3 rotation matrix of a quaternion ``[w, x, y, z]`` (normalised first)."""
    try:
        w, x, y, z = (float(v) for v in q)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: rotation must be 4 numbers [w, x, y, z], got {q!r}") from None
    n = math.sqrt(w * w + x * x + y * y + z * z)
    if not math.isfinite(n) or n < 1e-9:
        raise ValueError(f"{where}: rotation {q!r} is not a valid quaternion")
    w, x, y, z = w / n, x / n, y / n, z / n
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])  # fmt: skip


def _translation(t: Any, where: str) -> np.ndarray:
    try:
        v = np.array([float(c) for c in t])
    except (TypeError, ValueError):
        raise ValueError(f"{where}: translation must be 3 numbers, got {t!r}") from None
    if v.shape != (3,) or not np.isfinite(v).all():
        raise ValueError(f"{where}: translation must be 3 finite numbers, got {t!r}")
    return v


def relative_motion(first: dict[str, Any], second: dict[str, Any]) -> tuple[float, float, float]:
    """``(forward_m, left_m, yaw_deg)`` of ego pose ``second`` in the frame of ego pose ``first``
    (nuScenes ``ego_pose`` records: ``rotation [w, x, y, z]``, ``translation [x, y, z]``)."""
    r1 = _rotation(first["rotation"], f"ego_pose {first.get('token')}")
    r2 = _rotation(second["rotation"], f"ego_pose {second.get('token')}")
    t1 = _translation(first["translation"], f"ego_pose {first.get('token')}")
    t2 = _translation(second["translation"], f"ego_pose {second.get('token')}")
    d = r1.T @ (t2 - t1)
    rel = r1.T @ r2
    return float(d[0]), float(d[1]), math.degrees(math.atan2(rel[1, 0], rel[0, 0]))


def _motion_class(forward: float, left: float, yaw: float, seconds: float, still_mps: float, turn_dps: float) -> int:
    if math.hypot(forward, left) / seconds < still_mps:
        return NUSCENES_MOTIONS["stopped"]
    if abs(yaw) / seconds > turn_dps:
        return NUSCENES_MOTIONS["left" if yaw > 0 else "right"]
    return NUSCENES_MOTIONS["straight"]


def _metadata_folder(root: Path, version: str) -> Path:
    if version:
        return require_dir(root / version, f"nuScenes metadata folder {version}")
    found = sorted(p for p in root.iterdir() if p.is_dir() and (p / "sample_data.json").is_file())
    if len(found) != 1:
        what = "no folder" if not found else f"{len(found)} folders ({', '.join(p.name for p in found)})"
        raise ValueError(f"{root} has {what} with sample_data.json; give version=v1.0-trainval (or the one to use)")
    return found[0]


def _scene_split(names: list[str], split_file: Path | None, val_fraction: float, seed: int) -> dict[str, str]:
    """scene name -> "train" / "val" (scenes in neither are left out)."""
    if split_file is not None:
        path = Path(split_file)
        spec = read_json(path, "nuScenes split file")
        if not isinstance(spec, dict) or not all(isinstance(spec.get(k), list) for k in ("train", "val")):
            raise ValueError(f"{path} must hold lists 'train' and 'val' of scene names")
        both = set(spec["train"]) & set(spec["val"])
        if both:
            raise ValueError(f"{path}: scene(s) {sorted(both)[:3]} are in both train and val")
        return {**{str(n): "train" for n in spec["train"]}, **{str(n): "val" for n in spec["val"]}}
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    if len(names) < 2:
        raise ValueError(f"splitting by scene needs at least 2 scenes with frames, found {len(names)}")
    order = np.random.default_rng(seed).permutation(sorted(names))
    n_val = min(len(names) - 1, max(1, round(val_fraction * len(names))))
    return {str(n): ("val" if i < n_val else "train") for i, n in enumerate(order)}


def nuscenes_egomotion(
    input_path: Path,
    output_dir: Path,
    channel: str = "CAM_FRONT",
    version: str = "",
    target: str = "motion",
    keyframes_only: bool = False,
    still_mps: float = 0.5,
    turn_dps: float = 5.0,
    split_file: Path | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
) -> dict[str, Any]:
    """nuScenes camera frame pairs -> ``OUT/{train,val}.csv`` of egomotion targets (module docstring).

    ``version`` "" finds the one ``v1.0-*`` folder under ``-i``. Every table is checked before
    anything is written; a malformed one is a ValueError naming the file and record.
    """
    if target not in _TARGETS:
        raise ValueError(f"target must be one of {', '.join(_TARGETS)}, got {target!r}")
    if still_mps < 0 or turn_dps < 0:
        raise ValueError(f"still_mps and turn_dps must be >= 0, got {still_mps} and {turn_dps}")
    root = require_dir(Path(input_path), "nuScenes data root")
    meta = _metadata_folder(root, version)
    t = {name: _table(meta, name) for name in NUSCENES_TABLES}
    channels = {rec["channel"] for rec in t["sensor"].values()}
    if channel not in channels:
        raise ValueError(f"{meta / 'sensor.json'} has no channel {channel!r}; it has {', '.join(sorted(channels))}")

    def lookup(name: str, token: str, where: str) -> dict[str, Any]:
        rec = t[name].get(token)
        if rec is None:
            raise ValueError(f"{where} names {name} token {token!r}, which {meta / (name + '.json')} does not have")
        return rec

    def frame_channel(sd: dict[str, Any]) -> str:
        cs = lookup("calibrated_sensor", sd["calibrated_sensor_token"], f"sample_data {sd['token']}")
        return lookup("sensor", cs["sensor_token"], f"calibrated_sensor {cs['token']}")["channel"]

    def scene_of(sd: dict[str, Any]) -> str:
        sample = lookup("sample", sd["sample_token"], f"sample_data {sd['token']}")
        return lookup("scene", sample["scene_token"], f"sample {sample['token']}")["name"]

    def successor(sd: dict[str, Any]) -> dict[str, Any] | None:
        nxt = lookup("sample_data", sd["next"], f"sample_data {sd['token']}") if sd["next"] else None
        while keyframes_only and nxt is not None and not nxt["is_key_frame"]:
            nxt = lookup("sample_data", nxt["next"], f"sample_data {nxt['token']}") if nxt["next"] else None
        return nxt

    rows: list[tuple[Any, ...]] = []
    for sd in t["sample_data"].values():
        if frame_channel(sd) != channel or (keyframes_only and not sd["is_key_frame"]):
            continue
        nxt = successor(sd)
        if nxt is None or scene_of(nxt) != scene_of(sd):
            continue
        pose1 = lookup("ego_pose", sd["ego_pose_token"], f"sample_data {sd['token']}")
        pose2 = lookup("ego_pose", nxt["ego_pose_token"], f"sample_data {nxt['token']}")
        seconds = (float(nxt["timestamp"]) - float(sd["timestamp"])) / 1e6  # nuScenes timestamps: microseconds
        if not seconds > 0:
            raise ValueError(f"sample_data {nxt['token']} is not later than the frame before it ({sd['token']})")
        forward, left, yaw = relative_motion(pose1, pose2)
        values = {"motion": _motion_class(forward, left, yaw, seconds, still_mps, turn_dps),
                  "yaw_deg": round(yaw, 6), "forward_m": round(forward, 6), "left_m": round(left, 6)}
        first = require_file(root / sd["filename"], "nuScenes image").resolve()
        second = require_file(root / nxt["filename"], "nuScenes image (sweeps missing? try keyframes_only=true)").resolve()
        rows.append((scene_of(sd), int(sd["timestamp"]), str(first), str(second), *(values[c] for c in _TARGETS[target])))
    if not rows:
        raise ValueError(f"no consecutive {channel} frame pairs in {meta / 'sample_data.json'}")
    split_of = _scene_split(sorted({r[0] for r in rows}), split_file, val_fraction, seed)
    tables, counts, scenes = {}, {}, {}
    for split in ("train", "val"):
        part = sorted(r for r in rows if split_of.get(r[0]) == split)
        if not part:
            raise ValueError(f"no {channel} frame pairs fall in the {split} scenes")
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["first", "second", *_TARGETS[target]])
        writer.writerows(r[2:] for r in part)
        tables[split], counts[split], scenes[split] = buf.getvalue().encode(), len(part), len({r[0] for r in part})
    out = {s: str(write_atomically(Path(output_dir) / f"{s}.csv", lambda f, d=data: f.write(d))) for s, data in tables.items()}
    classes = {name: sum(1 for r in rows if r[4] == cid) for name, cid in NUSCENES_MOTIONS.items()} if target == "motion" else None
    return {"output": out, "pairs": counts, "scenes": scenes,
            "channel": channel, "target": list(_TARGETS[target]), **({"motion_classes": classes} if classes else {})}
