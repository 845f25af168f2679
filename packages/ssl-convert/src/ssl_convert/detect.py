"""Working out which format a checkpoint file (or DCP directory) is in."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from torch import Tensor

from ssl_convert.alexnet_official import is_deepcluster, is_rotnet
from ssl_convert.barlow_twins_format import is_barlow_twins
from ssl_convert.classy_format import is_classy_trunk
from ssl_convert.dino_format import is_dino
from ssl_convert.errors import FormatError
from ssl_convert.moco_format import is_moco
from ssl_convert.reading import read_file
from ssl_convert.regnet_keys import is_regnet_in
from ssl_convert.resnet_arch import is_resnet_state
from ssl_convert.sharded import is_dcp_dir
from ssl_convert.swav_format import is_swav
from ssl_convert.torchvision_format import is_regnet_state
from ssl_convert.vissl_sharded import is_vissl_sharded
from ssl_convert.vit_keys import is_timm_vit, is_torchvision_vit

__all__ = ["INPUT_FORMATS", "detect_format", "detect_object"]

#: Every format ``convert`` reads (``from_``); "dcp" is a torch.distributed.checkpoint directory,
#: "vissl_sharded" the primary file of a VISSL fairscale-FSDP (shard_list) or sliced checkpoint.
INPUT_FORMATS: tuple[str, ...] = (
    "ssl", "torchvision", "timm", "vissl", "classy", "caffe2",
    "moco", "swav", "dino", "barlow_twins", "rotnet", "deepcluster", "dcp", "vissl_sharded",
)  # fmt: skip


def _tensor_dict(obj: object) -> Mapping[str, Tensor] | None:
    if isinstance(obj, Mapping) and obj and all(isinstance(v, Tensor) for v in obj.values()):
        return obj
    return None


def _describe(obj: object) -> str:
    if isinstance(obj, Mapping):
        keys = list(obj)[:5]
        return f"a dict with keys {keys}{' ...' if len(obj) > 5 else ''}"
    return f"a {type(obj).__name__}"


def detect_object(obj: object) -> str:
    """The format of a loaded checkpoint object (one of :data:`INPUT_FORMATS` but "dcp")."""
    if not isinstance(obj, Mapping):
        raise FormatError(f"unknown checkpoint layout: {_describe(obj)}")
    if obj.get("format") == "ssl-checkpoint":
        return "ssl"
    if is_vissl_sharded(obj):
        return "vissl_sharded"
    if obj.get("type") in ("shard", "slice"):
        raise FormatError(
            f"one {obj['type']} of a VISSL sharded/sliced checkpoint; convert the file that lists them "
            "(model_<phase>.torch / checkpoint.torch, type shard_list or slice_list)"
        )
    if "__author__" in obj and "model" in obj:
        raise FormatError("this is a detectron2 .pkl; ssl-convert writes detectron2 files but does not read them")
    if "blobs" in obj or "conv1_w" in obj or "conv1_s0_w" in obj:
        return "caffe2"
    if "classy_state_dict" in obj:
        try:
            trunk = obj["classy_state_dict"]["base_model"]["model"]["trunk"]
        except (KeyError, TypeError):
            raise FormatError("classy_state_dict without base_model.model.trunk") from None
        return "classy" if is_classy_trunk(trunk) else "vissl"
    if "model_state_dict" in obj:
        return "vissl"
    detectors = (
        (is_dino, "dino"), (is_barlow_twins, "barlow_twins"), (is_moco, "moco"), (is_swav, "swav"),
        (is_rotnet, "rotnet"), (is_deepcluster, "deepcluster"),
    )  # fmt: skip
    for test, name in detectors:
        if test(obj):
            return name
    state = _tensor_dict(obj) or _tensor_dict(obj.get("state_dict")) or _tensor_dict(obj.get("model"))
    if state is None:
        raise FormatError(f"unknown checkpoint layout: {_describe(obj)}")
    keys = list(state)
    if any(k.startswith(("_feature_blocks.", "trunk.")) for k in keys):
        return "vissl"
    if is_classy_trunk(state):
        return "classy"
    if is_torchvision_vit(state):
        return "torchvision"
    if is_timm_vit(state):
        return "timm"
    if is_resnet_state(state) or is_regnet_state(state):
        return "torchvision"
    if is_regnet_in(state, "timm"):
        return "timm"
    raise FormatError(f"unknown checkpoint layout: a state dict with keys {keys[:5]}")


def detect_format(path: str | os.PathLike[str], allow_unsafe_load: bool = False) -> str:
    """The format of the checkpoint at ``path``: one of :data:`INPUT_FORMATS`.

    torchvision and timm ResNets share their names; such files are reported as "torchvision".
    Raises ``FileNotFoundError``, :class:`FormatError` (not a checkpoint, truncated, unknown
    layout) or :class:`UnsafeLoadError`.
    """
    p = Path(path)
    if is_dcp_dir(p):
        return "dcp"
    return detect_object(read_file(p, allow_unsafe_load=allow_unsafe_load))
