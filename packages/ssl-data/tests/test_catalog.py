"""Dataset catalog: VISSL JSON layout, env-var override, list/add/show, atomic writes."""

import json

import numpy as np
import pytest
from PIL import Image

from ssl_data import catalog_add, catalog_list, catalog_path, catalog_remove, catalog_show, dataset_from_catalog
from ssl_data.catalog import CATALOG_ENV, load_catalog


@pytest.fixture
def folder(tmp_path):
    for cls in ("a", "b"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "imgs" / cls / "x.png")
    return tmp_path / "imgs"


def test_env_var_override_and_vissl_layout(tmp_path, folder, monkeypatch):
    cat = tmp_path / "cfg" / "catalog.json"
    monkeypatch.setenv(CATALOG_ENV, str(cat))
    assert catalog_path() == cat
    with pytest.raises(FileNotFoundError, match="dataset catalog not found"):
        catalog_list()  # set but absent: an error, as VISSL asserts
    cat.parent.mkdir()
    cat.write_text(json.dumps({"my_folder": {"train": [str(folder), "<ignored>"]}}))
    assert catalog_list() == ["my_folder"]
    written = catalog_add("other", {"train": [str(folder), "<ignored>"], "val": [str(folder), ""]})
    assert written == cat
    on_disk = json.loads(cat.read_text())  # plain VISSL layout, readable without our code
    assert on_disk["other"] == {"train": [str(folder), "<ignored>"], "val": [str(folder), ""]}
    assert catalog_list() == ["my_folder", "other"]
    assert catalog_show("other")["val"] == [str(folder), ""]
    assert [p.name for p in cat.parent.iterdir()] == ["catalog.json"]  # no temp file left


def test_default_location_is_empty_until_written(tmp_path, monkeypatch):
    monkeypatch.delenv(CATALOG_ENV, raising=False)
    monkeypatch.delenv("VISSL_DATASET_CATALOG_PATH", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert catalog_path() == tmp_path / "ssl" / "dataset_catalog.json"
    assert catalog_list() == []


def test_errors(tmp_path, folder):
    cat = tmp_path / "c.json"
    catalog_add("d", {"train": [str(folder), "<ignored>"]}, path=cat)
    with pytest.raises(ValueError, match="already in the catalog"):
        catalog_add("d", {"train": [str(folder), "<ignored>"]}, path=cat)
    catalog_add("d", {"train": [str(folder), "<not_used>"]}, path=cat, overwrite=True)
    with pytest.raises(ValueError, match="'nope' is not in the catalog .*known: d"):
        catalog_show("nope", path=cat)
    with pytest.raises(FileNotFoundError, match="images path not found: .*missing"):
        catalog_add("e", {"train": [str(tmp_path / "missing"), ""]}, path=cat)
    with pytest.raises(ValueError, match=r"must be \[images_path, labels_path\]"):
        catalog_add("e", {"train": [str(folder)]}, path=cat)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_catalog(bad)
    catalog_remove("d", path=cat)
    assert catalog_list(path=cat) == []


def test_dataset_from_catalog_folder_and_filelist(tmp_path, folder):
    cat = tmp_path / "c.json"
    paths = [str(p) for p in sorted(folder.rglob("*.png"))]
    np.save(tmp_path / "val_images.npy", np.array(paths))
    np.save(tmp_path / "val_labels.npy", np.array([3, 4]))
    catalog_add("mixed", {"train": [str(folder), "<ignored>"],
                          "val": [str(tmp_path / "val_images.npy"), str(tmp_path / "val_labels.npy")]}, path=cat)
    train = dataset_from_catalog("mixed", "train", path=cat)
    assert train.classes == ["a", "b"] and len(train) == 2
    val = dataset_from_catalog("mixed", "val", path=cat)
    assert [val[i][1] for i in range(2)] == [3, 4]
    with pytest.raises(ValueError, match="has splits train, val"):
        dataset_from_catalog("mixed", "test", path=cat)
