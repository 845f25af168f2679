"""Ctrl-C outside training: real `ssl` processes get a real SIGINT while they load their modules, while
a benchmark computes and while a preparer writes; each prints one line, ``ssl: interrupted``, exits
130 and leaves no output behind. (Typer used to turn the interrupt into a silent exit 130.)"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from test_cli_virb import save_trunk

pytestmark = pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="watches the process through /proc")

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _foreground_sigint() -> None:
    """In the child before exec: SIGINT as a command typed in a terminal gets it. A test run started
    in the background of a non-interactive shell (``pytest &``, nohup, some CI runners) ignores
    SIGINT, and an ignored SIGINT is inherited through exec: the command would then rightly ignore
    Ctrl-C too, and finish."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(args: list[object], stderr: int = subprocess.PIPE) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="100")
    return subprocess.Popen([sys.executable, "-m", "ssl_cli", *map(str, args)], env=env, stdout=subprocess.PIPE,
                            stderr=stderr, text=True, preexec_fn=_foreground_sigint)  # fmt: skip


def _interrupt_when(proc: subprocess.Popen[str], ready: Callable[[], bool], what: str, timeout: float = 180) -> None:
    """SIGINT to ``proc`` as soon as ``ready()``; fails when the process ends first."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, f"the command ended (exit {proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)


def _finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _torch_loaded(pid: int) -> bool:
    try:
        return "libtorch" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.slow
def test_ctrl_c_while_the_command_loads(tmp_path: Path) -> None:
    ckpt = save_trunk(tmp_path / "tiny.pt", width_multiplier=0.125, small_input=True)
    out = tmp_path / "out"
    proc = _start(["benchmark", "knn", "-c", ckpt, "--data", "digits", "--out", out, "--no-progress"])
    _interrupt_when(proc, lambda: _torch_loaded(proc.pid), "import of torch")  # ssl_cli imports torch
    stdout, stderr = _finish(proc)
    assert (proc.returncode, stderr, stdout) == (130, "ssl: interrupted\n", "")
    assert not out.exists()


@pytest.mark.slow
def test_ctrl_c_while_a_benchmark_computes(tmp_path: Path) -> None:
    """stderr is a terminal (a pty), so the progress bar draws; the interrupt comes once it does."""
    ckpt = save_trunk(tmp_path / "tiny.pt", width_multiplier=0.125, small_input=True)
    out = tmp_path / "out"
    master, slave = pty.openpty()
    proc = _start(["benchmark", "linear", "-c", ckpt, "--data", "digits", "--out", out, "linear.epochs=100000"], slave)
    os.close(slave)
    seen = bytearray()

    def drawing() -> bool:
        while select.select([master], [], [], 0)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the pty closed: the process ended
                return False
            if not chunk:
                return False
            seen.extend(chunk)
        return len(seen) > 0

    try:
        _interrupt_when(proc, drawing, "progress bar")
        stdout, _ = _finish(proc)
        drawing()
    finally:
        os.close(master)
    text = ANSI.sub("", seen.decode(errors="replace")).replace("\r", "\n")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert proc.returncode == 130, text
    assert "Traceback" not in text and lines and lines[-1] == "ssl: interrupted", text
    assert sum("ssl:" in line for line in lines) == 1 and stdout == ""
    assert not out.exists()


def _videos(root: Path, count: int) -> None:
    import av

    for i in range(count):
        path = root / ("train" if i % 2 else "val") / "bowling" / f"clip{i:03d}_000001_000011.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        with av.open(str(path), "w") as container:
            stream = container.add_stream("mpeg4", rate=10)
            stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
            for level in range(0, 240, 4):
                frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), level, np.uint8), format="rgb24")
                container.mux(stream.encode(frame))
            container.mux(stream.encode())


@pytest.mark.slow
def test_ctrl_c_while_a_preparer_writes_leaves_nothing(tmp_path: Path) -> None:
    pytest.importorskip("av")
    _videos(tmp_path / "in", 40)
    out = tmp_path / "out"
    proc = _start(["data", "prepare", "kinetics_frames", "-i", tmp_path / "in", "-o", out, "frames=6"])

    def writing() -> bool:
        return out.is_dir() and any(out.glob(".kinetics.*.tmp/*/*/*/frame_*.jpg"))

    _interrupt_when(proc, writing, "frame written to the staging folder")
    stdout, stderr = _finish(proc)
    assert (proc.returncode, stderr, stdout) == (130, "ssl: interrupted\n", "")
    assert not out.exists(), sorted(str(p) for p in out.rglob("*"))
