"""Recipe configs: defaults, YAML files, dotted overrides, and the errors for bad keys and types."""

import pytest

from ssl_train import ConfigError, get_recipe, list_recipes, load_config
from ssl_train.recipes.simclr import SimCLRConfig


def test_defaults_and_overrides():
    cfg = load_config(SimCLRConfig(), ["optim.lr=0.05", "train.epochs=3", "data.source=digits"])
    assert isinstance(cfg, SimCLRConfig)
    assert (cfg.optim.lr, cfg.train.epochs, cfg.data.source) == (0.05, 3, "digits")
    assert cfg.loss.temperature == SimCLRConfig().loss.temperature


def test_yaml_file_then_overrides(tmp_path):
    f = tmp_path / "r.yaml"
    f.write_text("optim:\n  lr: 0.7\ntrain:\n  epochs: 5\n")
    cfg = load_config(SimCLRConfig(), ["train.epochs=2"], f)
    assert (cfg.optim.lr, cfg.train.epochs) == (0.7, 2)


@pytest.mark.parametrize(
    "override,match",
    [("optim.lrr=0.1", "unknown key 'optim.lrr'"), ("epochs", "not of the form key=value"),
     ("train.epochs=many", "invalid recipe config"), ("nope=1", "unknown key 'nope'")],
)
def test_bad_overrides(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config(SimCLRConfig(), [override])


def test_unknown_key_in_yaml(tmp_path):
    f = tmp_path / "r.yaml"
    f.write_text("optim:\n  learning_rate: 0.7\n")
    with pytest.raises(ConfigError, match="learning_rate"):
        load_config(SimCLRConfig(), [], f)


def test_recipe_list():
    assert "simclr" in list_recipes()
    with pytest.raises(ValueError, match="unknown recipe 'nope'"):
        get_recipe("nope")
