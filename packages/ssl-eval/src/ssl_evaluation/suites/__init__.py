"""Benchmark suites: one typed protocol dataclass per benchmark (published defaults, cited), loaded
with one structured-config loader and dotted overrides, and runners that take a checkpoint or a
trunk plus data and return ``{metrics, protocol, data, checkpoint, seconds}``."""

from ssl_evaluation.suites.batchnorm import reestimate_batchnorm
from ssl_evaluation.suites.benchmark_data import BUILTIN_DATA, TORCHVISION_DATA, BenchmarkSplit, feature_batches, open_split
from ssl_evaluation.suites.checkpoint_trunk import checkpoint_trunk, resolve_image_size
from ssl_evaluation.suites.pretrained_run import benchmark_pretrained
from ssl_evaluation.suites.probes import PROBES, probe_trunk, run_probes
from ssl_evaluation.suites.progress import ProgressFn
from ssl_evaluation.suites.protocol_loader import ProtocolError, load_protocol, protocol_dict, split_overrides
from ssl_evaluation.suites.protocols import (
    ClusteringProtocol,
    ExtractionProtocol,
    KnnProtocol,
    LinearProtocol,
    ProbeSuite,
)

__all__ = [
    "BUILTIN_DATA",
    "PROBES",
    "TORCHVISION_DATA",
    "BenchmarkSplit",
    "ClusteringProtocol",
    "ExtractionProtocol",
    "KnnProtocol",
    "LinearProtocol",
    "ProbeSuite",
    "ProgressFn",
    "ProtocolError",
    "benchmark_pretrained",
    "checkpoint_trunk",
    "feature_batches",
    "load_protocol",
    "open_split",
    "probe_trunk",
    "protocol_dict",
    "reestimate_batchnorm",
    "resolve_image_size",
    "run_probes",
    "split_overrides",
]
