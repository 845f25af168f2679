"""full_precision: autocast's half-precision outputs go up to float32, float32 and float64 stay."""

import numpy as np
import pytest
import torch

from ssl_losses import full_precision


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_goes_up_to_float32(dtype):
    x = torch.tensor([1.5, -2.25], dtype=dtype, requires_grad=True)
    y = full_precision(x)
    assert y.dtype == torch.float32 and y.tolist() == [1.5, -2.25]
    y.sum().backward()
    assert x.grad.dtype == dtype and x.grad.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_full_precision_inputs_are_returned_as_they_are(dtype):
    x = torch.randn(3, 2, dtype=dtype)
    assert full_precision(x) is x


def test_a_float64_embedding_keeps_its_digits_through_a_loss():
    """SimCLR's loss of float64 embeddings equals the float64 loss computed by hand (float32 would
    be ~1e-7 off), and is float64."""
    from ssl_losses import SimCLRLoss

    z = torch.randn(8, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    loss = SimCLRLoss(temperature=0.1)(z)
    u = z.numpy() / np.linalg.norm(z.numpy(), axis=1, keepdims=True)
    sim = u @ u.T / 0.1
    np.fill_diagonal(sim, -np.inf)
    positive = np.r_[np.arange(4, 8), np.arange(0, 4)]  # row i's other view, crop-major
    expected = np.mean(np.log(np.exp(sim).sum(axis=1)) - sim[np.arange(8), positive])
    assert loss.dtype == torch.float64
    assert abs(loss.item() - expected) < 1e-13
