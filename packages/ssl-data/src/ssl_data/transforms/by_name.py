"""Build transforms by name (VISSL's names, then any torchvision transform) and run VISSL-style
``TRANSFORMS`` lists, where some transforms make copies, some see all copies, some emit labels."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import torchvision.transforms as tv1
from torchvision.transforms import v2

from ssl_data.transforms.colour import (
    ImgPilColorDistortion,
    ImgPilGaussianBlur,
    ImgPilRandomColorJitter,
    ImgPilRandomPhotometric,
    ImgPilRandomSolarize,
)
from ssl_data.transforms.jigsaw import ImgPatchesFromTensor, ImgPilToPatchesAndImage, ShuffleImgPatches
from ssl_data.transforms.multicrop import ImgPilMultiCropRandomApply, ImgPilToMultiCrop
from ssl_data.transforms.randaugment import RandAugment
from ssl_data.transforms.replicate import ImgReplicatePil
from ssl_data.transforms.resize import MultigrainResize
from ssl_data.transforms.rotation import ImgRotatePil
from ssl_data.transforms.tensor_conversion import ImgPil2LabTensor, ImgPilToRawTensor, ImgToTensor

__all__ = ["VISSL_TRANSFORMS", "PipelineOutput", "VisslTransforms", "build_transform", "build_transform_from_spec"]

#: VISSL's transform names -> our classes (checked before torchvision's names).
VISSL_TRANSFORMS: dict[str, Callable[..., Any]] = {
    "ImgReplicatePil": ImgReplicatePil,
    "ImgPilToMultiCrop": ImgPilToMultiCrop,
    "ImgPilColorDistortion": ImgPilColorDistortion,
    "ImgPilGaussianBlur": ImgPilGaussianBlur,
    "ImgPilMultiCropRandomApply": ImgPilMultiCropRandomApply,
    "ImgPilRandomColorJitter": ImgPilRandomColorJitter,
    "ImgPilRandomPhotometric": ImgPilRandomPhotometric,
    "ImgPilRandomSolarize": ImgPilRandomSolarize,
    "ImgPil2LabTensor": ImgPil2LabTensor,
    "ImgPilToPatchesAndImage": ImgPilToPatchesAndImage,
    "ImgPilToRawTensor": ImgPilToRawTensor,
    "ImgToTensor": ImgToTensor,
    "ToTensor": ImgToTensor,  # torchvision v1's ToTensor semantics, without v2's deprecation warning
    "ImgRotatePil": ImgRotatePil,
    "ImgPatchesFromTensor": ImgPatchesFromTensor,
    "ShuffleImgPatches": ShuffleImgPatches,
    "RandAugment": RandAugment,
    "MultigrainResize": MultigrainResize,
}


def _torchvision_names() -> list[str]:
    names = {n for n in dir(v2) if n[:1].isupper() and isinstance(getattr(v2, n), type)}
    names |= {n for n in dir(tv1) if n[:1].isupper() and isinstance(getattr(tv1, n), type)}
    return sorted(names)


def build_transform(name: str, **kwargs: Any) -> Callable[[Any], Any]:
    """A transform from its name: VISSL's names first (:data:`VISSL_TRANSFORMS`), then any class
    of ``torchvision.transforms.v2``, then of ``torchvision.transforms``. A string
    ``interpolation`` ("bicubic") becomes an ``InterpolationMode``. ``RandomErasing``,
    ``RandomResizedCrop``, ``ColorJitter``... come from torchvision.
    Raises ValueError naming the unknown transform (with the closest names) or the bad arguments.
    """
    if isinstance(kwargs.get("interpolation"), str):
        try:
            kwargs["interpolation"] = v2.InterpolationMode[kwargs["interpolation"].upper()]
        except KeyError:
            raise ValueError(f"{name}: unknown interpolation {kwargs['interpolation']!r}") from None
    if name in VISSL_TRANSFORMS:
        cls: Callable[..., Any] = VISSL_TRANSFORMS[name]
    elif isinstance(getattr(v2, name, None), type):
        cls = getattr(v2, name)
    elif isinstance(getattr(tv1, name, None), type):
        cls = getattr(tv1, name)
    else:
        close = difflib.get_close_matches(name, list(VISSL_TRANSFORMS) + _torchvision_names(), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValueError(f"unknown transform {name!r}{hint}")
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ValueError(f"bad arguments for transform {name!r}: {e}") from None


def build_transform_from_spec(spec: Mapping[str, Any]) -> Callable[[Any], Any]:
    """``{"name": "RandomResizedCrop", "size": 224}`` -> the transform (``indices`` is ignored)."""
    if "name" not in spec:
        raise ValueError(f"transform spec without a 'name': {dict(spec)}")
    kwargs = {k: v for k, v in spec.items() if k not in ("name", "indices")}
    return build_transform(str(spec["name"]), **kwargs)


class PipelineOutput(NamedTuple):
    """``data``: list of transformed copies of the image (length 1 without copy transforms);
    ``label``: the label produced by a label transform (RotNet angle, Jigsaw permutation index) or
    the label passed in."""

    data: list[Any]
    label: Any


class VisslTransforms:
    """Run a VISSL ``TRANSFORMS`` list on one image, with VISSL's wrapper semantics.

    The image is held as a list of copies (initially ``[image]``). For each step:
    *copies* transforms (ImgReplicatePil, ImgPilToMultiCrop, ImgPilToPatchesAndImage) return a list
    per copy, which is flattened; *grouping* transforms (ImgPilMultiCropRandomApply) receive the
    whole list; *label* transforms (ImgRotatePil, ShuffleImgPatches) return (image, label); every
    other transform is applied to each copy (or only to the copies listed in the spec's
    ``indices``).

    >>> t = VisslTransforms([{"name": "ImgReplicatePil", "num_times": 2},
    ...                      {"name": "RandomResizedCrop", "size": 8}, {"name": "ToTensor"}])
    """

    def __init__(self, specs: Sequence[Mapping[str, Any] | Callable[[Any], Any]]) -> None:
        self.steps: list[tuple[Callable[[Any], Any], set[int]]] = []
        for spec in specs:
            if callable(spec):
                self.steps.append((spec, set()))
            else:
                indices = spec.get("indices", [])
                indices = [indices] if isinstance(indices, int) else list(indices)
                self.steps.append((build_transform_from_spec(spec), set(indices)))

    def __call__(self, image: Any, label: Any = None) -> PipelineOutput:
        data = [image]
        for transform, indices in self.steps:
            kind = getattr(transform, "kind", "plain")
            if kind == "grouping":
                data = list(transform(data))
                continue
            chosen = indices or set(range(len(data)))
            out: list[Any] = []
            for i, item in enumerate(data):
                if i not in chosen:
                    out.append([item] if kind == "copies" else item)
                    continue
                result = transform(item)
                if kind == "label":
                    result, label = result
                out.append(result)
            data = [x for group in out for x in group] if kind == "copies" else out
        return PipelineOutput(data, label)

    def __repr__(self) -> str:
        return "VisslTransforms([" + ", ".join(repr(t) for t, _ in self.steps) + "])"
