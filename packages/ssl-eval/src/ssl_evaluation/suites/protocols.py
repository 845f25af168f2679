"""Typed protocols of the feature benchmarks (kNN, linear probe, clustering) and of the probe
suite that ``ssl benchmark knn|linear|clustering|all`` and ``ssl run`` read.

Every default is the published one, cited next to it; these dataclasses are the only place the
defaults live: the CLI, suite files and ``ssl run`` all load them through
:func:`ssl_evaluation.suites.load_protocol` (``knn.k=20``, ``benchmark.linear.epochs=30``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ClusteringProtocol", "ExtractionProtocol", "KnnProtocol", "LinearProtocol", "ProbeSuite"]


@dataclass
class KnnProtocol:
    """Weighted kNN on L2-normalised frozen features, votes ``exp(cos / temperature)``.

    Defaults: VISSL's ``NEAREST_NEIGHBOR`` benchmark (``TOPK: 200``, ``SIGMA: 0.1``), the NPID
    protocol (Wu et al., 2018, sec. 3.4).
    """

    k: int = 200
    temperature: float = 0.1


@dataclass
class LinearProtocol:
    """Linear classifier on standardised frozen features: SGD with momentum, cosine schedule.

    Defaults: DINO's ``eval_linear.py`` (Caron et al., 2021): 100 epochs, momentum 0.9, weight
    decay 0; lr 0.1 at batch 1024 (DINO's ``lr = 0.001 * batch / 256`` is tuned per model; 0.1
    is this library's default for standardised features, ``ssl_evaluation.linear_probe``).
    """

    epochs: int = 100
    lr: float = 0.1
    batch_size: int = 1024
    momentum: float = 0.9
    weight_decay: float = 0.0


@dataclass
class ClusteringProtocol:
    """k-means of the test split's features, NMI / ARI against the labels.

    Defaults: VISSL's ClusterFit step 1 (``n_iter: 50``); ``num_clusters: 0`` means as many
    clusters as classes (the usual clustering-benchmark setting, e.g. SCAN, Van Gansbeke et al.,
    2020); features L2-normalised as VISSL's ``NORMALIZE_FEATURES``.
    """

    num_clusters: int = 0
    n_iter: int = 50
    l2_normalize: bool = True
    seed: int = 0


@dataclass
class ExtractionProtocol:
    """How images become frozen features: resize + centre crop to ``image_size`` (0: the image
    size of the checkpoint's recipe, else 224, VISSL's test transform), ImageNet normalisation,
    ``batch_size`` images per forward pass. ``limit`` keeps that many train images, class-balanced
    and seeded (VISSL's ``DATA_LIMIT`` with ``IS_BALANCED``; 0 keeps all)."""

    image_size: int = 0
    batch_size: int = 256
    num_workers: int = 0
    limit: int = 0
    seed: int = 0
    val_fraction: float = 0.2
    """Held-out test fraction of a single class-per-folder tree without train/ and val/."""


@dataclass
class ProbeSuite:
    """The benchmarks on frozen pooled features, and ``ssl run``'s ``benchmark`` section.

    ``random_init_baseline``: ``ssl run`` also benchmarks the same architecture at random init,
    its BatchNorm statistics re-estimated on ``bn_batches`` batches of clean train images.
    """

    knn: KnnProtocol = field(default_factory=KnnProtocol)
    linear: LinearProtocol = field(default_factory=LinearProtocol)
    clustering: ClusteringProtocol = field(default_factory=ClusteringProtocol)
    extraction: ExtractionProtocol = field(default_factory=ExtractionProtocol)
    random_init_baseline: bool = True
    bn_batches: int = 20
