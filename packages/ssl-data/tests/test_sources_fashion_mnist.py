"""Fashion-MNIST reader checked against an independent struct/numpy decode of the real IDX files."""

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from ssl_data import load_fashion_mnist
from ssl_data.sources import fashion_mnist_available, read_idx

ROOT = Path("/usr/share/datasets/fashion-mnist")
needs_fmnist = pytest.mark.skipif(not fashion_mnist_available(ROOT), reason="dataset-fashion-mnist not installed")


def _independent_decode(images_gz: Path, labels_gz: Path) -> tuple[np.ndarray, np.ndarray]:
    with gzip.open(images_gz, "rb") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        assert magic == 2051
        pixels = np.frombuffer(f.read(), dtype=np.uint8).reshape(n, rows, cols)
    with gzip.open(labels_gz, "rb") as f:
        magic, m = struct.unpack(">II", f.read(8))
        assert magic == 2049
        labels = np.frombuffer(f.read(), dtype=np.uint8)
    assert labels.shape[0] == m
    return pixels, labels


@needs_fmnist
@pytest.mark.parametrize(("split", "prefix", "count"), [("train", "train", 60000), ("test", "t10k", 10000)])
def test_real_files_match_independent_decode(split, prefix, count):
    images, labels = load_fashion_mnist(split)
    assert images.dtype == torch.uint8 and tuple(images.shape) == (count, 28, 28)
    assert labels.dtype == torch.int64 and tuple(labels.shape) == (count,)
    ref_x, ref_y = _independent_decode(ROOT / f"{prefix}-images-idx3-ubyte.gz", ROOT / f"{prefix}-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(images.numpy(), ref_x)
    np.testing.assert_array_equal(labels.numpy(), ref_y.astype(np.int64))
    # Published fact: Fashion-MNIST is balanced, 6,000 (train) / 1,000 (test) images per class.
    assert torch.bincount(labels, minlength=10).tolist() == [count // 10] * 10
    assert int(labels.min()) == 0 and int(labels.max()) == 9


@needs_fmnist
def test_val_is_an_alias_of_test():
    a, la = load_fashion_mnist("val")
    b, lb = load_fashion_mnist("test")
    assert torch.equal(a, b) and torch.equal(la, lb)


def test_missing_root_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nowhere")):
        load_fashion_mnist("train", root=tmp_path / "nowhere")


def test_unknown_split_is_rejected():
    with pytest.raises(ValueError, match="split"):
        load_fashion_mnist("training", root="/nonexistent")


def _write_idx(path: Path, array: np.ndarray, type_byte: int = 0x08, compress: bool = True) -> None:
    header = bytes([0, 0, type_byte, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(">u1" if type_byte == 0x08 else ">i4").tobytes()
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def test_uncompressed_files_and_small_custom_split(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    y = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", x, compress=False)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", y, compress=False)
    images, labels = load_fashion_mnist("test", root=tmp_path)
    np.testing.assert_array_equal(images.numpy(), x)
    assert labels.tolist() == [3, 1, 4, 1, 5]


def test_truncated_and_non_idx_files_give_clear_errors(tmp_path):
    x = np.zeros((4, 28, 28), dtype=np.uint8)
    full = tmp_path / "full-idx3-ubyte"
    _write_idx(full, x, compress=False)
    truncated = tmp_path / "short-idx3-ubyte"
    truncated.write_bytes(full.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_idx(truncated)
    junk = tmp_path / "junk-idx3-ubyte"
    junk.write_bytes(b"\x89PNG not idx")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(junk)


def test_int32_idx_type(tmp_path):
    a = np.array([[1, -2, 70000]], dtype=np.int32)
    _write_idx(tmp_path / "a.idx", a, type_byte=0x0C, compress=False)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx"), a)
