"""Transforms: per-sample v2 presets, the batched SimCLR augmentation and VISSL's transforms."""

from ssl_data.transforms.batched_simclr import AugmentParams, BatchedSimCLRAugment
from ssl_data.transforms.by_name import (
    VISSL_TRANSFORMS,
    PipelineOutput,
    VisslTransforms,
    build_transform,
    build_transform_from_spec,
)
from ssl_data.transforms.colour import (
    ImgPilColorDistortion,
    ImgPilGaussianBlur,
    ImgPilRandomColorJitter,
    ImgPilRandomPhotometric,
    ImgPilRandomSolarize,
)
from ssl_data.transforms.jigsaw import ImgPatchesFromTensor, ImgPilToPatchesAndImage, ShuffleImgPatches, load_permutations
from ssl_data.transforms.multi_view import MultiView
from ssl_data.transforms.multicrop import ImgPilMultiCropRandomApply, ImgPilToMultiCrop
from ssl_data.transforms.presets import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    barlow_twins_transform,
    byol_transform,
    dino_transform,
    moco_v2_transform,
    multicrop_transform,
    simclr_transform,
    simclr_view,
)
from ssl_data.transforms.randaugment import RandAugment
from ssl_data.transforms.replicate import ImgReplicatePil
from ssl_data.transforms.resize import MultigrainResize
from ssl_data.transforms.rotation import ImgRotatePil
from ssl_data.transforms.tensor_conversion import ImgPil2LabTensor, ImgPilToRawTensor, ImgToTensor, rgb_to_lab

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "VISSL_TRANSFORMS",
    "AugmentParams",
    "BatchedSimCLRAugment",
    "ImgPatchesFromTensor",
    "ImgPil2LabTensor",
    "ImgPilColorDistortion",
    "ImgPilGaussianBlur",
    "ImgPilMultiCropRandomApply",
    "ImgPilRandomColorJitter",
    "ImgPilRandomPhotometric",
    "ImgPilRandomSolarize",
    "ImgPilToMultiCrop",
    "ImgPilToPatchesAndImage",
    "ImgPilToRawTensor",
    "ImgReplicatePil",
    "ImgRotatePil",
    "ImgToTensor",
    "MultiView",
    "MultigrainResize",
    "PipelineOutput",
    "RandAugment",
    "ShuffleImgPatches",
    "VisslTransforms",
    "barlow_twins_transform",
    "build_transform",
    "build_transform_from_spec",
    "byol_transform",
    "dino_transform",
    "load_permutations",
    "moco_v2_transform",
    "multicrop_transform",
    "rgb_to_lab",
    "simclr_transform",
    "simclr_view",
]
