#!/usr/bin/env bash
# GPU check of the trainer (at most ~5 minutes on one GPU): SimCLR and DINO for a few hundred steps
# on CUDA in bf16 (train.precision=auto picks it), ResNet-50 at 224 px on upsampled in-memory images
# (Fashion-MNIST when found, else digits), printing images/s and peak GPU memory as JSON lines.
#
#   bash benchmarks/gpu_check.sh            # from the repository root, on a machine with CUDA
#
# Installs the repository's packages into the current Python first when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
python - <<'PY' 2>/dev/null || python -m pip install -q -e packages/ssl-losses -e packages/ssl-models -e "packages/ssl-data" -e packages/ssl-train
import ssl_train  # noqa: F401
PY
STEPS=${STEPS:-200}
for recipe in simclr dino; do
  python - "$recipe" "$STEPS" <<'PY'
import json, sys, time
import torch
import ssl_train

recipe, steps = sys.argv[1], int(sys.argv[2])
if not torch.cuda.is_available():
    raise SystemExit("gpu_check: no CUDA device here")
cfg_class = ssl_train.get_recipe(recipe).config_class
over = ["data.image_size=224", "data.batch_size=128", "model.trunk=resnet50", "model.width_multiplier=1.0",
        f"train.max_steps={steps}", "train.device=cuda", "train.precision=auto", "train.tensorboard=false",
        "monitor.knn_every_epochs=0", "train.channels_last=true"]
if recipe == "dino":
    over += ["views.local_size=96", "views.local_crops=6", "model.head_out_dim=65536", "model.head_hidden_dim=2048",
             "model.head_bottleneck_dim=256"]
cfg = ssl_train.load_config(cfg_class(), over)
torch.cuda.reset_peak_memory_stats()
start = time.perf_counter()
result = ssl_train.pretrain(recipe, cfg, f"/tmp/gpu_check_{recipe}", progress=False)
wall = time.perf_counter() - start
print(json.dumps({"recipe": recipe, "device": torch.cuda.get_device_name(), "precision": result.precision,
                  "steps": result.steps, "global_batch": cfg.data.batch_size,
                  "images_per_second": round(result.images_per_second, 1),
                  "wall_seconds": round(wall, 1), "peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20),
                  "final_loss": round(result.final_loss, 4)}))
PY
done
