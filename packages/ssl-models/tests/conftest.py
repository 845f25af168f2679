"""Test settings for ssl-models: tiny models run fastest on one thread (no OpenMP spin-waiting
on a shared 2-core machine). The previous thread count is restored after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
