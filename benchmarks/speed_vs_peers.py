"""Training speed, interleaved on one machine: our trainer, our bare step, a plain PyTorch loop
and lightly 1.6's SimCLR pipeline, all with the same model, batch and augmentation strengths.

Every candidate trains SimCLR (ResNet-18 at width 0.25 with a 512-128 MLP head, batch 256,
Fashion-MNIST at 28 px, the SimCLR recipe's default crop scale, colour jitter 0.5 strength with p 0.8,
grey p 0.2, flip p 0.5, no blur, temperature 0.2, SGD) for ``--steps`` timed steps after ``--warmup`` untimed
ones, and the candidates take turns for ``--rounds`` rounds (median per-step time over rounds):

- ``ours_trainer``: ``ssl_train.pretrain`` (loader, batched per-sample augmentation, hooks, schedules);
- ``ours_bare_step``: the same ``SimCLR`` method's augmentation + step + backward + SGD in a bare loop;
- ``plain_pytorch``: torchvision v2 per-sample transforms through a DataLoader (2 workers), the
  model and a hand-written NT-Xent;
- ``lightly_w0`` / ``lightly_w2``: lightly's ``SimCLRTransform`` on PIL images through a
  DataLoader with 0 / 2 workers, lightly's ``NTXentLoss``.

Also reports the share of augmentation in our bare step. Prints JSON, writes
benchmarks/results/speed_vs_peers.json.

    hatch run python benchmarks/speed_vs_peers.py [--steps 20] [--warmup 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

import ssl_data
import ssl_models
import ssl_train
from ssl_models.atomic_files import atomic_write_text
from ssl_train.recipes.base import Batch, StepContext
from ssl_train.recipes.simclr import SimCLR, SimCLRConfig
from ssl_train.views import augment_batch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fashion_mnist_knn import provenance  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
_SIMCLR = SimCLRConfig()  # every candidate uses the recipe's default sizes and strengths
BATCH, SIZE, STRENGTH, TEMP = _SIMCLR.data.batch_size, _SIMCLR.data.image_size, _SIMCLR.views.jitter_strength, _SIMCLR.loss.temperature
SCALE = (_SIMCLR.views.crop_scale_min, _SIMCLR.views.crop_scale_max)
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    trunk = ssl_models.build_trunk("resnet18", width_multiplier=0.25)
    return torch.nn.Sequential(trunk, ssl_models.MLPHead([trunk.num_features, 512, 128], use_bn=True))


def _nt_xent(z: torch.Tensor, temperature: float) -> torch.Tensor:
    z = F.normalize(z, dim=1)
    n = z.shape[0] // 2
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, targets)


class _Pairs(Dataset):
    def __init__(self, images: torch.Tensor, transform, pil: bool) -> None:
        self.images, self.transform, self.pil = images, transform, pil

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        x = self.images[i]
        if self.pil:
            x = Image.fromarray(x.numpy(), mode="L").convert("RGB")
        else:
            x = x.unsqueeze(0).expand(3, -1, -1)
        return self.transform(x)


def _loop(loader, model, loss_fn, steps: int, warmup: int) -> list[float]:
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    times, it = [], iter(loader)
    for s in range(warmup + steps):
        start = time.perf_counter()
        try:
            views = next(it)
        except StopIteration:
            it = iter(loader)
            views = next(it)
        x = torch.cat(views[:2] if isinstance(views, (list, tuple)) else views)
        loss = loss_fn(model(x))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if s >= warmup:
            times.append(time.perf_counter() - start)
    return times


def plain_pytorch(images, steps, warmup) -> list[float]:
    s = STRENGTH
    view = v2.Compose([
        v2.RandomResizedCrop(SIZE, scale=SCALE, antialias=True), v2.RandomHorizontalFlip(),
        v2.RandomApply([v2.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s)], p=0.8), v2.RandomGrayscale(0.2),
        v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD),
    ])  # fmt: skip
    loader = DataLoader(_Pairs(images, lambda x: [view(x), view(x)], pil=False), batch_size=BATCH, shuffle=True,
                        num_workers=2, drop_last=True, persistent_workers=True)  # fmt: skip
    return _loop(loader, _model(), lambda z: _nt_xent(z, TEMP), steps, warmup)


def lightly_pipeline(images, steps, warmup, workers: int) -> list[float]:
    from lightly.loss import NTXentLoss
    from lightly.transforms import SimCLRTransform

    transform = SimCLRTransform(input_size=SIZE, cj_strength=STRENGTH, min_scale=SCALE[0], gaussian_blur=0.0)
    loader = DataLoader(_Pairs(images, transform, pil=True), batch_size=BATCH, shuffle=True, num_workers=workers,
                        drop_last=True, persistent_workers=workers > 0)  # fmt: skip
    loss = NTXentLoss(temperature=TEMP)
    return _loop(loader, _model(), lambda z: loss(*z.chunk(2)), steps, warmup)


def ours_bare(images, labels, steps, warmup) -> tuple[list[float], list[float]]:
    torch.manual_seed(0)
    method = SimCLR(ssl_train.load_config(SimCLRConfig(), []))
    augments = method.views().batched_augments()
    opt = torch.optim.SGD(method.model.parameters(), lr=0.1, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    times, aug_times = [], []
    data = images.unsqueeze(1)
    for s in range(warmup + steps):
        start = time.perf_counter()
        idx = torch.randperm(len(images), generator=g)[:BATCH]
        crops = augment_batch(augments, data[idx], idx, 0, 0)
        mid = time.perf_counter()
        ctx = StepContext(method.model, s, 0, 1, 1, {}, contextlib.nullcontext, torch.device("cpu"))
        loss = method.step(Batch(crops, labels[idx], idx), ctx)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if s >= warmup:
            times.append(time.perf_counter() - start)
            aug_times.append(mid - start)
    return times, aug_times


class _StepTimes(ssl_train.hooks.Hook):
    def __init__(self) -> None:
        self.stamps: list[float] = []

    def on_step_end(self, run, metrics) -> None:
        self.stamps.append(time.perf_counter())


def ours_trainer(steps, warmup, out: Path) -> list[float]:
    cfg = ssl_train.load_config(SimCLRConfig(), [f"train.max_steps={warmup + steps + 1}", "train.tensorboard=false",
                                                 "monitor.knn_every_epochs=0", "schedule.warmup_epochs=0"])  # fmt: skip
    hook = _StepTimes()
    ssl_train.pretrain("simclr", cfg, out, progress=False, hooks=[hook])
    stamps = hook.stamps[warmup:]
    return [b - a for a, b in zip(stamps, stamps[1:])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    record = provenance(sys.argv)
    images, labels = ssl_data.load_fashion_mnist("train")
    per_round: dict[str, list[float]] = {}
    aug_share: list[float] = []
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            candidates = {
                "ours_trainer": lambda: ours_trainer(args.steps, args.warmup, Path(tmp) / f"r{r}"),
                "ours_bare_step": lambda: ours_bare(images, labels, args.steps, args.warmup),
                "plain_pytorch": lambda: plain_pytorch(images, args.steps, args.warmup),
                "lightly_w0": lambda: lightly_pipeline(images, args.steps, args.warmup, 0),
                "lightly_w2": lambda: lightly_pipeline(images, args.steps, args.warmup, 2),
            }
            names = list(candidates)
            if r % 2:
                names.reverse()
            for name in names:
                out = candidates[name]()
                if name == "ours_bare_step":
                    out, aug = out
                    aug_share.append(sum(aug) / sum(out))
                per_round.setdefault(name, []).append(statistics.median(out))
                print(name, round(per_round[name][-1], 4), file=sys.stderr, flush=True)
    step = {k: statistics.median(v) for k, v in per_round.items()}
    images_per_second = {k: BATCH / v for k, v in step.items()}
    best_lightly = min(step["lightly_w0"], step["lightly_w2"])
    record.update(
        steps=args.steps, rounds=args.rounds, batch=BATCH, threads=torch.get_num_threads(),
        seconds_per_step=step, images_per_second=images_per_second,
        speedup_ours_trainer_over_best_lightly=best_lightly / step["ours_trainer"],
        speedup_ours_trainer_over_plain_pytorch=step["plain_pytorch"] / step["ours_trainer"],
        trainer_overhead_over_bare_step=step["ours_trainer"] / step["ours_bare_step"] - 1.0,
        augmentation_share_of_bare_step=statistics.median(aug_share),
    )  # fmt: skip
    atomic_write_text(ROOT / "benchmarks" / "results" / "speed_vs_peers.json", json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
