"""Bad input ends with one clear line on stderr, a non-zero exit, no traceback, no output left."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cli_runner import run_ssl


def _assert_one_line_error(proc, *needles: str) -> None:
    assert proc.returncode != 0, proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("ssl: error: "), lines[0]
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_data_path_that_does_not_exist(tmp_path):
    out = tmp_path / "out"
    proc = run_ssl("run", "simclr", "--data", str(tmp_path / "missing"), "--out", str(out))
    _assert_one_line_error(proc, "missing")
    assert not out.exists()


def test_folder_without_images(tmp_path):
    data = tmp_path / "data"
    (data / "cats").mkdir(parents=True)
    (data / "cats" / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    proc = run_ssl("run", "simclr", "--data", str(data), "--out", str(out))
    _assert_one_line_error(proc)
    assert not out.exists()


def test_unknown_recipe(tmp_path):
    proc = run_ssl("run", "nosuchmethod", "--out", str(tmp_path / "out"))
    _assert_one_line_error(proc, "unknown recipe 'nosuchmethod'", "simclr")
    assert not (tmp_path / "out").exists()


def test_unknown_override_key(tmp_path):
    proc = run_ssl("pretrain", "simclr", "--out", str(tmp_path / "out"), "optim.learning_rate=0.1")
    _assert_one_line_error(proc, "optim.learning_rate")
    assert not (tmp_path / "out").exists()


def test_override_of_the_wrong_type(tmp_path):
    proc = run_ssl("pretrain", "simclr", "--out", str(tmp_path / "out"), "train.epochs=lots")
    _assert_one_line_error(proc, "train.epochs")


@pytest.mark.parametrize("content", [b"just some text\n", b"PK\x03\x04truncated zip"])
def test_file_that_is_not_a_checkpoint(tmp_path, content):
    bad = tmp_path / "model.pt"
    bad.write_bytes(content)
    proc = run_ssl("benchmark", "knn", "--checkpoint", str(bad), "--data", "digits", "--out", str(tmp_path / "o"))
    _assert_one_line_error(proc, "model.pt")
    assert not (tmp_path / "o").exists()
    out_file = tmp_path / "converted.pth"
    proc = run_ssl("convert", str(bad), str(out_file), "--to", "torchvision")
    _assert_one_line_error(proc)
    assert not out_file.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_previous_run_is_never_overwritten(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text("{}")
    proc = run_ssl("run", "simclr", "--data", "digits", "--out", str(out))
    _assert_one_line_error(proc, "--resume", "--overwrite")
    assert (out / "results.json").read_text() == "{}"


def test_image_file_instead_of_folder(tmp_path):
    img = tmp_path / "one.png"
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(img)
    proc = run_ssl("run", "simclr", "--data", str(img), "--out", str(tmp_path / "out"))
    _assert_one_line_error(proc, "not a folder")


@pytest.mark.parametrize(("given", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_openmp_threads_wait_passively_unless_the_user_says_otherwise(given, expected):
    """The CLI's entry module sets OMP_WAIT_POLICY before torch (and its OpenMP runtime) loads."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given is not None:
        env["OMP_WAIT_POLICY"] = given
    # an import hook records the variable at the moment torch is first imported
    code = (
        "import os, sys\n"
        "seen = []\n"
        "class Watch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' and not seen:\n"
        "            seen.append(os.environ.get('OMP_WAIT_POLICY', 'unset'))\n"
        "        return None\n"
        "sys.meta_path.insert(0, Watch())\n"
        "import ssl_cli.main\n"
        "print(seen[0] if seen else 'torch-not-imported')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [expected]
