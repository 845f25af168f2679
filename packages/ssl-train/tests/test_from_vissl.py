"""VISSL pretraining configs (written from VISSL's docs, in tests/vissl_configs/) convert into our
recipes: the overrides are valid keys of the recipe's config, the config builds and runs a step,
and every key without a counterpart is named."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import ssl_train
from ssl_train import ConfigError, load_config, pretrain
from ssl_train.from_vissl import from_vissl

from .conftest import TINY

CONFIGS = Path(__file__).parent / "vissl_configs"
#: VISSL file -> our recipe (every method of issue 13 that VISSL documents).
EXPECTED = {
    "simclr": "simclr", "moco": "moco", "swav": "swav", "dino": "dino", "barlow_twins": "barlow_twins",
    "npid": "npid", "pirl": "pirl", "deepclusterv2": "deepclusterv2", "rotnet": "rotnet", "jigsaw": "jigsaw",
}  # fmt: skip


def test_every_vissl_fixture_names_its_recipe() -> None:
    assert sorted(p.stem for p in CONFIGS.glob("*.yaml")) == sorted(EXPECTED)
    for stem, recipe in EXPECTED.items():
        name, overrides, unmapped = from_vissl(CONFIGS / f"{stem}.yaml")
        assert name == recipe
        assert "DISTRIBUTED.NUM_NODES" in unmapped and "MODEL.HEAD.PARAMS" in unmapped
        assert all("=" in o for o in overrides)


@pytest.mark.parametrize("name", ssl_train.list_recipes())
def test_vissl_config_converts_builds_and_runs_a_step(tmp_path, name: str) -> None:
    stems = [s for s, r in EXPECTED.items() if r == name]
    if not stems:
        pytest.skip(f"VISSL documents no pretraining config for {name}")
    recipe = ssl_train.get_recipe(name)
    got, overrides, _ = from_vissl(CONFIGS / f"{stems[0]}.yaml")
    assert got == name
    load_config(recipe.config_class(), overrides)  # every override is a valid key with a valid value
    tiny = TINY[name] + ["train.epochs=1", "data.limit=64", "data.batch_size=64", "model.trunk=resnet18", "optim.use_larc=false"]
    cfg = load_config(recipe.config_class(), overrides + tiny)
    result = pretrain(name, cfg, tmp_path, progress=False)
    assert result.steps == 1 and torch.isfinite(torch.tensor(result.final_loss))


def test_values_are_vissl_s() -> None:
    _, npid, unmapped = from_vissl(CONFIGS / "npid.yaml")
    assert {"loss.num_negatives=4096", "loss.temperature=0.07", "loss.momentum=0.5", "loss.loss_type=nce",
            "train.epochs=200", "schedule.name=multistep", "schedule.milestones=[120.0,160.0]",
            "schedule.values=[1.0,0.1,0.01]", "optim.lr=0.03", "optim.auto_scale=none", "model.trunk=resnet50", "loss.memory_init=random"} <= set(npid)
    assert "LOSS.nce_loss_with_memory.num_train_samples" not in unmapped  # VISSL auto-fills it, so do we
    _, pirl, _ = from_vissl(CONFIGS / "pirl.yaml")
    assert {"loss.patch_weight=0.5", "loss.image_weight=0.5", "loss.num_negatives=32000", "loss.loss_type=cross_entropy",
            "optim.lr=0.03", "optim.auto_scale=linear", "optim.reference_batch_size=256"} <= set(pirl)
    _, simclr, _ = from_vissl(CONFIGS / "simclr.yaml")
    assert {"schedule.warmup_epochs=10.0", "schedule.name=cosine", "optim.lr=0.3", "optim.use_larc=true"} <= set(simclr)
    _, _, jigsaw_unmapped = from_vissl(CONFIGS / "jigsaw.yaml")
    assert any("perm_file=https://" in k for k in jigsaw_unmapped)


def test_bad_vissl_files_are_one_line_errors(tmp_path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        from_vissl(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("config: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        from_vissl(tmp_path / "bad.yaml")
    (tmp_path / "noloss.yaml").write_text("config:\n  OPTIMIZER:\n    num_epochs: 3\n")
    with pytest.raises(ConfigError, match="no LOSS.name"):
        from_vissl(tmp_path / "noloss.yaml")
    (tmp_path / "unknown.yaml").write_text("config:\n  LOSS:\n    name: my_own_loss\n")
    with pytest.raises(ConfigError, match="my_own_loss") as err:
        from_vissl(tmp_path / "unknown.yaml")
    assert "\n" not in str(err.value)
