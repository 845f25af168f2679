"""ZeRO (``train.zero=true``: ``ZeroRedundancyOptimizer`` under DDP) with real processes: a
2-process run with the optimizer state sharded equals the 1-process run (losses, weights and the
optimizer state that rank 0 consolidated and saved), and bad combinations are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ssl_train import ConfigError, get_recipe, load_config, pretrain

from .test_scale_out_equivalence import EPOCHS, LOSS_TOL, STEPS_PER_EPOCH, WEIGHT_TOL, _assert_optimizers_close, _max_weight_difference, _overrides, _run_pair


@pytest.mark.timeout(900)
def test_zero_two_processes_equal_one_process(tmp_path: Path) -> None:
    one, two, _ = _run_pair("simclr", tmp_path, two_extra=["train.zero=true"])
    assert two["step"] == one["step"] == STEPS_PER_EPOCH * EPOCHS and two["world_size"] == 2
    np.testing.assert_allclose(two["loss_history"], one["loss_history"], rtol=0, atol=LOSS_TOL)
    worst, where = _max_weight_difference(one["method"], two["method"])
    assert worst <= WEIGHT_TOL, f"{where} differs by {worst:.3g}"
    _assert_optimizers_close(one["optimizer"], two["optimizer"])  # rank 0 saved every rank's part


def test_zero_without_a_process_group_is_refused(tmp_path: Path) -> None:
    over, batch = _overrides("simclr")
    cfg = load_config(get_recipe("simclr").config_class(), over + [f"data.batch_size={batch}", "train.zero=true", "train.parallel=none"])
    with pytest.raises(ConfigError, match="train.zero=true needs"):
        pretrain("simclr", cfg, tmp_path, progress=False)
