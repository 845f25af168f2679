"""``ssl data prepare NAME -i IN -o OUT``: the name -> preparer map and the entry point."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ssl_data.prep import benchmark_filelists as bf
from ssl_data.prep import binary_datasets, lvis, retrieval, vtab_filelists, vtab_folders
from ssl_data.prep.caffe2_detection import caffe2_detection, caffe2_jigsaw_strip
from ssl_data.prep.clip_features import clip_text_features, feature_sum_norm, lvis_sentence_features
from ssl_data.prep.color_bins import color_bins
from ssl_data.prep.copydays import copydays
from ssl_data.prep.download import download_dataset
from ssl_data.prep.exemplar_classifiers import exemplar_classifiers
from ssl_data.prep.exemplar_dict import collate_exemplars
from ssl_data.prep.exemplar_features import exemplar_features
from ssl_data.prep.imagenet21k import imagenet21k
from ssl_data.prep.jigsaw_permutations import jigsaw_permutations
from ssl_data.prep.kinetics_frames import kinetics_frames
from ssl_data.prep.kitti_flow import kitti_flow
from ssl_data.prep.low_shot import places_low_shot, voc_low_shot
from ssl_data.prep.nuscenes_egomotion import nuscenes_egomotion
from ssl_data.prep.video_frames import ucf101
from ssl_data.prep.virb_image_data import cifar100, thor_egomotion, thor_num_steps
from ssl_data.prep.virb_pixel_data import cityscapes, egohands, nyu_depth, nyu_walkable, pets_masks, taskonomy_depth, thor_depth

from ssl_data.progress import ProgressFn

__all__ = ["PREPARERS", "prepare", "preparer_options"]

#: Every preparer has the signature ``fn(input_path: Path, output_dir: Path, **options) -> dict``
#: (a summary of what was written).
PREPARERS: dict[str, Callable[..., dict[str, Any]]] = {
    # FAIR benchmark / VISSL optional filelists
    "imagenet": bf.folder_filelist,
    "places205": bf.folder_filelist,
    "places365": bf.folder_filelist,
    "folder": bf.folder_filelist,
    "voc07": bf.voc_filelist,
    "voc12": bf.voc_filelist,
    "coco": bf.coco_filelist,
    # VTAB / CLIP-style (VISSL extra_scripts/datasets)
    "caltech101": vtab_folders.caltech101,
    "dtd": vtab_folders.dtd,
    "euro_sat": vtab_folders.euro_sat,
    "fgvc_aircraft": vtab_folders.fgvc_aircraft,
    "food101": vtab_folders.food101,
    "gtsrb": vtab_folders.gtsrb,
    "kitti_dist": vtab_folders.kitti_dist,
    "oxford_flowers": vtab_folders.oxford_flowers,
    "oxford_pets": vtab_folders.oxford_pets,
    "stanford_cars": vtab_folders.stanford_cars,
    "dsprites_location": vtab_folders.dsprites_location,
    "dsprites_orientation": vtab_folders.dsprites_orientation,
    "clevr_count": vtab_filelists.clevr_count,
    "clevr_dist": vtab_filelists.clevr_dist,
    "imagenet_ood": vtab_filelists.imagenet_ood,
    "inaturalist2018": vtab_filelists.inaturalist2018,
    "sun397": vtab_filelists.sun397,
    "small_norb_azimuth": binary_datasets.small_norb_azimuth,
    "small_norb_elevation": binary_datasets.small_norb_elevation,
    "patch_camelyon": binary_datasets.patch_camelyon,
    "ucf101": ucf101,
    # retrieval sets and ImageNet subsets
    "roxford5k": functools.partial(retrieval.revisited_retrieval, name="roxford5k"),
    "rparis6k": functools.partial(retrieval.revisited_retrieval, name="rparis6k"),
    "copydays": copydays,
    "imagenet_subset": retrieval.imagenet_subset,
    # ViRB end-task datasets -> the layouts of ssl benchmark virb-image / segmentation / depth / ssl_evaluation.virb
    "cifar100": cifar100,
    "thor_num_steps": thor_num_steps,
    "thor_egomotion": thor_egomotion,
    "nuscenes_egomotion": nuscenes_egomotion,
    "cityscapes": cityscapes,
    "pets_masks": pets_masks,
    "egohands": egohands,
    "nyu_depth": nyu_depth,
    "nyu_walkable": nyu_walkable,
    "thor_depth": thor_depth,
    "taskonomy_depth": taskonomy_depth,
    "kinetics_frames": kinetics_frames,
    "kitti_flow": kitti_flow,
    # low-shot, jigsaw, colorization
    "voc07_low_shot": voc_low_shot,
    "places205_low_shot": places_low_shot,
    "jigsaw_permutations": jigsaw_permutations,
    "color_bins": color_bins,
    # FAIR benchmark model pickles (pickle_jigsaw_model.py, pickle_caffe2_detection.py)
    "caffe2_jigsaw_strip": caffe2_jigsaw_strip,
    "caffe2_detection": caffe2_detection,
    # MM-OVOD detection data
    "lvis_remove_rare": lvis.lvis_remove_rare,
    "lvis_cat_info": lvis.lvis_cat_info,
    "imagenet_lvis": lvis.imagenet_lvis,
    "imagenet21k": imagenet21k,
    "collate_exemplars": collate_exemplars,
    "sample_exemplars": lvis.sample_exemplars,
    "exemplar_features": exemplar_features,
    "exemplar_classifiers": exemplar_classifiers,
    "clip_text_features": clip_text_features,
    "lvis_sentence_features": lvis_sentence_features,
    "feature_sum_norm": feature_sum_norm,
}


def preparer_options(name: str) -> dict[str, Any]:
    """The extra options of preparer ``name`` with their defaults (``inspect.Parameter.empty`` when
    required), for the CLI's help."""
    if name not in PREPARERS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(sorted(PREPARERS))}")
    params = list(inspect.signature(PREPARERS[name]).parameters.values())[2:]
    fixed = PREPARERS[name].keywords if isinstance(PREPARERS[name], functools.partial) else {}
    return {p.name: p.default for p in params if p.name not in fixed and p.name != "progress"}


def prepare(
    name: str,
    input_path: str | Path | None,
    output_dir: str | Path,
    download: bool = False,
    *,
    download_mirror: str | None = None,
    download_timeout: float | None = None,
    progress: ProgressFn | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Run preparer ``name`` (VISSL's ``create_*_data_files.py -i IN -o OUT [-d]``).

    ``download`` first fetches the official files into ``input_path`` with
    :func:`~ssl_data.prep.download.download_dataset` (``download_mirror`` / ``$SSL_DATA_MIRROR``
    replaces the official URLs' folder, ``download_timeout`` / ``$SSL_DATA_DOWNLOAD_TIMEOUT`` bounds
    each lookup, connection and read, default 15 s); without a network it raises
    ``DownloadError`` (one line) before anything is written. Unknown names or options raise
    ValueError; missing inputs FileNotFoundError naming the path. Returns the preparer's summary.
    ``progress(stage, done, total)`` reaches the download and the preparers with long loops (PNG
    writers: cifar100, small_norb_*, patch_camelyon, dsprites_*; video decoders: kinetics_frames,
    ucf101; the filelists of the FAIR benchmark sets, VTAB, SUN397, iNaturalist, CLEVR, ImageNet-A/R
    and imagenet_subset: ``filelist (SPLIT)`` while their paths are resolved; the disk_folder
    writers: ``images (SPLIT)`` as they are linked or copied).
    """
    accepted = preparer_options(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"{name}: unknown option(s) {unknown}; options are {sorted(accepted)}")
    if input_path is None and name != "jigsaw_permutations":
        raise ValueError(f"{name}: an input path (-i) is required")
    if download:
        download_dataset(name, Path(str(input_path)), mirror=download_mirror, timeout=download_timeout, progress=progress)
    if progress is not None and "progress" in inspect.signature(PREPARERS[name]).parameters:
        options["progress"] = progress
    return PREPARERS[name](Path(input_path) if input_path is not None else None, Path(output_dir), **options)
