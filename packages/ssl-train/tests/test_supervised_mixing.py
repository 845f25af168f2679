"""Supervised recipe: MixUp / CutMix inside the step, checked against a per-sample loop written
from the formulas (timm's elem mode), per-sample randomness, and the Beta draws' moments."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ssl_data
from ssl_train import ConfigError, get_recipe, load_config, pretrain
from ssl_train.recipes.supervised import MixSettings, mix_batch

from .conftest import TINY


def reference_mix(images: np.ndarray, labels: np.ndarray, u: np.ndarray, num_classes: int, mix: MixSettings):
    """Sample by sample, pixel by pixel: partner B-1-i, lambda ~ Beta from NumPy seeded by u[:, 2]."""
    b, c, h, w = images.shape
    out = images.copy()
    targets = np.zeros((b, num_classes))
    for i in range(b):
        j = b - 1 - i
        lam = 1.0
        if u[i, 0] < mix.mix_prob:
            cutmix = mix.cutmix_alpha > 0 and (mix.mixup_alpha <= 0 or u[i, 1] < mix.switch_prob)
            alpha = mix.cutmix_alpha if cutmix else mix.mixup_alpha
            draw = np.random.default_rng(int(u[i, 2] * 2**53)).beta(alpha, alpha)
            if cutmix:
                ch, cw = int(h * np.sqrt(1 - draw)), int(w * np.sqrt(1 - draw))
                cy, cx = int(u[i, 3] * h), int(u[i, 4] * w)
                inside = 0
                for y in range(h):
                    for x in range(w):
                        if max(cy - ch // 2, 0) <= y < min(cy + ch // 2, h) and max(cx - cw // 2, 0) <= x < min(cx + cw // 2, w):
                            out[i, :, y, x] = images[j, :, y, x]
                            inside += 1
                lam = 1 - inside / (h * w) if mix.correct_lam else draw
            else:
                lam = draw
                out[i] = lam * images[i] + (1 - lam) * images[j]
        targets[i, labels[i]] += lam
        targets[i, labels[j]] += 1 - lam
    return out, targets


@pytest.mark.parametrize("mix", [
    MixSettings(mixup_alpha=0.4), MixSettings(cutmix_alpha=1.0), MixSettings(0.8, 1.0, mix_prob=0.7, switch_prob=0.5),
    MixSettings(cutmix_alpha=1.0, correct_lam=False),
])  # fmt: skip
def test_mix_batch_matches_a_per_sample_loop(mix: MixSettings) -> None:
    g = torch.Generator().manual_seed(0)
    images = torch.rand(12, 3, 9, 11, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 5, (12,), generator=g)
    u = ssl_data.per_sample_uniforms(3, 1, torch.arange(100, 112), 1, 5)
    got_x, got_y = mix_batch(images, labels, u, 5, mix)
    want_x, want_y = reference_mix(images.numpy(), labels.numpy(), u.numpy(), 5, mix)
    np.testing.assert_allclose(got_x.numpy(), want_x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got_y.numpy(), want_y, rtol=1e-6, atol=1e-6)
    assert not np.allclose(want_x, images.numpy())  # something was mixed


def test_draws_belong_to_the_sample_not_the_batch() -> None:
    """A sample's lambda is the same whatever batch it lands in (here: the batch reversed)."""
    mix = MixSettings(mixup_alpha=1.0)
    images = torch.zeros(6, 1, 4, 4)
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    idx = torch.tensor([5, 9, 2, 7, 4, 8])
    _, y = mix_batch(images, labels, ssl_data.per_sample_uniforms(0, 2, idx, 1, 5), 2, mix)
    _, y_rev = mix_batch(images, labels.flip(0), ssl_data.per_sample_uniforms(0, 2, idx.flip(0), 1, 5), 2, mix)
    own = y[torch.arange(6), labels]
    own_rev = y_rev[torch.arange(6), labels.flip(0)].flip(0)
    torch.testing.assert_close(own, own_rev)  # each sample keeps its own label's weight (its lambda)


def test_beta_draws_have_the_beta_moments() -> None:
    alpha = 0.4
    u = ssl_data.per_sample_uniforms(0, 0, torch.arange(4000), 1, 5)
    images, labels = torch.zeros(4000, 1, 2, 2), torch.zeros(4000, dtype=torch.long)
    labels[2000:] = 1  # partner of sample i < 2000 has label 1: the weight on label 0 is lambda
    _, y = mix_batch(images, labels, u, 2, MixSettings(mixup_alpha=alpha))
    lam = y[:2000, 0].double().numpy()
    assert abs(lam.mean() - 0.5) < 0.03
    assert abs(lam.var() - 1 / (4 * (2 * alpha + 1))) < 0.015  # Var Beta(a, a) = 1 / (4 (2a + 1))


def test_labels_outside_num_classes_are_one_line_errors(tmp_path) -> None:
    cfg = load_config(get_recipe("supervised").config_class(), TINY["supervised"] + ["model.num_classes=3", "train.epochs=1"])
    with pytest.raises(ConfigError, match="labels must lie in 0..2"):
        pretrain("supervised", cfg, tmp_path, progress=False)
    bad = load_config(get_recipe("supervised").config_class(), ["loss.mix_prob=1.5"])
    with pytest.raises(ConfigError, match=r"loss.mix_prob must be in \[0, 1\]"):
        get_recipe("supervised").build(bad)
