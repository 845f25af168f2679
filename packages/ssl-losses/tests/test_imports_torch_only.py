"""``import ssl_losses`` pulls in nothing beyond the standard library and what torch itself imports."""

import json
import subprocess
import sys

import ssl_losses

# In a fresh interpreter: what `import torch` adds, then what `import ssl_losses` adds on top.
_PROBE = """
import json, sys
def top(names): return sorted({m.split('.')[0] for m in names})
start = set(sys.modules)
import torch
after_torch = set(sys.modules)
import ssl_losses
after_losses = set(sys.modules)
print(json.dumps({"torch": top(after_torch - start), "losses": top(after_losses - after_torch)}))
"""


def test_import_adds_only_stdlib_beyond_torch() -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                         check=True, timeout=600)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    added = set(found["losses"])
    extra = added - set(sys.stdlib_module_names) - {"ssl_losses"}
    assert not extra, f"import ssl_losses pulled in third-party modules: {sorted(extra)}"
    everything = added | set(found["torch"])
    for forbidden in ("ssl_models", "ssl_data", "ssl_evaluation", "ssl_train", "ssl_convert",
                      "torchvision", "timm", "sklearn", "faiss", "torchmetrics", "omegaconf"):
        assert forbidden not in everything, forbidden


def test_public_names() -> None:
    for name in ("SimCLRLoss", "MoCoLoss", "SwAVLoss", "SwAVMomentumLoss", "DINOLoss",
                 "BarlowTwinsLoss", "dino_teacher_temperature", "distributed_sinkhorn_knopp",
                 "distributed"):
        assert name in ssl_losses.__all__ and hasattr(ssl_losses, name), name
    assert len(set(ssl_losses.__all__)) == len(ssl_losses.__all__)
