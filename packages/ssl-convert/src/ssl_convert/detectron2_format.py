"""ssl-models ResNe(X)t -> detectron2 weights (a plain pickle of NumPy arrays) and its config.

| ssl-models / torchvision | detectron2 |
| --- | --- |
| ``conv1.weight`` | ``stem.conv1.weight`` |
| ``bn1.{weight,bias,running_mean,running_var}`` | ``stem.conv1.norm.*`` |
| ``layer{s}.{j}.conv{k}.weight`` | ``res{s+1}.{j}.conv{k}.weight`` |
| ``layer{s}.{j}.bn{k}.*`` | ``res{s+1}.{j}.conv{k}.norm.*`` |
| ``layer{s}.{j}.downsample.0.weight`` | ``res{s+1}.{j}.shortcut.weight`` |
| ``layer{s}.{j}.downsample.1.*`` | ``res{s+1}.{j}.shortcut.norm.*`` |

``num_batches_tracked`` (FrozenBN has none) and every head are dropped and listed. The file is
``pickle.dump({"model": {name: ndarray}, "__author__": "ssl-convert", "matching_heuristics":
True})``: no torch object inside, so detectron2's ``DetectionCheckpointer`` reads it from a
``.pkl`` path. Torchvision-style weights need the config values of :func:`detectron2_config`
(RGB input, ImageNet mean/std in 0-255, ``STRIDE_IN_1X1: False``, depth and widths).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

from ssl_convert.errors import FormatError
from ssl_convert.keymap import DROP, MappedState, map_keys, template_rule
from ssl_convert.resnet_arch import infer_resnet, is_resnet_state
from ssl_convert.weights import head_keys

__all__ = ["DETECTRON2_RESNET_KEYS", "config_yaml", "detectron2_config", "ours_to_detectron2", "write_detectron2"]

#: detectron2's ``build_resnet_backbone`` knows these depths.
_D2_DEPTHS = (18, 34, 50, 101, 152)


def _pairs() -> tuple[tuple[str, str], ...]:
    pairs = [("conv1.weight", "stem.conv1.weight"), ("bn1.{p}", "stem.conv1.norm.{p}")]
    for s in range(1, 5):
        ours, d2 = f"layer{s}.{{j}}", f"res{s + 1}.{{j}}"
        for k in (1, 2, 3):
            pairs += [(f"{ours}.conv{k}.weight", f"{d2}.conv{k}.weight"), (f"{ours}.bn{k}.{{p}}", f"{d2}.conv{k}.norm.{{p}}")]
        pairs += [(f"{ours}.downsample.0.weight", f"{d2}.shortcut.weight"), (f"{ours}.downsample.1.{{p}}", f"{d2}.shortcut.norm.{{p}}")]
    return tuple(pairs)


#: (ssl-models name template, detectron2 name template).
DETECTRON2_RESNET_KEYS: tuple[tuple[str, str], ...] = _pairs()


def ours_to_detectron2(state: Mapping[str, Tensor]) -> MappedState:
    """ssl-models ResNe(X)t trunk -> detectron2 backbone names, values as float32 NumPy arrays.

    ``num_batches_tracked`` buffers are dropped. Raises :class:`FormatError` for trunks
    detectron2 cannot build (not a ResNet, 3x3 small-input stem).
    """
    if not is_resnet_state(state):
        raise FormatError("detectron2 output supports ResNe(X)t trunks only")
    if state["conv1.weight"].shape[-1] != 7:
        raise FormatError("detectron2's stem is a 7x7 convolution; a small_input (3x3) trunk cannot be converted")
    table = template_rule(DETECTRON2_RESNET_KEYS)
    mapped = map_keys(state, lambda k: DROP if k.endswith("num_batches_tracked") else table(k), what="ResNet trunk")
    mapped.state = {k: v.detach().cpu().numpy().copy() for k, v in mapped.state.items()}  # type: ignore[union-attr]
    return mapped


def detectron2_config(state: Mapping[str, Tensor], layer4_stride: int = 2) -> dict[str, Any]:
    """The detectron2 config values these weights need, as dotted keys.

    Input is RGB normalised like torchvision (mean/std in 0-255 units), the stride sits in the
    3x3 convolution (``STRIDE_IN_1X1: False``); depth, cardinality and widths follow the trunk.
    """
    name, kwargs = infer_resnet(state)
    bottleneck = "layer1.0.conv3.weight" in state
    stem = int(state["conv1.weight"].shape[0])
    depth = int(name.removeprefix("resnet").removeprefix("resnext").split("_")[0])
    groups = int(kwargs.get("groups", 1))
    width_per_group = int(kwargs.get("width_per_group", 64))
    if name.startswith("resnext"):
        groups, width_per_group = (int(x) for x in name.split("_")[1].rstrip("d").split("x"))
    res2 = int(state["layer1.0.conv3.weight" if bottleneck else "layer1.0.conv2.weight"].shape[0])
    return {
        "INPUT.FORMAT": "RGB",
        "MODEL.PIXEL_MEAN": [123.675, 116.28, 103.53],
        "MODEL.PIXEL_STD": [58.395, 57.12, 57.375],
        "MODEL.RESNETS.DEPTH": depth,
        "MODEL.RESNETS.STRIDE_IN_1X1": False,
        "MODEL.RESNETS.NUM_GROUPS": groups,
        "MODEL.RESNETS.WIDTH_PER_GROUP": width_per_group * stem // 64,
        "MODEL.RESNETS.STEM_OUT_CHANNELS": stem,
        "MODEL.RESNETS.RES2_OUT_CHANNELS": res2,
        "MODEL.RESNETS.NORM": "GN" if kwargs.get("norm") == "GroupNorm" else "FrozenBN",
        "MODEL.RESNETS.RES5_DILATION": 1 if layer4_stride == 2 else 2,
    }


def config_yaml(config: Mapping[str, Any], weights_path: str) -> str:
    """A detectron2 config fragment (YAML) for ``cfg.merge_from_file`` holding ``config``."""
    tree: dict[str, Any] = {}
    for dotted, value in {**config, "MODEL.WEIGHTS": weights_path}.items():
        node = tree
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value

    def render(node: Mapping[str, Any], indent: int) -> list[str]:
        lines = []
        for key, value in node.items():
            if isinstance(value, Mapping):
                lines += [" " * indent + f"{key}:"] + render(value, indent + 2)
            else:
                text = "[" + ", ".join(repr(v) for v in value) + "]" if isinstance(value, list) else value
                if isinstance(value, bool):
                    text = "True" if value else "False"
                elif isinstance(value, str):
                    text = f'"{value}"'
                lines.append(" " * indent + f"{key}: {text}")
        return lines

    return "# detectron2 config values for weights converted by ssl-convert\n" + "\n".join(render(tree, 0)) + "\n"


def write_detectron2(payload: Mapping[str, Any]) -> tuple[dict[str, Any], list[str], dict[str, Any]]:
    """``(pickle payload, dropped keys, config values)`` for an ssl checkpoint's trunk."""
    state = payload["trunk"]["state_dict"]
    mapped = ours_to_detectron2(state)
    if mapped.unconverted:
        raise FormatError(f"detectron2 has no place for trunk key {mapped.unconverted[0]!r}")
    config = detectron2_config(state, int(payload["trunk"]["kwargs"].get("layer4_stride", 2)))
    if config["MODEL.RESNETS.DEPTH"] not in _D2_DEPTHS:
        raise FormatError(f"detectron2's build_resnet_backbone has no depth {config['MODEL.RESNETS.DEPTH']} (it knows {_D2_DEPTHS})")
    obj = {"model": dict(mapped.state), "__author__": "ssl-convert", "matching_heuristics": True}
    return obj, list(mapped.dropped) + head_keys(payload), config
