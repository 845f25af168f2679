"""The dataset catalog: a JSON file naming data sets, in VISSL's layout.

``{"name": {"train": [images, labels], "val": [images, labels]}, ...}`` where ``images`` is a
folder (``disk_folder``) or a ``.npy``/``.txt`` path list (``disk_filelist``) and ``labels`` is
a labels ``.npy`` or a placeholder (``"<ignored>"``, ``"<not_used>"`` or ``""``) for folders,
whose labels come from the class sub-folders. Image and label sources can be mixed.

Location: ``$SSL_DATASET_CATALOG`` when set (it must exist, like VISSL's
``VISSL_DATASET_CATALOG_PATH``, which is honoured too), else
``$XDG_CONFIG_HOME/ssl/dataset_catalog.json`` (``~/.config/ssl/...``), an empty catalog until
something is added. ``ssl data catalog list|add|show`` call the functions below.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from ssl_data.atomic_files import write_atomically
from ssl_data.sources.disk_filelist import FileListSource
from ssl_data.sources.image_folder import ImageFolderSource

__all__ = [
    "CATALOG_ENV",
    "LABEL_PLACEHOLDERS",
    "catalog_add",
    "catalog_list",
    "catalog_path",
    "catalog_remove",
    "catalog_show",
    "dataset_from_catalog",
    "load_catalog",
]

CATALOG_ENV = "SSL_DATASET_CATALOG"
_VISSL_ENV = "VISSL_DATASET_CATALOG_PATH"
LABEL_PLACEHOLDERS: tuple[str, ...] = ("<ignored>", "<not_used>", "")

Catalog = dict[str, dict[str, list[str]]]


def catalog_path() -> Path:
    """The catalog file in use (see the module docstring for the lookup order)."""
    for env in (CATALOG_ENV, _VISSL_ENV):
        value = os.environ.get(env)
        if value:
            return Path(value).expanduser()
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "ssl" / "dataset_catalog.json"


def _resolve(path: str | os.PathLike[str] | None) -> Path:
    return Path(path).expanduser() if path is not None else catalog_path()


def _from_env(path: str | os.PathLike[str] | None) -> bool:
    return path is None and any(os.environ.get(e) for e in (CATALOG_ENV, _VISSL_ENV))


def _check_entry(name: str, entry: Any, where: str) -> dict[str, list[str]]:
    if not isinstance(entry, Mapping) or not entry:
        raise ValueError(f"{where}: dataset {name!r} must map split names to [images, labels]")
    out: dict[str, list[str]] = {}
    for split, value in entry.items():
        if (
            not isinstance(value, (list, tuple))
            or len(value) != 2
            or not all(isinstance(v, str) for v in value)
        ):
            raise ValueError(f"{where}: dataset {name!r} split {split!r} must be [images_path, labels_path], got {value!r}")
        out[str(split)] = [value[0], value[1]]
    return out


def load_catalog(path: str | os.PathLike[str] | None = None) -> Catalog:
    """Read and validate the catalog. A missing default file is an empty catalog; a missing
    file named by the environment variable or by ``path`` is a FileNotFoundError."""
    p = _resolve(path)
    if not p.is_file():
        if path is not None or _from_env(path):
            raise FileNotFoundError(f"dataset catalog not found: {p}")
        return {}
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"dataset catalog {p} is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise ValueError(f"dataset catalog {p} must hold a JSON object of datasets")
    return {str(name): _check_entry(name, entry, str(p)) for name, entry in data.items()}


def catalog_list(path: str | os.PathLike[str] | None = None) -> list[str]:
    """Sorted dataset names of the catalog."""
    return sorted(load_catalog(path))


def catalog_show(name: str, path: str | os.PathLike[str] | None = None) -> dict[str, list[str]]:
    """The entry of ``name``: ``{split: [images, labels]}``; ValueError for an unknown name."""
    catalog = load_catalog(path)
    if name not in catalog:
        known = ", ".join(sorted(catalog)) or "none"
        raise ValueError(f"dataset {name!r} is not in the catalog {_resolve(path)} (known: {known})")
    return catalog[name]


def _write_atomic(path: Path, catalog: Catalog) -> None:
    data = (json.dumps(catalog, indent=2, sort_keys=True) + "\n").encode()
    write_atomically(path, lambda f: f.write(data))


def catalog_add(
    name: str,
    splits: Mapping[str, Sequence[str]],
    path: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    check_paths: bool = True,
) -> Path:
    """Register ``name`` (VISSL's ``register_data``) and write the catalog atomically.

    Args:
        splits: ``{"train": [images, labels], "val": [...]}``.
        overwrite: replace an existing entry (otherwise ValueError).
        check_paths: every images path (and every labels path that is not a placeholder) must
            exist (FileNotFoundError naming it).

    Returns: the catalog file written.
    """
    if not name or not isinstance(name, str):
        raise ValueError(f"dataset name must be a non-empty string, got {name!r}")
    p = _resolve(path)
    entry = _check_entry(name, dict(splits), "catalog_add")
    if check_paths:
        for split, (images, labels) in entry.items():
            if not Path(images).expanduser().exists():
                raise FileNotFoundError(f"dataset {name!r} split {split!r}: images path not found: {images}")
            if labels not in LABEL_PLACEHOLDERS and not Path(labels).expanduser().exists():
                raise FileNotFoundError(f"dataset {name!r} split {split!r}: labels path not found: {labels}")
    catalog = load_catalog(p) if p.is_file() else {}
    if name in catalog and not overwrite:
        raise ValueError(f"dataset {name!r} is already in the catalog {p} (pass overwrite=True)")
    catalog[name] = entry
    _write_atomic(p, catalog)
    return p


def catalog_remove(name: str, path: str | os.PathLike[str] | None = None) -> Path:
    """Remove ``name`` from the catalog (ValueError when absent); atomic rewrite."""
    p = _resolve(path)
    catalog = load_catalog(p)
    if name not in catalog:
        raise ValueError(f"dataset {name!r} is not in the catalog {p}")
    del catalog[name]
    _write_atomic(p, catalog)
    return p


def dataset_from_catalog(
    name: str,
    split: str = "train",
    path: str | os.PathLike[str] | None = None,
    transform: Callable[[Any], Any] | None = None,
) -> Dataset:
    """Open split ``split`` of catalog entry ``name``: a folder becomes an
    ``ImageFolderSource`` (labels from class folders), a path list a ``FileListSource`` (with
    its labels file unless that is a placeholder)."""
    entry = catalog_show(name, path)
    if split not in entry:
        raise ValueError(f"dataset {name!r} has splits {', '.join(entry)}, not {split!r}")
    images, labels = entry[split]
    if Path(images).expanduser().is_dir():
        return ImageFolderSource(Path(images).expanduser(), transform=transform)
    label_arg = None if labels in LABEL_PLACEHOLDERS else labels
    return FileListSource(Path(images).expanduser(), label_arg, transform=transform)
