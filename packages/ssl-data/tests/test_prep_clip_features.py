"""MM-OVOD's CLIP tools with a tiny randomly initialised open_clip model (no download), checked
against open_clip's own encode_text and NumPy; the feature fusion against a NumPy formula."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ssl_data.prep import prepare
from ssl_data.prep.clip_features import encode_texts


def test_feature_sum_norm(tmp_path) -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    np.save(tmp_path / "text.npy", a)
    np.save(tmp_path / "image.npy", b)
    summary = prepare("feature_sum_norm", tmp_path / "text.npy", tmp_path / "out", other_path=tmp_path / "image.npy")
    got = np.load(summary["output"])
    for i in range(4):  # per row, from the definition
        s = a[i] / np.sqrt((a[i] ** 2).sum()) + b[i] / np.sqrt((b[i] ** 2).sum())
        np.testing.assert_allclose(got[i], s / np.sqrt((s**2).sum()), rtol=1e-6)
    np.save(tmp_path / "short.npy", b[:2])
    with pytest.raises(ValueError, match="one shape"):
        prepare("feature_sum_norm", tmp_path / "text.npy", tmp_path / "bad", other_path=tmp_path / "short.npy")
    assert not (tmp_path / "bad").exists()


def test_encode_texts_with_a_tiny_random_clip() -> None:
    open_clip = pytest.importorskip("open_clip")
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = open_clip.CLIP(embed_dim=16, vision_cfg={"layers": 1, "width": 32, "patch_size": 8, "image_size": 16, "head_width": 16},
                           text_cfg={"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}).eval()
    tokenizer = open_clip.get_tokenizer("ViT-B-32")  # the BPE vocabulary ships with open_clip
    texts = ["a cat", "a dog", "a traffic light"]
    got = encode_texts(model, tokenizer, texts, batch_size=2)
    with torch.no_grad():
        ref = torch.stack([model.encode_text(open_clip.tokenize([t]))[0] for t in texts]).numpy()
    np.testing.assert_allclose(got, ref / np.linalg.norm(ref, axis=1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_sentence_features_refuse_missing_descriptions(tmp_path) -> None:
    lvis = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}
    (tmp_path / "lvis.json").write_text(json.dumps(lvis))
    (tmp_path / "desc.json").write_text(json.dumps({"cat": ["a small feline"]}))
    with pytest.raises(ValueError, match="no sentences for 1 categories"):
        prepare("lvis_sentence_features", tmp_path / "lvis.json", tmp_path / "out", descriptions_path=tmp_path / "desc.json")
    assert not (tmp_path / "out").exists()
