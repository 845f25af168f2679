"""A 2-process run (real processes started by torch's elastic launcher, gloo, CPU, DDP,
SyncBatchNorm) equals a 1-process run on the same global batch, step by step, for every recipe.

The 1-process run uses ``data.batch_size=2b``, the 2-process run ``b`` per rank; the sampler's
``stride`` sharding makes the union of the ranks' k-th batches the 1-process k-th batch and the
views are drawn per sample, so both runs see the same images and views. What may differ is the
order of floating-point sums (all-reduces, gathered negatives, global BatchNorm statistics).

These tiny networks are chaotic at their training learning rates (a 1-process run with 1 and with
2 torch threads drifts apart by 1e-2 in loss within 10 steps: digits have flat black backgrounds,
so some BatchNorm channels have near-zero variance and amplify rounding), so the equivalence runs
use a small learning rate, and the test checks that the weights still moved by far more than the
tolerance (so a wrong gradient scale would show), and that a run without SyncBatchNorm fails it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch

from ssl_models import checkpoint as ckpt_format
from ssl_train import get_recipe, list_recipes, load_config, pretrain
from ssl_train.launch import launch
from ssl_train.worker import worker_argv

from .conftest import TINY

STEPS_PER_EPOCH, EPOCHS = 5, 4  # 20 steps
LOSS_TOL, WEIGHT_TOL = 1e-5, 1e-4


def _overrides(name: str, sync_bn: bool = True) -> tuple[list[str], int]:
    """The recipe's tiny config for 20 steps of global batch ``B`` (TINY's batch), small lr."""
    if name not in TINY:
        pytest.fail(f"recipe {name!r} has no TINY entry in packages/ssl-train/tests/conftest.py")
    tiny = TINY[name]
    batch = int(next((o.split("=", 1)[1] for o in reversed(tiny) if o.startswith("data.batch_size=")), "32"))
    cfg = load_config(get_recipe(name).config_class(), tiny)
    lr = 2e-5 if cfg.optim.name == "adamw" else 1e-3  # Adam turns rounding in tiny gradients into lr-sized steps
    over = [o for o in tiny if not o.startswith("data.batch_size=")] + [
        f"data.limit={STEPS_PER_EPOCH * batch}", f"train.epochs={EPOCHS}", f"optim.lr={lr}",
        f"train.sync_bn={str(sync_bn).lower()}", "train.threads=1", "train.checkpoint_every_steps=0",
        "train.tensorboard=false", "monitor.knn_every_epochs=0",
    ]  # fmt: skip
    return over, batch


def _state(out: Path) -> dict:
    return ckpt_format.load_checkpoint(out / "checkpoints" / "last.pt")["train_state"]


def _run_pair(name: str, tmp_path: Path, sync_bn: bool = True, two_extra: Sequence[str] = ()) -> tuple[dict, dict, dict]:
    """(1-process last state, 2-process last state, initial method state); ``two_extra``: further
    overrides of the 2-process run only (``train.parallel=fsdp``)."""
    over, batch = _overrides(name, sync_bn)
    assert batch % 2 == 0
    cfg = load_config(get_recipe(name).config_class(), over + [f"data.batch_size={batch}"])
    torch.manual_seed(cfg.train.seed)
    init = {k: v.clone() for k, v in get_recipe(name).build(cfg).state_dict().items()}
    pretrain(name, cfg, tmp_path / "one", progress=False)
    launch(worker_argv(name, str(tmp_path / "two"), over + [f"data.batch_size={batch // 2}", *two_extra]), nproc_per_node=2)
    return _state(tmp_path / "one"), _state(tmp_path / "two"), init


def _multiset_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """The largest distance from an entry of ``a`` to its nearest entry of ``b`` and back, the
    entries taken along the last or the second-to-last axis (whichever matches better).

    A queue is filled with the gathered keys of a step: ``[rank 0's rows, rank 1's rows]`` in a
    2-process run, the global batch's order in a 1-process run (stride sharding deals the rows
    round-robin); the same keys enter at the same step, and the losses do not depend on their
    order inside the queue."""
    best = math.inf
    for axis in (-1, -2)[: a.dim()]:
        ra = a.double().movedim(axis, 0).reshape(a.shape[axis], -1)
        rb = b.double().movedim(axis, 0).reshape(b.shape[axis], -1)
        d = torch.cdist(ra, rb, p=math.inf) if ra.numel() else torch.zeros(1, 1)
        best = min(best, max(float(d.min(1).values.max()), float(d.min(0).values.max())))
    return best


def _max_weight_difference(a: dict, b: dict) -> tuple[float, str]:
    worst, where = 0.0, ""
    assert a.keys() == b.keys()
    for key in a:
        if a[key].is_floating_point() and key.endswith("queue") and a[key].shape == b[key].shape:
            d = _multiset_difference(a[key], b[key])
            if d > worst:
                worst, where = d, key
        elif a[key].is_floating_point():
            d = float((a[key].double() - b[key].double()).abs().max()) if a[key].numel() else 0.0
            if d > worst:
                worst, where = d, key
        else:
            assert torch.equal(a[key], b[key]), key
    return worst, where


#: recipes whose 2-process run does not (yet) equal the 1-process run, with what was seen.
KNOWN_DIFFERENT: dict[str, str] = {
    "swav": "losses equal to 1e-6 for 10 steps, then apart once the queue is used (5.7e-5 at step 10, 0.04 at "
            "step 14); each rank keeps queue_length / world_size of its own embeddings: not diagnosed yet",
    "byol": "losses equal for 11 steps, then drift apart smoothly (1e-4 at step 12, 8e-4 at step 15): rounding "
            "amplified or a real difference, not diagnosed yet",
    "barlow_twins": "losses within 1e-5 for 19 steps, 1.03e-4 apart at step 20 (smooth drift): not diagnosed yet",
    "npid": "losses equal for 10 steps, 3e-5 apart at step 10 (first step of epoch 3, as SwAV), then growing: "
            "not diagnosed yet",
    "npid++": "4 of 20 losses 1.5e-5 to 3.4e-5 apart (scattered, not growing; losses near 9.8): rounding of the "
              "memory-bank logits at T=0.07 likely, not diagnosed",
    "pirl": "losses equal for 9 steps, 4.5e-4 apart at step 9, then growing: not diagnosed yet",
    "deepclusterv2": "losses equal for 12 steps, then a growing drift (3e-4 at step 14): not diagnosed yet",
    "colorization": "the 2-process run fails at its 2nd step: DDP 'Expected to have finished reduction in the prior "
                    "iteration' (parameters of the model that the loss does not use; needs find_unused_parameters "
                    "for this recipe)",
    "jigsaw": "losses equal for 4 steps, then a growing drift (3e-5 at step 4, 7e-4 at step 8): not diagnosed yet",
    "supervised": "0.06 apart at step 0: mixup/cutmix pair the rows of each rank's batch (as VISSL and timm do "
                  "per GPU), so the mixed images differ from the 1-process run's (likely by design, not checked "
                  "without mixing)",
}
#: known differences that cannot pass by chance (a crash; a design difference of 0.06 at step 0).
CLEAR_CUT = {"colorization", "supervised"}
#: recipes not run through this test yet (each takes about a minute on the 2 shared cores).
NOT_RUN: dict[str, str] = {}


def _recipe_params() -> list:
    params = []
    for name in list_recipes():
        if name in KNOWN_DIFFERENT:
            # a drift near the tolerance passes on some machines and loads (barlow_twins and byol
            # passed in a full-suite run on an idle machine): only the clear-cut cases are strict.
            strict = name in CLEAR_CUT
            params.append(pytest.param(name, marks=pytest.mark.xfail(strict=strict, reason=KNOWN_DIFFERENT[name])))
        elif name in NOT_RUN:
            params.append(pytest.param(name, marks=pytest.mark.xfail(strict=False, reason=NOT_RUN[name])))
        else:
            params.append(name)
    return params


def _assert_optimizers_close(one: dict, two: dict, tol: float = WEIGHT_TOL) -> None:
    """The same parameters (numbered alike) with the same per-parameter state within ``tol``."""
    assert [len(g["params"]) for g in one["param_groups"]] == [len(g["params"]) for g in two["param_groups"]]
    assert one["state"].keys() == two["state"].keys()
    for index, state in one["state"].items():
        for name, value in state.items():
            a, b = torch.as_tensor(value).double(), torch.as_tensor(two["state"][index][name]).double()
            assert a.shape == b.shape and float((a - b).abs().max()) <= tol, (index, name)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", _recipe_params())
def test_two_processes_equal_one_process_step_by_step(tmp_path: Path, name: str) -> None:
    one, two, init = _run_pair(name, tmp_path)
    assert one["step"] == two["step"] == STEPS_PER_EPOCH * EPOCHS
    assert two["world_size"] == 2 and len(two["ranks"]) == 2
    losses_one, losses_two = np.asarray(one["loss_history"]), np.asarray(two["loss_history"])
    assert len(losses_one) == len(losses_two) == 20
    np.testing.assert_allclose(losses_two, losses_one, rtol=0, atol=LOSS_TOL)
    worst, where = _max_weight_difference(one["method"], two["method"])  # model, teachers, centers, queues
    assert worst <= WEIGHT_TOL, f"{where} differs by {worst:.3g}"
    moved = max(float((one["method"][k] - v).abs().max()) for k, v in init.items() if v.is_floating_point() and v.numel())
    assert moved > 10 * WEIGHT_TOL, f"the weights moved by only {moved:.3g}: the check would be blind"


def test_without_sync_batchnorm_the_runs_differ(tmp_path: Path) -> None:
    """The comparison can fail: per-rank BatchNorm statistics change the loss at the first step."""
    one, two, _ = _run_pair("simclr", tmp_path, sync_bn=False)
    assert abs(one["loss_history"][0] - two["loss_history"][0]) > 100 * LOSS_TOL
    assert _max_weight_difference(one["method"], two["method"])[0] > WEIGHT_TOL
