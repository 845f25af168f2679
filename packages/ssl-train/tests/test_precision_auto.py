"""``train.precision=auto`` on a CPU: fp32, with a reason that names the CPU's bf16 support."""

from __future__ import annotations

import torch

import ssl_train
from ssl_train.runtime import cpu_has_fast_bf16, precision_reason

CPU = torch.device("cpu")


def test_auto_is_fp32_on_every_cpu() -> None:
    """bf16 autocast was no faster for the recipes' models even on an AMX CPU
    (benchmarks/results/benchmark_precision.json), so ``auto`` never picks it on a CPU."""
    assert ssl_train.resolve_precision("auto", CPU) == "fp32"
    assert ssl_train.resolve_precision("bf16", CPU) == "bf16"


def test_reason_names_the_cpu_flags(tmp_path) -> None:
    amx = tmp_path / "amx"
    amx.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 amx_bf16 amx_tile\n")
    avx2 = tmp_path / "avx2"
    avx2.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n")
    assert cpu_has_fast_bf16(amx) and not cpu_has_fast_bf16(avx2)
    assert "set train.precision=bf16" in precision_reason("auto", "fp32", CPU, amx)
    assert precision_reason("auto", "fp32", CPU, avx2) == "auto: the CPU has no AVX512-BF16/AMX"
    assert precision_reason("fp32", "fp32", CPU, amx) == "set"
