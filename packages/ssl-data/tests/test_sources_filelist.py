"""disk_filelist: .npy/.txt path lists, int or string labels, [N, C] label matrices, mmap, path prefix rewriting."""

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from ssl_data import FileListSource
from ssl_data.sources import limit_dataset, rewrite_path_prefix


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
    with pytest.raises(ValueError, match="labels: class ids must be integers or strings"):
        FileListSource(["a.png"], [0.5])


def test_multi_label_matrix_file(tmp_path):
    paths = _images(tmp_path / "imgs", 3)
    np.save(tmp_path / "images.npy", np.array(paths))
    matrix = np.array([[1, 0, -1], [0, 0, 1], [1, 1, 0]], dtype=np.int64)  # VISSL's VOC 1 / 0 / -1
    np.save(tmp_path / "labels.npy", matrix)
    ds = FileListSource(tmp_path / "images.npy", tmp_path / "labels.npy")
    assert ds.multi_label and isinstance(ds.labels, np.memmap) and ds.classes is None
    image, label, index = ds[1]
    assert index == 1 and np.asarray(image)[0, 0].tolist() == [40, 40, 40]
    assert label.dtype == torch.int64 and label.tolist() == [0, 0, 1]
    label[0] = 7  # a copy: the memory-mapped file is untouched
    assert ds[1][1].tolist() == [0, 0, 1] and ds.targets == matrix.tolist()
    ds.transform = lambda im: torch.from_numpy(np.asarray(im).copy())
    _, labels, indices = next(iter(DataLoader(ds, batch_size=3)))
    assert labels.shape == (3, 3) and torch.equal(labels, torch.from_numpy(matrix)) and indices.tolist() == [0, 1, 2]
    assert not FileListSource(paths, [2, 0, 1]).multi_label
    assert len(limit_dataset(ds, 2, seed=0)) == 2
    with pytest.raises(ValueError, match=r"balanced data limit needs class ids \[N\], got labels of shape \(3, 3\)"):
        limit_dataset(ds, 2, balanced=True)


def test_multi_label_float_and_bool_rows(tmp_path):
    paths = _images(tmp_path / "imgs", 2)
    soft = FileListSource(paths, [[0.25, 0.75], [1.0, 0.0]])
    assert soft[0][1].dtype == torch.float32 and soft[0][1].tolist() == [0.25, 0.75]
    hot = FileListSource(paths, np.array([[True, False], [False, True]]))
    assert hot[1][1].dtype == torch.int64 and hot[1][1].tolist() == [0, 1]


def test_multi_label_errors(tmp_path):
    np.save(tmp_path / "cube.npy", np.zeros((2, 2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match=r"labels file .*cube.npy must hold a 1-D \[N\] or 2-D \[N, C\] array"):
        FileListSource(["a.png", "b.png"], tmp_path / "cube.npy")
    np.save(tmp_path / "names.npy", np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(ValueError, match=r"labels file .*names.npy: \[N, C\] labels must be integers or floats"):
        FileListSource(["a.png", "b.png"], tmp_path / "names.npy")
    np.save(tmp_path / "short.npy", np.zeros((3, 20), dtype=np.int64))
    with pytest.raises(ValueError, match=r"2 image paths but 3 labels \(labels file .*short.npy\)"):
        FileListSource(["a.png", "b.png"], tmp_path / "short.npy")
    with pytest.raises(ValueError, match="rows of one length"):
        FileListSource(["a.png", "b.png"], [[1, 0], [1]])
    with pytest.raises(ValueError, match="image list file .*must hold a 1-D array"):
        FileListSource(tmp_path / "short.npy")
