"""``convert``: read any supported checkpoint, rebuild the ssl-models trunk (and heads), write the
target format atomically, optionally verify it, and report every key that was not carried over."""

from __future__ import annotations

import io
import os
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ssl_convert.alexnet_official import read_deepcluster, read_rotnet
from ssl_convert.barlow_twins_format import read_barlow_twins
from ssl_convert.caffe2_alexnet import alexnet_trunk_name, is_alexnet_state
from ssl_convert.caffe2_format import read_caffe2
from ssl_convert.classy_format import read_classy, write_classy
from ssl_convert.detect import INPUT_FORMATS, detect_object
from ssl_convert.detectron2_format import config_yaml, write_detectron2
from ssl_convert.dino_format import read_dino
from ssl_convert.errors import ArchKwargsError, FormatError, KeyMappingError
from ssl_convert.moco_format import read_moco
from ssl_convert.reading import read_file
from ssl_convert.resnet_arch import infer_resnet, is_resnet_state
from ssl_convert.sharded import is_dcp_dir, read_dcp, training_run_part
from ssl_convert.swav_format import read_swav
from ssl_convert.timm_format import read_timm, write_timm
from ssl_convert.torchvision_format import is_regnet_state, read_torchvision, write_torchvision
from ssl_convert.verify import verify_conversion
from ssl_convert.vit_arch import infer_vit, num_heads_for_width
from ssl_convert.vit_keys import is_timm_vit
from ssl_convert.vissl_format import read_vissl, write_vissl
from ssl_convert.vissl_sharded import read_vissl_sharded
from ssl_convert.weights import Weights, plain_state

__all__ = ["OUTPUT_FORMATS", "ConversionReport", "convert"]

#: Every format ``convert`` writes (``to``).
OUTPUT_FORMATS: tuple[str, ...] = ("ssl", "torchvision", "timm", "vissl", "classy", "detectron2")


@dataclass
class ConversionReport:
    """What a conversion did.

    Attributes:
        source_format / target_format: formats read and written (``source_detected``: whether
            the source format was worked out from the file rather than given).
        trunk_name / trunk_kwargs: the ssl-models trunk the weights belong to.
        num_tensors: tensors written.
        dropped: source keys left out on purpose (heads a format cannot hold, momentum, ...).
        unconverted: source keys no rule matched (always empty in a report: such a conversion
            raises instead of writing).
        notes: one-line remarks (where the weights were found, what was assumed).
        config: detectron2 config values the weights need (``config_path``: the YAML written
            next to the ``.pkl``); None for other targets.
        max_abs_diff / verified_with: verification result (None when not verified).
    """

    in_path: Path
    out_path: Path
    source_format: str
    target_format: str
    source_detected: bool
    trunk_name: str
    trunk_kwargs: dict[str, Any]
    num_tensors: int
    dropped: list[str] = field(default_factory=list)
    unconverted: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    config: dict[str, Any] | None = None
    config_path: Path | None = None
    max_abs_diff: float | None = None
    verified_with: str | None = None

    def __str__(self) -> str:
        return self.summary()

    def summary(self) -> str:
        """A few human-readable lines (what the CLI prints)."""
        found = "detected" if self.source_detected else "given"
        lines = [
            f"{self.in_path} ({self.source_format}, {found}) -> {self.out_path} ({self.target_format})",
            f"trunk {self.trunk_name} {self.trunk_kwargs}, {self.num_tensors} tensors written",
        ]
        if self.dropped:
            shown = ", ".join(self.dropped[:6]) + (" ..." if len(self.dropped) > 6 else "")
            lines.append(f"dropped {len(self.dropped)} keys: {shown}")
        lines += self.notes
        if self.config is not None:
            lines.append("detectron2 config: " + ", ".join(f"{k}={v}" for k, v in self.config.items()))
        if self.max_abs_diff is not None:
            lines.append(f"verified with {self.verified_with}: max abs diff {self.max_abs_diff:.3g}")
        return "\n".join(lines)


def _read_ssl(obj: object) -> Weights:
    assert isinstance(obj, Mapping)
    trunk = obj.get("trunk")
    if not isinstance(trunk, Mapping) or not {"name", "kwargs", "state_dict"} <= set(trunk):
        raise FormatError("ssl checkpoint without a valid 'trunk' entry")
    out = Weights(dict(trunk["state_dict"]), trunk["name"], dict(trunk["kwargs"]), heads=list(obj.get("heads") or []))
    if obj.get("train_state"):
        out.notes.append("train_state (optimizer, schedules, RNG, ...) left out: the output holds the model only")
    return out


def _read_dcp_payload(obj: Mapping[str, Any]) -> tuple[Weights, str]:
    if obj.get("format") == "ssl-checkpoint":
        return _read_ssl(obj), "ssl"
    for key in ("model", "state_dict", "trunk"):
        if isinstance(obj.get(key), Mapping):
            return read_torchvision(plain_state(obj[key])), "torchvision"
    return read_torchvision(plain_state(obj)), "torchvision"


def _read(fmt: str, obj: object, branch: str, bgr_to_rgb: bool, fold_bn: bool) -> Weights:
    if fmt == "caffe2":
        return read_caffe2(obj, bgr_to_rgb=bgr_to_rgb, fold_bn=fold_bn)
    if fmt == "dino":
        return read_dino(obj, branch=branch)
    if fmt == "ssl":
        if not isinstance(obj, Mapping):
            raise FormatError("an ssl checkpoint is a dict")
        return _read_ssl(obj)
    readers = {
        "torchvision": read_torchvision, "timm": read_timm, "vissl": read_vissl, "classy": read_classy,
        "moco": read_moco, "swav": read_swav, "barlow_twins": read_barlow_twins,
        "rotnet": read_rotnet, "deepcluster": read_deepcluster,
    }  # fmt: skip
    return readers[fmt](obj)


def _fit_trunk(weights: Weights, arch: str | None, arch_kwargs: Mapping[str, Any] | None, path: Path) -> tuple[str, dict[str, Any], dict[str, Tensor]]:
    """Trunk name, kwargs and state dict, checked by building the trunk and loading strictly."""
    from ssl_models import build_trunk

    state = dict(weights.trunk_state)
    if arch is not None:
        name, kwargs = arch, dict(arch_kwargs or {})
    elif weights.trunk_name is not None:
        name, kwargs = weights.trunk_name, dict(weights.trunk_kwargs or {})
    elif is_resnet_state(state):
        name, kwargs = infer_resnet(state)
        weights.notes.append(f"architecture worked out from the weight shapes: {name} {kwargs}")
    elif is_timm_vit(state):
        heads, how = _vit_num_heads(weights, arch_kwargs, int(state["patch_embed.proj.weight"].shape[0]))
        name, kwargs = infer_vit(state, num_heads=heads)
        weights.notes.append(f"architecture worked out from the weight shapes: {name} {kwargs} (num_heads {heads}: {how})")
    elif is_regnet_state(state):
        name, kwargs = _match_regnet_preset(state, path), {}
        weights.notes.append(f"architecture worked out from the weight shapes: {name}")
    elif is_alexnet_state(state) and (found := alexnet_trunk_name(state, int(state["_feature_blocks.0.0.weight"].shape[1]))):
        name, kwargs = found, {}
        weights.notes.append(f"architecture worked out from the weights: {name}")
    else:
        raise FormatError(f"{path}: cannot tell the architecture from the weights; pass arch (--arch)")
    try:
        with torch.device("meta"):  # shapes only, no memory or init cost
            trunk = build_trunk(name, **kwargs)
    except (ValueError, TypeError) as err:
        raise FormatError(f"arch {name!r} {kwargs}: {err}") from None
    expected = trunk.state_dict()
    filled = [k for k in expected if k not in state and k.endswith("num_batches_tracked")]
    for k in filled:
        state[k] = torch.zeros(expected[k].shape, dtype=expected[k].dtype)
    if filled:
        weights.notes.append(f"{len(filled)} num_batches_tracked buffers absent from the source, set to 0")
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong:
        parts = [f"missing {missing[:2]}" if missing else "", f"unexpected {unexpected[:2]}" if unexpected else "", f"shapes {wrong[:2]}" if wrong else ""]
        raise FormatError(f"{path} does not match architecture {name} {kwargs}: " + "; ".join(p for p in parts if p))
    return name, kwargs, {k: state[k] for k in expected}


def _vit_num_heads(weights: Weights, arch_kwargs: Mapping[str, Any] | None, hidden_dim: int) -> tuple[int, str]:
    """A ViT's num_heads (invisible in its weights) and where it came from: ``arch_kwargs``, the
    file (``weights.arch_hints``), else the standard value for the width."""
    if arch_kwargs and arch_kwargs.get("num_heads") is not None:
        return int(arch_kwargs["num_heads"]), "given"
    if "num_heads" in weights.arch_hints:
        value, source = weights.arch_hints["num_heads"]
        return int(value), f"from {source}"
    return num_heads_for_width(hidden_dim)


def _match_regnet_preset(state: Mapping[str, Tensor], path: Path) -> str:
    from ssl_models import build_trunk, list_trunks

    for name in (n for n in list_trunks() if n.startswith("regnet_")):
        with torch.device("meta"):
            expected = build_trunk(name).state_dict()
        if expected.keys() == state.keys() and all(state[k].shape == v.shape for k, v in expected.items()):
            return name
    raise FormatError(f"{path}: a RegNet that matches no preset; pass arch='regnet' with its arch_kwargs")


def _fit_heads(weights: Weights) -> list[dict[str, Any]]:
    from ssl_models import build_head

    heads = []
    for i, entry in enumerate(weights.heads):
        try:
            build_head(entry["name"], **entry["kwargs"]).load_state_dict(entry["state_dict"], strict=True)
        except (ValueError, TypeError, RuntimeError) as err:
            first = str(err).strip().splitlines()[0]
            weights.dropped += [f"heads.{i}.{k}" for k in entry["state_dict"]]
            weights.notes.append(f"head {i} could not be rebuilt as {entry['name']} ({first}); dropped")
            continue
        heads.append({"name": entry["name"], "kwargs": dict(entry["kwargs"]), "state_dict": dict(entry["state_dict"])})
    return heads


def _serialise(to: str, payload: dict[str, Any], classy_heads: bool = False) -> tuple[bytes, list[str], int, dict[str, Any] | None]:
    """(file bytes, dropped keys, tensors written, detectron2 config)."""
    config = None
    if to == "detectron2":
        obj, dropped, config = write_detectron2(payload)
        return pickle.dumps(obj, protocol=4), dropped, len(obj["model"]), config
    if to == "ssl":
        obj, dropped = payload, []
        count = len(payload["trunk"]["state_dict"]) + sum(len(h["state_dict"]) for h in payload["heads"])
    else:
        writers = {"torchvision": write_torchvision, "timm": write_timm, "vissl": write_vissl}
        obj, dropped = write_classy(payload, include_heads=classy_heads) if to == "classy" else writers[to](payload)
        count = _count_tensors(obj)
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue(), dropped, count, config


def _count_tensors(obj: object) -> int:
    if isinstance(obj, Tensor):
        return 1
    if isinstance(obj, Mapping):
        return sum(_count_tensors(v) for v in obj.values())
    return 0


def convert(
    in_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    to: str,
    from_: str | None = None,
    verify: bool = False,
    allow_unsafe_load: bool = False,
    *,
    arch: str | None = None,
    arch_kwargs: Mapping[str, Any] | None = None,
    branch: str = "teacher",
    bgr_to_rgb: bool = False,
    fold_bn: bool = False,
    classy_heads: bool = False,
    tolerance: float = 1e-4,
    progress: Callable[[str, int, int], None] | None = None,
) -> ConversionReport:
    """Convert the checkpoint at ``in_path`` to format ``to`` and write it atomically to ``out_path``.

    Args:
        in_path: a checkpoint file, or a ``torch.distributed.checkpoint`` directory.
        out_path: the file to write (a ``.pkl`` for detectron2; a ``.yaml`` with the detectron2
            config values is written next to it).
        to: one of :data:`OUTPUT_FORMATS`.
        from_: the source format (one of ``INPUT_FORMATS``); worked out from the file when None.
        verify: load the written bytes into the target architecture and compare its outputs on
            a fixed input with the source trunk; :class:`VerificationError` above ``tolerance``.
        allow_unsafe_load: allow files that pickle Python objects (full unpickling).
        arch / arch_kwargs: the ssl-models trunk the weights must fit (``build_trunk`` name and
            keyword arguments); by default taken from the file or worked out from the shapes.
            ``arch_kwargs`` without ``arch`` fill in what the weights do not show (a ViT's
            ``num_heads``): :class:`ArchKwargsError` when the trunk found does not take them.
        branch: DINO checkpoints: "teacher" (default) or "student".
        bgr_to_rgb: Caffe2 models: reverse the first convolution's input channels.
        fold_bn: Caffe2 models: fold batch norms into their affine form.
        classy_heads: ClassyVision output: also write the first head (an ``mlp``) in VISSL's
            ``--include_heads`` layout (``heads.block3-2.default_head``); off by default, as in VISSL.
        tolerance: largest accepted max abs difference when verifying.
        progress: ``progress("convert", steps done, steps)`` (ssl-data's ``ProgressFn``) after
            each of reading, fitting the trunk, serialising, verifying (when asked) and writing.

    Raises:
        FileNotFoundError: ``in_path`` or the folder of ``out_path`` does not exist.
        FormatError: unknown format names, a file that is not a checkpoint (text, truncated,
            unknown layout), or weights that do not fit ``arch``.
        UnsafeLoadError: the file needs ``allow_unsafe_load=True``.
        KeyMappingError: a key would be lost or two keys collide (nothing is written).
        VerificationError: outputs differ beyond ``tolerance`` (nothing is written).
    """
    src, dest = Path(in_path), Path(out_path)
    if to not in OUTPUT_FORMATS:
        raise FormatError(f"unknown output format {to!r}; choose from {', '.join(OUTPUT_FORMATS)}")
    if from_ is not None and from_ not in INPUT_FORMATS:
        raise FormatError(f"unknown input format {from_!r}; choose from {', '.join(INPUT_FORMATS)}")
    if not src.exists():
        raise FileNotFoundError(f"checkpoint not found: {src}")
    if not dest.parent.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {dest.parent}")
    if to == "detectron2" and dest.suffix != ".pkl":
        raise FormatError(f"detectron2 reads plain pickles only from a .pkl path; got {dest.name!r}")
    if dest.exists() and dest.is_dir():
        raise FormatError(f"output path is a directory: {dest}")
    from ssl_models.atomic_files import check_writable, write_atomically  # lazy: ssl_models imports timm

    check_writable(dest)
    steps = 5 if verify else 4

    def report_step(done: int) -> None:
        if progress is not None:
            progress("convert", done, steps)

    report_step(0)
    if is_dcp_dir(src) or (from_ == "dcp"):
        obj = read_dcp(src, allow_unsafe_load=allow_unsafe_load)
        run_part = training_run_part(src)
        if run_part is not None and isinstance(obj.get("model"), Mapping):  # an ssl-train FSDP run's last.dcp/
            from ssl_models.checkpoint import CheckpointError, fill_sharded_weights

            try:
                weights, inner = _read_ssl(fill_sharded_weights(run_part, obj["model"])), "ssl-train run"
            except CheckpointError as err:
                raise FormatError(f"{src}: {err}") from None
        else:
            weights, inner = _read_dcp_payload(obj)
        fmt, detected = "dcp", from_ is None
        weights.notes.insert(0, f"sharded torch.distributed.checkpoint consolidated ({inner} layout inside)")
    else:
        obj = read_file(src, allow_unsafe_load=allow_unsafe_load)
        fmt, detected = (from_, False) if from_ is not None else (detect_object(obj), True)
        if fmt == "vissl_sharded":
            if not isinstance(obj, Mapping):
                raise FormatError(f"{src}: a VISSL shard_list / slice_list checkpoint is a dict")
            obj, unexplained, notes = read_vissl_sharded(src, obj, allow_unsafe_load=allow_unsafe_load)
            weights = read_vissl(obj)
            weights.unconverted += unexplained
            weights.notes[:0] = notes
        else:
            weights = _read(fmt, obj, branch, bgr_to_rgb, fold_bn)
    report_step(1)
    if weights.unconverted:
        shown = ", ".join(repr(k) for k in weights.unconverted[:4])
        raise KeyMappingError(f"{src}: {len(weights.unconverted)} keys have no {fmt} rule and would be lost ({shown}); nothing written")

    name, kwargs, state = _fit_trunk(weights, arch, arch_kwargs, src)
    unmet = {k: v for k, v in (arch_kwargs or {}).items() if arch is None and kwargs.get(k) != v}
    if unmet:
        given = ", ".join(f"{k} {v!r}" for k, v in unmet.items())
        raise ArchKwargsError(f"{given} does not apply to {src}: its trunk is {name} {kwargs}", unmet, name, kwargs)
    heads = _fit_heads(weights)
    report_step(2)
    payload: dict[str, Any] = {
        "format": "ssl-checkpoint",
        "format_version": 1,
        "trunk": {"name": name, "kwargs": kwargs, "state_dict": state},
        "heads": heads,
        "recipe": obj.get("recipe") if fmt == "ssl" and isinstance(obj, Mapping) else None,
        "train_state": None,
    }
    data, dropped, count, config = _serialise(to, payload, classy_heads)
    report_step(3)
    report = ConversionReport(
        in_path=src, out_path=dest, source_format=fmt, target_format=to, source_detected=detected,
        trunk_name=name, trunk_kwargs=kwargs, num_tensors=count,
        dropped=weights.dropped + dropped, notes=weights.notes, config=config,
    )  # fmt: skip
    if verify:
        report.max_abs_diff, report.verified_with = verify_conversion(payload, to, data, tolerance)
        report_step(4)
    write_atomically(dest, lambda f: f.write(data), make_parents=False)
    if config is not None:
        report.config_path = dest.with_suffix(".yaml")
        text = config_yaml(config, dest.name).encode()
        write_atomically(report.config_path, lambda f: f.write(text), make_parents=False)
    report_step(steps)
    return report
