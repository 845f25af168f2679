"""Feature extraction: dataset order, eval mode, autocast, errors, and 2 real gloo ranks."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from ssl_evaluation import extract_features
from ssl_evaluation.feature_store import extract_to_disk, load_features


class Indexed(Dataset):
    """(image [3, 4, 4], label, index) triples from fixed random tensors."""

    def __init__(self, n: int, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.images = torch.randn(n, 3, 4, 4, generator=g)
        self.labels = torch.randint(0, 5, (n,), generator=g)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.images[i], int(self.labels[i]), i


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(48, 6), nn.Dropout(0.5))


def test_rows_follow_dataset_index_and_eval_mode() -> None:
    data = Indexed(37)
    model = _model().train()
    loader = DataLoader(data, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(1))
    feats, labels = extract_features(model, loader)
    assert model.training  # restored
    with torch.no_grad():
        expected = model.eval()(data.images)  # dropout off: eval mode was used
    torch.testing.assert_close(feats, expected)
    assert torch.equal(labels, data.labels)
    assert feats.dtype == torch.float32 and labels.dtype == torch.int64


def test_pairs_without_indices_and_bf16_autocast() -> None:
    data = Indexed(10)
    model = _model().eval()
    pairs = [(data.images[i : i + 4], data.labels[i : i + 4]) for i in range(0, 10, 4)]
    feats, labels = extract_features(model, pairs, autocast_dtype=torch.bfloat16)
    with torch.no_grad():
        expected = model(data.images)
    assert feats.dtype == torch.float32
    torch.testing.assert_close(feats, expected, atol=0.05, rtol=0.05)
    assert torch.equal(labels, data.labels)


def test_clear_errors() -> None:
    with pytest.raises(ValueError, match="empty"):
        extract_features(_model(), [])
    with pytest.raises(ValueError, match=r"\(images, labels\)"):
        extract_features(_model(), [torch.zeros(2, 3, 4, 4)])
    with pytest.raises(ValueError, match="must return a Tensor"):
        extract_features(lambda x: {"a": x}, [(torch.zeros(2, 3, 4, 4), torch.zeros(2))])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        torch.set_num_threads(1)
        data = Indexed(23)  # 23 rows on 2 ranks: the sampler pads one duplicate
        sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=4)
        loader = DataLoader(data, batch_size=5, sampler=sampler)
        feats, labels = extract_features(_model(), loader)
        torch.save({"feats": feats, "labels": labels}, Path(out_dir) / f"rank{rank}.pt")
        # Chunked files: every rank writes its own shard, no gather.
        model = _model().eval()
        extract_to_disk(lambda x: {"out": model(x)}, loader, Path(out_dir) / "store", "train", 4)
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_merge_by_dataset_index_in_memory_and_on_disk(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    data = Indexed(23)
    with torch.no_grad():
        expected = _model().eval()(data.images)
    for rank in range(2):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        assert got["feats"].shape == (23, 6)
        torch.testing.assert_close(got["feats"], expected)
        assert torch.equal(got["labels"], data.labels)
    store = tmp_path / "store" / "train" / "out"
    assert {p.name.split("_")[0] for p in store.iterdir()} == {"rank0", "rank1"}
    merged = load_features(tmp_path / "store", "train", "out")
    np.testing.assert_array_equal(merged["inds"], np.arange(23))
    np.testing.assert_allclose(merged["features"], expected.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(merged["targets"], data.labels.numpy())
