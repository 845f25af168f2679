"""Untrusted checkpoints run no code: a pickle whose ``__reduce__`` would write a marker file is
refused, in one line, by every reader (plain pickle, legacy and zip torch files, a DCP folder's
``.metadata`` and its pickled entries); only ``allow_unsafe_load=True`` runs it. Converted files
get the user's umask."""

from __future__ import annotations

import os
import pickle
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed.checkpoint as dcp

import ssl_models
from ssl_convert import UnsafeLoadError, convert, detect_format


class _Payload:
    """What an attacker plants: unpickling it writes ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


def _numpy_state(trunk: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in trunk.state_dict().items()}


def _refused(src: Path, out: Path, marker: Path, named: str) -> None:
    for call in (lambda: convert(src, out, "torchvision"), lambda: detect_format(src)):
        with pytest.raises(UnsafeLoadError) as err:
            call()
        message = str(err.value)
        assert "\n" not in message and named in message and "allow_unsafe_load=True" in message
    assert not marker.exists(), "the payload ran"
    assert not out.exists()


def test_plain_pickle_detectron2_layout(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    trunk = ssl_models.build_trunk("resnet18", width_multiplier=0.25)
    src = tmp_path / "model_final.pkl"
    src.write_bytes(pickle.dumps({"model": _numpy_state(trunk), "__author__": _Payload(marker)}, protocol=2))
    _refused(src, tmp_path / "out.pth", marker, "exec")
    with pytest.raises(Exception):  # noqa: B017 - opted in: the payload runs (then the layout is rejected)
        convert(src, tmp_path / "out.pth", "torchvision", allow_unsafe_load=True)
    assert marker.read_text() == "pwned"  # the opt-in is real, so the refusal above is meaningful


@pytest.mark.parametrize("zipfile", [True, False], ids=["zip", "legacy"])
def test_torch_files(tmp_path: Path, zipfile: bool) -> None:
    marker = tmp_path / "marker"
    trunk = ssl_models.build_trunk("resnet18", width_multiplier=0.25)
    src = tmp_path / "ckpt.pth"
    torch.save({"state_dict": trunk.state_dict(), "meta": _Payload(marker)}, src, _use_new_zipfile_serialization=zipfile)
    _refused(src, tmp_path / "out.pth", marker, "exec")


def _dcp_folder(path: Path, extra: dict[str, object] | None = None) -> Path:
    trunk = ssl_models.build_trunk("resnet18", width_multiplier=0.25)
    payload = {"format": "ssl-checkpoint", "format_version": 1, "heads": [],
               "trunk": {"name": trunk.name, "kwargs": dict(trunk.kwargs), "state_dict": trunk.state_dict()}}
    dcp.save({**payload, **(extra or {})}, checkpoint_id=path, no_dist=True)
    return path


def test_dcp_metadata_is_read_through_the_allow_list(tmp_path: Path) -> None:
    src = _dcp_folder(tmp_path / "ck")
    report = convert(src, tmp_path / "ok.pth", "torchvision")  # real metadata passes the allow-list
    assert report.source_format == "dcp" and (tmp_path / "ok.pth").is_file()
    marker = tmp_path / "marker"
    (src / ".metadata").write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(UnsafeLoadError) as err:
        convert(src, tmp_path / "out.pth", "torchvision")
    assert not marker.exists(), "torch's reader unpickled .metadata"
    assert str(err.value) == (
        f"{src / '.metadata'} pickles builtins.exec, which is not DCP metadata; pass "
        "allow_unsafe_load=True (CLI: --unsafe-load) only if you trust this checkpoint"
    )
    assert not (tmp_path / "out.pth").exists()


def test_dcp_pickled_entry(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    src = _dcp_folder(tmp_path / "ck", {"evil": _Payload(marker)})
    assert not marker.exists()  # pickling calls __reduce__; only unpickling runs the payload
    with pytest.raises(UnsafeLoadError, match="entry 'evil' pickles a Python object"):
        convert(src, tmp_path / "out.pth", "torchvision")
    assert not marker.exists()


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_converted_files_follow_the_umask(tmp_path: Path, mask: int, mode: int) -> None:
    src = tmp_path / "in.pt"
    ssl_models.save_checkpoint(ssl_models.model_payload(ssl_models.build_trunk("resnet18", width_multiplier=0.25)), src)
    before = os.umask(mask)
    try:
        convert(src, tmp_path / "model_final.pkl", "detectron2")
    finally:
        os.umask(before)
    for name in ("model_final.pkl", "model_final.yaml"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.pt", "model_final.pkl", "model_final.yaml"]
