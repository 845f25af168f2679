"""``convert(progress=...)`` reports its steps (read, fit, serialise, [verify,] write) without
changing what is written; ``arch_kwargs`` the trunk found in the file does not take are refused
before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import ssl_models
from ssl_convert import ArchKwargsError, FormatError, convert


def _resnet(save_ours) -> Path:
    torch.manual_seed(0)
    return save_ours(ssl_models.build_trunk("resnet18", width_multiplier=0.125))


@pytest.mark.parametrize(("verify", "steps"), [(False, 4), (True, 5)])
def test_steps_go_from_zero_to_the_total_and_the_file_is_the_same(tmp_path: Path, save_ours, verify, steps) -> None:
    src = _resnet(save_ours)
    seen: list[tuple[str, int, int]] = []
    convert(src, tmp_path / "a.pth", "torchvision", verify=verify, progress=lambda *report: seen.append(report))
    assert seen == [("convert", done, steps) for done in range(steps + 1)]
    convert(src, tmp_path / "b.pth", "torchvision", verify=verify)
    a, b = torch.load(tmp_path / "a.pth", weights_only=True), torch.load(tmp_path / "b.pth", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_failed_conversion_stops_the_steps_where_it_failed(tmp_path: Path) -> None:
    (tmp_path / "notes.pt").write_text("not a checkpoint\n")
    seen: list[tuple[str, int, int]] = []
    with pytest.raises(FormatError):
        convert(tmp_path / "notes.pt", tmp_path / "out.pth", "torchvision", progress=lambda *r: seen.append(r))
    assert seen == [("convert", 0, 4)] and not (tmp_path / "out.pth").exists()


def test_arch_kwargs_the_found_trunk_does_not_take_are_refused(tmp_path: Path, save_ours) -> None:
    src = _resnet(save_ours)
    with pytest.raises(ArchKwargsError) as err:
        convert(src, tmp_path / "out.pth", "timm", arch_kwargs={"num_heads": 4})
    assert err.value.given == {"num_heads": 4} and err.value.trunk_name == "resnet18"
    assert str(err.value).startswith(f"num_heads 4 does not apply to {src}: its trunk is resnet18")
    assert isinstance(err.value, FormatError) and sorted(p.name for p in tmp_path.iterdir()) == ["ours.pt"]
    # with arch given, arch_kwargs are the trunk's arguments as they are
    report = convert(src, tmp_path / "out.pth", "ssl", arch="resnet18", arch_kwargs={"width_multiplier": 0.125})
    assert report.trunk_kwargs == {"width_multiplier": 0.125}
