"""disk_filelist: .npy/.txt path lists, int or string labels, mmap, path prefix rewriting."""

import numpy as np
import pytest
from PIL import Image

from ssl_data import FileListSource
from ssl_data.sources import rewrite_path_prefix


def _images(folder, n):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"im{i}.png"
        Image.fromarray(np.full((3, 4, 3), 40 * i, np.uint8)).save(p)
        paths.append(str(p))
    return paths


def test_npy_paths_string_labels_mmap(tmp_path):
    paths = _images(tmp_path / "imgs", 4)
    np.save(tmp_path / "train_images.npy", np.array(paths))
    np.save(tmp_path / "train_labels.npy", np.array(["dog", "cat", "dog", "bird"]))
    ds = FileListSource(tmp_path / "train_images.npy", tmp_path / "train_labels.npy", mmap=True)
    assert isinstance(ds.paths, np.memmap)
    assert ds.classes == ["bird", "cat", "dog"]
    assert [ds[i][1] for i in range(4)] == [2, 1, 2, 0]
    img, _, idx = ds[3]
    assert idx == 3 and np.asarray(img)[0, 0].tolist() == [120, 120, 120]


def test_int_labels_txt_list_and_no_labels(tmp_path):
    paths = _images(tmp_path / "imgs", 3)
    (tmp_path / "list.txt").write_text("\n".join(paths) + "\n")
    np.save(tmp_path / "labels.npy", np.array([5, 0, 7], dtype=np.int64))
    ds = FileListSource(tmp_path / "list.txt", tmp_path / "labels.npy")
    assert ds.targets == [5, 0, 7] and ds.classes is None
    unlabeled = FileListSource(paths)
    assert [unlabeled[i][1] for i in range(3)] == [0, 0, 0]


def test_prefix_rewriting(tmp_path):
    paths = _images(tmp_path / "new_home", 2)
    old = [p.replace(str(tmp_path / "new_home"), "/old/mount/data") for p in paths]
    ds = FileListSource(old, [0, 1], remove_prefix="/old/mount/data", new_prefix=str(tmp_path / "new_home"))
    assert ds.path_of(1) == paths[1]
    assert np.asarray(ds[1][0])[0, 0, 0] == 40
    assert rewrite_path_prefix("/a/b.jpg", "/x", "/y") == "/a/b.jpg"
    assert rewrite_path_prefix("b.jpg", "", "/root/") == "/root/b.jpg"


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="image list file not found: .*missing.npy"):
        FileListSource(tmp_path / "missing.npy")
    np.save(tmp_path / "objs.npy", np.array(["a", 1], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="without pickle"):
        FileListSource(tmp_path / "objs.npy")
    with pytest.raises(ValueError, match="2 image paths but 3 labels"):
        FileListSource(["a.png", "b.png"], [0, 1, 2])
    with pytest.raises(ValueError, match="integers or strings"):
        FileListSource(["a.png"], [0.5])
