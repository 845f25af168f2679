"""`ssl benchmark NAME` (one sub-command per entry of ``ssl_evaluation.suites.BENCHMARKS``),
`ssl benchmark protocol|suite|detectron2` and `ssl extract`. Wiring only: every parameter is a
field of the benchmark's protocol dataclass, set with dotted ``key=value`` overrides."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, List, Optional

import click
import typer
from typer.core import TyperGroup

from ssl_cli.errors import UsageError, fail
from ssl_cli.progress_bar import progress_bar

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
OUT = typer.Option(None, "--out", help="Write OUT/results.json.", show_default="print the JSON")
CONFIG = typer.Option(None, "--config", help="YAML file of protocol values (applied before the overrides).")
PROGRESS = typer.Option(True, "--progress/--no-progress", help="Progress bars on stderr.")
DOWNLOAD = typer.Option(False, "--download", help="Fetch a missing cifar10/cifar100/stl10/svhn/mnist with torchvision "
                        "(network; $SSL_DATA_DOWNLOAD_TIMEOUT s per step, default 15).")
OVERRIDES = typer.Argument(None, help="Dotted key=value protocol overrides (defaults below).", show_default=False)


def _check_out(out: Optional[Path]) -> None:
    """Bad output paths fail before any computation."""
    if out is not None and out.exists() and not out.is_dir():
        raise NotADirectoryError(f"output path exists and is not a folder: {out}")


def _download(data: str) -> None:
    """``--download``: fetch the torchvision data set ``data`` names (one line when that fails)."""
    from ssl_data.prep import DownloadError
    from ssl_evaluation import suites

    try:
        suites.download_data(data)
    except DownloadError as exc:
        fail(str(exc))


def _finish(name: str, result: dict[str, Any], out: Optional[Path]) -> None:
    """Write results.json (or print it) and a one-line summary of the headline metrics."""
    import ssl_evaluation
    from ssl_evaluation import suites

    results = {"benchmark": name, "benchmarks": result.pop("metrics"), **result}
    line = ", ".join(f"{k}: {v:.2f}" for k, v in suites.headline_metrics(name, results["benchmarks"]).items())
    if out is not None:
        typer.echo(f"{name}: {line}" if line else name)
        typer.echo(f"wrote {ssl_evaluation.write_results(out, results)}")
    else:
        print(f"{name}: {line}", file=sys.stderr, flush=True)
        typer.echo(json.dumps(results, indent=2))


def _defaults_text(name: str) -> str:
    from ssl_evaluation import suites

    bench = suites.BENCHMARKS[name]
    yaml = suites.protocol_yaml(bench.protocol()).rstrip().replace("\n", "\n  ")
    example = {"knn": "knn.k=20", "linear": "linear.epochs=30", "svm": "costs=[0.1] layer=res4",
               "finetune": "epochs=2 schedule=step milestones=[1]"}.get(name, "image_size=64")
    return (f"\b\nData: {bench.data_help}.\n\b\nProtocol defaults (override with KEY=VALUE):\n  {yaml}\n\b\n"
            f"Example: ssl benchmark {name} -c runs/a/checkpoints/final.pt --data {bench.data_default or 'DIR'} {example}")


def _benchmark_command(name: str) -> None:
    from ssl_evaluation import suites

    bench = suites.BENCHMARKS[name]
    data_option = typer.Option(bench.data_default or ..., "--data", help="The data set (see below).")

    def command(checkpoint: Path = CHECKPOINT, data: str = data_option, out: Optional[Path] = OUT,
                config_file: Optional[Path] = CONFIG, progress: bool = PROGRESS, download: bool = DOWNLOAD,
                overrides: Optional[List[str]] = OVERRIDES) -> None:
        protocol = suites.load_protocol(bench.protocol(), list(overrides or []), config_file)
        _check_out(out)
        if download:
            _download(data)
        with progress_bar(progress) as bar:
            result = bench.run(checkpoint, data, protocol, bar)
        _finish(name, result, out)

    command.__doc__ = bench.summary[0].upper() + bench.summary[1:] + "."
    benchmark_app.command(name, epilog=_defaults_text(name))(command)


def _register_all() -> None:
    from ssl_evaluation import suites

    for name in suites.BENCHMARKS:
        _benchmark_command(name)


_register_all()


@benchmark_app.command("protocol")
def protocol(name: str = typer.Argument("knn", help="A benchmark name.")) -> None:
    """A benchmark's protocol defaults as YAML (each cited in ssl_evaluation.suites).

    Example: ssl benchmark protocol svm
    """
    from ssl_evaluation import suites

    if name not in suites.BENCHMARKS:
        raise UsageError(f"unknown benchmark {name!r}; choose one of {', '.join(suites.BENCHMARKS)}")
    typer.echo(suites.protocol_yaml(suites.BENCHMARKS[name].protocol()), nl=False)


@benchmark_app.command("detectron2")
def detectron2(
    checkpoint: Path = CHECKPOINT,
    out: Path = typer.Option(..., "--out", help="Folder for model_final.pkl, config.yaml, detectron2/ and results.json."),
    config_file: Optional[Path] = CONFIG,
    progress: bool = PROGRESS,
    overrides: Optional[List[str]] = OVERRIDES,
) -> None:
    """Detection transfer through detectron2 (VISSL's recipes; detectron2 is not on PyPI).

    Converts the trunk, writes the config, trains and evaluates where detectron2 is installed.
    Overrides: recipe=voc07_r50_c4 prepare_only=true.

    Example: ssl benchmark detectron2 -c final.pt --out d2 recipe=voc07_r50_c4 prepare_only=true
    """
    import ssl_convert
    import ssl_evaluation
    from ssl_evaluation import suites

    p = suites.load_protocol(suites.Detectron2Protocol(), list(overrides or []), config_file)
    with progress_bar(progress) as bar:
        weights = suites.prepare_detectron2_weights(
            checkpoint, out, p.recipe, lambda src, dst: ssl_convert.convert(src, dst, to="detectron2", progress=bar))
        result = suites.run_detectron2_suite(weights, out, p, checkpoint, bar)
    typer.echo(f"wrote {result['files']['weights']} and {result['files']['config']}")
    if not p.prepare_only:
        results = {"benchmark": "detectron2", "benchmarks": result.pop("metrics"), **result}
        typer.echo(f"wrote {ssl_evaluation.write_results(out, results)}")


@benchmark_app.command("suite")
def suite(
    suite_file: Path = typer.Argument(..., metavar="SUITE.yaml", help="runs: a list of {checkpoint, benchmark, data, options}."),
    out: Path = typer.Option(..., "--out", help="Folder for results.json, results.md, results.png."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace previous suite results in OUT."),
    progress: bool = PROGRESS,
) -> None:
    """Run a list of benchmarks; every entry is checked before the first run starts.

    Example: ssl benchmark suite suite.yaml --out bench
    """
    from ssl_evaluation import suites

    from ssl_cli.run_folder import check_out_dir

    runs = suites.load_suite(suite_file)
    check_out_dir(out, resume=False, overwrite=overwrite)
    try:
        with progress_bar(progress) as bar:
            results = suites.run_suite(runs, suite_file, bar)
    except ValueError as exc:
        partial = getattr(exc, "partial", None)
        if partial and partial["runs"]:  # keep the runs that finished
            suites.write_suite_outputs(out, partial)
            raise ValueError(f"{exc} (the {len(partial['runs'])} finished run(s) are in {out / 'results.json'})") from exc
        raise
    for rec in results["runs"]:
        typer.echo(f"{rec['name']} ({rec['benchmark']}): " + ", ".join(f"{k} {v:.2f}" for k, v in rec["headline"].items()))
    typer.echo("wrote " + ", ".join(str(p) for p in suites.write_suite_outputs(out, results)))


def extract(
    checkpoint: Path = CHECKPOINT,
    out: Path = typer.Option(..., "--out", help="Folder for OUT/SPLIT/LAYER/rank0_chunk*.npz."),
    data: str = typer.Option("fashion-mnist", "--data", help="A classification data set, as for `ssl benchmark knn`."),
    layers: str = typer.Option("res5avg", "--layers", help="Comma-separated trunk layers (see the trunk's feature names)."),
    image_size: int = typer.Option(0, "--image-size", help="Image side.", show_default="the checkpoint's recipe, else 224"),
    batch_size: int = typer.Option(512, "--batch-size", help="Images per forward pass."),
    progress: bool = PROGRESS,
    download: bool = DOWNLOAD,
) -> None:
    """Extract trunk features of the train and test splits to disk (reload with ssl_evaluation.load_features).

    Example: ssl extract -c runs/a/checkpoints/final.pt --out feats --layers res4,res5avg
    """
    from ssl_evaluation import suites

    names = [n.strip() for n in layers.split(",") if n.strip()]
    if not names:
        raise UsageError("--layers is empty")
    if batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {batch_size}")
    _check_out(out)
    if download:
        _download(data)
    with progress_bar(progress) as bar:
        written = suites.export_features(checkpoint, data, names, out, image_size, batch_size, bar)
    for split, (count, paths) in written.items():
        typer.echo(f"{split}: {count} images, {len(names)} layer(s) -> {len(paths)} file(s) under {out / split}")
