"""`ssl convert --classy-heads` and `--num-heads`, run as real subprocesses on real files.

Head keys are checked against the layout of VISSL's ``convert_vissl_to_classy_vision.py
--include_heads`` (written out here, not read from our converter); the ViT with 48-wide heads is
checked against the timm model it came from."""

from __future__ import annotations

import torch

from cli_runner import run_ssl


def _save_resnet_with_mlp_head(path):
    from ssl_models import MLPHead, build_trunk
    from ssl_models.checkpoint import model_payload, save_checkpoint

    torch.manual_seed(0)
    trunk = build_trunk("resnet50", width_multiplier=0.125)
    head = MLPHead([trunk.num_features, 16, 8], use_bn=True)
    with torch.no_grad():  # non-default BN statistics, so a mix-up would show
        head.clf[1].running_mean.uniform_(-1, 1)
        head.clf[1].running_var.uniform_(0.5, 2)
    save_checkpoint(model_payload(trunk, heads=[head]), path)
    return head.state_dict()


def _classy_heads(path):
    return torch.load(path, weights_only=True)["classy_state_dict"]["base_model"]["model"]["heads"]


def test_classy_heads_writes_the_mlp_head_in_vissl_layout_and_only_with_the_flag(tmp_path):
    src = tmp_path / "ours.pt"
    head = _save_resnet_with_mlp_head(src)

    with_heads = run_ssl("convert", str(src), str(tmp_path / "with.torch"), "--to", "classy", "--classy-heads")
    assert with_heads.returncode == 0, with_heads.stderr
    heads = _classy_heads(tmp_path / "with.torch")
    bn = {f"mlp.layers.0.batch_norm.{p}" for p in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")}
    assert set(heads) == {"block3-2"} and set(heads["block3-2"]) == {"default_head"}
    written = heads["block3-2"]["default_head"]
    assert set(written) == {"mlp.layers.0.fc.weight", "mlp.layers.0.fc.bias", "embedding_fc.weight", "embedding_fc.bias"} | bn
    # MLPHead's Sequential: 0 Linear, 1 BatchNorm1d, 2 ReLU, 3 Linear
    assert torch.equal(written["mlp.layers.0.fc.weight"], head["clf.0.weight"])
    assert torch.equal(written["mlp.layers.0.batch_norm.running_var"], head["clf.1.running_var"])
    assert torch.equal(written["embedding_fc.bias"], head["clf.3.bias"])

    without = run_ssl("convert", str(src), str(tmp_path / "without.torch"), "--to", "classy")
    assert without.returncode == 0, without.stderr
    assert _classy_heads(tmp_path / "without.torch") == {}
    assert "dropped 9 keys" in without.stdout  # the whole head: 2 Linear x (weight, bias) + 5 BatchNorm1d tensors


def _timm_vit_48_wide_heads():
    from timm.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    return VisionTransformer(img_size=16, patch_size=8, embed_dim=96, depth=1, num_heads=2, mlp_ratio=2.0, num_classes=0).eval()


def test_num_heads_gives_a_timm_vit_its_head_count(tmp_path):
    from ssl_models.checkpoint import load_checkpoint, trunk_from_checkpoint

    vit = _timm_vit_48_wide_heads()
    src = tmp_path / "vit.pth"
    torch.save(vit.state_dict(), src)

    result = run_ssl("convert", str(src), str(tmp_path / "ours.pt"), "--to", "ssl", "--num-heads", "2", "--verify")
    assert result.returncode == 0, result.stderr
    assert "num_heads 2: given" in result.stdout and "verified with" in result.stdout
    ckpt = load_checkpoint(tmp_path / "ours.pt")
    assert ckpt["trunk"]["kwargs"]["num_heads"] == 2
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = vit.forward_head(vit.forward_features(x), pre_logits=True)
        torch.testing.assert_close(trunk_from_checkpoint(ckpt).eval()(x), expected, rtol=0, atol=1e-5)



def _one_line_error(result):
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("ssl: error: "), result.stderr
    return lines[0]


def test_num_heads_below_one_is_one_line(tmp_path):
    torch.save({"cls_token": torch.zeros(1, 1, 96)}, tmp_path / "vit.pth")
    result = run_ssl("convert", str(tmp_path / "vit.pth"), str(tmp_path / "out.pt"), "--to", "ssl", "--num-heads", "0")
    assert "--num-heads must be at least 1, got 0" in _one_line_error(result)
    assert not (tmp_path / "out.pt").exists()


def test_num_heads_for_a_resnet_is_one_line_and_writes_nothing(tmp_path):
    src = tmp_path / "ours.pt"
    _save_resnet_with_mlp_head(src)
    result = run_ssl("convert", str(src), str(tmp_path / "out.pth"), "--to", "torchvision", "--num-heads", "2")
    line = _one_line_error(result)
    assert "--num-heads 2 does not apply" in line and "resnet50" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ours.pt"]


def test_classy_heads_for_another_target_is_one_line(tmp_path):
    torch.save({"cls_token": torch.zeros(1, 1, 96)}, tmp_path / "in.pth")
    result = run_ssl("convert", str(tmp_path / "in.pth"), str(tmp_path / "out.pth"), "--to", "timm", "--classy-heads")
    assert "--classy-heads needs --to classy, got --to timm" in _one_line_error(result)
    assert not (tmp_path / "out.pth").exists()
