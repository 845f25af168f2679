"""Resume exactness: a loader restored after k batches yields batch k+1 onward pixel-identical."""

import os
import tempfile

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torchvision.transforms import v2

from ssl_data import SSLDataset, TensorImageDataset, build_loader

N, SIZE, BATCH = 24, 12, 4


def _augment() -> v2.Compose:
    # Random crop, flip, colour jitter and grey: every draw comes from torch's global generator.
    return v2.Compose([
        v2.RandomResizedCrop(8, scale=(0.3, 1.0), antialias=True),
        v2.RandomHorizontalFlip(),
        v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        v2.RandomGrayscale(0.2),
        v2.ToDtype(torch.float32, scale=True),
    ])


def _dataset() -> SSLDataset:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (N, 3, SIZE, SIZE), dtype=torch.uint8, generator=g)
    images[1] = images[0]  # two identical images must still get different augmentations
    source = TensorImageDataset(images, torch.arange(N) % 3)
    return SSLDataset(source, transform=_augment(), seed=7)


def _batches(loader, epoch, limit=None):
    loader.set_epoch(epoch)
    out = []
    for x, y, idx in loader:
        out.append((x.clone(), y.clone(), idx.clone()))
        if limit is not None and len(out) == limit:
            break  # stop right after batch k, before the loader fetches batch k+1
    return out


def _assert_same(a, b):
    assert len(a) == len(b) and len(a) > 0
    for (xa, ya, ia), (xb, yb, ib) in zip(a, b):
        assert torch.equal(ia, ib)
        assert torch.equal(ya, yb)
        assert torch.equal(xa, xb)  # pixels, not only indices


def _check_resume(num_workers, k=2, context=None, persistent=False):
    kw = dict(batch_size=BATCH, seed=3, num_workers=num_workers, multiprocessing_context=context,
              persistent_workers=persistent)
    reference = build_loader(_dataset(), **kw)
    ref_epoch0 = _batches(reference, 0)
    ref_epoch1 = _batches(reference, 1)

    first = build_loader(_dataset(), **kw)
    head = _batches(first, 0, limit=k)
    state = first.state_dict()
    del first

    resumed = build_loader(_dataset(), **kw)
    resumed.load_state_dict(state)
    tail = []
    for x, y, idx in resumed:  # no set_epoch: the restored epoch is used
        tail.append((x.clone(), y.clone(), idx.clone()))
    _assert_same(head + tail, ref_epoch0)
    assert len(tail) == len(ref_epoch0) - k
    _assert_same(_batches(resumed, 1), ref_epoch1)
    return ref_epoch0, ref_epoch1


@pytest.mark.parametrize(("num_workers", "persistent"), [(0, False), (2, False), (2, True)])
def test_resume_is_pixel_exact(num_workers, persistent):
    epoch0, epoch1 = _check_resume(num_workers, persistent=persistent)
    indices0 = torch.cat([b[2] for b in epoch0])
    assert sorted(indices0.tolist()) == list(range(N))  # one rank sees every sample once
    # A new epoch gives a new order and new augmentations of the same sample.
    assert not torch.equal(indices0, torch.cat([b[2] for b in epoch1]))
    views0 = {int(i): x for b in epoch0 for x, i in zip(b[0], b[2])}
    views1 = {int(i): x for b in epoch1 for x, i in zip(b[0], b[2])}
    assert not torch.equal(views0[5], views1[5])
    # Identical images 0 and 1 get different augmentations.
    assert not torch.equal(views0[0], views0[1])


def test_worker_count_does_not_change_pixels():
    a = build_loader(_dataset(), batch_size=BATCH, seed=3, num_workers=0)
    b = build_loader(_dataset(), batch_size=BATCH, seed=3, num_workers=2)
    _assert_same(_batches(a, 0), _batches(b, 0))


def _rank_main(rank, world_size, init_file, out_dir):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        # Rank and world size come from torch.distributed.
        epoch0, _ = _check_resume(num_workers=2, k=1, context="fork")
        indices = torch.cat([b[2] for b in epoch0])
        gathered = [torch.zeros_like(indices) for _ in range(world_size)]
        dist.all_gather(gathered, indices)
        if rank == 0:
            torch.save(gathered, os.path.join(out_dir, "indices.pt"))
    finally:
        dist.destroy_process_group()


def test_resume_two_ranks(tmp_path):
    init_file = tempfile.mktemp(dir=tmp_path)
    # Fork the two ranks (real processes, real gloo group) rather than spawn: no re-import.
    mp.start_processes(_rank_main, args=(2, init_file, str(tmp_path)), nprocs=2, join=True, start_method="fork")
    gathered = torch.load(tmp_path / "indices.pt")
    r0, r1 = (set(g.tolist()) for g in gathered)
    assert not r0 & r1 and r0 | r1 == set(range(N))  # disjoint slices covering the dataset
    assert r0 == set(range(N // 2))  # VISSL: each rank shuffles only its contiguous slice
