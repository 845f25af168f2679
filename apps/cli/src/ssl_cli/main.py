"""The `ssl` command: wiring of the ssl-* packages (typer + rich). No ML logic lives here."""

from __future__ import annotations

import os

# Before anything imports torch: OpenMP threads that spin while they wait collapse throughput
# on a shared machine (a training step measured 9.5x slower); a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, List, Optional  # noqa: E402

import typer  # noqa: E402

from ssl_cli.benchmark_commands import benchmark_app, extract  # noqa: E402
from ssl_cli.data_commands import data_app  # noqa: E402
from ssl_cli.errors import EXPECTED_ERRORS, UsageError, fail, from_ctrl_c, interrupted  # noqa: E402
from ssl_cli.run_folder import check_out_dir  # noqa: E402

__all__ = ["app", "main"]

app = typer.Typer(
    name="ssl",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    add_completion=False,
)
recipes_app = typer.Typer(help="List and show the training recipes.", no_args_is_help=True)
app.add_typer(recipes_app, name="recipes")
app.add_typer(data_app, name="data")
app.add_typer(benchmark_app, name="benchmark")
app.command()(extract)

OVERRIDES_HELP = ("Dotted key=value overrides: recipe values (optim.lr=0.3 train.epochs=2) and, for `ssl run`, "
                  "the benchmark protocol (benchmark.knn.k=20 benchmark.linear.epochs=30).")


def _version(value: bool) -> None:
    if value:
        from ssl_cli.__about__ import __version__

        typer.echo(f"ssl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Self-supervised visual representation learning: pretrain, benchmark, convert.

    Example: ssl run simclr --out runs/simclr train.epochs=2
    """


def _load_recipe_config(recipe: str, overrides: list[str], data: str | None, config_file: Path | None) -> Any:
    import ssl_train

    spec = ssl_train.get_recipe(recipe)
    items = list(overrides)
    if data is not None:
        items.insert(0, f"data.source={data}")
    return ssl_train.load_config(spec.config_class(), items, config_file)


#: the recipe of a plain ``ssl run``: ClusterFit from pixel clusters (no pretrained model needed), the
#: best kNN on held-out Fashion-MNIST training images of the recipes screened for the README's
#: first run (benchmarks/results/clusterfit_screening.json, simclr_screening.json).
DEFAULT_RUN_RECIPE = "clusterfit"


@app.command()
def run(
    recipe: str = typer.Argument(DEFAULT_RUN_RECIPE, help="Recipe name (see `ssl recipes list`)."),
    overrides: Optional[List[str]] = typer.Argument(None, help=OVERRIDES_HELP, show_default=False),
    data: Optional[str] = typer.Option(None, "--data", help="fashion-mnist, digits, or an image folder.", show_default="the recipe's data.source"),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder.", show_default="runs/RECIPE"),
    config_file: Optional[Path] = typer.Option(None, "--config", help="YAML file with recipe values."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in OUT from its last checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a previous run in OUT."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars on stderr."),
) -> None:
    """Pretrain, then benchmark (kNN + linear probe) against the same trunk at random init.

    Writes OUT/results.json, OUT/report.md, OUT/loss_curve.png, OUT/config.yaml, OUT/checkpoints/.

    Examples: ssl run (ClusterFit from pixel clusters on Fashion-MNIST);
    ssl run simclr --data ./my-images --out runs/mine data.image_size=64 benchmark.knn.k=20
    """
    import time

    import ssl_train
    import torch
    from ssl_evaluation import suites

    from ssl_cli.progress_bar import progress_bar

    started = time.perf_counter()
    if "=" in recipe:  # `ssl run key=value ...`: no recipe named, the first override took its place
        recipe, overrides = DEFAULT_RUN_RECIPE, [recipe, *(overrides or [])]
    bench_items, recipe_items = suites.split_overrides(list(overrides or []))
    suite = suites.load_protocol(suites.ProbeSuite(), bench_items)
    cfg = _load_recipe_config(recipe, recipe_items, data, config_file)
    out = out or Path("runs") / recipe
    check_out_dir(out, resume, overwrite)
    result = ssl_train.pretrain(recipe, cfg, out, resume=resume, progress=progress)
    typer.echo(f"pretrained in {result.minutes:.1f} min; benchmarking the trunk", err=True)
    torch.set_num_threads(result.threads)  # the probes share the machine as the run did (train.threads, busy cores)
    size = suites.resolve_image_size(suite.extraction.image_size, cfg.data.image_size)
    # a recipe whose last stage is specialised by its pretext task (jigsaw) is probed, like its
    # random-init baseline, on the layer it names (globally pooled)
    spec = ssl_train.get_recipe(recipe)
    layer = spec.probe_layer
    pretrain_record = {"minutes": round(result.minutes, 2), "epochs": result.epochs, "steps": result.steps,
                       "final_loss": result.final_loss, "checkpoint": str(result.checkpoint),
                       "probed_features": f"{layer} (globally pooled)" if layer else "the trunk's pooled output"}
    with progress_bar(progress) as bar:
        results = suites.benchmark_pretrained(
            out, recipe, pretrain_record, suites.layer_or_trunk(result.trunk, layer), cfg.data.source, size, suite,
            random_trunk=lambda: suites.layer_or_trunk(suites.random_init_trunk(result.checkpoint, cfg.train.seed), layer), loss_history=result.loss_history,
            started=started, progress=bar, run=result, config=ssl_train.config_to_dict(cfg),
            view_plan=spec.build(cfg).views(), augment_batch=ssl_train.views.augment_batch,
        )  # fmt: skip
    typer.echo(f"wrote {out / 'results.json'} and {out / 'report.md'}")
    knn = results["benchmarks"].get("knn", {}).get("top1")
    base = results.get("verdict", {}).get("random_init")
    if knn is not None:
        typer.echo(f"kNN top-1: pretrained {knn:.2f} %" + (f", random init {base:.2f} %" if base is not None else ""))


@app.command()
def pretrain(
    recipe: str = typer.Argument(..., help="Recipe name (see `ssl recipes list`)."),
    overrides: Optional[List[str]] = typer.Argument(None, help=OVERRIDES_HELP, show_default=False),
    data: Optional[str] = typer.Option(None, "--data", help="fashion-mnist, digits, or an image folder.", show_default="the recipe's data.source"),
    out: Path = typer.Option(..., "--out", help="Run folder."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="YAML file with recipe values."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/checkpoints/last.pt."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a previous run in OUT."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar on stderr."),
    nproc_per_node: int = typer.Option(1, "--nproc-per-node", help="Processes on this machine (torch's elastic launcher)."),
    nnodes: int = typer.Option(1, "--nnodes", help="Machines in the job."),
    node_rank: int = typer.Option(0, "--node-rank", help="This machine's rank among --nnodes."),
    rdzv_endpoint: Optional[str] = typer.Option(None, "--rdzv-endpoint", help="HOST:PORT of the rendezvous (several machines)."),
    max_restarts: int = typer.Option(0, "--max-restarts", help="Restart failed processes this often; they resume from the last checkpoint."),
) -> None:
    """Pretrain only; the model lands in OUT/checkpoints/final.pt.

    Example: ssl pretrain simclr --out runs/a optim.name=lars train.epochs=20
    Several processes: ssl pretrain simclr --out runs/a --nproc-per-node 2 (or the plain command under torchrun)
    """
    import ssl_train

    items = list(overrides or [])
    cfg = _load_recipe_config(recipe, items, data, config_file)
    check_out_dir(out, resume, overwrite)
    if nproc_per_node > 1 or nnodes > 1:
        if config_file is not None:
            raise UsageError("--config is not passed to launched processes: give the values as key=value overrides")
        from ssl_train.launch import LaunchError, launch
        from ssl_train.worker import worker_argv

        argv = worker_argv(recipe, str(out), items + ([f"data.source={data}"] if data else []))
        try:
            launch(argv, nproc_per_node=nproc_per_node, nnodes=nnodes, node_rank=node_rank,
                   rdzv_endpoint=rdzv_endpoint, max_restarts=max_restarts)  # fmt: skip
        except LaunchError as exc:
            raise UsageError(str(exc)) from None
        typer.echo(f"model: {out / 'checkpoints' / 'final.pt'}")
        return
    result = ssl_train.pretrain(recipe, cfg, out, resume=resume, progress=progress)
    typer.echo(f"pretrained {result.epochs} epochs in {result.minutes:.1f} min, final loss {result.final_loss:.4f}")
    typer.echo(f"model: {result.checkpoint}")


@app.command()
def convert(
    src: Path = typer.Argument(..., metavar="IN", help="Checkpoint to convert."),
    dst: Path = typer.Argument(..., metavar="OUT", help="File to write."),
    to: str = typer.Option(..., "--to", help="ssl, torchvision, vissl, detectron2, classy or timm."),
    from_: Optional[str] = typer.Option(None, "--from", help="Input format [default: detected]."),
    verify: bool = typer.Option(False, "--verify", help="Compare outputs of source and converted model."),
    arch: Optional[str] = typer.Option(None, "--arch", help="Trunk name the weights must fit (e.g. resnet50)."),
    branch: str = typer.Option("teacher", "--branch", help="DINO checkpoints: teacher or student."),
    bgr_to_rgb: bool = typer.Option(False, "--bgr-to-rgb", help="Caffe2 inputs: swap the first conv's channels."),
    fold_bn: bool = typer.Option(False, "--fold-bn", help="Caffe2 inputs: fold batch norm into an affine."),
    tolerance: float = typer.Option(1e-4, "--tolerance", help="Largest output difference --verify accepts."),
    unsafe_load: bool = typer.Option(False, "--unsafe-load", help="Allow pickle loading (trusted files only)."),
    classy_heads: bool = typer.Option(False, "--classy-heads", help="--to classy: also write the first mlp head (VISSL --include_heads)."),
    num_heads: Optional[int] = typer.Option(None, "--num-heads", help="ViT attention heads, where the file does not record them (default: 64-wide heads)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar on stderr."),
) -> None:
    """Convert a checkpoint between formats, reporting every key that was not carried over."""
    if num_heads is not None and num_heads < 1:
        raise UsageError(f"--num-heads must be at least 1, got {num_heads}")
    if classy_heads and to != "classy":
        raise UsageError(f"--classy-heads needs --to classy, got --to {to}")
    import ssl_convert

    from ssl_cli.progress_bar import progress_bar

    with progress_bar(progress) as bar:
        try:
            report = ssl_convert.convert(
                src, dst, to=to, from_=from_, verify=verify, allow_unsafe_load=unsafe_load, arch=arch,
                arch_kwargs=None if num_heads is None else {"num_heads": num_heads}, branch=branch,
                bgr_to_rgb=bgr_to_rgb, fold_bn=fold_bn, classy_heads=classy_heads, tolerance=tolerance, progress=bar,
            )  # fmt: skip
        except ssl_convert.ArchKwargsError as exc:
            raise UsageError(f"--num-heads {num_heads} does not apply to {src}: its trunk is {exc.trunk_name} "
                             f"{exc.trunk_kwargs} (--num-heads sets a ViT's head count where the file does not record it)") from None
    typer.echo(str(report))


@recipes_app.command("list")
def recipes_list() -> None:
    """Names and one-line summaries of all recipes."""
    import ssl_train

    for name in ssl_train.list_recipes():
        spec = ssl_train.get_recipe(name)
        typer.echo(f"{name:14s} {spec.summary}\n{'':14s} paper: {spec.paper}")


@recipes_app.command("from-vissl")
def recipes_from_vissl(
    config: Path = typer.Argument(..., help="A VISSL pretraining config (YAML, as in VISSL's docs)."),
    strict: bool = typer.Option(False, "--strict", help="Fail (exit 2) when a VISSL key has no mapping."),
) -> None:
    """Turn a VISSL pretraining config into our recipe and dotted overrides.

    Example: ssl recipes from-vissl simclr_8node_resnet.yaml
    Prints the `ssl pretrain` command line, then the VISSL keys that have no mapping here.
    """
    from ssl_train.from_vissl import from_vissl

    recipe, overrides, unmapped = from_vissl(config)
    if strict and unmapped:
        raise ValueError(f"{len(unmapped)} VISSL key(s) have no mapping: {', '.join(unmapped)}")
    typer.echo(" ".join(["ssl pretrain", recipe, *overrides]))
    for key in unmapped:
        typer.echo(f"# not mapped: {key}")


@recipes_app.command("show")
def recipes_show(recipe: str = typer.Argument(..., help="Recipe name.")) -> None:
    """The recipe's default config as YAML (every key that can be overridden)."""
    import ssl_train

    spec = ssl_train.get_recipe(recipe)
    typer.echo(ssl_train.config_to_yaml(spec.config_class()), nl=False)


@app.command()
def env() -> None:
    """Versions, threads and the datasets found on this machine."""
    import importlib.metadata as md
    import platform

    import torch

    lines = [f"python {platform.python_version()} on {platform.machine()}", f"torch {torch.__version__}, "
             f"{torch.get_num_threads()} threads, cuda {'yes' if torch.cuda.is_available() else 'no'}"]
    for dist in ("ssl-losses", "ssl-models", "ssl-data", "ssl-train", "ssl-evaluation", "ssl-convert", "ssl-cli"):
        try:
            lines.append(f"{dist} {md.version(dist)}")
        except md.PackageNotFoundError:
            lines.append(f"{dist} not installed")
    import ssl_data

    fmnist = ssl_data.locate_fashion_mnist(download=False)
    lines.append(f"fashion-mnist: {'found at ' + str(fmnist) if fmnist else 'not found (downloaded when online, else digits)'}")
    typer.echo("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `ssl` console script."""
    try:
        app(args=argv, prog_name="ssl")
    except EXPECTED_ERRORS as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        interrupted()
    except SystemExit as exc:
        if exc.code == 130 and from_ctrl_c(exc):  # typer's silent exit for Ctrl-C
            interrupted()
        raise
    except RuntimeError as exc:
        _trainer_stop(exc)
        raise  # anything else is a bug and keeps its traceback


def _trainer_stop(exc: RuntimeError) -> None:
    """Exit for the trainer's own stops: an interrupted run (its one-line message says where the
    checkpoint is and how to resume; exit 130 for SIGINT, 143 for SIGTERM) and a run folder locked
    by another live run (exit 2). Returns for any other error. ssl_train (and its ConfigError, a
    ValueError handled above) is looked up only when a command loaded it."""
    ssl_train = sys.modules.get("ssl_train")
    if ssl_train is None:
        return
    if isinstance(exc, ssl_train.TrainingInterrupted):
        message = str(exc).strip().splitlines()
        print(message[0] if message else "interrupted", file=sys.stderr, flush=True)
        raise SystemExit(exc.exit_code) from None
    if isinstance(exc, ssl_train.RunFolderLocked):
        fail(str(exc))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
