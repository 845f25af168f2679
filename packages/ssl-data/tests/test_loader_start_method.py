"""build_loader's worker start method: "fork" inside a spawned rank on Linux, torch's default elsewhere."""

from __future__ import annotations

import json
import multiprocessing
import runpy
import sys
import textwrap

import pytest
import torch

from ssl_data import TensorImageDataset, build_loader
from ssl_data.loader import default_worker_start_method

# Runs inside a real process started with the "spawn" method (like a torch.multiprocessing.spawn
# rank): which start method do the loader's workers get, and do forked workers serve the batches
# a main-process loader serves?
CHILD = """
import json, multiprocessing, sys
import torch
from ssl_data import TensorImageDataset, build_loader

images = torch.arange(10 * 4 * 4, dtype=torch.uint8).reshape(10, 4, 4)
dataset = TensorImageDataset(images, torch.arange(10))
kw = dict(batch_size=4, shuffle=True, seed=5, drop_last=False)
auto = build_loader(dataset, num_workers=2, **kw)
explicit = build_loader(dataset, num_workers=2, multiprocessing_context="spawn", **kw)
batches = [[b[0].tolist(), b[2].tolist()] for b in auto]
reference = [[b[0].tolist(), b[2].tolist()] for b in build_loader(dataset, num_workers=0, **kw)]
with open(OUT, "w") as f:
    json.dump({
        "own_start_method": multiprocessing.get_start_method(),
        "auto": auto.multiprocessing_context.get_start_method(),
        "explicit": explicit.multiprocessing_context.get_start_method(),
        "same_batches": batches == reference,
    }, f)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="fork is only chosen on Linux")
def test_spawned_rank_gets_forked_workers(tmp_path) -> None:
    out = tmp_path / "result.json"
    script = tmp_path / "child.py"
    script.write_text(f"OUT = {str(out)!r}\n" + textwrap.dedent(CHILD))
    child = multiprocessing.get_context("spawn").Process(target=runpy.run_path, args=(str(script),))
    child.start()
    child.join(600)
    assert child.exitcode == 0
    result = json.loads(out.read_text())
    assert result == {"own_start_method": "spawn", "auto": "fork", "explicit": "spawn", "same_batches": True}


def test_main_process_keeps_torchs_default() -> None:
    assert default_worker_start_method() is None  # pytest's process is not a spawned child
    dataset = TensorImageDataset(torch.zeros(4, 4, 4, dtype=torch.uint8), torch.arange(4))
    assert build_loader(dataset, batch_size=2, num_workers=1).multiprocessing_context is None
    forced = build_loader(dataset, batch_size=2, num_workers=1, multiprocessing_context="spawn")
    assert forced.multiprocessing_context.get_start_method() == "spawn"
    assert build_loader(dataset, batch_size=2, num_workers=0).multiprocessing_context is None
