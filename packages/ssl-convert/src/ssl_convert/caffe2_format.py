"""Caffe2 / Detectron-era ``.pkl`` models (FAIR self-supervision benchmark) -> ssl-models.

ResNet-50 here; AlexNet blobs are mapped by :mod:`ssl_convert.caffe2_alexnet`.

Blob names (``blobs`` entry, or the top level) are mapped to torchvision's:

| Caffe2 blob | ssl-models / torchvision |
| --- | --- |
| ``conv1_w`` | ``conv1.weight`` |
| ``res_conv1_bn_{s,b,rm,riv}`` | ``bn1.{weight,bias,running_mean,running_var}`` |
| ``res{s}_{j}_branch2{a,b,c}_w`` | ``layer{s-1}.{j}.conv{1,2,3}.weight`` |
| ``res{s}_{j}_branch2{a,b,c}_bn_*`` | ``layer{s-1}.{j}.bn{1,2,3}.*`` |
| ``res{s}_{j}_branch1_w`` / ``_bn_*`` | ``layer{s-1}.{j}.downsample.0.weight`` / ``downsample.1.*`` |

Jigsaw models (9 towers sharing weights) keep tower 0 (``_s0_`` removed) and drop towers 1-8;
``*_momentum`` blobs, ``lr``, ``model_iter`` and the classifier ``pred_*`` are dropped. With
``bgr_to_rgb`` the first convolution's input channels are reversed (Caffe2 read BGR images).
Affine-only batch norms (scale and bias, no running statistics) get mean 0 and variance
``1 - eps`` so a BatchNorm computes exactly the affine map; ``fold_bn`` turns every BatchNorm
into that affine form (for targets with frozen, affine normalisation).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor

from ssl_convert.caffe2_alexnet import alexnet_trunk_name, caffe2_alexnet_to_ours, is_caffe2_alexnet
from ssl_convert.errors import FormatError
from ssl_convert.keymap import DROP, map_keys
from ssl_convert.weights import Weights

__all__ = ["BN_EPS", "caffe2_to_ours", "fold_batchnorm", "read_caffe2", "remove_jigsaw_towers"]

#: eps of the BatchNorm layers the weights are loaded into (torch's default).
BN_EPS = 1e-5
_BN_PARAM = {"s": "weight", "b": "bias", "rm": "running_mean", "riv": "running_var"}
_CONV = {"2a": "1", "2b": "2", "2c": "3"}
_BLOCK = re.compile(r"^res(\d)_(\d+)_branch(1|2a|2b|2c)_(w|bn_s|bn_b|bn_rm|bn_riv)$")
_STEM_BN = re.compile(r"^res_conv1_bn_(s|b|rm|riv)$")


def remove_jigsaw_towers(blobs: Mapping[str, object]) -> tuple[dict[str, object], list[str]]:
    """Keep tower 0 of a jigsaw model (``_s0_`` -> ``_``), drop towers 1-8; returns (blobs, dropped)."""
    out: dict[str, object] = {}
    dropped: list[str] = []
    for key, value in blobs.items():
        if "_s0_" in key:
            out[key.replace("_s0_", "_")] = value
        elif re.search(r"_s[1-8]_", key):
            dropped.append(key)
        else:
            out[key] = value
    return out, dropped


def _rule(key: str) -> str | object | None:
    if key.endswith("_momentum") or key in ("lr", "model_iter") or key.startswith("pred_"):
        return DROP
    if key == "conv1_w":
        return "conv1.weight"
    m = _STEM_BN.match(key)
    if m:
        return f"bn1.{_BN_PARAM[m.group(1)]}"
    m = _BLOCK.match(key)
    if not m:
        return None
    stage, block, branch, param = int(m.group(1)), m.group(2), m.group(3), m.group(4)
    if not 2 <= stage <= 5:
        return None
    base = f"layer{stage - 1}.{block}."
    if branch == "1":
        return base + ("downsample.0.weight" if param == "w" else f"downsample.1.{_BN_PARAM[param[3:]]}")
    return base + (f"conv{_CONV[branch]}.weight" if param == "w" else f"bn{_CONV[branch]}.{_BN_PARAM[param[3:]]}")


def _bn_prefixes(state: Mapping[str, Tensor]) -> list[str]:
    return [k[: -len("weight")] for k in state if k.endswith("weight") and state[k].ndim == 1]


def fold_batchnorm(state: Mapping[str, Tensor], eps: float = BN_EPS) -> dict[str, Tensor]:
    """BatchNorms rewritten as the same affine map: ``w' = w / sqrt(var + eps)``,
    ``b' = b - mean * w'``, mean 0 and variance ``1 - eps`` (so ``sqrt(var + eps) = 1``)."""
    out = dict(state)
    for prefix in _bn_prefixes(state):
        mean, var = state[prefix + "running_mean"].double(), state[prefix + "running_var"].double()
        scale = state[prefix + "weight"].double() / torch.sqrt(var + eps)
        dtype = state[prefix + "weight"].dtype
        out[prefix + "weight"] = scale.to(dtype)
        out[prefix + "bias"] = (state[prefix + "bias"].double() - mean * scale).to(dtype)
        out[prefix + "running_mean"] = torch.zeros_like(mean, dtype=dtype)
        out[prefix + "running_var"] = torch.full_like(var, 1.0 - eps, dtype=dtype)
    return out


def _to_tensors(state: Mapping[str, object]) -> dict[str, Tensor]:
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        array = np.ascontiguousarray(np.asarray(value, dtype=np.float32))
        out[key] = torch.from_numpy(array.copy())
    return out


def caffe2_to_ours(blobs: Mapping[str, object]) -> tuple[dict[str, Tensor], list[str], list[str]]:
    """Caffe2 ResNet blobs -> (ssl-models ResNet state, dropped blob names, unconverted blob names)."""
    mapped = map_keys(blobs, _rule, what="Caffe2 blobs")
    return _to_tensors(mapped.state), mapped.dropped, mapped.unconverted


def read_caffe2(obj: object, bgr_to_rgb: bool = False, fold_bn: bool = False) -> Weights:
    """A loaded Caffe2 ``.pkl`` (``{"blobs": {...}}`` or bare blobs) -> :class:`Weights`.

    ResNet-50 blobs (``res2_0_branch2a_w`` ...) or AlexNet blobs (``conv1_w`` ... ``conv5_w``,
    see :mod:`ssl_convert.caffe2_alexnet`; the AlexNet variant is named in the result).
    """
    if not isinstance(obj, Mapping):
        raise FormatError("a Caffe2 model is a dict of blobs")
    blobs = obj["blobs"] if "blobs" in obj else obj
    notes: list[str] = []
    jigsaw_dropped: list[str] = []
    origin: dict[str, str] = {}  # tower-0 name without "_s0_" -> blob name in the file
    if any("_s0_" in k for k in blobs):
        origin = {k.replace("_s0_", "_"): k for k in blobs if "_s0_" in k}
        blobs, jigsaw_dropped = remove_jigsaw_towers(blobs)
        notes.append(f"jigsaw model: tower 0 kept, {len(jigsaw_dropped)} blobs of towers 1-8 dropped")
    trunk_name = None
    if is_caffe2_alexnet(blobs):
        mapped = caffe2_alexnet_to_ours(blobs)
        state, dropped, unconverted = _to_tensors(mapped.state), mapped.dropped, mapped.unconverted
        first_conv = "_feature_blocks.0.0.weight"
        if first_conv in state:
            trunk_name = alexnet_trunk_name(state, int(state[first_conv].shape[1]))
            if trunk_name is None:
                raise FormatError("Caffe2 AlexNet with batch norms after other convolutions than the benchmark's jigsaw (conv3-5) or colorization (conv1-5) models")
            notes.append(f"Caffe2 AlexNet: {trunk_name} (from where its batch norms sit)")
    else:
        state, dropped, unconverted = caffe2_to_ours(blobs)
        first_conv = "conv1.weight"
    dropped, unconverted = [origin.get(k, k) for k in dropped], [origin.get(k, k) for k in unconverted]
    affine_only = [p for p in _bn_prefixes(state) if p + "running_mean" not in state]
    for prefix in affine_only:
        state[prefix + "running_mean"] = torch.zeros_like(state[prefix + "weight"])
        state[prefix + "running_var"] = torch.full_like(state[prefix + "weight"], 1.0 - BN_EPS)
    if affine_only:
        notes.append(f"{len(affine_only)} affine-only norms: running stats set to mean 0 / var 1-eps")
    for prefix in _bn_prefixes(state):
        state.setdefault(prefix + "num_batches_tracked", torch.tensor(0, dtype=torch.long))
    if bgr_to_rgb:
        if first_conv not in state or state[first_conv].shape[1] != 3:
            raise FormatError("bgr_to_rgb needs a first convolution with 3 input channels (conv1_w)")
        state[first_conv] = state[first_conv].flip(1).contiguous()
        notes.append("conv1 input channels reversed (BGR -> RGB)")
    if fold_bn:
        state = fold_batchnorm(state)
        notes.append("batch norms folded to affine form (mean 0, var 1-eps)")
    return Weights(state, trunk_name, {} if trunk_name else None, dropped=jigsaw_dropped + dropped, unconverted=unconverted, notes=notes)
