"""VISSL's transforms, checked against NumPy / PIL / scikit-image references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

import ssl_data.transforms as T


def _pil(h: int = 40, w: int = 40, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def test_replicate_and_multicrop() -> None:
    img = _pil()
    assert T.ImgReplicatePil(3)(img) == [img] * 3
    crops = T.ImgPilToMultiCrop(5, [2, 3], [24, 8], [[0.5, 1.0], [0.1, 0.5]])(img)
    assert [c.size for c in crops] == [(24, 24)] * 2 + [(8, 8)] * 3
    with pytest.raises(ValueError, match="total_num_crops"):
        T.ImgPilToMultiCrop(4, [2, 3], [24, 8], [[0.5, 1.0], [0.1, 0.5]])
    with pytest.raises(ValueError, match="one entry per resolution"):
        T.ImgPilToMultiCrop(2, [2], [24, 8], [[0.5, 1.0]])


def test_multicrop_random_apply_per_crop_probability() -> None:
    t = T.ImgPilMultiCropRandomApply([lambda x: x + 1], prob=[0.0, 1.0])
    a, b = t([torch.zeros(1), torch.zeros(1)])
    assert a.item() == 0 and b.item() == 1
    with pytest.raises(ValueError, match="prob has 2"):
        t([torch.zeros(1)] * 3)
    built = T.ImgPilMultiCropRandomApply([{"name": "RandomSolarize", "threshold": 0, "p": 1.0}], prob=[1.0])
    img = _pil()
    np.testing.assert_array_equal(np.asarray(built([img])[0]), 255 - np.asarray(img))


def test_random_solarize_matches_a_threshold() -> None:
    torch.manual_seed(0)
    img = _pil()
    arr = np.asarray(img).astype(int)
    for _ in range(10):
        out = np.asarray(T.ImgPilRandomSolarize(p=1.0)(img)).astype(int)
        refs = [np.where(arr >= t, 255 - arr, arr) for t in range(257)]
        assert any(np.array_equal(out, r) for r in refs)
    assert T.ImgPilRandomSolarize(p=0.0)(img) is img


def test_photometric_and_jitter() -> None:
    img = _pil()
    assert T.ImgPilRandomPhotometric(p=0.0)(img) is img
    torch.manual_seed(1)
    out = T.ImgPilRandomPhotometric(p=1.0)(img)
    assert out.size == img.size and out.mode == "RGB" and not np.array_equal(np.asarray(out), np.asarray(img))
    torch.manual_seed(0)
    greys = sum(
        np.ptp(np.asarray(T.ImgPilColorDistortion(0.0)(img)).astype(int), axis=2).max() == 0 for _ in range(300)
    )
    assert 30 < greys < 90  # RandomGrayscale(0.2)
    with pytest.raises(ValueError, match="p must be"):
        T.ImgPilRandomColorJitter(1.0, p=2.0)


def test_gaussian_blur_is_a_pil_gaussian_blur() -> None:
    img = _pil()
    assert T.ImgPilGaussianBlur(p=0.0)(img) is img
    torch.manual_seed(0)
    out = np.asarray(T.ImgPilGaussianBlur(p=1.0, radius_min=1.0, radius_max=1.0)(img))
    np.testing.assert_array_equal(out, np.asarray(img.filter(ImageFilter.GaussianBlur(1.0))))
    t = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float() / 255
    blurred = T.ImgPilGaussianBlur(p=1.0, radius_min=1.5, radius_max=1.5)(t)
    assert blurred.shape == t.shape and blurred.std() < t.std() * 0.7


def test_tensor_conversions_and_lab() -> None:
    skcolor = pytest.importorskip("skimage.color")
    img = _pil(12, 10)
    arr = np.asarray(img)
    np.testing.assert_allclose(T.ImgToTensor()(img).numpy(), arr.transpose(2, 0, 1) / 255.0, atol=1e-7)
    np.testing.assert_array_equal(T.ImgPilToRawTensor()(img).numpy(), arr.transpose(2, 0, 1).astype(np.float32))
    lab = T.ImgPil2LabTensor()(img).numpy()
    ref = skcolor.rgb2lab(arr / 255.0).transpose(2, 0, 1)
    ref[0] -= 50.0
    np.testing.assert_allclose(lab, ref, atol=0.05)
    assert T.ImgToTensor()(img.convert("L")).shape == (3, 12, 10)


def test_rotation_labels_match_numpy_rot90() -> None:
    torch.manual_seed(0)
    img = _pil(16, 16)
    seen = set()
    for _ in range(20):
        out, label = T.ImgRotatePil(num_angles=4)(img)
        np.testing.assert_array_equal(np.asarray(out), np.rot90(np.asarray(img), k=label))
        seen.add(label)
    assert seen == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="num_rotations_per_img"):
        T.ImgRotatePil(4, num_rotations_per_img=2)


def test_patches_lie_inside_their_grid_cells() -> None:
    torch.manual_seed(0)
    h = w = 30
    coords = torch.arange(h * w).view(1, h, w)  # value encodes (y, x)
    patches = T.ImgPatchesFromTensor(num_patches=9, patch_jitter=4)(coords)
    assert len(patches) == 9
    for k, p in enumerate(patches):
        assert p.shape == (1, 6, 6)
        y0, x0 = divmod(int(p[0, 0, 0]), w)
        row, col = divmod(k, 3)
        assert row * 10 <= y0 and y0 + 6 <= (row + 1) * 10 and col * 10 <= x0 and x0 + 6 <= (col + 1) * 10
        expected = coords[0, y0 : y0 + 6, x0 : x0 + 6]
        assert torch.equal(p[0], expected)
    with pytest.raises(ValueError, match="perfect square"):
        T.ImgPatchesFromTensor(num_patches=8)
    with pytest.raises(ValueError, match="too small"):
        T.ImgPatchesFromTensor(9, 21)(torch.zeros(3, 30, 30))


def test_shuffle_patches_and_permutation_file(tmp_path) -> None:
    perms = np.array([[3, 1, 2, 4], [4, 3, 2, 1]])  # 1-based, as some published files
    path = tmp_path / "perms.npy"
    np.save(path, perms)
    t = T.ShuffleImgPatches(perm_file=path)
    patches = [torch.full((1, 2, 2), float(i)) for i in range(4)]
    torch.manual_seed(0)
    labels = set()
    for _ in range(10):
        out, label = t(patches)
        assert out.shape == (4, 1, 2, 2)
        assert out[:, 0, 0, 0].tolist() == (perms[label] - 1).tolist()
        labels.add(label)
    assert labels == {0, 1}
    bad = tmp_path / "bad.npy"
    np.save(bad, np.array([[0, 0, 1]]))
    with pytest.raises(ValueError, match="permutation of 0..2"):
        T.ShuffleImgPatches(perm_file=bad)
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        T.ShuffleImgPatches(perm_file=tmp_path / "missing.npy")


def test_patches_and_image() -> None:
    out = T.ImgPilToPatchesAndImage(crop_size_image=20, crop_size_patches=30, patch_jitter=3)(_pil())
    assert len(out) == 10 and out[0].size == (20, 20) and all(p.size == (7, 7) for p in out[1:])


def test_multigrain_resize() -> None:
    img = Image.new("RGB", (60, 30))
    assert T.MultigrainResize(20)(img).size == (40, 20)
    assert T.MultigrainResize(20, largest=True)(img).size == (20, 10)


def test_randaugment() -> None:
    pytest.importorskip("timm")
    img = _pil(32, 32)
    out = T.RandAugment(magnitude=9, num_layers=2, img_size=32)(img)
    assert out.size == img.size


def test_build_transform_by_name() -> None:
    t = T.build_transform("RandomResizedCrop", size=8, interpolation="bicubic")
    assert t(_pil()).size == (8, 8)
    assert isinstance(T.build_transform("RandomErasing", p=1.0)(torch.rand(3, 8, 8)), torch.Tensor)
    with pytest.raises(ValueError, match="did you mean RandomResizedCrop"):
        T.build_transform("RandomResizeCrop", size=8)
    with pytest.raises(ValueError, match="bad arguments for transform 'ImgReplicatePil'"):
        T.build_transform("ImgReplicatePil", times=2)


def test_vissl_pipeline_semantics() -> None:
    specs = [
        {"name": "ImgReplicatePil", "num_times": 2},
        {"name": "RandomResizedCrop", "size": 8},
        {"name": "RandomSolarize", "threshold": 0, "p": 1.0, "indices": [1]},
        {"name": "ToTensor"},
    ]
    torch.manual_seed(0)
    img = Image.new("RGB", (16, 16), (10, 10, 10))
    out = T.VisslTransforms(specs)(img, label=7)
    assert len(out.data) == 2 and out.label == 7
    assert torch.allclose(out.data[0], torch.full((3, 8, 8), 10 / 255))
    assert torch.allclose(out.data[1], torch.full((3, 8, 8), 245 / 255))
    rot = T.VisslTransforms([{"name": "ImgRotatePil"}])(img, label=3)
    assert rot.label in (0, 1, 2, 3)
    with pytest.raises(ValueError, match="without a 'name'"):
        T.VisslTransforms([{"size": 3}])


def test_vissl_pipeline_reproducible_from_torch_seed() -> None:
    """Every transform draws from torch's global RNG (timm's RandAugment from random/numpy), so
    seeding them (what SSLDataset does per sample) reproduces the augmentation."""
    specs = [
        {"name": "ImgPilToMultiCrop", "total_num_crops": 3, "num_crops": [1, 2], "size_crops": [16, 8], "crop_scales": [[0.3, 1], [0.1, 0.3]]},
        {"name": "ImgPilColorDistortion", "strength": 1.0},
        {"name": "ImgPilGaussianBlur", "p": 0.5},
        {"name": "ImgPilRandomSolarize", "p": 0.5},
        {"name": "ImgPilRandomPhotometric", "p": 0.5},
        {"name": "ToTensor"},
    ]
    pipe = T.VisslTransforms(specs)
    img = _pil()

    def run(seed: int) -> list[torch.Tensor]:
        torch.manual_seed(seed)
        return pipe(img).data

    a, b, c = run(5), run(5), run(6)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))


def test_pipelines_pickle_for_spawned_workers() -> None:
    import pickle

    pipe = T.VisslTransforms([
        {"name": "ImgReplicatePil", "num_times": 2},
        {"name": "ImgPilMultiCropRandomApply", "transforms": [], "prob": [0.5, 0.5]},
        {"name": "ImgPilRandomPhotometric", "p": 0.5},
        {"name": "ToTensor"},
    ])  # fmt: skip
    for obj in (pipe, T.dino_transform(16, 8, 2), T.BatchedSimCLRAugment(8)):
        clone = pickle.loads(pickle.dumps(obj))
        assert type(clone) is type(obj)
    torch.manual_seed(0)
    a = pipe(_pil()).data
    torch.manual_seed(0)
    b = pickle.loads(pickle.dumps(pipe))(_pil()).data
    assert all(torch.equal(x, y) for x, y in zip(a, b))
