"""Bad input to every `ssl` command, table-driven: each case must end with exit code 2, exactly one
line on stderr (no traceback), and leave no output behind (the whole test folder, the shared
fixtures and the working directory are compared file by file before and after).

The CLI runs in this process through the console script's entry point (`ssl_cli.main.main`), so
the ~200 cases take seconds; every failure is raised by the real code on real files.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import bench_files as bf
from cli_runner import ssl_in_process

# ------------------------------------------------------------------ shared inputs (read-only)

TINY_PRETRAIN = ["train.precision=fp32", "model.width_multiplier=0.125", "data.image_size=16", "data.batch_size=32", "data.limit=64",
                 "train.epochs=1", "--no-progress"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Files every case may read; none of them may change."""
    from ssl_evaluation.robustness import ood_wnids

    root = tmp_path_factory.mktemp("inputs")
    paths = {
        "ckpt": bf.save_tiny_checkpoint(root / "tiny.pt"),
        "images": bf.write_image_folder(root / "images", 2, 4, 2),
        "notckpt": root / "notes.pt",
        "empty": root / "empty",
        "textonly": root / "textonly",
        "file": root / "existing.txt",
        "yaml_list": root / "list.yaml",
        "yaml_bad": root / "broken.yaml",
        "missing": root / "does-not-exist",
        "ood": bf.write_ood_folder(root / "imagenet-r", ood_wnids("imagenet-r")[:2], per_class=1),
        "oxford": bf.write_revisited(root / "roxford5k"),
        "voc": bf.write_voc(root / "VOC2007", 1, 1),
    }
    paths["notckpt"].write_text("just some text\n")
    paths["empty"].mkdir()
    (paths["textonly"] / "cats").mkdir(parents=True)
    (paths["textonly"] / "cats" / "notes.txt").write_text("not an image")
    paths["file"].write_text("keep me\n")
    paths["yaml_list"].write_text("- 1\n- 2\n")
    paths["yaml_bad"].write_text("runs: [unclosed\n")
    suites = {
        "suite_unknown_benchmark": f"runs:\n  - {{checkpoint: {paths['ckpt']}, benchmark: nope, data: {paths['images']}}}\n",
        "suite_unknown_key": f"runs:\n  - {{checkpoint: {paths['ckpt']}, benchmark: knn, data: {paths['images']}, options: {{knn.nope: 1}}}}\n",
        "suite_wrong_type": f"runs:\n  - {{checkpoint: {paths['ckpt']}, benchmark: knn, data: {paths['images']}, options: {{knn.k: many}}}}\n",
        "suite_missing_ckpt": f"runs:\n  - {{checkpoint: {root / 'gone.pt'}, benchmark: knn, data: {paths['images']}}}\n",
        "suite_missing_data": f"runs:\n  - {{checkpoint: {paths['ckpt']}, benchmark: knn, data: {root / 'gone'}}}\n",
        "suite_no_runs": "runs: []\n",
        "suite_ok": f"runs:\n  - {{checkpoint: {paths['ckpt']}, benchmark: knn, data: {paths['images']}}}\n",
    }
    for name, text in suites.items():
        paths[name] = root / f"{name}.yaml"
        paths[name].write_text(text)
    return paths


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One real (tiny) pretraining run, for the --resume cases."""
    out = tmp_path_factory.mktemp("run") / "simclr"
    code, _, err = ssl_in_process("pretrain", "simclr", "--data", "digits", "--out", out, *TINY_PRETRAIN)
    assert code == 0, err
    assert (out / "checkpoints" / "last.pt").is_file()
    return out


# ------------------------------------------------------------------ the table

def _first_number_field(protocol: object, prefix: str = "") -> str:
    """Dotted path of the first int/float field of a protocol dataclass (nested ones included)."""
    for field in dataclasses.fields(protocol):
        value = getattr(protocol, field.name)
        if dataclasses.is_dataclass(value):
            found = _first_number_field(value, f"{prefix}{field.name}.")
            if found:
                return found
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"{prefix}{field.name}"
    return ""


# Benchmarks whose data is not a classification folder get data of their own layout, so that the
# checkpoint and output cases reach the checkpoint and the output checks.
DATA_OF = {"robustness": "{ood}", "retrieval": "{oxford}", "detection": "{voc}"}


def _benchmark_cases() -> list[tuple[str, list[str], str]]:
    from ssl_evaluation.suites import BENCHMARKS

    cases = []
    for name, bench in BENCHMARKS.items():
        number = _first_number_field(bench.protocol())
        data = DATA_OF.get(name, "{images}")
        base = ["benchmark", name, "-c", "{ckpt}", "--data", data, "--out", "{out}", "--no-progress"]
        cases += [
            (f"{name}: checkpoint missing", ["benchmark", name, "-c", "{missing}/x.pt", "--data", data, "--out", "{out}"], "x.pt"),
            (f"{name}: not a checkpoint", ["benchmark", name, "-c", "{notckpt}", "--data", data, "--out", "{out}"], "notes.pt"),
            (f"{name}: unknown key", [*base, "nosuchkey=1"], "nosuchkey"),
            (f"{name}: wrong type", [*base, f"{number}=notanumber"], number),
            (f"{name}: override without =", [*base, "justaword"], "justaword"),
            (f"{name}: --config missing", [*base, "--config", "{missing}/p.yaml"], "p.yaml"),
            (f"{name}: --config not a mapping", [*base, "--config", "{yaml_list}"], "list.yaml"),
            (f"{name}: --config not YAML", [*base, "--config", "{yaml_bad}"], "broken.yaml"),
            (f"{name}: --data missing", ["benchmark", name, "-c", "{ckpt}", "--data", "{missing}", "--out", "{out}"], "does-not-exist"),
            (f"{name}: --data without images", ["benchmark", name, "-c", "{ckpt}", "--data", "{textonly}", "--out", "{out}"], "textonly"),
            (f"{name}: --out is a file", ["benchmark", name, "-c", "{ckpt}", "--data", data, "--out", "{file}"], "existing.txt"),
        ]
    return cases


OTHER_CASES: list[tuple[str, list[str], str]] = [
    # ssl pretrain
    ("pretrain: unknown recipe", ["pretrain", "nosuchmethod", "--out", "{out}"], "nosuchmethod"),
    ("pretrain: bad import path", ["pretrain", "ssl_train.recipes:NOPE", "--out", "{out}"], "NOPE"),
    ("pretrain: module that does not exist", ["pretrain", "no_such_pkg.mod:Recipe", "--out", "{out}"], "no_such_pkg"),
    ("pretrain: unknown key", ["pretrain", "simclr", "--out", "{out}", "optim.learning_rate=0.1"], "optim.learning_rate"),
    ("pretrain: unknown section", ["pretrain", "simclr", "--out", "{out}", "nosuch.key=1"], "nosuch.key"),
    ("pretrain: wrong type", ["pretrain", "simclr", "--out", "{out}", "train.epochs=lots"], "train.epochs"),
    ("pretrain: override without =", ["pretrain", "simclr", "--out", "{out}", "epochs"], "epochs"),
    ("pretrain: cuda without CUDA", ["pretrain", "simclr", "--data", "digits", "--out", "{out}", "train.device=cuda"], "cuda"),
    ("pretrain: deit_tiny with width_multiplier", ["pretrain", "simclr", "--data", "digits", "--out", "{out}", "model.trunk=deit_tiny"], "width_multiplier"),
    ("pretrain: unknown trunk", ["pretrain", "simclr", "--data", "digits", "--out", "{out}", "model.trunk=nope"], "nope"),
    ("pretrain: unknown schedule", ["pretrain", "simclr", "--data", "digits", "--out", "{out}", "schedule.name=nope"], "nope"),
    ("pretrain: unknown optimizer", ["pretrain", "simclr", "--data", "digits", "--out", "{out}", "optim.name=nope"], "nope"),
    ("pretrain: batch size 1", ["pretrain", "simclr", "--data", "digits", "--out", "{out}", "data.batch_size=1"], "batch_size"),
    ("pretrain: batch size 0", ["pretrain", "simclr", "--data", "digits", "--out", "{out}", "data.batch_size=0"], "batch_size"),
    ("pretrain: lr nan", ["pretrain", "simclr", "--data", "digits", "--out", "{out}", "optim.lr=nan"], "nan"),
    ("pretrain: lr inf", ["pretrain", "simclr", "--data", "digits", "--out", "{out}", "optim.lr=inf"], "inf"),
    ("pretrain: image size 0", ["pretrain", "simclr", "--data", "digits", "--out", "{out}", "data.image_size=0"], "size"),
    ("pretrain: image size negative", ["pretrain", "simclr", "--data", "digits", "--out", "{out}", "data.image_size=-4"], "-4"),
    ("pretrain: epochs 0", ["pretrain", "simclr", "--data", "digits", "--out", "{out}", "train.epochs=0"], "train.epochs"),
    ("pretrain: negative checkpoint interval", ["pretrain", "simclr", "--data", "digits", "--out", "{out}", "train.checkpoint_every_steps=-1"], "checkpoint_every_steps"),
    ("pretrain: --data missing", ["pretrain", "simclr", "--data", "{missing}", "--out", "{out}"], "does-not-exist"),
    ("pretrain: --data without images", ["pretrain", "simclr", "--data", "{textonly}", "--out", "{out}"], "textonly"),
    ("pretrain: --data empty folder", ["pretrain", "simclr", "--data", "{empty}", "--out", "{out}"], "empty"),
    ("pretrain: --data is a file", ["pretrain", "simclr", "--data", "{file}", "--out", "{out}"], "existing.txt"),
    ("pretrain: --config missing", ["pretrain", "simclr", "--out", "{out}", "--config", "{missing}/r.yaml"], "r.yaml"),
    ("pretrain: --config not a mapping", ["pretrain", "simclr", "--out", "{out}", "--config", "{yaml_list}"], "config"),
    ("pretrain: --config not YAML", ["pretrain", "simclr", "--out", "{out}", "--config", "{yaml_bad}"], "broken.yaml"),
    ("pretrain: --out is a file", ["pretrain", "simclr", "--data", "digits", "--out", "{file}"], "existing.txt"),
    ("pretrain: --resume without checkpoint", ["pretrain", "simclr", "--data", "digits", "--out", "{empty}", "--resume", *TINY_PRETRAIN], "no checkpoint"),
    ("pretrain: --resume on a missing folder", ["pretrain", "simclr", "--data", "digits", "--out", "{out}", "--resume", *TINY_PRETRAIN], "no checkpoint"),
    ("pretrain: --resume changes lr", ["pretrain", "simclr", "--data", "digits", "--out", "{run}", "--resume", *TINY_PRETRAIN, "optim.lr=0.77"], "optim.lr"),
    ("pretrain: --resume changes batch", ["pretrain", "simclr", "--data", "digits", "--out", "{run}", "--resume", *TINY_PRETRAIN, "data.batch_size=16"], "data.batch_size"),
    ("pretrain: --resume changes optimizer", ["pretrain", "simclr", "--data", "digits", "--out", "{run}", "--resume", *TINY_PRETRAIN, "optim.name=lars"], "optim.name"),
    ("pretrain: previous run kept", ["pretrain", "simclr", "--data", "digits", "--out", "{run}", *TINY_PRETRAIN], "--resume"),
    # ssl run
    ("run: unknown recipe", ["run", "nosuchmethod", "--out", "{out}"], "nosuchmethod"),
    ("run: unknown benchmark key", ["run", "simclr", "--data", "digits", "--out", "{out}", "benchmark.knn.nope=1"], "nope"),
    ("run: benchmark wrong type", ["run", "simclr", "--data", "digits", "--out", "{out}", "benchmark.knn.k=many"], "knn.k"),
    ("run: unknown benchmark section", ["run", "simclr", "--data", "digits", "--out", "{out}", "benchmark.nope.k=1"], "nope"),
    ("run: --data missing", ["run", "simclr", "--data", "{missing}", "--out", "{out}"], "does-not-exist"),
    ("run: --data without images", ["run", "simclr", "--data", "{textonly}", "--out", "{out}"], "textonly"),
    ("run: lr nan", ["run", "simclr", "--data", "digits", "--out", "{out}", "optim.lr=nan"], "nan"),
    ("run: previous run kept", ["run", "simclr", "--data", "digits", "--out", "{run}"], "--resume"),
    # ssl benchmark (other sub-commands)
    ("benchmark: unknown name", ["benchmark", "nope", "-c", "{ckpt}"], "nope"),
    ("benchmark protocol: unknown name", ["benchmark", "protocol", "nope"], "nope"),
    ("detectron2: unknown recipe", ["benchmark", "detectron2", "-c", "{ckpt}", "--out", "{out}", "recipe=nope"], "nope"),
    ("detectron2: unknown key", ["benchmark", "detectron2", "-c", "{ckpt}", "--out", "{out}", "nosuchkey=1"], "nosuchkey"),
    ("detectron2: checkpoint missing", ["benchmark", "detectron2", "-c", "{missing}/x.pt", "--out", "{out}"], "x.pt"),
    ("detectron2: not a checkpoint", ["benchmark", "detectron2", "-c", "{notckpt}", "--out", "{out}"], "notes.pt"),
    ("detectron2: R18 below width 1", ["benchmark", "detectron2", "-c", "{ckpt}", "--out", "{out}", "prepare_only=true"], "RES2_OUT_CHANNELS"),
    ("detectron2: --out is a file", ["benchmark", "detectron2", "-c", "{ckpt}", "--out", "{file}"], "existing.txt"),
    ("suite: file missing", ["benchmark", "suite", "{missing}/s.yaml", "--out", "{out}"], "s.yaml"),
    ("suite: not a mapping", ["benchmark", "suite", "{yaml_list}", "--out", "{out}"], "list.yaml"),
    ("suite: not YAML", ["benchmark", "suite", "{yaml_bad}", "--out", "{out}"], "broken.yaml"),
    ("suite: unknown benchmark", ["benchmark", "suite", "{suite_unknown_benchmark}", "--out", "{out}"], "nope"),
    ("suite: unknown key", ["benchmark", "suite", "{suite_unknown_key}", "--out", "{out}"], "knn.nope"),
    ("suite: wrong type", ["benchmark", "suite", "{suite_wrong_type}", "--out", "{out}"], "knn.k"),
    ("suite: checkpoint missing", ["benchmark", "suite", "{suite_missing_ckpt}", "--out", "{out}"], "gone.pt"),
    ("suite: data missing", ["benchmark", "suite", "{suite_missing_data}", "--out", "{out}"], "gone"),
    ("suite: no runs", ["benchmark", "suite", "{suite_no_runs}", "--out", "{out}"], "runs"),
    ("suite: --out is a file", ["benchmark", "suite", "{suite_ok}", "--out", "{file}"], "existing.txt"),
    # ssl extract
    ("extract: checkpoint missing", ["extract", "-c", "{missing}/x.pt", "--data", "{images}", "--out", "{out}"], "x.pt"),
    ("extract: not a checkpoint", ["extract", "-c", "{notckpt}", "--data", "{images}", "--out", "{out}"], "notes.pt"),
    ("extract: empty --layers", ["extract", "-c", "{ckpt}", "--data", "{images}", "--out", "{out}", "--layers", ","], "--layers"),
    ("extract: unknown layer", ["extract", "-c", "{ckpt}", "--data", "{images}", "--out", "{out}", "--layers", "res9"], "res9"),
    ("extract: batch size 0", ["extract", "-c", "{ckpt}", "--data", "{images}", "--out", "{out}", "--batch-size", "0"], "--batch-size"),
    ("extract: negative image size", ["extract", "-c", "{ckpt}", "--data", "{images}", "--out", "{out}", "--image-size", "-1"], "-1"),
    ("extract: --data missing", ["extract", "-c", "{ckpt}", "--data", "{missing}", "--out", "{out}"], "does-not-exist"),
    ("extract: --data without images", ["extract", "-c", "{ckpt}", "--data", "{textonly}", "--out", "{out}"], "textonly"),
    ("extract: --out is a file", ["extract", "-c", "{ckpt}", "--data", "{images}", "--out", "{file}"], "existing.txt"),
    # ssl convert
    ("convert: input missing", ["convert", "{missing}/x.pt", "{out}.pth", "--to", "torchvision"], "x.pt"),
    ("convert: not a checkpoint", ["convert", "{notckpt}", "{out}.pth", "--to", "torchvision"], "notes.pt"),
    ("convert: unknown --to", ["convert", "{ckpt}", "{out}.pth", "--to", "nope"], "nope"),
    ("convert: unknown --from", ["convert", "{ckpt}", "{out}.pth", "--to", "torchvision", "--from", "nope"], "nope"),
    ("convert: --num-heads 0", ["convert", "{ckpt}", "{out}.pth", "--to", "timm", "--num-heads", "0"], "--num-heads"),
    ("convert: --classy-heads without classy", ["convert", "{ckpt}", "{out}.pth", "--to", "torchvision", "--classy-heads"], "--classy-heads"),
    ("convert: output is a folder", ["convert", "{ckpt}", "{empty}", "--to", "torchvision"], "empty"),
    ("convert: wrong --arch", ["convert", "{ckpt}", "{out}.pth", "--to", "torchvision", "--arch", "resnet50"], "resnet50"),
    ("convert: --num-heads on a ResNet", ["convert", "{ckpt}", "{out}.pth", "--to", "timm", "--num-heads", "4"], "--num-heads"),
    # ssl recipes, ssl data
    ("recipes show: unknown recipe", ["recipes", "show", "nope"], "nope"),
    ("data catalog show: unknown", ["data", "catalog", "show", "nope"], "catalog"),
    ("data catalog remove: unknown", ["data", "catalog", "remove", "nope"], "catalog"),
    ("data catalog add: one --train value", ["data", "catalog", "add", "x", "--train", "{images}"], "--train"),
    ("data catalog add: missing paths", ["data", "catalog", "add", "x", "--train", "{missing}/a", "--train", "{missing}/b"], "does-not-exist"),
    ("data prepare: unknown tool", ["data", "prepare", "nope", "-o", "{out}"], "nope"),
    ("data prepare: option without =", ["data", "prepare", "jigsaw_permutations", "-o", "{out}", "hundred"], "hundred"),
    ("data prepare: unknown option", ["data", "prepare", "jigsaw_permutations", "-o", "{out}", "nosuch=1"], "nosuch"),
    ("data prepare: wrong option type", ["data", "prepare", "jigsaw_permutations", "-o", "{out}", "num_permutations=many"], "num_permutations"),
    ("data prepare: input missing", ["data", "prepare", "voc07", "-i", "{missing}", "-o", "{out}"], "does-not-exist"),
    ("data prepare: input without VOC layout", ["data", "prepare", "voc07", "-i", "{images}", "-o", "{out}"], "ImageSets"),
    ("data prepare: output is a file", ["data", "prepare", "jigsaw_permutations", "-o", "{file}", "num_permutations=4"], "existing.txt"),
    ("data prepare: nuScenes without tables", ["data", "prepare", "nuscenes_egomotion", "-i", "{images}", "-o", "{out}"], "sample_data.json"),
    ("data prepare: exemplar features not .npy", ["data", "prepare", "exemplar_classifiers", "-i", "{file}", "-o", "{out}"], "existing.txt"),
    ("data prepare: MM-OVOD folder without LVIS", ["data", "prepare", "collate_exemplars", "-i", "{images}", "-o", "{out}"], "lvis_v1_train.json"),
    ("data prepare: ImageNet-21K without classes", ["data", "prepare", "imagenet21k", "-i", "{images}", "-o", "{out}"], "no class archive"),
]

CASES = _benchmark_cases() + OTHER_CASES


def _snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``roots``: path -> (size, mtime in ns); folders size -1."""
    seen: dict[str, tuple[int, int]] = {}
    for root in roots:
        if not root.exists():
            continue
        for path in [root, *root.rglob("*")]:
            st = path.lstat()
            seen[str(path)] = (-1 if path.is_dir() else st.st_size, st.st_mtime_ns if path.is_file() else 0)
    return seen


def test_the_table_covers_every_command_with_at_least_120_cases():
    from ssl_evaluation.suites import BENCHMARKS

    assert len(CASES) >= 120
    commands = {" ".join(a for a in args[:2] if not a.startswith("{") and not a.startswith("-")) for _, args, _ in CASES}
    for command in ("pretrain simclr", "run simclr", "extract", "convert", "recipes show", "data catalog",
                    "data prepare", "benchmark suite", "benchmark detectron2", "benchmark protocol"):
        assert any(c.startswith(command.split()[0]) for c in commands), command
    for name in BENCHMARKS:
        assert f"benchmark {name}" in commands, name


@pytest.mark.parametrize(("args", "needle"), [(args, needle) for _, args, needle in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(args, needle, inputs, request, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # commands with a default output folder (runs/RECIPE) write here
    monkeypatch.setenv("SSL_DATASET_CATALOG", str(tmp_path / "catalog.json"))
    values = {k: str(v) for k, v in inputs.items()} | {"out": str(tmp_path / "out")}
    if any("{run}" in a for a in args):
        values["run"] = str(request.getfixturevalue("tiny_run"))
    argv = [a.format(**values) for a in args]
    watched = [tmp_path, Path(values["ckpt"]).parent] + ([Path(values["run"])] if "run" in values else [])
    before = _snapshot(*watched)

    code, stdout, stderr = ssl_in_process(*argv)

    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2, f"exit {code}\nstdout: {stdout}\nstderr: {stderr}"
    assert len(lines) == 1, stderr
    assert lines[0].startswith("ssl: error: "), lines[0]
    assert "Traceback" not in stderr
    assert needle in lines[0], f"the error is not about {needle!r}: {lines[0]}"
    assert _snapshot(*watched) == before, "output was left behind or an input changed"


# ------------------------------------------------------------------ the trainer's own stops

def test_a_run_folder_locked_by_a_live_run_is_one_line_exit_2(tmp_path, monkeypatch):
    import json
    import socket
    import subprocess
    import sys

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (out / ".ssl-run.lock").write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname()}))
        before = _snapshot(tmp_path)
        code, _, stderr = ssl_in_process("pretrain", "simclr", "--data", "digits", "--out", out, *TINY_PRETRAIN)
    finally:
        holder.kill()
        holder.wait()
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2, stderr
    assert len(lines) == 1 and lines[0].startswith("ssl: error: ") and f"pid {holder.pid}" in lines[0], stderr
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize(("signum", "exit_code"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_stops_pretraining_with_one_line_saying_how_to_resume(signum, exit_code, tmp_path):
    """A real `ssl pretrain` process gets a real signal once its run is under way."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    args = ["pretrain", "simclr", "--data", "digits", "--out", str(out), "--no-progress",
            *[a for a in TINY_PRETRAIN if not a.startswith(("train.epochs", "--"))], "train.epochs=500"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "ssl_cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "tensorboard").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2.0)  # inside the training loop, where the trainer's handlers are installed
        proc.send_signal(getattr(signal, signum))
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert proc.returncode == exit_code, stderr
    assert "Traceback" not in stderr
    assert lines[-1].startswith("interrupted") and "--resume" in lines[-1] and str(out) in lines[-1], stderr
    assert (out / "checkpoints" / "last.pt").is_file()
    assert not list(out.rglob("*.tmp"))
