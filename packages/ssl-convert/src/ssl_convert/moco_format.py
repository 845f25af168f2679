"""Official MoCo v1/v2 checkpoints (``moco_v2_800ep_pretrain.pth.tar``) -> ssl-models weights.

``state_dict`` keys ``module.encoder_q.*`` are the query ResNet (torchvision names); its ``fc``
(one Linear in v1, Linear-ReLU-Linear in v2) becomes an ``mlp`` head. The key encoder
``module.encoder_k.*``, the ``queue`` and ``queue_ptr`` are dropped and listed.
"""

from __future__ import annotations

from ssl_convert.errors import FormatError
from ssl_convert.keymap import DROP, map_keys
from ssl_convert.mlp_head_arch import mlp_head_entry
from ssl_convert.weights import Weights, state_dict_entry

__all__ = ["is_moco", "read_moco"]


def is_moco(obj: object) -> bool:
    """True for a MoCo checkpoint (``encoder_q.`` keys, with or without ``module.``)."""
    try:
        return any(k.removeprefix("module.").startswith("encoder_q.") for k in state_dict_entry(obj, "MoCo"))
    except FormatError:
        return False


def read_moco(obj: object) -> Weights:
    """MoCo query encoder -> trunk, its ``fc`` -> ``mlp`` head; key encoder and queue dropped."""
    state = state_dict_entry(obj, "MoCo")

    def rule(key: str) -> str | object | None:
        k = key.removeprefix("module.")
        if k.startswith("encoder_q.fc."):
            return DROP  # taken below as the head
        if k.startswith("encoder_q."):
            return k[len("encoder_q.") :]
        if k.startswith("encoder_k.") or k in ("queue", "queue_ptr"):
            return DROP
        return None

    mapped = map_keys(state, rule, what="MoCo state_dict")
    fc = {k.removeprefix("module.")[len("encoder_q.fc.") :]: v for k, v in state.items() if k.removeprefix("module.").startswith("encoder_q.fc.")}
    out = Weights(dict(mapped.state), unconverted=mapped.unconverted)  # type: ignore[arg-type]
    out.dropped = [k for k in mapped.dropped if ".fc." not in k]
    if fc:
        seq = {(f"0.{k}" if not k[0].isdigit() else k): v for k, v in fc.items()}
        out.heads.append(mlp_head_entry(seq, "MoCo fc head"))
    out.notes.append("MoCo: query encoder kept; key encoder and queue dropped")
    return out
