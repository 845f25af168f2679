"""ClusterFit without a checkpoint: stage 1 clusters standardised, PCA-reduced pixels."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

import ssl_train
from ssl_train import load_config, pretrain
from ssl_train.config import ConfigError
from ssl_train.recipes.base import Batch, StepContext
from ssl_train.recipes.clusterfit import IMAGES_PER_CLUSTER
from ssl_train.recipes.pixel_features import Pixels, standardised_pca

from .conftest import TINY


def test_standardised_pca_equals_numpy_svd() -> None:
    """Reference: column standardisation (ddof=1) and the right singular vectors of NumPy's SVD;
    principal axes are defined up to sign, so each column is compared up to its sign."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 40)) @ rng.normal(size=(40, 40)) + rng.normal(size=40) * 5
    x[:, 7] = 3.0  # a constant column becomes 0, not NaN
    z = (x - x.mean(0)) / np.where(x.std(0, ddof=1) > 0, x.std(0, ddof=1), 1.0)
    z[:, 7] = 0.0
    _, _, vt = np.linalg.svd(z, full_matrices=False)
    expected = z @ vt[:6].T
    got = standardised_pca(torch.from_numpy(x), 6).numpy()
    assert got.shape == (300, 6)
    signs = np.sign((got * expected).sum(0))
    np.testing.assert_allclose(got * signs, expected, rtol=1e-8, atol=1e-8)
    full = standardised_pca(torch.from_numpy(x), 100).numpy()  # more dimensions than columns: standardised only
    np.testing.assert_allclose(full, z, rtol=1e-10, atol=1e-10)
    chunked = standardised_pca(torch.from_numpy(x), 6, chunk_rows=7).numpy()  # 43 chunks, the last one of 6 rows
    np.testing.assert_allclose(chunked * np.sign((chunked * expected).sum(0)), expected, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(standardised_pca(torch.from_numpy(x), 100, chunk_rows=7).numpy(), z, rtol=1e-10, atol=1e-10)


def test_pixels_average_pool_long_images_to_the_limit() -> None:
    x = torch.rand(2, 3, 64, 96, dtype=torch.float64)
    expected = x.numpy().reshape(2, 3, 32, 2, 48, 2).mean(axis=(3, 5)).reshape(2, -1)  # 2x2 blocks by hand
    np.testing.assert_allclose(Pixels(max_side=48)(x).numpy(), expected, rtol=1e-12)
    small = torch.rand(4, 3, 28, 28)
    assert torch.equal(Pixels()(small), small.flatten(1))


@pytest.mark.parametrize("features", ["pixels", "hog+pixels", "hog+pixels clusterfit.interpolate_orientation=false"])
def test_pixel_clusters_follow_the_classes_of_digits(tmp_path, features: str) -> None:
    """The pseudo-labels are k-means of real pixels (or gradient histograms and pixels): most
    images of a cluster share their true class (k-means of digits is far from chance, ~10 %), and
    they are the same on a rerun."""
    name = "clusterfit"
    base = [o for o in TINY[name] if not o.startswith("clusterfit.")]
    cfg = load_config(ssl_train.get_recipe(name).config_class(),
                      base + ["train.epochs=1", "data.limit=320", "clusterfit.num_clusters=20", *f"clusterfit.features={features}".split()])
    pretrain(name, cfg, tmp_path / "a", progress=False)
    pseudo = _pseudo_labels(tmp_path / "a")
    assert pseudo.shape == (1, 320)
    pseudo = pseudo[0]
    assert int(pseudo.min()) >= 0 and len(set(pseudo.tolist())) > 10
    truth = _limited_digit_labels(cfg)
    purity = sum(np.bincount(truth[pseudo == c]).max() for c in set(pseudo.tolist())) / len(truth)
    assert purity > 0.6, f"cluster purity {purity:.2f}"
    pretrain(name, cfg, tmp_path / "b", progress=False)
    assert torch.equal(_pseudo_labels(tmp_path / "b")[0], pseudo)


def _pseudo_labels(run_dir) -> torch.Tensor:
    payload = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    return payload["train_state"]["method"]["pseudo_labels"]


def _limited_digit_labels(cfg) -> np.ndarray:
    from ssl_train.training_data import build_training_data
    from ssl_train.recipes.clusterfit import ClusterFit

    plan = ClusterFit(cfg).views()
    data = build_training_data("digits", plan, image_size=16, batch_size=32, seed=cfg.train.seed, limit=cfg.data.limit, num_workers=0)
    return np.concatenate([y.numpy() for _, y in data.ordered(0, 1, 64)[0].batches()])


def test_automatic_cluster_count_and_bad_values() -> None:
    recipe = ssl_train.get_recipe("clusterfit")
    base = [o for o in TINY["clusterfit"] if not o.startswith("clusterfit.")]
    method = recipe.build(load_config(recipe.config_class(), base + ["data.limit=320"]))
    assert method.num_clusters == 320 // IMAGES_PER_CLUSTER
    with pytest.raises(ConfigError, match="pixels_pca_dim"):
        recipe.build(load_config(recipe.config_class(), base + ["clusterfit.pixels_pca_dim=0"]))
    with pytest.raises(ConfigError, match=r"clusterfit.features must be one of pixels, hog, hog\+pixels, got 'sift'"):
        recipe.build(load_config(recipe.config_class(), base + ["clusterfit.features=sift"]))
    with pytest.raises(ConfigError, match="label_smoothing"):
        recipe.build(load_config(recipe.config_class(), base + ["loss.label_smoothing=1.0"]))
    with pytest.raises(ConfigError, match="num_clusters"):
        recipe.build(load_config(recipe.config_class(), base + ["clusterfit.num_clusters=-1"]))


def test_several_clusterings_are_different_partitions_each_learned_by_its_own_head(tmp_path) -> None:
    """num_clusterings=2: two k-means runs (different seeds) of the same pixels give two
    different partitions, both far from chance, and the model gets one classifier per partition."""
    name = "clusterfit"
    base = [o for o in TINY[name] if not o.startswith("clusterfit.")]
    overrides = ["train.epochs=1", "data.limit=320", "clusterfit.num_clusters=20", "clusterfit.num_clusterings=2"]
    cfg = load_config(ssl_train.get_recipe(name).config_class(), base + overrides)
    pretrain(name, cfg, tmp_path / "a", progress=False)
    pseudo = _pseudo_labels(tmp_path / "a")
    assert pseudo.shape == (2, 320) and int(pseudo.min()) >= 0
    assert not torch.equal(pseudo[0], pseudo[1])
    truth = _limited_digit_labels(cfg)
    for labels in pseudo:
        purity = sum(np.bincount(truth[labels == c]).max() for c in set(labels.tolist())) / len(truth)
        assert purity > 0.6, f"cluster purity {purity:.2f}"
    payload = torch.load(tmp_path / "a" / "checkpoints" / "last.pt", weights_only=True)
    heads = [k for k in payload["train_state"]["method"] if k.startswith("model.heads.") and k.endswith("weight")]
    assert len({k.split(".")[2] for k in heads}) == 2, heads
    with pytest.raises(ConfigError, match="num_clusterings"):
        ssl_train.get_recipe(name).build(load_config(ssl_train.get_recipe(name).config_class(), base + ["clusterfit.num_clusterings=0"]))


def test_reclustering_replaces_the_pixel_labels_with_clusters_of_the_trunk(tmp_path, capfd) -> None:
    """recluster_every=1: at the start of epoch 2 the pseudo-labels become k-means of the online
    trunk's features (said on stderr): another partition than the pixels' one of a run without
    it, above chance on digits' classes after one epoch of a tiny trunk."""
    name = "clusterfit"
    base = [o for o in TINY[name] if not o.startswith("clusterfit.")] + ["train.epochs=2", "data.limit=320", "clusterfit.num_clusters=20"]
    config_class = ssl_train.get_recipe(name).config_class
    pretrain(name, load_config(config_class(), base), tmp_path / "plain", progress=False)
    capfd.readouterr()
    cfg = load_config(config_class(), base + ["clusterfit.recluster_every=1"])
    pretrain(name, cfg, tmp_path / "re", progress=False)
    err = capfd.readouterr().err
    assert "clusterfit stage 1: k-means of standardised hog+pixels" in err
    assert "clusterfit epoch 2: k-means of the online trunk" in err
    plain, again = _pseudo_labels(tmp_path / "plain")[0], _pseudo_labels(tmp_path / "re")[0]
    assert not torch.equal(plain, again) and int(again.min()) >= 0
    truth = _limited_digit_labels(cfg)
    purity = sum(np.bincount(truth[again == c]).max() for c in set(again.tolist())) / len(truth)
    assert purity > 0.35, f"cluster purity {purity:.2f}"  # a random partition into 20 clusters: about 0.25
    with pytest.raises(ConfigError, match="recluster_every"):
        ssl_train.get_recipe(name).build(load_config(config_class(), base + ["clusterfit.recluster_every=-1"]))


def test_cosine_classifier_loss_equals_torch_cross_entropy_of_scaled_cosines() -> None:
    """loss.cosine_temperature=t: the step's loss is torch's cross entropy (with the recipe's
    label smoothing) of cos(trunk features, class weights) / t, computed here by hand."""
    recipe = ssl_train.get_recipe("clusterfit")
    base = [o for o in TINY["clusterfit"] if not o.startswith("clusterfit.")]
    cfg = load_config(recipe.config_class(), base + ["data.limit=320", "clusterfit.num_clusters=7", "loss.cosine_temperature=0.2"])
    method = recipe.build(cfg).double()
    torch.manual_seed(0)
    images = torch.rand(6, 3, 16, 16, dtype=torch.float64)
    indices = torch.tensor([0, 3, 5, 8, 13, 21])
    method.pseudo_labels[0] = torch.arange(320) % 7
    ctx = StepContext(method.model, 0, 0, 10, 10, {}, contextlib.nullcontext, torch.device("cpu"))
    method.train()
    loss = method.step(Batch([images], torch.zeros(6, dtype=torch.int64), indices), ctx)["loss"]
    feats = method.model.trunk_features(images, [method.model.trunk.pooled_feature])[method.model.trunk.pooled_feature].flatten(1)
    prototypes = method.model.heads[0][0].prototypes0.weight
    logits = torch.nn.functional.normalize(feats, dim=1) @ torch.nn.functional.normalize(prototypes, dim=1).T / 0.2
    expected = torch.nn.functional.cross_entropy(logits, indices % 7, label_smoothing=cfg.loss.label_smoothing)
    torch.testing.assert_close(loss, expected, rtol=1e-10, atol=1e-10)
    with pytest.raises(ConfigError, match="cosine_temperature"):
        recipe.build(load_config(recipe.config_class(), base + ["data.limit=320", "loss.cosine_temperature=-1"]))
