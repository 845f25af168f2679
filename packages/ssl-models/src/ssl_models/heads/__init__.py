"""Heads: projections, predictors, prototypes and classifiers, each a ``Head`` with ``name``/``kwargs``."""

from ssl_models.heads.base import Head
from ssl_models.heads.eval_mlp import EvalMLPHead, LinearEvalMLPHead
from ssl_models.heads.mlp import MLPHead
from ssl_models.heads.pool import AvgPoolHead
from ssl_models.heads.projections import ExpanderHead, PredictorHead, VisionTransformerHead
from ssl_models.heads.prototypes import DINOHead, SwAVHead
from ssl_models.heads.siamese_concat_view import SiameseConcatView

__all__ = [
    "AvgPoolHead",
    "DINOHead",
    "EvalMLPHead",
    "ExpanderHead",
    "Head",
    "LinearEvalMLPHead",
    "MLPHead",
    "PredictorHead",
    "SiameseConcatView",
    "SwAVHead",
    "VisionTransformerHead",
]
