"""The presets crop and colour PIL images before tensor conversion; outputs match NumPy formulas."""

import numpy as np
import torch
from PIL import Image

from ssl_data.transforms.presets import simclr_view


def _pil(h: int = 20, w: int = 24, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def test_pil_identity_view_matches_numpy_normalisation() -> None:
    img = _pil()
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    out = simclr_view(24, crop_scale=(1.0, 1.0), p_jitter=0.0, p_gray=0.0, p_flip=0.0, mean=mean, std=std)
    sq = img.crop((0, 0, 20, 20))  # square: the full-area crop is the whole image, no resize
    t = simclr_view(20, crop_scale=(1.0, 1.0), p_jitter=0.0, p_gray=0.0, p_flip=0.0, mean=mean, std=std)
    y = t(sq)
    ref = (np.asarray(sq, dtype=np.float64) / 255.0 - np.array(mean)) / np.array(std)
    np.testing.assert_allclose(y.permute(1, 2, 0).numpy(), ref, atol=1e-5)
    assert out(img).shape == (3, 24, 24)


def test_pil_and_tensor_inputs_give_same_geometry_and_grey() -> None:
    img = _pil(32, 32, 1)
    t = simclr_view(16, p_jitter=0.0, p_gray=1.0, mean=(0, 0, 0), std=(1, 1, 1))
    torch.manual_seed(3)
    a = t(img)
    torch.manual_seed(3)
    b = t(torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1))
    assert torch.equal(a[0], a[1]) and torch.equal(a[1], a[2])  # grey: 3 equal channels
    # PIL and tensor resize kernels differ slightly; same crop box and flip keep them close
    assert (a - b).abs().mean() < 0.02


def test_grey_pil_input_becomes_rgb() -> None:
    grey = Image.fromarray(np.full((10, 10), 77, dtype=np.uint8))
    y = simclr_view(8, p_jitter=0.0, p_gray=0.0, mean=(0, 0, 0), std=(1, 1, 1))(grey)
    np.testing.assert_allclose(y.numpy(), 77 / 255.0, atol=1e-6)
