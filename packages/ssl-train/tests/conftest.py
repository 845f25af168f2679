"""Tiny configurations and a tiny real image folder shared by ssl-train's tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

OPENCLIPART = Path("/usr/share/openclipart/png")

#: a few seconds per epoch on a CPU: digits, 16 px, a ResNet-18 at width 1/8.
TINY_SIMCLR = [
    "data.source=digits", "data.image_size=16", "data.batch_size=32", "data.limit=160", "data.num_workers=0",
    "model.width_multiplier=0.125", "model.head_hidden_dim=32", "model.projection_dim=16",
    "train.epochs=2", "train.tensorboard=false", "schedule.warmup_epochs=0.5", "monitor.knn_every_epochs=0",
]
TINY_DINO = [
    "data.source=digits", "data.image_size=16", "data.batch_size=32", "data.limit=160", "data.num_workers=0",
    "model.width_multiplier=0.125", "model.head_hidden_dim=32", "model.head_bottleneck_dim=16", "model.head_out_dim=64",
    "views.local_crops=2", "views.local_size=8", "optim.lr=0.005",
    "train.epochs=2", "train.tensorboard=false", "schedule.warmup_epochs=0.5", "monitor.knn_every_epochs=0",
]
TINY = {"simclr": TINY_SIMCLR, "dino": TINY_DINO}


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
