"""``-d``: fetch a dataset's official archives into the input folder (needs a network)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DOWNLOADS", "download_dataset"]

#: preparer name -> official archive / file URLs (extracted into ``-i``).
DOWNLOADS: dict[str, tuple[str, ...]] = {
    "dtd": ("https://www.robots.ox.ac.uk/~vgg/data/dtd/download/dtd-r1.0.1.tar.gz",),
    "caltech101": ("http://www.vision.caltech.edu/Image_Datasets/Caltech101/101_ObjectCategories.tar.gz",),
    "food101": ("http://data.vision.ee.ethz.ch/cvl/food-101.tar.gz",),
    "oxford_pets": (
        "https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz",
        "https://www.robots.ox.ac.uk/~vgg/data/pets/data/annotations.tar.gz",
    ),
    "euro_sat": ("https://madm.dfki.de/files/sentinel/EuroSAT.zip",),
    "fgvc_aircraft": ("https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/archives/fgvc-aircraft-2013b.tar.gz",),
    "oxford_flowers": (
        "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/102flowers.tgz",
        "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/imagelabels.mat",
        "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/setid.mat",
    ),
    "clevr_count": ("https://dl.fbaipublicfiles.com/clevr/CLEVR_v1.0.zip",),
    "clevr_dist": ("https://dl.fbaipublicfiles.com/clevr/CLEVR_v1.0.zip",),
    "dsprites_location": ("https://github.com/deepmind/dsprites-dataset/raw/master/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz",),
    "dsprites_orientation": ("https://github.com/deepmind/dsprites-dataset/raw/master/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz",),
}


def download_dataset(name: str, input_path: Path) -> None:
    """Download and extract ``name``'s official files into ``input_path`` with torchvision's
    downloader. RuntimeError with one clear line when there is no network (or the URL is gone);
    ValueError when ``name`` has no automatic download."""
    from torchvision.datasets.utils import download_and_extract_archive, download_url

    if name not in DOWNLOADS:
        raise ValueError(f"no automatic download for {name!r}; put the official files in {input_path} (without -d)")
    root = Path(input_path)
    root.mkdir(parents=True, exist_ok=True)
    for url in DOWNLOADS[name]:
        try:
            if url.endswith((".tar.gz", ".tgz", ".zip", ".tar")):
                download_and_extract_archive(url, download_root=str(root))
            else:
                download_url(url, str(root))
        except Exception as e:  # URLError, OSError, RuntimeError from the downloader
            raise RuntimeError(f"download of {name} failed ({type(e).__name__}: {e}); fetch {url} by hand into {root}") from None
