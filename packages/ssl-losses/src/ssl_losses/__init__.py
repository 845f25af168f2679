"""Self-supervised learning losses for PyTorch (SimCLR, MoCo, SwAV, DINO, Barlow Twins, ...), distributed-aware, torch as the only dependency."""

from ssl_losses import distributed
from ssl_losses.__about__ import __version__
from ssl_losses.barlow_twins import BarlowTwinsLoss
from ssl_losses.dino import DINOLoss, dino_teacher_temperature
from ssl_losses.full_precision import full_precision
from ssl_losses.moco import MoCoLoss
from ssl_losses.simclr import SimCLRLoss
from ssl_losses.sinkhorn import distributed_sinkhorn_knopp
from ssl_losses.swav import SwAVLoss
from ssl_losses.swav_momentum import SwAVMomentumLoss

__all__ = [
    "BarlowTwinsLoss",
    "DINOLoss",
    "MoCoLoss",
    "SimCLRLoss",
    "SwAVLoss",
    "SwAVMomentumLoss",
    "__version__",
    "dino_teacher_temperature",
    "distributed",
    "distributed_sinkhorn_knopp",
    "full_precision",
]

# --- part B: more losses (NPID/PIRL memory bank, DeepClusterV2, multi-output CE/BCE, BYOL, SimSiam, VICReg, KoLeo)
from ssl_losses.bce_logits_multiple_output import BCELogitsMultipleOutputSingleTarget  # noqa: E402
from ssl_losses.byol import BYOLLoss  # noqa: E402
from ssl_losses.cross_entropy_multiple_output import CrossEntropyMultipleOutputSingleTarget  # noqa: E402
from ssl_losses.deepclusterv2 import DeepClusterV2Loss  # noqa: E402
from ssl_losses.koleo import KoLeoLoss  # noqa: E402
from ssl_losses.nce_memory import NCEMemoryLoss  # noqa: E402
from ssl_losses.simsiam import SimSiamLoss  # noqa: E402
from ssl_losses.vicreg import VICRegLoss  # noqa: E402

__all__ += [
    "BCELogitsMultipleOutputSingleTarget",
    "BYOLLoss",
    "CrossEntropyMultipleOutputSingleTarget",
    "DeepClusterV2Loss",
    "KoLeoLoss",
    "NCEMemoryLoss",
    "SimSiamLoss",
    "VICRegLoss",
]
