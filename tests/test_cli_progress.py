"""Long work shows progress with ETA: through a real pseudo-terminal (python's ``pty``) the `ssl`
command draws a rich bar per stage with its rate and ``eta H:MM:SS``; without a terminal it writes
plain ``STAGE: DONE/TOTAL, RATE/s, done in H:MM:SS`` lines, and nothing with ``--no-progress``."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest

import bench_files as bf
from cli_runner import run_ssl

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
ETA = r"eta \d+:\d\d:\d\d"


def run_in_terminal(*args: str, timeout: float = 300) -> tuple[int, str]:
    """``ssl ARGS`` with stdin, stdout and stderr on a new pseudo-terminal; (exit code, screen
    text with the terminal's control sequences removed and carriage returns as line ends)."""
    main, child = os.openpty()
    env = dict(os.environ, COLUMNS="150", LINES="50", TERM="xterm")
    env.pop("FORCE_COLOR", None), env.pop("TTY_COMPATIBLE", None)
    proc = subprocess.Popen([sys.executable, "-m", "ssl_cli", *args], stdin=child, stdout=child, stderr=child,
                            env=env, close_fds=True)  # fmt: skip
    os.close(child)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([main], [], [], timeout)
            if not ready:
                proc.kill()
                raise AssertionError(f"ssl {' '.join(args)} printed nothing for {timeout} s")
            try:
                chunk = os.read(main, 1 << 16)
            except OSError:  # the child closed the terminal (EIO)
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(main)
    code = proc.wait(timeout)
    text = ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))
    return code, text.replace("\r", "\n")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("progress")
    return {"ckpt": bf.save_tiny_checkpoint(root / "tiny.pt"), "colours": bf.write_image_folder(root / "colours"),
            "root": root}


SUITE = """
defaults: {{checkpoint: {ckpt}, data: {colours}}}
runs:
  - {{benchmark: all, options: [extraction.image_size=16, linear.epochs=3]}}
  - {{benchmark: finetune, options: {{image_size: 16, epochs: 1, batch_size: 8}}}}
  - {{benchmark: svm, options: {{image_size: 16, cross_val_folds: 2, costs: [0.1]}}}}
"""

STAGES = ("features (train)", "features (test)", "kNN search", "linear probe", "k-means", "fine-tuning",
          "fine-tuning (test)", "SVMs (classes)")


def test_benchmarks_draw_bars_with_rate_and_eta_on_a_terminal(files):
    suite = files["root"] / "suite.yaml"
    suite.write_text(SUITE.format(**files))
    code, screen = run_in_terminal("benchmark", "suite", str(suite), "--out", str(files["root"] / "out"))
    assert code == 0, screen[-3000:]
    for stage in STAGES:
        rows = [line for line in screen.splitlines() if line.startswith(stage + " ")]
        assert rows, f"no bar for {stage!r}:\n{screen[-3000:]}"
        assert any(re.search(r"(\d+)/\1 .*" + ETA, row) for row in rows), rows[-3:]  # a finished bar with its ETA
    assert re.search(r"linear probe .*\d/s +" + ETA, screen)  # the rate column
    assert "Traceback" not in screen


def test_extract_and_pretrain_show_eta_on_a_terminal(files, tmp_path):
    code, screen = run_in_terminal("extract", "-c", str(files["ckpt"]), "--data", str(files["colours"]), "--out",
                                   str(tmp_path / "feats"), "--image-size", "16", "--layers", "res5avg")
    assert code == 0, screen[-3000:]
    assert re.search(r"features \(train\) .*24/24 .*" + ETA, screen), screen[-2000:]
    code, screen = run_in_terminal("pretrain", "simclr", "--data", str(files["colours"]), "--out", str(tmp_path / "run"),
                                   "data.image_size=16", "data.batch_size=8", "train.max_steps=3", "train.epochs=1",
                                   "train.tensorboard=false", "monitor.knn_every_epochs=0",
                                   "model.width_multiplier=0.125", "data.num_workers=0")
    assert code == 0, screen[-3000:]
    assert re.search(r"pretrain .*/3 .*" + ETA, screen), screen[-2000:]


def test_without_a_terminal_stages_are_plain_lines(files):
    args = ("benchmark", "knn", "-c", str(files["ckpt"]), "--data", str(files["colours"]), "extraction.image_size=16")
    proc = run_ssl(*args)
    assert proc.returncode == 0, proc.stderr
    for stage, total in (("features (train)", 24), ("features (test)", 12), ("kNN search", 12)):
        assert re.search(rf"^{re.escape(stage)}: {total}/{total}, [\d,.]+/s, done in \d+:\d\d:\d\d$", proc.stderr, re.M), proc.stderr
    assert "\x1b[" not in proc.stderr  # no terminal control sequences in a log
    quiet = run_ssl(*args, "--no-progress")
    assert quiet.returncode == 0 and "features (train)" not in quiet.stderr, quiet.stderr


def test_missing_torchvision_data_is_one_line_naming_download(files, tmp_path, capsys):
    from cli_runner import ssl_in_process

    root = tmp_path / "cifar"
    code, out, err = ssl_in_process("benchmark", "knn", "-c", files["ckpt"], "--data", f"cifar10:{root}")
    assert code == 2 and out == "", err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ssl: error: cifar10 is not in") and "--download" in lines[0], err
    assert not root.exists()


@pytest.fixture(autouse=True)
def fresh_url_opener():
    """urllib builds its default opener (and reads the proxy variables) once per process: start
    and end each test with none, so each sees the proxies it sets (public ``install_opener``)."""
    import urllib.request

    urllib.request.install_opener(None)
    yield
    urllib.request.install_opener(None)


@pytest.fixture
def refusing_proxy(monkeypatch):
    """Every URL goes through a proxy on a local port nobody listens on: no traffic leaves the machine."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free, and closed again: connections are refused
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(var, f"http://127.0.0.1:{port}")
    monkeypatch.delenv("no_proxy", raising=False), monkeypatch.delenv("NO_PROXY", raising=False)


@pytest.mark.parametrize("name", ["cifar10", "svhn", "mnist"])
def test_download_that_fails_is_one_line_and_leaves_nothing(name, files, tmp_path, refusing_proxy):
    from cli_runner import ssl_in_process

    root = tmp_path / "data" / name
    code, out, err = ssl_in_process("benchmark", "knn", "-c", files["ckpt"], "--data", f"{name}:{root}", "--download")
    errors = [line for line in err.splitlines() if line.startswith("ssl: error:")]
    assert code == 2 and len(errors) == 1, err
    assert f"download of {name} (train) failed" in errors[0] and "nothing was written" in errors[0], err
    assert "Traceback" not in err and out == ""
    assert not (tmp_path / "data").exists()  # no staging folder, no empty folders


def test_download_of_a_stalled_server_ends_after_the_timeout(files, tmp_path, monkeypatch):
    """A proxy that accepts and never answers: each read is bounded by $SSL_DATA_DOWNLOAD_TIMEOUT."""
    import socket
    import threading
    import time

    from cli_runner import ssl_in_process

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held = []
    threading.Thread(target=lambda: held.append(server.accept()), daemon=True).start()
    for var in ("https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(var, f"http://127.0.0.1:{server.getsockname()[1]}")
    monkeypatch.setenv("SSL_DATA_DOWNLOAD_TIMEOUT", "1")
    started = time.monotonic()
    try:
        code, _, err = ssl_in_process("benchmark", "knn", "-c", files["ckpt"], "--data", f"cifar10:{tmp_path / 'c'}",
                                      "--download")
    finally:
        server.close()
    assert code == 2 and "no answer within 1 s" in err, err
    assert time.monotonic() - started < 30
    assert not (tmp_path / "c").exists()


def test_download_refuses_data_it_cannot_fetch(files, capsys):
    from cli_runner import ssl_in_process

    code, _, err = ssl_in_process("benchmark", "knn", "-c", files["ckpt"], "--data", "digits", "--download")
    assert code == 2 and err.startswith("ssl: error: --download fetches cifar10"), err


def test_data_prepare_reports_its_long_loops(tmp_path):
    """`ssl data prepare` passes the progress to the preparers with long loops (here: PNG writing)."""
    import pickle

    import numpy as np

    from cli_runner import ssl_in_process

    root = tmp_path / "in" / "cifar-100-python"
    root.mkdir(parents=True)
    (root / "meta").write_bytes(pickle.dumps({"fine_label_names": [f"c{i}" for i in range(100)]}))
    for batch, n in (("train", 6), ("test", 4)):
        x = np.random.default_rng(0).integers(0, 256, (n, 3072), dtype=np.uint8)
        (root / batch).write_bytes(pickle.dumps({"data": x, "fine_labels": list(range(n))}))
    code, out, err = ssl_in_process("data", "prepare", "cifar100", "-i", tmp_path / "in", "-o", tmp_path / "out")
    assert code == 0, err
    assert re.search(r"^PNGs \(train\): 6/6, [\d,.]+/s, done in", err, re.M) and "PNGs (val): 4/4" in err, err
    code, _, err = ssl_in_process("data", "prepare", "cifar100", "-i", tmp_path / "in", "-o", tmp_path / "o2", "progress=1")
    assert code == 2 and err.startswith("ssl: error: cifar100: unknown option(s) ['progress']"), err
