"""`ssl data ...`: the dataset catalog and the data-preparation tools of ssl-data."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import List, Optional

import typer

from ssl_cli.errors import UsageError, fail
from ssl_cli.progress_bar import progress_bar

__all__ = ["data_app"]

data_app = typer.Typer(help="Dataset catalog and data-preparation tools.", no_args_is_help=True)
catalog_app = typer.Typer(help="The dataset catalog (VISSL's dataset_catalog.json layout).", no_args_is_help=True)
data_app.add_typer(catalog_app, name="catalog")

CATALOG_HELP = "Catalog file [default: $SSL_DATASET_CATALOG or the user's catalog]."


@catalog_app.command("list")
def catalog_list(catalog: Optional[Path] = typer.Option(None, "--catalog", help=CATALOG_HELP)) -> None:
    """Names of the registered datasets."""
    import ssl_data

    names = ssl_data.catalog_list(catalog)
    typer.echo("\n".join(names) if names else f"(no datasets in {ssl_data.catalog_path() if catalog is None else catalog})")


@catalog_app.command("show")
def catalog_show(
    name: str = typer.Argument(..., help="Dataset name."),
    catalog: Optional[Path] = typer.Option(None, "--catalog", help=CATALOG_HELP),
) -> None:
    """The splits of one dataset as JSON."""
    import ssl_data

    typer.echo(json.dumps(ssl_data.catalog_show(name, catalog), indent=2))


@catalog_app.command("add")
def catalog_add(
    name: str = typer.Argument(..., help="Dataset name."),
    train: List[str] = typer.Option(..., "--train", help="IMAGES LABELS of the train split (give twice)."),
    val: Optional[List[str]] = typer.Option(None, "--val", help="IMAGES LABELS of the val split (give twice)."),
    catalog: Optional[Path] = typer.Option(None, "--catalog", help=CATALOG_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing entry."),
) -> None:
    """Register a dataset: ``--train IMAGES --train LABELS [--val IMAGES --val LABELS]``."""
    import ssl_data

    splits = {"train": list(train)}
    if val:
        splits["val"] = list(val)
    for split, pair in splits.items():
        if len(pair) != 2:
            raise UsageError(f"--{split} takes exactly two values (images, labels), got {len(pair)}")
    path = ssl_data.catalog_add(name, splits, catalog, overwrite=overwrite)
    typer.echo(f"added {name} to {path}")


@catalog_app.command("remove")
def catalog_remove(
    name: str = typer.Argument(..., help="Dataset name."),
    catalog: Optional[Path] = typer.Option(None, "--catalog", help=CATALOG_HELP),
) -> None:
    """Remove a dataset from the catalog."""
    import ssl_data

    typer.echo(f"removed {name} from {ssl_data.catalog_remove(name, catalog)}")


@data_app.command("prepare")
def prepare(
    name: str = typer.Argument(..., help="Tool name (see `ssl data tools`)."),
    input_path: Optional[Path] = typer.Option(None, "-i", "--input", help="Raw dataset folder or file."),
    output_dir: Path = typer.Option(..., "-o", "--output", help="Folder for the prepared files."),
    download: bool = typer.Option(
        False, "-d", "--download",
        help="Download the official files into -i first (network; $SSL_DATA_MIRROR replaces the URLs' folder, "
        "$SSL_DATA_DOWNLOAD_TIMEOUT the per-step timeout, default 15 s).",
    ),
    options: Optional[List[str]] = typer.Argument(None, help="Tool options as key=value."),
) -> None:
    """Prepare a dataset (filelists, low-shot samples, jigsaw permutations, colour bins, ...)."""
    import ssl_data
    from ssl_data.prep import DownloadError, parse_tool_options

    kwargs = parse_tool_options(name, options or [])
    try:
        with progress_bar() as bar:
            summary = ssl_data.prepare(name, input_path, output_dir, download=download, progress=bar, **kwargs)
    except DownloadError as exc:  # no network, timeout, truncated archive: one line, exit 2
        fail(str(exc))
    typer.echo(json.dumps(summary, indent=2, default=str))


@data_app.command("tools")
def tools() -> None:
    """Every data-preparation tool with its options and defaults."""
    from ssl_data.prep import preparer_options

    import ssl_data

    for name in sorted(ssl_data.PREPARERS):
        opts = ", ".join(
            f"{k}" if v is inspect.Parameter.empty else f"{k}={v!r}" for k, v in preparer_options(name).items()
        )
        typer.echo(f"{name:22s} {opts}")
