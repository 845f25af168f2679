"""Benchmark suites: one typed protocol dataclass per benchmark (published defaults, cited), loaded
with one structured-config loader and dotted overrides, and runners that take a checkpoint or a
trunk plus data and return ``{metrics, protocol, data, checkpoint, seconds}``.

:data:`BENCHMARKS` lists them (``ssl benchmark NAME``); suite files run many at once."""

from ssl_evaluation.suites.batchnorm import reestimate_batchnorm
from ssl_evaluation.suites.benchmark_data import (
    BUILTIN_DATA,
    TORCHVISION_DATA,
    BenchmarkSplit,
    download_data,
    feature_batches,
    open_split,
)
from ssl_evaluation.suites.benchmark_list import BENCHMARKS, Benchmark, headline_metrics
from ssl_evaluation.suites.checkpoint_trunk import checkpoint_trunk, random_init_trunk, resolve_image_size
from ssl_evaluation.suites.detection_suite import DetectionProtocol, run_detection
from ssl_evaluation.suites.detectron2_suite import (
    Detectron2Missing,
    Detectron2Protocol,
    check_detectron2_trunk,
    prepare_detectron2_weights,
    run_detectron2_suite,
)
from ssl_evaluation.suites.feature_export import export_features
from ssl_evaluation.suites.finetune_suites import (
    FinetuneProtocol,
    LowShotTransferProtocol,
    SemiSupervisedProtocol,
    run_finetune,
    run_low_shot_transfer,
    run_semi_supervised,
)
from ssl_evaluation.suites.image_splits import ImageData, suite_result
from ssl_evaluation.suites.layer_probes import (
    MultiLayerLinearProtocol,
    VirbGridProtocol,
    run_multi_layer_linear,
    run_virb_grid,
)
from ssl_evaluation.suites.pooled_layer import PooledLayer, layer_or_trunk
from ssl_evaluation.suites.pretrained_run import benchmark_pretrained
from ssl_evaluation.suites.probes import (
    PROBES, probe_features, probe_trunk, probe_trunk_keeping_features, run_probes, split_features,
)  # fmt: skip
from ssl_evaluation.progress import ProgressFn
from ssl_evaluation.suites.protocol_loader import (
    ProtocolError,
    load_protocol,
    protocol_dict,
    protocol_yaml,
    split_overrides,
)
from ssl_evaluation.suites.random_init_probes import random_init_probes
from ssl_evaluation.suites.protocols import (
    ClusteringProtocol,
    ExtractionProtocol,
    KnnProtocol,
    LinearProtocol,
    ProbeSuite,
)
from ssl_evaluation.suites.retrieval_suite import RetrievalProtocol, run_retrieval
from ssl_evaluation.suites.robustness_suite import RobustnessProtocol, run_robustness
from ssl_evaluation.suites.suite_file import SuiteRun, load_suite, run_suite, write_suite_outputs
from ssl_evaluation.suites.svm_suites import LowShotProtocol, SvmProtocol, run_low_shot, run_svm
from ssl_evaluation.suites.transfer_head_suite import TransferHeadProtocol, run_transfer_head
from ssl_evaluation.suites.virb_task_suites import (
    FlowProtocol,
    PixelFinetuneProtocol,
    VideoProtocol,
    run_flow,
    run_pixel_finetune,
    run_video,
)
from ssl_evaluation.suites.virb_suites import (
    DepthProtocol,
    SegmentationProtocol,
    VirbImageProtocol,
    run_depth,
    run_segmentation,
    run_virb_image,
)

__all__ = [
    "BENCHMARKS", "BUILTIN_DATA", "PROBES", "TORCHVISION_DATA", "Benchmark", "BenchmarkSplit", "ClusteringProtocol",
    "DepthProtocol", "DetectionProtocol", "FlowProtocol", "PixelFinetuneProtocol", "VideoProtocol",
    "run_flow", "run_pixel_finetune", "run_video", "Detectron2Missing", "Detectron2Protocol", "ExtractionProtocol",
    "FinetuneProtocol", "ImageData", "KnnProtocol", "LinearProtocol", "LowShotProtocol", "LowShotTransferProtocol",
    "MultiLayerLinearProtocol", "PooledLayer", "ProbeSuite", "ProgressFn", "ProtocolError", "RetrievalProtocol",
    "RobustnessProtocol", "SegmentationProtocol", "SemiSupervisedProtocol", "SuiteRun", "SvmProtocol", "TransferHeadProtocol",
    "VirbGridProtocol", "VirbImageProtocol", "benchmark_pretrained", "check_detectron2_trunk", "checkpoint_trunk",
    "download_data", "export_features", "feature_batches", "headline_metrics", "layer_or_trunk", "load_protocol", "load_suite", "open_split", "probe_features", "probe_trunk", "probe_trunk_keeping_features",
    "prepare_detectron2_weights", "protocol_dict", "protocol_yaml", "random_init_probes", "random_init_trunk", "reestimate_batchnorm", "resolve_image_size", "run_depth", "run_detection",
    "run_detectron2_suite", "run_finetune", "run_low_shot", "run_low_shot_transfer", "run_multi_layer_linear",
    "run_probes", "run_retrieval", "run_robustness", "run_segmentation", "run_semi_supervised", "run_suite",
    "run_svm", "run_transfer_head", "run_virb_grid", "run_virb_image", "split_features", "split_overrides", "suite_result", "write_suite_outputs",
]
