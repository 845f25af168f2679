"""Wrong input gets one clear line (an exception the CLI prints), and nothing is written."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from ssl_convert import (
    FormatError,
    KeyMappingError,
    UnsafeLoadError,
    VerificationError,
    convert,
    detect_format,
)
from ssl_convert.keymap import DROP, map_keys


def _one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert text and "\n" not in text
    return text


def _assert_nothing_written(folder: Path, out: Path) -> None:
    assert not out.exists()
    assert not list(folder.glob(".*.tmp")), "a temporary file was left behind"


def test_text_file(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("this is not a checkpoint\n")
    with pytest.raises(FormatError) as err:
        convert(tmp_path / "notes.txt", tmp_path / "out.pt", "torchvision")
    assert "not a checkpoint" in _one_line(err) and "notes.txt" in str(err.value)
    _assert_nothing_written(tmp_path, tmp_path / "out.pt")


def test_truncated_file(tmp_path: Path, make_trunk, save_ours) -> None:
    src = save_ours(make_trunk("resnet18", width_multiplier=0.25))
    data = src.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError) as err:
        convert(tmp_path / "cut.pt", tmp_path / "out.pt", "vissl")
    assert "truncated or corrupt" in _one_line(err)
    _assert_nothing_written(tmp_path, tmp_path / "out.pt")


def test_truncated_pickle(tmp_path: Path) -> None:
    import pickle

    data = pickle.dumps({"blobs": {"conv1_w": __import__("numpy").zeros((4, 3, 7, 7), "float32")}}, protocol=2)
    (tmp_path / "cut.pkl").write_bytes(data[:-40])
    with pytest.raises(FormatError) as err:
        detect_format(tmp_path / "cut.pkl")
    assert "truncated" in _one_line(err)


def test_architecture_that_does_not_match_arch(tmp_path: Path, make_trunk) -> None:
    torch.save(make_trunk("resnet50", width_multiplier=0.25).state_dict(), tmp_path / "r50.pth")
    with pytest.raises(FormatError) as err:
        convert(tmp_path / "r50.pth", tmp_path / "out.pt", "ssl", arch="resnet18", arch_kwargs={"width_multiplier": 0.25})
    assert "does not match architecture resnet18" in _one_line(err)
    _assert_nothing_written(tmp_path, tmp_path / "out.pt")
    # the right arch goes through
    convert(tmp_path / "r50.pth", tmp_path / "out.pt", "ssl", arch="resnet50", arch_kwargs={"width_multiplier": 0.25})


def test_unsafe_file_needs_the_flag(tmp_path: Path, make_trunk) -> None:
    state = make_trunk("resnet18", width_multiplier=0.25).state_dict()
    torch.save({"state_dict": state, "args": argparse.Namespace(arch="resnet18")}, tmp_path / "ns.pth")
    with pytest.raises(UnsafeLoadError) as err:
        convert(tmp_path / "ns.pth", tmp_path / "out.pt", "ssl")
    assert "argparse.Namespace" in _one_line(err) and "allow_unsafe_load=True" in str(err.value)
    _assert_nothing_written(tmp_path, tmp_path / "out.pt")
    report = convert(tmp_path / "ns.pth", tmp_path / "out.pt", "ssl", allow_unsafe_load=True)
    assert report.source_format == "torchvision"


def test_missing_paths_and_unknown_formats(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        convert(tmp_path / "nope.pt", tmp_path / "out.pt", "ssl")
    (tmp_path / "x.pt").write_bytes(b"PK")
    with pytest.raises(FileNotFoundError, match="output folder does not exist"):
        convert(tmp_path / "x.pt", tmp_path / "missing" / "out.pt", "ssl")
    with pytest.raises(FormatError, match="unknown output format 'onnx'"):
        convert(tmp_path / "x.pt", tmp_path / "out.pt", "onnx")
    with pytest.raises(FormatError, match="unknown input format 'keras'"):
        convert(tmp_path / "x.pt", tmp_path / "out.pt", "ssl", from_="keras")


def test_unknown_layout(tmp_path: Path) -> None:
    torch.save({"weights": [1, 2, 3]}, tmp_path / "odd.pt")
    with pytest.raises(FormatError) as err:
        detect_format(tmp_path / "odd.pt")
    assert "unknown checkpoint layout" in _one_line(err)


def test_unconverted_keys_refuse_to_write(tmp_path: Path, make_trunk) -> None:
    from ssl_convert.classy_format import ours_to_classy

    state = make_trunk("resnet50", width_multiplier=0.25).state_dict()
    classy = dict(ours_to_classy(state).state)
    classy["blocks.0.block0-0.extra_conv.weight"] = torch.zeros(1)
    torch.save({"classy_state_dict": {"base_model": {"model": {"trunk": classy, "heads": {}}}}}, tmp_path / "c.torch")
    with pytest.raises(KeyMappingError) as err:
        convert(tmp_path / "c.torch", tmp_path / "out.pt", "torchvision")
    assert "extra_conv" in _one_line(err) and "nothing written" in str(err.value)
    _assert_nothing_written(tmp_path, tmp_path / "out.pt")


def test_verification_failure_writes_nothing(tmp_path: Path, make_trunk, save_ours) -> None:
    src = save_ours(make_trunk("resnet18", width_multiplier=0.25))
    with pytest.raises(VerificationError) as err:
        convert(src, tmp_path / "tv.pth", "torchvision", verify=True, tolerance=-1.0)
    assert "differs from the source" in _one_line(err)
    _assert_nothing_written(tmp_path, tmp_path / "tv.pth")


def test_existing_output_survives_a_failed_conversion(tmp_path: Path) -> None:
    (tmp_path / "out.pt").write_bytes(b"old content")
    (tmp_path / "bad.txt").write_text("hello")
    with pytest.raises(FormatError):
        convert(tmp_path / "bad.txt", tmp_path / "out.pt", "ssl")
    assert (tmp_path / "out.pt").read_bytes() == b"old content"


def test_map_keys_collision_and_accounting() -> None:
    state = {"a.weight": 1, "b.weight": 2, "c.bias": 3, "d": 4}
    rule = {"a.weight": "x", "b.weight": DROP, "c.bias": "y"}.get
    out = map_keys(state, rule)
    assert out.state == {"x": 1, "y": 3} and out.dropped == ["b.weight"] and out.unconverted == ["d"]
    with pytest.raises(KeyMappingError, match="'a.weight' and 'c.bias' would both become 'x'"):
        map_keys(state, lambda k: "x" if k in ("a.weight", "c.bias") else DROP)


def test_vissl_shard_list_without_its_shards_names_the_missing_file(tmp_path: Path) -> None:
    # VISSL's primary file of a sharded (fairscale FSDP) checkpoint lists the per-rank shards
    torch.save({"type": "shard_list", "shards": ["model_phase1_shard0.torch", "model_phase1_shard1.torch"]}, tmp_path / "m.torch")
    assert detect_format(tmp_path / "m.torch") == "vissl_sharded"
    with pytest.raises(FileNotFoundError) as err:
        convert(tmp_path / "m.torch", tmp_path / "out.pt", "ssl")
    assert "model_phase1_shard0.torch" in _one_line(err)
    _assert_nothing_written(tmp_path, tmp_path / "out.pt")
