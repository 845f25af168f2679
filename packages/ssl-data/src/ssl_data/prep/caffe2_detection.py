"""The FAIR self-supervision benchmark's Caffe2 pickle steps as data-prep tools:
``pickle_jigsaw_model.py`` (strip the jigsaw towers) and ``pickle_caffe2_detection.py
[--absorb_std]`` (a Detectron1-ready pickle).

A jigsaw model is a 9-tower Siamese network with shared weights: its blobs carry a tower suffix
(``conv1_s0_w``, ``res2_0_branch2a_s3_bn_s``). ``caffe2_jigsaw_strip`` keeps tower 0 under the
plain name and drops towers 1-8 (reporting any whose values differ from tower 0).

``caffe2_detection`` then makes the blobs Detectron1 reads: momentum blobs and ``lr`` /
``model_iter`` removed; every spatial batch norm ``X_{s,b,rm,riv}`` becomes Detectron's frozen
AffineChannel ``X_{s,b}`` with ``s' = s / sqrt(riv + eps)`` and ``b' = b - rm * s'``; with
``absorb_std`` the per-channel input standard deviation the jigsaw pretext divided by is folded
into the first convolution (``w'[:, c] = w[:, c] / std[c]``), because Detectron1 only subtracts
the pixel mean. The first convolution is the 4-D weight named ``conv1_w`` (else the first 4-D
``*_w`` blob in file order).
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ssl_data.prep.outputs import _atomic_write
from ssl_data.prep.safe_pickle import load_array_pickle

__all__ = ["JIGSAW_PIXEL_STD_BGR", "caffe2_detection", "caffe2_jigsaw_strip", "read_caffe2_pickle"]

#: the jigsaw pretext's per-channel input std in BGR order, pixel units (ImageNet std x 255).
JIGSAW_PIXEL_STD_BGR = (57.375, 57.12, 58.395)

_TOWER = re.compile(r"_s(\d)(?=_)")
def read_caffe2_pickle(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """A Caffe2 ``.pkl`` (Python 2 pickles read as latin-1) -> (blobs, the other top-level
    entries). Accepts ``{"blobs": {...}, ...}`` or bare ``{name: array}``; ValueError (one line)
    for anything else, including pickles that name other objects than numpy arrays."""
    obj = load_array_pickle(Path(path), "Caffe2 model")
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path} holds a {type(obj).__name__}, not a dict of blobs")
    blobs = obj["blobs"] if "blobs" in obj else obj
    rest = {k: v for k, v in obj.items() if k != "blobs"} if "blobs" in obj else {}
    if not isinstance(blobs, Mapping) or not blobs:
        raise ValueError(f"{path} has no blobs")
    out = {}
    for name, value in blobs.items():
        if not isinstance(value, (np.ndarray, np.generic, int, float)):
            raise ValueError(f"{path}: blob {name!r} is a {type(value).__name__}, not an array")
        out[str(name)] = np.asarray(value)
    return out, rest


def _write_pickle(path: Path, blobs: Mapping[str, np.ndarray], rest: Mapping[str, Any]) -> Path:
    payload = {**rest, "blobs": dict(blobs)}
    return _atomic_write(path, lambda f: pickle.dump(payload, f, protocol=2))


def _strip_towers(blobs: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], list[str], list[str]]:
    """(tower-0 blobs under plain names + untowered blobs, dropped names, names of tower copies
    whose values differ from tower 0)."""
    kept: dict[str, np.ndarray] = {}
    towers: dict[str, list[tuple[str, np.ndarray]]] = {}
    for name, value in blobs.items():
        m = _TOWER.search(name)
        if m is None:
            kept[name] = value
            continue
        plain = name[: m.start()] + name[m.end() :]
        towers.setdefault(plain, []).append((name, value) if m.group(1) != "0" else ("", value))
    dropped, differ = [], []
    for plain, copies in towers.items():
        zero = [v for n, v in copies if n == ""]
        if not zero:
            raise ValueError(f"blob {plain!r} has tower copies but no tower 0 ({copies[0][0]})")
        if plain in kept:
            raise ValueError(f"blob {plain!r} exists both with and without a tower suffix")
        kept[plain] = zero[0]
        for n, v in copies:
            if n:
                dropped.append(n)
                if v.shape != zero[0].shape or not np.array_equal(v, zero[0]):
                    differ.append(n)
    return kept, sorted(dropped), sorted(differ)


def caffe2_jigsaw_strip(input_path: Path, output_dir: Path) -> dict[str, Any]:
    """``-i jigsaw.pkl`` -> ``OUT/{stem}_no_towers.pkl``: tower 0 kept without its ``_s0``
    suffix, towers 1-8 dropped. FAIR benchmark ``pickle_jigsaw_model.py``."""
    blobs, rest = read_caffe2_pickle(Path(input_path))
    kept, dropped, differ = _strip_towers(blobs)
    if not dropped and len(kept) == len(blobs) and not any(_TOWER.search(n) for n in blobs):
        raise ValueError(f"{input_path} has no jigsaw tower blobs (no _s0_ names): nothing to strip")
    out = _write_pickle(Path(output_dir) / f"{Path(input_path).stem}_no_towers.pkl", kept, rest)
    return {"output": str(out), "blobs": len(kept), "dropped": len(dropped), "towers_differing_from_0": differ}


def _parse_std(std: str | tuple[float, ...]) -> np.ndarray:
    values = [float(v) for v in std.split(",")] if isinstance(std, str) else [float(v) for v in std]
    if not values or not all(np.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"std must be positive numbers (one per input channel), got {std!r}")
    return np.asarray(values, dtype=np.float64)


def caffe2_detection(
    input_path: Path,
    output_dir: Path,
    absorb_std: bool = False,
    std: str = ",".join(str(v) for v in JIGSAW_PIXEL_STD_BGR),
    eps: float = 1e-5,
) -> dict[str, Any]:
    """``-i model.pkl`` -> ``OUT/{stem}_detection.pkl`` for Detectron1 (module docstring): jigsaw
    towers stripped when present, momentum / ``lr`` / ``model_iter`` removed, batch norms turned
    into affine ``_s`` / ``_b`` blobs, and with ``absorb_std`` the input std (comma-separated, in
    the model's channel order; default the jigsaw's BGR pixel std) folded into the first
    convolution. FAIR benchmark ``pickle_caffe2_detection.py [--absorb_std]``."""
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    blobs, rest = read_caffe2_pickle(Path(input_path))
    blobs, towers, _ = _strip_towers(blobs)
    drop = [n for n in blobs if n.endswith("_momentum") or n in ("lr", "model_iter")]
    out = {n: v for n, v in blobs.items() if n not in drop}
    bns = sorted(n[: -len("_rm")] for n in out if n.endswith("_rm") and f"{n[:-3]}_riv" in out)
    for bn in bns:
        missing = [f"{bn}_{k}" for k in ("s", "b") if f"{bn}_{k}" not in out]
        if missing:
            raise ValueError(f"batch norm {bn} has running statistics but no {missing}")
        scale = out[f"{bn}_s"].astype(np.float64) / np.sqrt(out.pop(f"{bn}_riv").astype(np.float64) + eps)
        bias = out[f"{bn}_b"].astype(np.float64) - out.pop(f"{bn}_rm").astype(np.float64) * scale
        out[f"{bn}_s"], out[f"{bn}_b"] = scale.astype(np.float32), bias.astype(np.float32)
    first = None
    if absorb_std:
        first = "conv1_w" if "conv1_w" in out and out["conv1_w"].ndim == 4 else next((n for n, v in out.items() if n.endswith("_w") and v.ndim == 4), None)
        if first is None:
            raise ValueError(f"{input_path} has no 4-D convolution weight to absorb the std into")
        sigma = _parse_std(std)
        if out[first].shape[1] != len(sigma):
            raise ValueError(f"{first} has {out[first].shape[1]} input channels but std has {len(sigma)} values")
        out[first] = (out[first].astype(np.float64) / sigma[None, :, None, None]).astype(np.float32)
    path = _write_pickle(Path(output_dir) / f"{Path(input_path).stem}_detection.pkl", out, rest)
    return {"output": str(path), "blobs": len(out), "affine_batch_norms": len(bns), "dropped": len(drop) + len(towers),
            "std_absorbed_into": first}  # fmt: skip
