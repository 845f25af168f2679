"""RegNet parameter names: ssl-models (= torchvision) <-> ClassyVision, VISSL and timm.

Stage ``i`` (1-4), block ``j`` (0-based), ``p`` a weight / bias / BN statistic:

| part | ssl-models / torchvision | ClassyVision | VISSL ``regnet`` | timm |
| --- | --- | --- | --- | --- |
| stem conv / BN | ``stem.0`` / ``stem.1`` | ``stem.stem.0`` / ``stem.stem.1`` | ``_feature_blocks.conv1.stem.0`` / ``.1`` | ``stem.conv`` / ``stem.bn`` |
| block prefix | ``trunk_output.block{i}.block{i}-{j}`` | same | ``_feature_blocks.res{i+1}.block{i}-{j}`` | ``s{i}.b{j+1}`` |
| shortcut conv / BN | ``proj.0`` / ``proj.1`` | ``proj`` / ``bn`` | as ClassyVision | ``downsample.conv`` / ``downsample.bn`` |
| 1x1 conv / BN | ``f.a.0`` / ``f.a.1`` | same | same | ``conv1.conv`` / ``conv1.bn`` |
| 3x3 group conv / BN | ``f.b.0`` / ``f.b.1`` | same | same | ``conv2.conv`` / ``conv2.bn`` |
| SE reduce / expand | ``f.se.fc1`` / ``f.se.fc2`` | ``f.se.excitation.0`` / ``.2`` | same | ``se.fc1`` / ``se.fc2`` |
| last 1x1 conv / BN | ``f.c.0`` / ``f.c.1`` | ``f.c`` / ``f.final_bn`` | same | ``conv3.conv`` / ``conv3.bn`` |

VISSL's ``regnet`` trunk wraps ClassyVision's RegNet (stem as ``conv1``, stage ``block{i}`` as
``res{i+1}``). Its ``regnet_fsdp`` / ``regnet_v2`` trunks (the ones VISSL trains with FSDP) add a
block-group level, ``res{i+1}.block{i}-part{g}.block{i}-{j}``: read too (written the ``regnet``
way). timm's ``head.*`` is its classifier.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ssl_convert.keymap import DROP, MappedState, map_keys

__all__ = ["REGNET_FORMATS", "is_regnet_in", "regnet_from_ours", "regnet_key", "regnet_to_ours"]

#: Formats with a RegNet name table here.
REGNET_FORMATS: tuple[str, ...] = ("ours", "classy", "vissl", "timm")

_STEM = {
    "ours": ("stem.0", "stem.1"),
    "classy": ("stem.stem.0", "stem.stem.1"),
    "vissl": ("_feature_blocks.conv1.stem.0", "_feature_blocks.conv1.stem.1"),
    "timm": ("stem.conv", "stem.bn"),
}
_ROLES = ("proj_conv", "proj_bn", "a_conv", "a_bn", "b_conv", "b_bn", "se1", "se2", "c_conv", "c_bn")
_CLASSY_BLOCK = ("proj", "bn", "f.a.0", "f.a.1", "f.b.0", "f.b.1", "f.se.excitation.0", "f.se.excitation.2", "f.c", "f.final_bn")
_BLOCK = {
    "ours": ("proj.0", "proj.1", "f.a.0", "f.a.1", "f.b.0", "f.b.1", "f.se.fc1", "f.se.fc2", "f.c.0", "f.c.1"),
    "classy": _CLASSY_BLOCK,
    "vissl": _CLASSY_BLOCK,
    "timm": (
        "downsample.conv", "downsample.bn", "conv1.conv", "conv1.bn", "conv2.conv", "conv2.bn",
        "se.fc1", "se.fc2", "conv3.conv", "conv3.bn",
    ),
}  # fmt: skip
_PARAM = r"(weight|bias|running_mean|running_var|num_batches_tracked)"
_PREFIX = {
    "ours": re.compile(r"^trunk_output\.block(\d+)\.block(\d+)-(\d+)\.(.+)$"),
    "classy": re.compile(r"^trunk_output\.block(\d+)\.block(\d+)-(\d+)\.(.+)$"),
    # regnet_fsdp / regnet_v2 put the blocks of a stage in groups: res{i+1}.block{i}-part{g}.block{i}-{j}
    "vissl": re.compile(r"^_feature_blocks\.res(\d+)\.(?:block\d+-part\d+\.)?block(\d+)-(\d+)\.(.+)$"),
    "timm": re.compile(r"^s(\d+)\.b(\d+)\.(.+)$"),
}
#: a key every RegNet of that format has
_MARKER = {"ours": "stem.0.weight", "classy": "stem.stem.0.weight", "vissl": "_feature_blocks.conv1.stem.0.weight", "timm": "stem.conv.weight"}
_STAGE_MARKER = {"ours": "trunk_output.", "classy": "trunk_output.", "vissl": "_feature_blocks.res", "timm": "s1.b1."}


def is_regnet_in(state: Mapping[str, object], fmt: str) -> bool:
    """True when ``state`` holds RegNet keys named the ``fmt`` way (one of :data:`REGNET_FORMATS`)."""
    return _MARKER[fmt] in state and any(k.startswith(_STAGE_MARKER[fmt]) for k in state)


def _parse(key: str, fmt: str) -> tuple[tuple[int, int] | None, str, str] | None:
    """``((stage, block) or None for the stem, role, param)`` of a ``fmt`` key, None if not RegNet."""
    for role, name in zip(("stem_conv", "stem_bn"), _STEM[fmt]):
        m = re.match(rf"^{re.escape(name)}\.{_PARAM}$", key)
        if m:
            return None, role, m.group(1)
    m = _PREFIX[fmt].match(key)
    if not m:
        return None
    if fmt == "timm":
        stage, block, rest = int(m.group(1)), int(m.group(2)) - 1, m.group(3)
    else:
        stage, inner, block, rest = int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)
        if fmt == "vissl":
            stage -= 1
        if inner != stage or block < 0:
            return None
    for role, name in zip(_ROLES, _BLOCK[fmt]):
        m = re.match(rf"^{re.escape(name)}\.{_PARAM}$", rest)
        if m:
            return (stage, block), role, m.group(1)
    return None


def _format(where: tuple[int, int] | None, role: str, param: str, fmt: str) -> str:
    if where is None:
        return f"{_STEM[fmt][0 if role == 'stem_conv' else 1]}.{param}"
    stage, block = where
    prefix = {
        "ours": f"trunk_output.block{stage}.block{stage}-{block}",
        "classy": f"trunk_output.block{stage}.block{stage}-{block}",
        "vissl": f"_feature_blocks.res{stage + 1}.block{stage}-{block}",
        "timm": f"s{stage}.b{block + 1}",
    }[fmt]
    return f"{prefix}.{_BLOCK[fmt][_ROLES.index(role)]}.{param}"


def regnet_key(key: str, src: str, dst: str) -> str | None:
    """``key`` of a ``src``-named RegNet renamed the ``dst`` way (None: not a RegNet key)."""
    parsed = _parse(key, src)
    return None if parsed is None else _format(*parsed, dst)


def regnet_to_ours(state: Mapping[str, object], fmt: str) -> MappedState:
    """``fmt``-named RegNet trunk -> ssl-models (torchvision) names; timm's ``head.*`` dropped."""

    def rule(key: str) -> str | object | None:
        if fmt == "timm" and key.startswith("head."):
            return DROP
        return regnet_key(key, fmt, "ours")

    return map_keys(state, rule, what=f"{fmt} RegNet")


def regnet_from_ours(state: Mapping[str, object], fmt: str) -> MappedState:
    """ssl-models (torchvision) RegNet trunk -> ``fmt`` names."""
    return map_keys(state, lambda k: regnet_key(k, "ours", fmt), what="RegNet trunk")
