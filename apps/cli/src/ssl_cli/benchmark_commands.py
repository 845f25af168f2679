"""`ssl benchmark NAME` (one sub-command per ssl-eval benchmark), `ssl benchmark suite` and
`ssl extract`. Wiring only: the runners live in the ``bench_*`` modules."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, List, Optional

import click
import typer
from typer.core import TyperGroup

from ssl_cli.errors import UsageError

__all__ = ["benchmark_app", "extract"]


class _BenchmarkGroup(TyperGroup):
    """An unknown benchmark name is one clear `ssl: error:` line, like every other bad input."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        name = click.utils.make_str(args[0]) if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            raise UsageError(f"unknown benchmark {name!r}; choose one of {', '.join(self.list_commands(ctx))}")
        return super().resolve_command(ctx, args)


benchmark_app = typer.Typer(
    cls=_BenchmarkGroup,
    help="Benchmark a checkpoint (kNN, linear, SVM, fine-tuning, retrieval, detection, ...) or run a suite.",
    no_args_is_help=True,
)

CHECKPOINT = typer.Option(..., "--checkpoint", "-c", help="A checkpoint written by ssl (e.g. final.pt).")
DATA = typer.Option(
    "fashion-mnist", "--data", help="fashion-mnist, digits, cifar10, cifar100, stl10, svhn, mnist (NAME or NAME:ROOT), "
    "an image folder, a preparer's filelist folder, or catalog:NAME.")
IMAGE_SIZE = typer.Option(0, "--image-size", help="Image side [default: the checkpoint's recipe, else 224].")
LIMIT = typer.Option(0, "--limit", help="Use at most this many train images (class-balanced; 0 = all).")
OUT = typer.Option(None, "--out", help="Write OUT/results.json (else print the JSON).")
BATCH = typer.Option(256, "--batch-size", help="Images per forward pass.")
EPOCHS_FT = typer.Option(10, "--epochs", help="Fine-tuning epochs.")
LR_FT = typer.Option(0.01, "--lr", help="SGD learning rate of the trunk.")
HEAD_LR = typer.Option(0.0, "--head-lr", help="Learning rate of the new head [default: --lr].")
WD_FT = typer.Option(1e-4, "--weight-decay", help="SGD weight decay.")
SCHEDULE = typer.Option("cosine", "--schedule", help="cosine, step (at --milestones, x0.1) or constant.")
MILESTONES_FT = typer.Option("", "--milestones", help="Comma-separated epochs of the step schedule.")
SEED = typer.Option(0, "--seed", help="Seed of subsets and shuffling.")
SAVE = typer.Option(None, "--save", help="Write the fine-tuned trunk + linear head as an ssl checkpoint.")


def _finish(name: str, results: dict[str, Any], out: Optional[Path]) -> None:
    """Write results.json (or print it) and a short summary of the headline metrics."""
    import ssl_evaluation

    from ssl_cli.bench_suite import headline_metrics

    results = {"benchmark": name, **results}
    summary = [f"{metric}: {value:.2f}" for metric, value in headline_metrics(name, results["benchmarks"]).items()]
    if out is not None:
        path = ssl_evaluation.write_results(out, results)
        typer.echo(f"{name}: " + ", ".join(summary) if summary else name)
        typer.echo(f"wrote {path}")
    else:
        print(f"{name}: " + ", ".join(summary), file=sys.stderr, flush=True)
        typer.echo(json.dumps(results, indent=2))


def _probe_command(name: str) -> None:
    def command(
        checkpoint: Path = CHECKPOINT,
        data: str = DATA,
        out: Optional[Path] = OUT,
        config_file: Optional[Path] = typer.Option(None, "--config", help="YAML file of ProbeSuite values."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars on stderr."),
        overrides: Optional[List[str]] = typer.Argument(
            None, show_default=False, help="Protocol overrides, dotted: knn.k=20 knn.temperature=0.07 "
            "linear.epochs=30 clustering.num_clusters=50 extraction.image_size=64 extraction.batch_size=128 "
            "extraction.limit=1000 (defaults: `ssl benchmark protocol`)."),
    ) -> None:
        from ssl_evaluation import suites

        from ssl_cli.progress_bar import progress_bar

        suite = suites.load_protocol(suites.ProbeSuite(), list(overrides or []), config_file)
        with progress_bar(progress) as bar:
            result = suites.run_probes(suites.PROBES[name], checkpoint, data, suite, progress=bar)
        _finish(name, {**result, "benchmarks": result.pop("metrics")}, out)

    what = {"knn": "kNN (weighted vote, cosine)", "linear": "linear probe on frozen features",
            "clustering": "k-means of test features, NMI/ARI", "all": "kNN, linear probe and clustering"}[name]
    command.__doc__ = (f"{what[0].upper() if name != 'knn' else 'k'}{what[1:]} of the checkpoint's trunk.\n\n"
                       f"Example: ssl benchmark {name} -c runs/a/checkpoints/final.pt --data digits knn.k=20")
    benchmark_app.command(name)(command)


for _name in ("knn", "linear", "clustering", "all"):
    _probe_command(_name)


@benchmark_app.command("protocol")
def protocol() -> None:
    """The probe protocol's defaults as YAML (every key `knn|linear|clustering|all` and `ssl run
    ... benchmark.KEY=VALUE` accept), each cited in ssl_evaluation.suites.protocols.

    Example: ssl benchmark protocol
    """
    from omegaconf import OmegaConf
    from ssl_evaluation import suites

    typer.echo(OmegaConf.to_yaml(OmegaConf.structured(suites.ProbeSuite())), nl=False)


@benchmark_app.command("multi-layer-linear")
def multi_layer_linear(
    checkpoint: Path = CHECKPOINT,
    data: str = DATA,
    image_size: int = IMAGE_SIZE,
    limit: int = LIMIT,
    layers: str = typer.Option("conv1,res2,res3,res4,res5,res5avg", "--layers", help="Trunk layers, one head each."),
    pooling: str = typer.Option("auto", "--pooling", help="vissl (ResNet-50 224 px preset), global, or auto."),
    epochs: int = typer.Option(28, "--epochs"),
    lr: float = typer.Option(0.01, "--lr"),
    milestones: str = typer.Option("8,16,24", "--milestones", help="Epochs where lr drops x0.1."),
    weight_decay: float = typer.Option(5e-4, "--weight-decay"),
    linear_batch_size: int = typer.Option(256, "--linear-batch-size"),
    batch_size: int = BATCH,
    out: Optional[Path] = OUT,
) -> None:
    """VISSL's multi-layer linear eval: one eval_mlp head per layer (conv1..res5avg), trained together."""
    from ssl_cli.bench_probes import run_multi_layer_linear

    _finish("multi-layer-linear", run_multi_layer_linear(
        checkpoint, data, image_size=image_size, limit=limit, layers=layers, pooling=pooling, epochs=epochs, lr=lr,
        milestones=milestones, weight_decay=weight_decay, linear_batch_size=linear_batch_size, batch_size=batch_size,
    ), out)


@benchmark_app.command("virb-grid")
def virb_grid(
    checkpoint: Path = CHECKPOINT,
    data: str = DATA,
    image_size: int = IMAGE_SIZE,
    limit: int = LIMIT,
    epochs: int = typer.Option(30, "--epochs"),
    val_fraction: float = typer.Option(0.1, "--val-fraction", help="Train fraction held out to pick the best config."),
    linear_batch_size: int = typer.Option(256, "--linear-batch-size"),
    batch_size: int = BATCH,
    out: Optional[Path] = OUT,
) -> None:
    """ViRB's linear grid: 10 heads (adam/sgd x lr x StepLR/OneCycle/Poly) in one batched pass on cached features."""
    from ssl_cli.bench_probes import run_virb_grid

    _finish("virb-grid", run_virb_grid(
        checkpoint, data, image_size=image_size, limit=limit, epochs=epochs, val_fraction=val_fraction,
        linear_batch_size=linear_batch_size, batch_size=batch_size,
    ), out)


SVM_COSTS = typer.Option("0.1,0.01", "--costs", help="Comma-separated SVM costs (VISSL's default 0.1,0.01).")
SVM_LAYER = typer.Option("res5avg", "--layer", help="Trunk layer (globally averaged unless res5avg).")


@benchmark_app.command("svm")
def svm(
    checkpoint: Path = CHECKPOINT,
    data: str = DATA,
    image_size: int = IMAGE_SIZE,
    limit: int = LIMIT,
    layer: str = SVM_LAYER,
    costs: str = SVM_COSTS,
    folds: int = typer.Option(3, "--folds", help="Cross-validation folds choosing the cost per class."),
    max_iter: int = typer.Option(2000, "--max-iter"),
    workers: int = typer.Option(1, "--workers", help="Classes trained in parallel threads."),
    batch_size: int = BATCH,
    out: Optional[Path] = OUT,
) -> None:
    """VOC07 linear SVM mean AP (e.g. --data a folder from `ssl data prepare voc07`)."""
    from ssl_cli.bench_svm import run_svm

    _finish("svm", run_svm(
        checkpoint, data, image_size=image_size, limit=limit, layer=layer, costs=costs, folds=folds,
        max_iter=max_iter, batch_size=batch_size, workers=workers,
    ), out)


@benchmark_app.command("low-shot")
def low_shot(
    checkpoint: Path = CHECKPOINT,
    data: str = DATA,
    image_size: int = IMAGE_SIZE,
    limit: int = LIMIT,
    layer: str = SVM_LAYER,
    ks: str = typer.Option("1,2,4,8,16,32,64,96", "--ks", help="Comma-separated shots per class."),
    samples: int = typer.Option(5, "--samples", help="Seeded samples per k."),
    costs: str = SVM_COSTS,
    protocol: str = typer.Option("auto", "--protocol", help="voc ([N, 20] targets), places205 (class ids) or auto."),
    max_iter: int = typer.Option(2000, "--max-iter"),
    seed: int = SEED,
    batch_size: int = BATCH,
    out: Optional[Path] = OUT,
) -> None:
    """Low-shot SVMs (VOC07 or Places205 protocol): mean/min/max/std mAP over samples per k."""
    from ssl_cli.bench_svm import run_low_shot

    _finish("low-shot", run_low_shot(
        checkpoint, data, image_size=image_size, limit=limit, layer=layer, ks=ks, samples=samples, costs=costs,
        protocol=protocol, max_iter=max_iter, seed=seed, batch_size=batch_size,
    ), out)


@benchmark_app.command("finetune")
def finetune(
    checkpoint: Path = CHECKPOINT,
    data: str = DATA,
    image_size: int = IMAGE_SIZE,
    limit: int = LIMIT,
    epochs: int = EPOCHS_FT,
    lr: float = LR_FT,
    head_lr: float = HEAD_LR,
    weight_decay: float = WD_FT,
    schedule: str = SCHEDULE,
    milestones: str = MILESTONES_FT,
    batch_size: int = BATCH,
    seed: int = SEED,
    save: Optional[Path] = SAVE,
    out: Optional[Path] = OUT,
) -> None:
    """Full fine-tuning: every trunk weight plus a new linear head, SGD; top-1/top-5 on the test split."""
    from ssl_cli.bench_finetune import run_finetune

    _finish("finetune", run_finetune(
        checkpoint, data, image_size=image_size, limit=limit, epochs=epochs, lr=lr, head_lr=head_lr,
        weight_decay=weight_decay, schedule=schedule, milestones=milestones, batch_size=batch_size, seed=seed,
        save=save,
    ), out)


@benchmark_app.command("semi-supervised")
def semi_supervised(
    checkpoint: Path = CHECKPOINT,
    data: str = DATA,
    image_size: int = IMAGE_SIZE,
    fraction: float = typer.Option(0.01, "--fraction", help="Labelled fraction per class (0.01 or 0.1)."),
    epochs: int = EPOCHS_FT,
    lr: float = LR_FT,
    head_lr: float = HEAD_LR,
    weight_decay: float = WD_FT,
    schedule: str = SCHEDULE,
    milestones: str = MILESTONES_FT,
    batch_size: int = BATCH,
    seed: int = SEED,
    save: Optional[Path] = SAVE,
    out: Optional[Path] = OUT,
) -> None:
    """Semi-supervised: fine-tune on a seeded class-balanced 1 % / 10 % of the train labels."""
    from ssl_cli.bench_finetune import run_semi_supervised

    _finish("semi-supervised", run_semi_supervised(
        checkpoint, data, image_size=image_size, fraction=fraction, epochs=epochs, lr=lr, head_lr=head_lr,
        weight_decay=weight_decay, schedule=schedule, milestones=milestones, batch_size=batch_size, seed=seed,
        save=save,
    ), out)


@benchmark_app.command("low-shot-transfer")
def low_shot_transfer(
    checkpoint: Path = CHECKPOINT,
    data: str = DATA,
    image_size: int = IMAGE_SIZE,
    data_limit: int = typer.Option(1000, "--data-limit", help="Train images used (VISSL's DATA_LIMIT; -1 = all)."),
    balanced: bool = typer.Option(False, "--balanced", help="Equal images per class (DATA_LIMIT_SAMPLING.IS_BALANCED)."),
    task: str = typer.Option("", "--task", help="VTAB task name (checks the class count), e.g. oxford_flowers."),
    epochs: int = EPOCHS_FT,
    lr: float = LR_FT,
    head_lr: float = HEAD_LR,
    weight_decay: float = WD_FT,
    schedule: str = SCHEDULE,
    milestones: str = MILESTONES_FT,
    batch_size: int = BATCH,
    seed: int = SEED,
    save: Optional[Path] = SAVE,
    out: Optional[Path] = OUT,
) -> None:
    """VTAB-style low-shot transfer: fine-tune on DATA_LIMIT train images, score the test split."""
    from ssl_cli.bench_finetune import run_low_shot_transfer

    _finish("low-shot-transfer", run_low_shot_transfer(
        checkpoint, data, image_size=image_size, data_limit=data_limit, balanced=balanced, task=task, epochs=epochs,
        lr=lr, head_lr=head_lr, weight_decay=weight_decay, schedule=schedule, milestones=milestones,
        batch_size=batch_size, seed=seed, save=save,
    ), out)


@benchmark_app.command("robustness")
def robustness(
    checkpoint: Path = CHECKPOINT,
    data: str = typer.Option(..., "--data", help="ImageNet-A or ImageNet-R folder (<wnid>/<image>)."),
    dataset: str = typer.Option("auto", "--dataset", help="imagenet-a, imagenet-r, or auto (from the folder name)."),
    resize: int = typer.Option(256, "--resize"),
    crop: int = typer.Option(224, "--crop"),
    batch_size: int = typer.Option(64, "--batch-size"),
    out: Optional[Path] = OUT,
) -> None:
    """ImageNet-A / -R top-1/top-5 of a 1000-class classifier checkpoint, 200-class output mask."""
    from ssl_cli.bench_robustness import run_robustness

    _finish("robustness", run_robustness(checkpoint, data, dataset=dataset, resize=resize, crop=crop,
                                         batch_size=batch_size), out)


@benchmark_app.command("retrieval")
def retrieval(
    checkpoint: Path = CHECKPOINT,
    data: str = typer.Option(
        ..., "--data", help="Folder: gnd_roxford5k.pkl + jpg/, gnd_instre.mat, or queries/ + database/."),
    dataset: str = typer.Option("auto", "--dataset", help="roxford5k, rparis6k, copydays, instre, or auto."),
    layer: str = typer.Option("res5", "--layer", help="Trunk feature map to pool."),
    pooling: str = typer.Option("gem", "--pooling", help="gem, rmac, max, avg or none."),
    gem_p: float = typer.Option(4.0, "--gem-p"),
    rmac_levels: int = typer.Option(3, "--rmac-levels"),
    scales: str = typer.Option("1.0", "--scales", help="Comma-separated image scales, descriptors averaged."),
    resize_max: int = typer.Option(1024, "--resize-max", help="Larger image side."),
    similarity: str = typer.Option("cosine", "--similarity", help="cosine or l2."),
    whitening: Optional[Path] = typer.Option(None, "--whitening", help="Image folder to fit PCA whitening on."),
    num_pca: int = typer.Option(512, "--num-pca"),
    crop_query_roi: bool = typer.Option(False, "--crop-query-roi", help="Revisited: describe only the query box."),
    distractors: bool = typer.Option(False, "--distractors", help="CopyDays: database_and_distractors/."),
    out: Optional[Path] = OUT,
) -> None:
    """Instance retrieval / copy detection: revisited Oxford/Paris mAP E/M/H, CopyDays, INSTRE."""
    from ssl_cli.bench_retrieval import run_retrieval

    _finish("retrieval", run_retrieval(
        checkpoint, data, dataset=dataset, layer=layer, pooling=pooling, gem_p=gem_p, rmac_levels=rmac_levels,
        scales=scales, resize_max=resize_max, similarity=similarity, whitening=whitening, num_pca=num_pca,
        crop_query_roi=crop_query_roi, distractors=distractors,
    ), out)


@benchmark_app.command("detection")
def detection(
    checkpoint: Path = CHECKPOINT,
    data: str = typer.Option(
        ..., "--data", help="VOC20xx folder (Annotations/, JPEGImages/, ImageSets/Main/) or COCO root."),
    data_format: str = typer.Option("auto", "--format", help="voc, coco, or auto."),
    train_split: str = typer.Option("", "--train-split", help="[default: trainval (VOC), train2017 (COCO)]"),
    test_split: str = typer.Option("", "--test-split", help="[default: test (VOC), val2017 (COCO)]"),
    kind: str = typer.Option("faster_rcnn", "--kind", help="faster_rcnn or mask_rcnn (COCO)."),
    layers: str = typer.Option("res2,res3,res4,res5", "--layers", help="Trunk maps fed to the FPN."),
    fpn: bool = typer.Option(True, "--fpn/--no-fpn", help="FPN, or the deepest map alone (C4-style with --layers res4)."),
    min_size: int = typer.Option(800, "--min-size"),
    max_size: int = typer.Option(1333, "--max-size"),
    max_iters: int = typer.Option(24000, "--max-iters", help="SGD iterations (use a few for a CPU smoke run)."),
    lr: float = typer.Option(0.02, "--lr"),
    steps: str = typer.Option("18000,22000", "--steps", help="Iterations where lr drops x0.1."),
    warmup_iters: int = typer.Option(1000, "--warmup-iters"),
    batch_size: int = typer.Option(2, "--batch-size"),
    rois_per_image: int = typer.Option(512, "--rois-per-image"),
    seed: int = SEED,
    out: Optional[Path] = OUT,
) -> None:
    """Detection transfer: torchvision Faster / Mask R-CNN on the trunk, COCO-style AP."""
    from ssl_cli.bench_detection import run_detection

    _finish("detection", run_detection(
        checkpoint, data, data_format=data_format, train_split=train_split, test_split=test_split, kind=kind,
        layers=layers, fpn=fpn, min_size=min_size, max_size=max_size, max_iters=max_iters, lr=lr, steps=steps,
        warmup_iters=warmup_iters, batch_size=batch_size, rois_per_image=rois_per_image, seed=seed,
    ), out)


@benchmark_app.command("detectron2")
def detectron2(
    checkpoint: Path = CHECKPOINT,
    recipe: str = typer.Option("voc07_r50_c4", "--recipe", help="A VISSL detection recipe (see the README table)."),
    out: Path = typer.Option(..., "--out", help="Folder for model_final.pkl, config.yaml, detectron2/ and results.json."),
    prepare_only: bool = typer.Option(False, "--prepare-only", help="Write the weights and config, do not run."),
) -> None:
    """Detection transfer through detectron2 (VISSL's recipes): converts the trunk, writes the config,
    trains and evaluates where detectron2 is installed (it is not on PyPI)."""
    from ssl_cli.bench_detectron2 import run_detectron2_benchmark

    import ssl_evaluation

    results = run_detectron2_benchmark(checkpoint, recipe, out, prepare_only=prepare_only)
    typer.echo(f"wrote {results['files']['weights']} and {results['files']['config']}")
    if not prepare_only:
        typer.echo(f"wrote {ssl_evaluation.write_results(out, {'benchmark': 'detectron2', **results})}")


@benchmark_app.command("virb-image")
def virb_image(
    checkpoint: Path = CHECKPOINT,
    data: str = typer.Option(..., "--data", help=(
        "classification: any classification source; counting: an image folder of count-named class folders; "
        "regression / egomotion: a folder with train.csv + val.csv (image,TARGET... or first,second,TARGET).")),
    task: str = typer.Option("classification", "--task", help="classification, counting, regression or egomotion."),
    image_size: int = IMAGE_SIZE,
    limit: int = typer.Option(0, "--limit", help="At most this many train images / CSV rows (0 = all)."),
    layer: str = typer.Option("res5avg", "--layer", help="Trunk layer encoded (globally averaged unless res5avg)."),
    epochs: int = typer.Option(100, "--epochs", help="Head epochs (ViRB: 100)."),
    lr: float = typer.Option(1e-4, "--lr", help="Adam learning rate of the head (ViRB: 1e-4)."),
    head_batch_size: int = typer.Option(32, "--head-batch-size", help="Head batch size (ViRB: 32)."),
    solver: str = typer.Option("ridge", "--solver", help="regression: ridge (closed form) or adam."),
    alpha: float = typer.Option(1.0, "--alpha", help="regression: ridge penalty."),
    bins: str = typer.Option("", "--bins", help="egomotion: comma-separated edges binning the motion column."),
    batch_size: int = BATCH,
    seed: int = SEED,
    out: Optional[Path] = OUT,
) -> None:
    """ViRB image-level tasks on cached encodings: a linear head for classification, counting, egomotion, regression."""
    from ssl_cli.bench_virb import run_virb_image

    _finish("virb-image", run_virb_image(
        checkpoint, data, task=task, image_size=image_size, limit=limit, layer=layer, epochs=epochs, lr=lr,
        head_batch_size=head_batch_size, solver=solver, alpha=alpha, bins=bins, batch_size=batch_size, seed=seed,
    ), out)


PIXEL_LAYERS = typer.Option("conv1,res2,res3,res4,res5", "--layers", help="Trunk maps the decoder reads.")
PIXEL_BATCH = typer.Option(16, "--batch-size", help="Decoder batch size (ViRB: 16).")
PIXEL_LR = typer.Option(3e-4, "--lr", help="Adam learning rate of the decoder (ViRB: 3e-4).")
PIXEL_WIDTH = typer.Option(64, "--width", help="Decoder channels (ViRB: 64).")
PIXEL_CACHE = typer.Option(True, "--cache-features/--no-cache-features", help="Encode each split once (more memory).")
PIXEL_LIMIT = typer.Option(0, "--limit", help="The first N train images by name (0 = all).")


@benchmark_app.command("segmentation")
def segmentation(
    checkpoint: Path = CHECKPOINT,
    data: str = typer.Option(..., "--data", help="DIR/{train,val}/images/NAME.png + DIR/{train,val}/masks/NAME.png."),
    image_size: int = IMAGE_SIZE,
    limit: int = PIXEL_LIMIT,
    layers: str = PIXEL_LAYERS,
    num_classes: int = typer.Option(0, "--num-classes", help="[default: the largest mask id + 1]"),
    ignore_index: int = typer.Option(255, "--ignore-index", help="Mask value left out of loss and mIoU."),
    epochs: int = typer.Option(100, "--epochs", help="Decoder epochs (ViRB: 100)."),
    batch_size: int = PIXEL_BATCH,
    lr: float = PIXEL_LR,
    scheduler: str = typer.Option("poly", "--scheduler", help="poly (per batch) or constant."),
    poly_power: float = typer.Option(0.9, "--poly-power"),
    width: int = PIXEL_WIDTH,
    cache_features: bool = PIXEL_CACHE,
    seed: int = SEED,
    out: Optional[Path] = OUT,
) -> None:
    """ViRB semantic segmentation: a small decoder on the frozen trunk's conv1..res5 maps, test mIoU."""
    from ssl_cli.bench_virb import run_segmentation

    _finish("segmentation", run_segmentation(
        checkpoint, data, image_size=image_size, limit=limit, layers=layers, num_classes=num_classes,
        ignore_index=ignore_index, epochs=epochs, batch_size=batch_size, lr=lr, scheduler=scheduler,
        poly_power=poly_power, width=width, cache_features=cache_features, seed=seed,
    ), out)


@benchmark_app.command("depth")
def depth(
    checkpoint: Path = CHECKPOINT,
    data: str = typer.Option(
        ..., "--data", help="DIR/{train,val}/images/NAME.png + DIR/{train,val}/depth/NAME.png (16-bit) or NAME.npy."),
    image_size: int = IMAGE_SIZE,
    limit: int = PIXEL_LIMIT,
    layers: str = PIXEL_LAYERS,
    depth_scale: float = typer.Option(0.001, "--depth-scale", help="Depth PNG value -> metres (0.001: millimetres)."),
    epochs: int = typer.Option(50, "--epochs", help="Decoder epochs (ViRB: 50)."),
    batch_size: int = PIXEL_BATCH,
    lr: float = PIXEL_LR,
    scheduler: str = typer.Option("constant", "--scheduler", help="constant or poly."),
    width: int = PIXEL_WIDTH,
    cache_features: bool = PIXEL_CACHE,
    seed: int = SEED,
    out: Optional[Path] = OUT,
) -> None:
    """ViRB depth estimation: a small decoder on the frozen trunk's maps, L1 loss, test RMSE and delta < 1.25."""
    from ssl_cli.bench_virb import run_depth

    _finish("depth", run_depth(
        checkpoint, data, image_size=image_size, limit=limit, layers=layers, depth_scale=depth_scale, epochs=epochs,
        batch_size=batch_size, lr=lr, scheduler=scheduler, width=width, cache_features=cache_features, seed=seed,
    ), out)


@benchmark_app.command("suite")
def suite(
    suite_file: Path = typer.Argument(
        ..., metavar="SUITE.yaml", help="runs: a list of {checkpoint, benchmark, data, options}."),
    out: Path = typer.Option(..., "--out", help="Folder for results.json, results.md, results.png."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace previous suite results in OUT."),
) -> None:
    """Run a list of benchmarks; every entry is checked before the first run starts."""
    from ssl_cli.bench_suite import load_suite, run_suite, write_suite_outputs
    from ssl_cli.run_folder import check_out_dir

    runs = load_suite(suite_file)
    check_out_dir(out, resume=False, overwrite=overwrite)
    results = run_suite(runs, suite_file)
    for rec in results["runs"]:
        metrics = ", ".join(f"{k} {v:.2f}" for k, v in rec["headline"].items())
        typer.echo(f"{rec['name']} ({rec['benchmark']}): {metrics}")
    paths = write_suite_outputs(out, results)
    typer.echo("wrote " + ", ".join(str(p) for p in paths))


def extract(
    checkpoint: Path = CHECKPOINT,
    out: Path = typer.Option(..., "--out", help="Folder for OUT/SPLIT/LAYER/rank0_chunk*.npz."),
    data: str = DATA,
    layers: str = typer.Option("res5avg", "--layers", help="Comma-separated trunk layers (see the trunk's feature names)."),
    image_size: int = IMAGE_SIZE,
    batch_size: int = typer.Option(512, "--batch-size", help="Images per forward pass."),
) -> None:
    """Extract trunk features of the train and test splits to disk (reload with ssl_evaluation.load_features)."""
    import ssl_evaluation

    from ssl_cli.bench_data import ImageBatches, checkpoint_trunk, load_labelled
    from ssl_cli.bench_options import parse_list

    trunk, size = checkpoint_trunk(checkpoint, image_size)
    names = parse_list(layers, str, "--layers")
    forward = ssl_evaluation.layer_forward(trunk.eval(), names)
    splits = {split: load_labelled(data, split, size) for split in ("train", "test")}
    for split, images in splits.items():
        paths = ssl_evaluation.extract_to_disk(forward, ImageBatches.of(images, batch_size), out, split)
        typer.echo(f"{split}: {len(images)} images, {len(names)} layer(s) -> {len(paths)} file(s) under {out / split}")
