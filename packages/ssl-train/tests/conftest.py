"""Tiny configurations and a tiny real image folder shared by ssl-train's tests."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

OPENCLIPART = Path("/usr/share/openclipart/png")

#: float32 on every machine: these tiny runs check the trainer (resume bits, equivalence, faults),
#: not a precision (``precision=auto`` used to pick bf16 on CPUs with AMX, where the 8-channel
#: trunk's bf16 convolution backward returns NaN within a few steps: moco, dino, swav, steps 1-7).
_FP32 = "train.precision=fp32"

#: a few seconds per epoch on a CPU: digits, 16 px, a ResNet-18 at width 1/8.
TINY_SIMCLR = [
    "data.source=digits", "data.image_size=16", "data.batch_size=32", "data.limit=160", "data.num_workers=0",
    "model.width_multiplier=0.125", "model.head_hidden_dim=32", "model.projection_dim=16",
    "train.epochs=2", "train.tensorboard=false", "schedule.warmup_epochs=0.5", "monitor.knn_every_epochs=0", _FP32,
]
TINY_DINO = [
    "data.source=digits", "data.image_size=16", "data.batch_size=32", "data.limit=160", "data.num_workers=0",
    "model.width_multiplier=0.125", "model.head_hidden_dim=32", "model.head_bottleneck_dim=16", "model.head_out_dim=64",
    "views.local_crops=2", "views.local_size=8", "optim.lr=0.005",
    "train.epochs=2", "train.tensorboard=false", "schedule.warmup_epochs=0.5", "monitor.knn_every_epochs=0", _FP32,
]
TINY = {"simclr": TINY_SIMCLR, "dino": TINY_DINO}

#: issue 13 part A recipes: same tiny data and trunk, tiny heads.
_TINY_DATA = [
    "data.source=digits", "data.image_size=16", "data.batch_size=32", "data.limit=160", "data.num_workers=0",
    "model.width_multiplier=0.125", "train.epochs=2", "train.tensorboard=false", "schedule.warmup_epochs=0.5",
    "monitor.knn_every_epochs=0", _FP32,
]
TINY_MOCO = _TINY_DATA + ["model.head_hidden_dim=32", "model.projection_dim=16", "loss.queue_size=64"]
TINY_SWAV = _TINY_DATA + [
    "model.head_hidden_dim=32", "model.projection_dim=16", "model.num_prototypes=20", "views.local_crops=2",
    "views.local_size=8", "loss.queue_length=64", "loss.queue_start_epoch=1", "loss.freeze_prototypes_iters=3",
]
TINY_BYOL = _TINY_DATA + ["model.projector_hidden_dim=32", "model.projection_dim=16", "model.predictor_hidden_dim=32"]
TINY_SIMSIAM = _TINY_DATA + ["model.projection_dim=32", "model.predictor_hidden_dim=8", "optim.lr=0.4"]
TINY_BARLOW_TWINS = _TINY_DATA + ["model.expander_dims=[32,32]"]
TINY_VICREG = _TINY_DATA + ["model.expander_dims=[32,32]"]
TINY_SUPERVISED = _TINY_DATA + ["loss.mixup_alpha=0.2", "loss.cutmix_alpha=1.0", "loss.label_smoothing=0.1"]
TINY.update({
    "moco": TINY_MOCO, "swav": TINY_SWAV, "byol": TINY_BYOL, "simsiam": TINY_SIMSIAM,
    "barlow_twins": TINY_BARLOW_TWINS, "vicreg": TINY_VICREG, "supervised": TINY_SUPERVISED,
})


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """48 real PNGs (mixed sizes and modes) from the openclipart-png package, in 2 class folders."""
    if not OPENCLIPART.is_dir():
        pytest.skip("the Debian package openclipart-png is not installed")
    root = tmp_path_factory.mktemp("clipart")
    for category in ("animals", "buildings"):
        files = sorted((OPENCLIPART / category).rglob("*.png"))[:24]
        (root / category).mkdir()
        for f in files:
            shutil.copy(f, root / category / f.name)
    return root


#: issue 13 part B recipes. ClusterFit clusters a checkpoint's features and Colorization needs
#: colour images: both read files the session fixture below writes into RECIPE_FILES.
RECIPE_FILES = Path(tempfile.gettempdir()) / f"ssl-train-recipe-tests-{os.getuid()}"
TINY_CLUSTERFIT_CHECKPOINT = RECIPE_FILES / "clusterfit-stage1.pt"
TINY_COLOUR_FOLDER = RECIPE_FILES / "colour-pngs"
#: 192 PNGs of uniform random RGB noise, 24 px, in 2 class folders: images without flat regions
#: (no ties between pixels, see test_scale_out_equivalence.py).
TINY_NOISE_FOLDER = RECIPE_FILES / "noise-pngs"
TINY.update({
    # NCE with temperature 0.07 on 128 images rises over its first 32 steps at lr 0.03 (11.0 -> 19.9);
    # at temperature 0.2 it falls (6.06 -> 5.32).
    "npid": _TINY_DATA + ["model.projection_dim=16", "loss.num_negatives=32", "loss.temperature=0.2"],
    "npid++": _TINY_DATA + ["model.projection_dim=16", "loss.num_negatives=32"],
    "pirl": _TINY_DATA + ["model.projection_dim=16", "loss.num_negatives=32", "views.patch_crop_size=24", "views.patch_jitter=1"],
    "deepclusterv2": _TINY_DATA + ["model.head_hidden_dim=32", "model.projection_dim=16", "loss.num_clusters=[8,8]"],
    "clusterfit": _TINY_DATA + [f"clusterfit.checkpoint={TINY_CLUSTERFIT_CHECKPOINT}", "clusterfit.num_clusters=8"],
    "rotnet": _TINY_DATA,
    "jigsaw": _TINY_DATA + ["model.tile_dim=16", "views.crop_size=24", "views.patch_jitter=1", "loss.num_permutations=10"],
    "colorization": [x for x in _TINY_DATA if not x.startswith("data.source")]
    + [f"data.source={TINY_COLOUR_FOLDER}", "data.image_size=32", "loss.bins_images=16"],
})


@pytest.fixture(scope="session", autouse=True)
def recipe_test_files() -> Path:
    """A random-init trunk checkpoint (ClusterFit's stage 1), 128 real colour PNGs from the
    openclipart-png package (the smallest files: quick to decode) shrunk to 40 px in 2 class folders (Colorization)
    and 192 noise PNGs (the equivalence test); written atomically, so concurrent sessions share them."""
    from PIL import Image

    import ssl_models
    from ssl_models import checkpoint as ckpt_format

    RECIPE_FILES.mkdir(parents=True, exist_ok=True)
    if not TINY_CLUSTERFIT_CHECKPOINT.is_file():
        torch.manual_seed(0)
        trunk = ssl_models.build_trunk("resnet18", width_multiplier=0.125)
        ckpt_format.save_checkpoint(ckpt_format.model_payload(trunk), TINY_CLUSTERFIT_CHECKPOINT)
    if not TINY_COLOUR_FOLDER.is_dir() and OPENCLIPART.is_dir():
        staging = Path(tempfile.mkdtemp(dir=RECIPE_FILES))
        for category in ("animals", "food"):
            (staging / category).mkdir()
            smallest = sorted((OPENCLIPART / category).rglob("*.png"), key=lambda p: (p.stat().st_size, str(p)))[:64]
            for i, f in enumerate(smallest):
                with Image.open(f) as im:
                    im.convert("RGB").resize((40, 40), Image.BILINEAR).save(staging / category / f"{i:03d}.png")
        try:
            staging.rename(TINY_COLOUR_FOLDER)
        except OSError:  # another session got there first
            shutil.rmtree(staging, ignore_errors=True)
    if not TINY_NOISE_FOLDER.is_dir():
        rng = np.random.default_rng(0)
        staging = Path(tempfile.mkdtemp(dir=RECIPE_FILES))
        for category in ("a", "b"):
            (staging / category).mkdir()
            for i in range(96):
                Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(staging / category / f"{i:03d}.png")
        try:
            staging.rename(TINY_NOISE_FOLDER)
        except OSError:  # another session got there first
            shutil.rmtree(staging, ignore_errors=True)
    return RECIPE_FILES
