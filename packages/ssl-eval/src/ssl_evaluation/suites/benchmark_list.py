"""The list of ``ssl benchmark NAME`` suites: for each, its protocol dataclass, its runner, the
data it reads and the metrics a suite table shows. The CLI and suite files read only this list."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ssl_evaluation.suites.detection_suite import DetectionProtocol, run_detection
from ssl_evaluation.suites.finetune_suites import (
    FinetuneProtocol,
    LowShotTransferProtocol,
    SemiSupervisedProtocol,
    run_finetune,
    run_low_shot_transfer,
    run_semi_supervised,
)
from ssl_evaluation.suites.layer_probes import (
    MultiLayerLinearProtocol,
    VirbGridProtocol,
    run_multi_layer_linear,
    run_virb_grid,
)
from ssl_evaluation.suites.probes import PROBES, run_probes
from ssl_evaluation.suites.protocols import ProbeSuite
from ssl_evaluation.suites.retrieval_suite import RetrievalProtocol, run_retrieval
from ssl_evaluation.suites.robustness_suite import RobustnessProtocol, run_robustness
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

__all__ = ["BENCHMARKS", "Benchmark", "headline_metrics"]

#: ``run(checkpoint or trunk, data, protocol, progress) -> {metrics, protocol, data, checkpoint, seconds}``
Runner = Callable[..., dict[str, Any]]
CLASSIFICATION_DATA = ("fashion-mnist, digits, cifar10, cifar100, stl10, svhn, mnist (NAME or NAME:ROOT), an image "
                       "folder, a preparer's filelist folder, or catalog:NAME")


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: ``protocol()`` gives its defaults; ``headline`` are ``fnmatch`` patterns over
    the metrics flattened to ``a/b/c``; ``data_default`` ``None`` means data must be given;
    ``path_fields`` are protocol fields holding paths (a suite file's are relative to it)."""

    summary: str
    protocol: Callable[[], Any]
    run: Runner
    headline: tuple[str, ...]
    data_help: str = CLASSIFICATION_DATA
    data_default: str | None = "fashion-mnist"
    path_fields: tuple[str, ...] = ()


def _probe_runner(which: tuple[str, ...]) -> Runner:
    def run(checkpoint: Any, data: str, protocol: ProbeSuite | None = None, progress: Any = None) -> dict[str, Any]:
        return run_probes(which, checkpoint, data, protocol, progress)

    return run


_PROBE_TEXT = {"knn": "kNN (weighted vote on cosine similarity)", "linear": "linear probe on frozen features",
               "clustering": "k-means of the test features, NMI / ARI", "all": "kNN, linear probe and clustering"}
_PROBE_HEADLINES = {"knn": ("knn/top1", "knn/top5"), "linear": ("linear/top1", "linear/top5"),
                    "clustering": ("clustering/nmi", "clustering/ari"),
                    "all": ("knn/top1", "linear/top1", "clustering/nmi")}
_FINETUNE_HEAD = ("{}/top1", "{}/top5")

BENCHMARKS: dict[str, Benchmark] = {
    **{name: Benchmark(_PROBE_TEXT[name], ProbeSuite, _probe_runner(which), _PROBE_HEADLINES[name])
       for name, which in PROBES.items()},
    "multi-layer-linear": Benchmark("VISSL's multi-layer linear eval: one eval_mlp head per layer, trained together",
                                    MultiLayerLinearProtocol, run_multi_layer_linear, ("multi-layer-linear/*/top1",)),
    "virb-grid": Benchmark("ViRB's linear grid: 10 heads in one batched pass on cached features",
                           VirbGridProtocol, run_virb_grid, ("virb-grid/best/top1",)),
    "svm": Benchmark("VOC07 linear SVM mean AP (e.g. a folder from `ssl data prepare voc07`)",
                     SvmProtocol, run_svm, ("svm/mAP",)),
    "low-shot": Benchmark("low-shot SVMs (VOC07 or Places205): mean/min/max/std mAP per k",
                          LowShotProtocol, run_low_shot, ("low-shot/k=*/mean",)),
    "finetune": Benchmark("full fine-tuning: every trunk weight plus a new linear head",
                          FinetuneProtocol, run_finetune, tuple(h.format("finetune") for h in _FINETUNE_HEAD), path_fields=("save",)),
    "semi-supervised": Benchmark("fine-tuning on a class-balanced 1 % / 10 % of the train labels",
                                 SemiSupervisedProtocol, run_semi_supervised,
                                 tuple(h.format("semi-supervised") for h in _FINETUNE_HEAD), path_fields=("save",)),
    "low-shot-transfer": Benchmark("VTAB-style low-shot transfer: fine-tune on data_limit train images",
                                   LowShotTransferProtocol, run_low_shot_transfer,
                                   tuple(h.format("low-shot-transfer") for h in _FINETUNE_HEAD), path_fields=("save",)),
    "robustness": Benchmark("ImageNet-A / -R top-1/top-5 of a 1000-class classifier (200-class mask)",
                            RobustnessProtocol, run_robustness, ("robustness/top1", "robustness/top5"),
                            "an ImageNet-A or ImageNet-R folder (<wnid>/<image>)", None),
    "retrieval": Benchmark("instance retrieval / copy detection: revisited Oxford/Paris, CopyDays, INSTRE",
                           RetrievalProtocol, run_retrieval,
                           ("retrieval/mAP", "retrieval/mAP/*", "retrieval/*/mAP"),
                           "a folder: gnd_roxford5k.pkl + jpg/, gnd_instre.mat, or queries/ + database/", None,
                           ("whitening",)),
    "detection": Benchmark("detection transfer: torchvision Faster / Mask R-CNN on the trunk, COCO-style AP",
                           DetectionProtocol, run_detection, ("detection/bbox/AP", "detection/bbox/AP50"),
                           "a VOC20xx folder (Annotations/, JPEGImages/, ImageSets/Main/) or a COCO root", None),
    "virb-image": Benchmark("ViRB image-level tasks: classification, counting, egomotion, regression heads",
                            VirbImageProtocol, run_virb_image,
                            tuple(f"virb-image/{m}" for m in ("top1", "count_mae", "rmse", "r2")),
                            "classification: any classification source; counting: count-named class folders; "
                            "regression / egomotion: a folder with train.csv + val.csv", None),
    "segmentation": Benchmark("ViRB semantic segmentation: a decoder on the frozen trunk's maps, test mIoU",
                              SegmentationProtocol, run_segmentation, ("segmentation/miou", "segmentation/pixel_accuracy"),
                              "DIR/{train,val}/images/NAME.png + DIR/{train,val}/masks/NAME.png", None),
    "depth": Benchmark("ViRB depth estimation: a decoder on the frozen trunk's maps, RMSE and delta < 1.25",
                       DepthProtocol, run_depth, ("depth/rmse", "depth/delta1"),
                       "DIR/{train,val}/images/NAME.png + DIR/{train,val}/depth/NAME.png (16-bit) or NAME.npy", None),
    "pixel-finetune": Benchmark("ViRB pixelwise tasks end to end: trunk + decoder fine-tuned (task=segmentation or depth)",
                                PixelFinetuneProtocol, run_pixel_finetune,
                                ("pixel-finetune/miou", "pixel-finetune/rmse", "pixel-finetune/delta1"),
                                "the segmentation or depth layout (DIR/{train,val}/images + masks/ or depth/)", None),
    "virb-video": Benchmark("ViRB video classification: an LSTM over frozen per-frame encodings",
                            VideoProtocol, run_video, ("virb-video/top1", "virb-video/top5"),
                            "DIR/{train,val}/CLASS/CLIP/FRAME.png (a clip is a folder of frames)", None),
    "virb-flow": Benchmark("ViRB optical flow: a decoder on both frames' frozen maps, EPE and Fl-all",
                           FlowProtocol, run_flow, ("virb-flow/epe", "virb-flow/fl_all"),
                           "DIR/{train,val}/first/NAME.png + second/NAME.png + flow/NAME.npy ([H, W, 2])", None),
    "transfer-head": Benchmark("ViRB test-only transfer: a head trained on --data, scored on test_data (ImageNet-v2)",
                               TransferHeadProtocol, run_transfer_head,
                               ("transfer-head/top1", "transfer-head/top5", "transfer-head/source/top1"),
                               f"the train source ({CLASSIFICATION_DATA}); the test-only set is test_data=FOLDER "
                               "(class folders named as the train classes or by class index)", None, ("test_data",)),
}


def headline_metrics(benchmark: str, metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numbers of a result that a suite table shows: ``{"knn/top1": 81.2, ...}``."""
    from ssl_evaluation.report import flatten_metrics

    flat = flatten_metrics(metrics)
    out: dict[str, float] = {}
    for pattern in BENCHMARKS[benchmark].headline:
        for key, value in flat.items():
            if fnmatch.fnmatchcase(key, pattern) and isinstance(value, (int, float)) and not isinstance(value, bool):
                out.setdefault(key, float(value))
    return out
