"""``train.overlap_augmentation``: the next batch's views are computed on a side thread while the
current step runs. The run must be the same bits as without it (views, losses, weights), a
checkpoint must hold the loader's position after the batches the steps consumed (not after the
prefetched one), and the side thread must not take the main thread's OpenMP thread count."""

from __future__ import annotations

import threading

import pytest
import torch

import ssl_data
from ssl_models import checkpoint as ckpt_format
from ssl_train import get_recipe, load_config, pretrain
from ssl_train.batch_stream import BatchStream, side_thread_count
from ssl_train.hooks import Hook
from ssl_train.training_data import build_training_data
from ssl_train.views import augment_batch

from .conftest import TINY
from .test_resume import Crash, _assert_same_state


class SideThreadSeen(Hook):
    """Records whether the views' side thread was alive at each step."""

    def __init__(self) -> None:
        self.seen: list[bool] = []

    def on_step_end(self, run, metrics) -> None:
        self.seen.append(any(t.name.startswith("ssl-views") for t in threading.enumerate()))


def _cfg(name: str, *extra: str):
    # channels_last fixed: the equality below is about the views, not about a memory format
    return load_config(get_recipe(name).config_class(), TINY[name] + ["train.channels_last=false", *extra])


@pytest.mark.parametrize("name", ["simclr", "dino"])
def test_views_are_the_same_bits_with_any_thread_count(name: str) -> None:
    images, _ = ssl_data.load_digits("train")
    images = images.unsqueeze(1)
    plan = get_recipe(name).build(_cfg(name)).views()
    indices = torch.arange(0, 3 * 64, 3)
    before = torch.get_num_threads()
    try:
        views = {}
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            views[threads] = augment_batch(plan.batched_augments(), images[indices], indices, 0, 2)
    finally:
        torch.set_num_threads(before)
    for threads in (2, 3):
        assert all(torch.equal(a, b) for a, b in zip(views[1], views[threads])), threads


@pytest.mark.parametrize("name", ["simclr", "dino"])
def test_overlap_on_and_off_train_the_same_bits(tmp_path, name: str) -> None:
    runs = {}
    for overlap in (True, False):
        seen = SideThreadSeen()
        runs[overlap] = pretrain(name, _cfg(name, f"train.overlap_augmentation={str(overlap).lower()}"),
                                 tmp_path / str(overlap), progress=False, hooks=[seen])  # fmt: skip
        assert all(seen.seen) if overlap else not any(seen.seen)  # the side thread really ran (or not)
    assert runs[True].steps == runs[False].steps == 10
    assert runs[True].loss_history == runs[False].loss_history
    _assert_same_state(tmp_path / "True", tmp_path / "False")
    assert not any(t.name.startswith("ssl-views") for t in threading.enumerate())  # ended with the run


def test_a_checkpoint_holds_the_position_of_the_consumed_batches(tmp_path) -> None:
    """Checkpoints every step; the crash comes after step 3's checkpoint, while batch 4 was already
    fetched and augmented: the saved sampler has handed out 3 batches, and a resume without
    overlap (a resume-safe key) ends bit-identical to an uninterrupted run."""
    straight = pretrain("simclr", _cfg("simclr", "train.overlap_augmentation=false"), tmp_path / "a", progress=False)
    with pytest.raises(RuntimeError, match="simulated crash"):
        pretrain("simclr", _cfg("simclr", "train.checkpoint_every_steps=1"), tmp_path / "b", progress=False, hooks=[Crash(4)])
    saved = ckpt_format.load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")["train_state"]
    assert saved["step"] == 3 and saved["batch_in_epoch"] == 3
    loader = saved["ranks"][0]["loader"]
    assert loader["_num_yielded"] == 3 and loader["_sampler_iter_state"]["sampler_state"]["yielded"] == 3 * 32
    resumed = pretrain("simclr", _cfg("simclr", "train.overlap_augmentation=false", "train.checkpoint_every_steps=1"),
                       tmp_path / "b", resume=True, progress=False)  # fmt: skip
    assert resumed.loss_history == straight.loss_history
    _assert_same_state(tmp_path / "a", tmp_path / "b")


def test_the_side_thread_takes_its_own_thread_count() -> None:
    cfg = _cfg("simclr")
    plan = get_recipe("simclr").build(cfg).views()
    data = build_training_data("digits", plan, image_size=16, batch_size=32, seed=0, limit=160)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with BatchStream(data, torch.device("cpu"), overlap=True) as stream:
            assert stream._executor is not None
            side = stream._executor.submit(torch.get_num_threads).result()
            fresh: list[int] = []
            t = threading.Thread(target=lambda: fresh.append(torch.get_num_threads()))
            t.start()
            t.join()
            assert side == side_thread_count(2) == 1
            assert torch.get_num_threads() == 2 and fresh == [2]  # the main thread's and new threads' count stay
            batches = list(stream.epoch(0, start=True))
        assert len(batches) == 5 and stream._executor is None
    finally:
        torch.set_num_threads(before)
