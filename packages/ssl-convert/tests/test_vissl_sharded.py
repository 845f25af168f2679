"""VISSL fairscale-FSDP sharded checkpoints (shard_list + one file per rank) and sliced checkpoints
(slice_list) consolidate into one checkpoint whose weights equal the original model's bit for bit.

The shard files are made two ways: by fairscale's own FullyShardedDataParallel in 2 real gloo
processes on the CPU (wrapping, local_state_dict and local_metadata_dict run on the CPU; its
forward does not), and, so the test also runs without fairscale, by sharding a model in the test
from fairscale's documented flat-parameter layout (torch.chunk of the flattened parameters,
zero padding at the end). The file layout is VISSL's CheckpointWriter's: a primary
``{"type": "shard_list", "shards": [...]}`` and per-rank ``{"type": "shard", "classy_state_dict":
{"base_model": {"model": {"trunk", "heads"}, "meta": {"trunk", "heads"}}}, ...}``.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

import ssl_models
from ssl_convert import FormatError, KeyMappingError, convert, detect_format
from ssl_convert.vissl_sharded import consolidate_fsdp_shards

_PHASE = "model_final_checkpoint_phase1"


class _VisslTrunk(nn.Module):
    """VISSL's trunk layout: the network under ``_feature_blocks``."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self._feature_blocks = inner


def _model(seed: int = 0) -> tuple[_VisslTrunk, ssl_models.MLPHead]:
    torch.manual_seed(seed)
    trunk = ssl_models.build_trunk("resnet18", width_multiplier=0.25, small_input=True)
    with torch.no_grad():
        for m in trunk.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(3)
    return _VisslTrunk(trunk), ssl_models.MLPHead([128, 24, 10], use_bn=True)


def _shard_file(model: dict, meta: dict) -> dict:
    return {
        "type": "shard", "phase_idx": 1, "iteration": 20, "iteration_num": 20, "train_phase_idx": 1, "loss": {},
        "classy_state_dict": {"base_model": {"model": model, "meta": meta}},
    }  # fmt: skip


def _write_shard_list(folder: Path, world: int) -> Path:
    primary = folder / f"{_PHASE}.torch"
    torch.save({"type": "shard_list", "shards": [f"{_PHASE}_shard{r}.torch" for r in range(world)]}, primary)
    return primary


def _check_consolidated(out: Path, trunk: _VisslTrunk, head: nn.Module | None) -> dict:
    ckpt = ssl_models.load_checkpoint(out)
    expected = {k.removeprefix("_feature_blocks."): v for k, v in trunk.state_dict().items()}
    got = ckpt["trunk"]["state_dict"]
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        assert got[key].dtype == value.dtype and torch.equal(got[key], value), key
    if head is not None:
        assert len(ckpt["heads"]) == 1
        for key, value in head.state_dict().items():
            assert torch.equal(ckpt["heads"][0]["state_dict"][key], value), key
    ssl_models.trunk_from_checkpoint(ckpt)  # builds and loads strictly
    return ckpt


# --- real fairscale shards ------------------------------------------------------------------------


def _fairscale_rank(rank: int, world: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    from fairscale.nn.data_parallel import FullyShardedDataParallel as FSDP

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    trunk, head = _model()  # same seed on every rank, as VISSL's _MODEL_INIT_SEED
    if rank == 0:
        torch.save({"trunk": trunk.state_dict(), "head": head.state_dict()}, f"{out}/expected.pt")
    cpu = torch.device("cpu")
    inner = trunk._feature_blocks
    for name in ("layer1", "layer2", "layer3", "layer4"):  # nested FSDP units, flattened params
        setattr(inner, name, FSDP(getattr(inner, name), compute_device=cpu))
    fsdp_trunk = FSDP(trunk, compute_device=cpu)
    fsdp_head = FSDP(head, compute_device=cpu, flatten_parameters=False)  # VISSL's layout with LARC
    model = {"trunk": fsdp_trunk.local_state_dict(), "heads": [fsdp_head.local_state_dict()]}
    meta = {"trunk": fsdp_trunk.local_metadata_dict(), "heads": [fsdp_head.local_metadata_dict()]}
    assert model["trunk"]["flat_param_0"].numel() < sum(p.numel() for p in trunk.parameters())  # really sharded
    torch.save(_shard_file(model, meta), f"{out}/{_PHASE}_shard{rank}.torch")
    dist.barrier()
    if rank == 0:
        _write_shard_list(Path(out), world)
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def fairscale_checkpoint(tmp_path_factory: pytest.TempPathFactory, free_port) -> Path:
    pytest.importorskip("fairscale", reason="fairscale not installed (pip install 'ssl-convert[fairscale]')")
    out = tmp_path_factory.mktemp("vissl_fsdp")
    mp.start_processes(_fairscale_rank, args=(2, free_port(), str(out)), nprocs=2, start_method="fork")
    return out / f"{_PHASE}.torch"


def test_real_fairscale_shards_consolidate_bit_identical(fairscale_checkpoint: Path, tmp_path: Path) -> None:
    assert detect_format(fairscale_checkpoint) == "vissl_sharded"
    report = convert(fairscale_checkpoint, tmp_path / "eval.pt", "ssl", verify=True)
    assert report.source_format == "vissl_sharded" and report.trunk_name == "resnet18"
    assert report.trunk_kwargs == {"width_multiplier": 0.25, "small_input": True}
    expected = torch.load(fairscale_checkpoint.parent / "expected.pt", weights_only=True)
    trunk, head = _model()
    trunk.load_state_dict(expected["trunk"])
    head.load_state_dict(expected["head"])
    _check_consolidated(tmp_path / "eval.pt", trunk, head)


def test_consolidation_matches_fairscale_consolidate_shard_weights(fairscale_checkpoint: Path) -> None:
    """fairscale's own static consolidation is the reference for ours on the same shard files."""
    from fairscale.nn.data_parallel import FullyShardedDataParallel as FSDP

    shards = [torch.load(fairscale_checkpoint.parent / f"{_PHASE}_shard{r}.torch", weights_only=True) for r in range(2)]
    for part in ("trunk", "head"):
        weights = [s["classy_state_dict"]["base_model"]["model"]["trunk" if part == "trunk" else "heads"] for s in shards]
        metas = [s["classy_state_dict"]["base_model"]["meta"]["trunk" if part == "trunk" else "heads"] for s in shards]
        if part == "head":
            weights, metas = [w[0] for w in weights], [m[0] for m in metas]
        reference = FSDP.consolidate_shard_weights(weights, metas)
        ours, unexplained = consolidate_fsdp_shards(weights, metas)
        assert not unexplained and sorted(ours) == sorted(reference)
        assert all(torch.equal(ours[k], reference[k]) for k in reference)


# --- shards made in the test from fairscale's documented layout --------------------------------------


def _shard_by_layout(module: nn.Module, units: list[str], world: int) -> tuple[list[dict], list[dict]]:
    """Per-rank (local state dict, metadata) of ``module`` FSDP-wrapped at ``units`` (paths of
    submodules; "" is the root, owning every parameter no nested unit owns), one flat parameter
    per unit: the flattened parameters concatenated, ``torch.chunk``-ed into ``world`` pieces,
    each piece zero-padded at the end to the first piece's length."""
    params = dict(module.named_parameters())
    owner = {name: max((u for u in units if u == "" or name.startswith(u + ".")), key=len) for name in params}
    states: list[dict] = [{} for _ in range(world)]
    metas: list[dict] = [{"param_metadata": [], "buffer_names": []} for _ in range(world)]
    for unit in units:
        names = [n for n in params if owner[n] == unit]
        flat = torch.cat([params[n].detach().reshape(-1) for n in names])
        chunks = list(flat.chunk(world)) + [flat.new_empty(0)] * world
        key = f"{unit}.flat_param_0" if unit else "flat_param_0"
        for rank in range(world):
            pad = chunks[0].numel() - chunks[rank].numel()
            states[rank][key] = torch.cat([chunks[rank], flat.new_zeros(pad)])
            local = [n[len(unit) + 1 :] if unit else n for n in names]
            metas[rank]["param_metadata"].append({
                "fsdp_path": unit, "no_broadcast_optim_state": False, "shared_param_info": [],
                "params": {"flat_param_0": {"names": local, "shapes": [params[n].shape for n in names],
                                            "numels": [params[n].numel() for n in names], "padding": pad}},
            })  # fmt: skip
    for rank in range(world):
        for name, buf in module.named_buffers():
            states[rank][name] = buf.clone()
            metas[rank]["buffer_names"].append(name)
    return states, metas


_UNITS = ["", "_feature_blocks.layer1", "_feature_blocks.layer2", "_feature_blocks.layer3", "_feature_blocks.layer4"]


@pytest.fixture
def layout_checkpoint(tmp_path: Path) -> tuple[Path, _VisslTrunk, nn.Module]:
    """Three ranks (uneven pieces, so padding is exercised); heads not FSDP-wrapped (VISSL then
    stores ``heads.state_dict()`` on every rank and no head metadata)."""
    trunk, head = _model(seed=1)
    states, metas = _shard_by_layout(trunk, _UNITS, world=3)
    assert any(m["param_metadata"][0]["params"]["flat_param_0"]["padding"] > 0 for m in metas)
    heads = {f"0.{k}": v for k, v in head.state_dict().items()}
    for rank in range(3):
        content = _shard_file({"trunk": states[rank], "heads": heads}, {"trunk": metas[rank], "heads": []})
        torch.save(content, tmp_path / f"{_PHASE}_shard{rank}.torch")
    return _write_shard_list(tmp_path, 3), trunk, head


def test_layout_shards_consolidate_bit_identical(layout_checkpoint, tmp_path: Path) -> None:
    primary, trunk, head = layout_checkpoint
    report = convert(primary, tmp_path / "eval.pt", "ssl")
    assert any("3 shards consolidated" in n for n in report.notes)
    _check_consolidated(tmp_path / "eval.pt", trunk, head)


def test_sharded_checkpoint_goes_straight_to_torchvision(layout_checkpoint, tmp_path: Path) -> None:
    primary, trunk, _ = layout_checkpoint
    convert(primary, tmp_path / "tv.pth", "torchvision", verify=True)
    state = torch.load(tmp_path / "tv.pth", weights_only=True)
    assert torch.equal(state["layer3.1.bn2.running_var"], trunk._feature_blocks.layer3[1].bn2.running_var)


def test_missing_shard_file_is_named(layout_checkpoint, tmp_path: Path) -> None:
    primary, _, _ = layout_checkpoint
    (primary.parent / f"{_PHASE}_shard2.torch").unlink()
    with pytest.raises(FileNotFoundError, match=f"{_PHASE}_shard2.torch"):
        convert(primary, tmp_path / "eval.pt", "ssl")


def test_one_shard_alone_is_refused(layout_checkpoint, tmp_path: Path) -> None:
    primary, _, _ = layout_checkpoint
    with pytest.raises(FormatError, match="shard_list"):
        convert(primary.parent / f"{_PHASE}_shard0.torch", tmp_path / "eval.pt", "ssl")


def test_metadata_that_does_not_fit_is_refused(layout_checkpoint, tmp_path: Path) -> None:
    primary, _, _ = layout_checkpoint
    shard = primary.parent / f"{_PHASE}_shard0.torch"
    content = torch.load(shard, weights_only=True)
    content["classy_state_dict"]["base_model"]["meta"]["trunk"]["param_metadata"][1]["params"]["flat_param_0"]["numels"][0] += 1
    torch.save(content, shard)
    with pytest.raises(FormatError, match="elements over 3 ranks"):
        convert(primary, tmp_path / "eval.pt", "ssl")
    assert not (tmp_path / "eval.pt").exists()


def test_shard_key_without_metadata_is_refused(layout_checkpoint, tmp_path: Path) -> None:
    primary, _, _ = layout_checkpoint
    shard = primary.parent / f"{_PHASE}_shard0.torch"
    content = torch.load(shard, weights_only=True)
    content["classy_state_dict"]["base_model"]["model"]["trunk"]["stray.weight"] = torch.zeros(2)
    torch.save(content, shard)
    with pytest.raises(KeyMappingError, match="stray.weight"):
        convert(primary, tmp_path / "eval.pt", "ssl")


def test_sliced_checkpoint_reads_from_a_moved_folder(tmp_path: Path) -> None:
    """VISSL's slice_list: one ``{"type": "slice", "weight"}`` file per parameter (sha1 of its
    name) in ``<checkpoint>_layers``, recorded with absolute paths; the folder then moves."""
    trunk, head = _model(seed=2)
    written = tmp_path / "written"
    layers = written / f"{_PHASE}_layers"
    layers.mkdir(parents=True)
    entries: dict[str, dict[str, str]] = {"trunk": {}, "heads": {}}
    for part, state in (("trunk", trunk.state_dict()), ("heads", {f"0.{k}": v for k, v in head.state_dict().items()})):
        for name, value in state.items():
            path = layers / f"{hashlib.sha1(name.encode()).hexdigest()}.torch"
            torch.save({"type": "slice", "weight": value}, path)
            entries[part][name] = str(path.resolve())
    torch.save({"type": "slice_list", "classy_state_dict": {"base_model": {"model": entries}}}, written / f"{_PHASE}.torch")
    moved = tmp_path / "moved"
    shutil.move(written, moved)
    assert detect_format(moved / f"{_PHASE}.torch") == "vissl_sharded"
    convert(moved / f"{_PHASE}.torch", tmp_path / "eval.pt", "ssl")
    _check_consolidated(tmp_path / "eval.pt", trunk, head)
