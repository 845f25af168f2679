"""Read every openclipart PNG as disk_folder through SSLDataset + the loader; report counts.

    python benchmarks/openclipart_full_read.py [--root /usr/share/openclipart/png] [--workers 2]

Prints one JSON object: images, decoded, replaced (invalid), classes, seconds, images_per_s.
Uses the SimCLR two-view transform at 32 px (decoding dominates; the crop size hardly matters).
"""

from __future__ import annotations

import argparse
import json
import time

from ssl_data import ImageFolderSource, SSLDataset, build_loader
from ssl_data.transforms import MultiView, simclr_transform


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="/usr/share/openclipart/png")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--size", type=int, default=32)
    args = parser.parse_args()

    source = ImageFolderSource(args.root)
    dataset = SSLDataset(source, transform=MultiView(simclr_transform(args.size), 2), max_invalid_fraction=0.05)
    loader = build_loader(dataset, batch_size=args.batch_size, num_workers=args.workers, shuffle=False, drop_last=False)
    loader.set_epoch(0)
    start = time.perf_counter()
    served = 0
    for _views, _labels, idx in loader:
        served += len(idx)
    seconds = time.perf_counter() - start
    result = {
        "root": args.root,
        "classes": len(source.classes),
        "images": len(source),
        "served": served,
        "decoded": dataset.num_seen - dataset.num_invalid,
        "replaced": dataset.num_invalid,
        "workers": args.workers,
        "seconds": round(seconds, 1),
        "images_per_s": round(served / seconds, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
