"""Vision trunks and SSL heads behind one interface, on torchvision and timm."""

from ssl_models import checkpoint
from ssl_models.__about__ import __version__
from ssl_models.alexnet import AlexNetTrunk
from ssl_models.atomic_files import DiskFullError, atomic_write_bytes, atomic_write_text, check_writable, write_atomically
from ssl_models.catalog import build_head, build_trunk, list_heads, list_trunks
from ssl_models.checkpoint import (
    CheckpointError,
    heads_from_checkpoint,
    load_checkpoint,
    model_payload,
    save_checkpoint,
    trunk_from_checkpoint,
)
from ssl_models.heads import (
    AvgPoolHead,
    DINOHead,
    EvalMLPHead,
    ExpanderHead,
    Head,
    LinearEvalMLPHead,
    MLPHead,
    PredictorHead,
    SiameseConcatView,
    SwAVHead,
    VisionTransformerHead,
)
from ssl_models.model import SSLModel
from ssl_models.momentum import MomentumEncoder
from ssl_models.regnet import RegNetTrunk
from ssl_models.restricted_pickle import UnsafePickleError, restricted_load, restricted_loads
from ssl_models.resnet import LINEAR_EVAL_FEAT_POOL_OPS_MAP, ResNetTrunk, linear_eval_heads, linear_eval_pool
from ssl_models.sync_batchnorm import CPUSyncBatchNorm, convert_sync_batchnorm, sync_batchnorm_group
from ssl_models.timm_trunk import TimmTrunk
from ssl_models.torchvision_trunk import EfficientNetTrunk, TorchvisionTrunk
from ssl_models.trunk import Trunk
from ssl_models.weights import LoadReport, load_weights

__all__ = [
    "LINEAR_EVAL_FEAT_POOL_OPS_MAP",
    "AlexNetTrunk",
    "AvgPoolHead",
    "CPUSyncBatchNorm",
    "CheckpointError",
    "DINOHead",
    "DiskFullError",
    "EfficientNetTrunk",
    "EvalMLPHead",
    "ExpanderHead",
    "Head",
    "LinearEvalMLPHead",
    "LoadReport",
    "MLPHead",
    "MomentumEncoder",
    "PredictorHead",
    "RegNetTrunk",
    "ResNetTrunk",
    "SSLModel",
    "SiameseConcatView",
    "SwAVHead",
    "TimmTrunk",
    "TorchvisionTrunk",
    "Trunk",
    "UnsafePickleError",
    "VisionTransformerHead",
    "__version__",
    "atomic_write_bytes",
    "atomic_write_text",
    "build_head",
    "build_trunk",
    "check_writable",
    "checkpoint",
    "convert_sync_batchnorm",
    "heads_from_checkpoint",
    "linear_eval_heads",
    "linear_eval_pool",
    "list_heads",
    "list_trunks",
    "load_checkpoint",
    "load_weights",
    "model_payload",
    "restricted_load",
    "restricted_loads",
    "save_checkpoint",
    "sync_batchnorm_group",
    "trunk_from_checkpoint",
    "write_atomically",
]
