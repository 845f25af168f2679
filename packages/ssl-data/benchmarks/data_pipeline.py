"""Data-pipeline throughput: ours vs plain torchvision ImageFolder + DataLoader, same run.

    python benchmarks/data_pipeline.py [--images 384] [--workers 2] [--batch-size 32] [--repeats 2]

Writes ``--images`` JPEGs (openclipart PNGs composited on white, short side 256, quality 90;
Fashion-MNIST upscaled when openclipart is absent) to a temporary folder of 8 class folders,
then measures images/s of

* SimCLR two views (2 x 224): ours = ``SSLDataset(ImageFolderSource, MultiView(simclr_transform(224)))``
  + ``build_loader`` (per-sample seeded augmentations, invalid-image handling, resumable);
  baseline = ``torchvision.datasets.ImageFolder`` + the classic PIL transforms
  (RandomResizedCrop, flip, ColorJitter p=0.8, grey p=0.2, ToTensor, Normalize) twice +
  ``torch.utils.data.DataLoader``.
* multi-crop 2 x 224 + 6 x 96: ours = ``multicrop_transform()``; baseline = the same PIL views
  (crop scales (0.14, 1) and (0.05, 0.14), colour distortion 1.0, blur p 0.5).

Both sides read the same JPEGs with the same views, workers and batch size. Runs alternate
(ours, baseline, ours, ...) ``--repeats`` times so the shared machine's load hits both alike;
each run excludes its first batch (worker start-up, warm-up) and the median run is reported,
with every run listed. Prints one JSON object (with the machine's CPU count and load).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torchvision
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import datasets
from torchvision import transforms as T

from ssl_data import ImageFolderSource, SSLDataset, build_loader, load_fashion_mnist
from ssl_data.sources import load_rgb
from ssl_data.transforms import MultiView, multicrop_transform, simclr_transform

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def write_jpegs(out: Path, count: int) -> str:
    clip = Path("/usr/share/openclipart/png")
    paths = sorted(p for p in clip.rglob("*.png") if p.stat().st_size < 2_000_000) if clip.is_dir() else []
    for c in range(8):
        (out / f"class{c}").mkdir(parents=True, exist_ok=True)
    if paths:
        step = max(1, len(paths) // count)
        for i, p in enumerate(paths[::step][:count]):
            img = load_rgb(p)
            scale = 256 / min(img.size)
            img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BILINEAR)
            img.save(out / f"class{i % 8}" / f"{i:05d}.jpg", quality=90)
        return "openclipart"
    images, _ = load_fashion_mnist("train")
    for i in range(count):
        Image.fromarray(images[i].numpy()).convert("RGB").resize((256, 256)).save(out / f"class{i % 8}" / f"{i:05d}.jpg", quality=90)
    return "fashion_mnist"


def pil_view(size: int, scale: tuple[float, float], strength: float, p_blur: float) -> T.Compose:
    s = strength
    ops = [
        T.RandomResizedCrop(size, scale=scale),
        T.RandomHorizontalFlip(),
        T.RandomApply([T.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s)], p=0.8),
        T.RandomGrayscale(0.2),
    ]
    if p_blur > 0:
        ops.append(T.RandomApply([T.GaussianBlur(max(3, int(0.1 * size) // 2 * 2 + 1), (0.1, 2.0))], p=p_blur))
    return T.Compose(ops + [T.ToTensor(), T.Normalize(MEAN, STD)])


class Views:
    def __init__(self, views: list[T.Compose]) -> None:
        self.views = views

    def __call__(self, img):
        return [v(img) for v in self.views]


def throughput(loader, epoch_setter=None) -> float:
    """Images/s after the first batch (worker start-up and warm-up excluded)."""
    if epoch_setter is not None:
        epoch_setter(0)
    count, start = 0, None
    for batch in loader:
        if start is None:
            start = time.perf_counter()
            continue
        count += len(batch[1])
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=384)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "jpegs"
        origin = write_jpegs(root, args.images)
        cases = {
            "simclr_2x224": (
                MultiView(simclr_transform(224), 2),
                Views([pil_view(224, (0.08, 1.0), 0.5, 0.0)] * 2),
            ),
            "multicrop_2x224_6x96": (
                multicrop_transform(),
                Views([pil_view(224, (0.14, 1.0), 1.0, 0.5)] * 2 + [pil_view(96, (0.05, 0.14), 1.0, 0.5)] * 6),
            ),
        }
        results: dict[str, dict[str, float]] = {}
        for name, (ours_t, base_t) in cases.items():
            ours_runs, base_runs = [], []
            for _ in range(args.repeats):
                ours = build_loader(
                    SSLDataset(ImageFolderSource(root), transform=ours_t), batch_size=args.batch_size,
                    num_workers=args.workers, drop_last=False,
                )  # fmt: skip
                ours_runs.append(throughput(ours, ours.set_epoch))
                base = DataLoader(
                    datasets.ImageFolder(str(root), transform=base_t), batch_size=args.batch_size,
                    shuffle=True, num_workers=args.workers,
                )  # fmt: skip
                base_runs.append(throughput(base))
            ours_med, base_med = statistics.median(ours_runs), statistics.median(base_runs)
            results[name] = {
                "ours_images_per_s": round(ours_med, 1),
                "torchvision_images_per_s": round(base_med, 1),
                "ratio": round(ours_med / base_med, 3),
                "ours_runs": [round(v, 1) for v in ours_runs],
                "torchvision_runs": [round(v, 1) for v in base_runs],
            }
    machine = {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 1),
               "torch": torch.__version__, "torchvision": torchvision.__version__}
    print(json.dumps({"images": args.images, "source": origin, "workers": args.workers,
                      "batch_size": args.batch_size, "repeats": args.repeats, "machine": machine,
                      "results": results}))  # fmt: skip


if __name__ == "__main__":
    main()
