"""SimCLR augmentation computed for a whole batch at once, with per-sample random parameters.

Every sample of the batch gets its own crop box, flip, colour-jitter factors and order, grey
decision and blur sigma (exactly the distributions of torchvision's ``RandomResizedCrop``,
``RandomHorizontalFlip``, ``RandomApply([ColorJitter])``, ``RandomGrayscale`` and
``GaussianBlur``), but the work is done with batched tensor operations:

- crop + resize + flip is one pair of batched matrix products ``Ry @ image @ Rx^T`` whose rows
  hold torchvision's antialiased bilinear resampling weights restricted to the crop box (a
  flipped sample gets ``Rx`` with its rows reversed), so the result equals
  ``resized_crop(..., antialias=True)`` followed by ``horizontal_flip``;
- brightness/contrast/saturation/hue use per-sample factors; each sample applies the four in its
  own random order (as torchvision's ``ColorJitter`` does);
- grey is a masked blend; blur is one grouped separable convolution with per-sample kernels.

Grey inputs ``[B, 1, H, W]`` (Fashion-MNIST, MNIST, digits) are augmented on their one channel and
replicated only when normalised: saturation, hue and grey leave an image whose three channels are
equal unchanged (hue exactly; saturation and grey blend with the same luminance the RGB path
computes), so the result is the one the RGB path gives for the replicated image, at about a third
of the work and without the hue conversion.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_data.transforms.presets import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["AugmentParams", "BatchedSimCLRAugment"]

_GREY_WEIGHTS = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale weights


@dataclass
class AugmentParams:
    """Per-sample random parameters of one batch (all tensors have leading dimension B).

    ``top, left, height, width``: int64 crop boxes in input pixels; ``flip``: bool;
    ``jitter``: bool (colour jitter applied); ``brightness, contrast, saturation``: float factors
    (1 = unchanged); ``hue``: float shift in [-0.5, 0.5]; ``order``: int64 [B, 4], a permutation of
    (0 brightness, 1 contrast, 2 saturation, 3 hue) per sample; ``grey``: bool; ``blur``: bool;
    ``sigma``: float blur sigma; ``solarize``: bool (invert pixels >= 128/255).
    """

    top: Tensor
    left: Tensor
    height: Tensor
    width: Tensor
    flip: Tensor
    jitter: Tensor
    brightness: Tensor
    contrast: Tensor
    saturation: Tensor
    hue: Tensor
    order: Tensor
    grey: Tensor
    blur: Tensor
    sigma: Tensor
    solarize: Tensor


def _resample_matrix(start: Tensor, length: Tensor, in_size: int, out_size: int) -> Tensor:
    """Antialiased bilinear resampling weights of torchvision/ATen's ``upsample_bilinear2d_aa``.

    start, length: int64 [B] (crop window in input pixels). Returns float32 [B, out_size, in_size]
    whose row ``o`` holds the weights of output pixel ``o`` over the input pixels (zero outside the
    window), so that ``matrix @ signal`` resizes the window to ``out_size`` pixels.
    """
    length_f = length.to(torch.float32)
    scale = (length_f / out_size)[:, None]  # [B, 1]
    support = torch.where(scale >= 1.0, scale, torch.ones_like(scale))
    invscale = torch.where(scale >= 1.0, 1.0 / scale, torch.ones_like(scale))
    center = scale * (torch.arange(out_size, dtype=torch.float32) + 0.5)[None, :]  # [B, O]
    lo = (center - support + 0.5).clamp(min=0.0).floor()  # window pixels, crop coordinates
    hi = torch.minimum((center + support + 0.5).floor(), length_f[:, None])
    pix = torch.arange(in_size, dtype=torch.float32)[None, None, :] - start.to(torch.float32)[:, None, None]
    weight = (1.0 - ((pix - center[..., None] + 0.5) * invscale[..., None]).abs()).clamp(min=0.0)
    inside = (pix >= lo[..., None]) & (pix < hi[..., None])
    weight = weight * inside
    return weight / weight.sum(-1, keepdim=True).clamp(min=1e-12)


def _grey(x: Tensor) -> Tensor:
    """[B, 3, H, W] -> [B, 1, H, W] luminance with torchvision's weights; a one-channel image
    [B, 1, H, W] stands for three equal channels (the same sum, term by term)."""
    if x.shape[1] == 1:
        return _GREY_WEIGHTS[0] * x + _GREY_WEIGHTS[1] * x + _GREY_WEIGHTS[2] * x
    r, g, b = x.unbind(1)
    return (_GREY_WEIGHTS[0] * r + _GREY_WEIGHTS[1] * g + _GREY_WEIGHTS[2] * b).unsqueeze(1)


def _blend(x: Tensor, other: Tensor, ratio: Tensor) -> Tensor:
    """ratio * x + (1 - ratio) * other, clamped to [0, 1]; ratio [B]."""
    r = ratio.view(-1, 1, 1, 1)
    return (r * x + (1.0 - r) * other).clamp_(0.0, 1.0)


def _adjust_hue(x: Tensor, shift: Tensor) -> Tensor:
    """Rotate the hue of [B, 3, H, W] images in [0, 1] by ``shift`` [B] (fraction of a turn)."""
    r, g, b = x.unbind(1)
    maxc, _ = x.max(1)
    minc, _ = x.min(1)
    eqc = maxc == minc
    cr = maxc - minc
    ones = torch.ones_like(maxc)
    s = cr / torch.where(eqc, ones, maxc)
    cr_div = torch.where(eqc, ones, cr)
    rc = (maxc - r) / cr_div
    gc = (maxc - g) / cr_div
    bc = (maxc - b) / cr_div
    hr = (maxc == r) * (bc - gc)
    hg = ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
    hb = ((maxc != g) & (maxc != r)) * (4.0 + gc - rc)
    h = torch.fmod((hr + hg + hb) / 6.0 + 1.0, 1.0)
    h = torch.remainder(h + shift.view(-1, 1, 1), 1.0)
    # HSV -> RGB without a sector table: channel n in (5, 3, 1) for (r, g, b) is
    # v - v * s * clamp(min(k, 4 - k), 0, 1) with k = (n + 6 h) mod 6.
    n = torch.tensor([5.0, 3.0, 1.0], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    k = torch.remainder(n + 6.0 * h.unsqueeze(1), 6.0)
    ramp = torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0)
    v = maxc.unsqueeze(1)
    return (v - v * s.unsqueeze(1) * ramp).clamp_(0.0, 1.0)


class BatchedSimCLRAugment(nn.Module):
    """SimCLR's augmentation for a whole batch on any device, with per-sample random parameters.

    Args:
        size: output side (square crops).
        crop_scale: RandomResizedCrop area range (fraction of the image).
        crop_ratio: RandomResizedCrop aspect-ratio range.
        jitter_strength: SimCLR colour strength ``s``: brightness/contrast/saturation ``0.8 s``,
            hue ``0.2 s``.
        p_jitter: probability of applying colour jitter to a sample.
        p_gray: probability of turning a sample grey (3 equal channels).
        p_flip: probability of a horizontal flip.
        blur: apply Gaussian blur (SimCLR's ImageNet setting) with probability ``p_blur``.
        p_blur: blur probability when ``blur`` is true.
        p_solarize: probability of solarising a sample (BYOL/DINO's second view; threshold 128/255).
        blur_sigma: sigma range of the blur; the kernel side is about 10 % of ``size`` (odd).
        mean, std: per-channel normalisation (ImageNet's by default).

    ``forward(images: uint8 [B, 3, H, W] or float [B, 3, H, W] in [0, 1], generator=None)
    -> float32 [B, 3, size, size]`` (normalised). Grey inputs [B, 1, H, W] are augmented on one
    channel and replicated to 3 at the normalisation (the same values as for the replicated RGB
    input; see the module docstring). Parameters are drawn on the CPU from ``generator`` (or the global RNG), so a seeded
    generator reproduces the batch on any device.
    """

    def __init__(
        self,
        size: int,
        crop_scale: tuple[float, float] = (0.08, 1.0),
        jitter_strength: float = 0.5,
        p_jitter: float = 0.8,
        p_gray: float = 0.2,
        p_flip: float = 0.5,
        blur: bool = False,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        crop_ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0),
        p_blur: float = 0.5,
        blur_sigma: tuple[float, float] = (0.1, 2.0),
        p_solarize: float = 0.0,
    ) -> None:
        super().__init__()
        if size <= 0:
            raise ValueError(f"size must be positive, got {size}")
        if not 0.0 < crop_scale[0] <= crop_scale[1]:
            raise ValueError(f"crop_scale must be (low, high) with 0 < low <= high, got {crop_scale}")
        if not 0.0 < crop_ratio[0] <= crop_ratio[1]:
            raise ValueError(f"crop_ratio must be (low, high) with 0 < low <= high, got {crop_ratio}")
        for name, p in (
            ("p_jitter", p_jitter), ("p_gray", p_gray), ("p_flip", p_flip), ("p_blur", p_blur), ("p_solarize", p_solarize)
        ):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {p}")
        if jitter_strength < 0:
            raise ValueError(f"jitter_strength must be >= 0, got {jitter_strength}")
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f"mean and std need 3 values, got {list(mean)} and {list(std)}")
        self.size = int(size)
        self.crop_scale = (float(crop_scale[0]), float(crop_scale[1]))
        self.crop_ratio = (float(crop_ratio[0]), float(crop_ratio[1]))
        self.jitter_strength = float(jitter_strength)
        self.p_jitter = float(p_jitter)
        self.p_gray = float(p_gray)
        self.p_flip = float(p_flip)
        self.p_solarize = float(p_solarize)
        self.blur = bool(blur)
        self.p_blur = float(p_blur)
        self.blur_sigma = (float(blur_sigma[0]), float(blur_sigma[1]))
        self.blur_kernel = max(3, int(0.1 * size) // 2 * 2 + 1)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    # ------------------------------------------------------------------ parameters
    #: uniform numbers one sample consumes in ``sample_params`` (the columns of ``uniforms``).
    NUM_UNIFORMS = 36

    def sample_params(
        self,
        batch_size: int,
        height: int,
        width: int,
        generator: torch.Generator | None = None,
        uniforms: Tensor | None = None,
    ) -> AugmentParams:
        """Draw every sample's random parameters (on the CPU) for inputs of ``height x width``.

        Args:
            generator: draws the whole batch's parameters (the global RNG when None).
            uniforms: instead of ``generator``, float64 ``[B, NUM_UNIFORMS]`` numbers in [0, 1),
                one row per sample (for example ``ssl_data.per_sample_uniforms``): sample ``i``'s
                parameters then depend on row ``i`` only, not on the batch it sits in.
        """
        if uniforms is not None:
            if tuple(uniforms.shape) != (batch_size, self.NUM_UNIFORMS):
                raise ValueError(f"uniforms must be [{batch_size}, {self.NUM_UNIFORMS}], got {tuple(uniforms.shape)}")
            table = uniforms.to(device="cpu", dtype=torch.float64)
            used = [0]

            def rand(*shape: int) -> Tensor:
                k = shape[1] if len(shape) > 1 else 1
                cols = table[:, used[0]:used[0] + k]
                used[0] += k
                return cols if len(shape) > 1 else cols[:, 0]
        else:

            def rand(*shape: int) -> Tensor:
                return torch.rand(shape, generator=generator, dtype=torch.float64)

        b = batch_size
        # RandomResizedCrop.get_params, 10 attempts per sample, vectorised.
        area = float(height * width)
        target = area * (self.crop_scale[0] + (self.crop_scale[1] - self.crop_scale[0]) * rand(b, 10))
        log_lo, log_hi = math.log(self.crop_ratio[0]), math.log(self.crop_ratio[1])
        aspect = torch.exp(log_lo + (log_hi - log_lo) * rand(b, 10))
        w_try = torch.round(torch.sqrt(target * aspect))
        h_try = torch.round(torch.sqrt(target / aspect))
        ok = (w_try > 0) & (w_try <= width) & (h_try > 0) & (h_try <= height)
        first = torch.where(ok.any(1), ok.to(torch.int8).argmax(1), torch.full((b,), -1))
        # fallback: central crop with the ratio clamped into range
        in_ratio = width / height
        if in_ratio < self.crop_ratio[0]:
            fb_w, fb_h = width, int(round(width / self.crop_ratio[0]))
        elif in_ratio > self.crop_ratio[1]:
            fb_h, fb_w = height, int(round(height * self.crop_ratio[1]))
        else:
            fb_w, fb_h = width, height
        rows = torch.arange(b)
        pick = first.clamp(min=0)
        use = first >= 0
        w = torch.where(use, w_try[rows, pick], torch.full((b,), float(fb_w))).to(torch.int64)
        h = torch.where(use, h_try[rows, pick], torch.full((b,), float(fb_h))).to(torch.int64)
        u_top, u_left = rand(b), rand(b)
        top = torch.where(use, (u_top * (height - h + 1)).floor().to(torch.int64).clamp(max=height - h), (height - h) // 2)
        left = torch.where(use, (u_left * (width - w + 1)).floor().to(torch.int64).clamp(max=width - w), (width - w) // 2)

        flip = rand(b) < self.p_flip
        jitter = rand(b) < self.p_jitter
        s = self.jitter_strength

        def factor(amount: float) -> Tensor:
            lo = max(0.0, 1.0 - amount)
            return lo + (1.0 + amount - lo) * rand(b)

        brightness, contrast, saturation = factor(0.8 * s), factor(0.8 * s), factor(0.8 * s)
        hue = 0.2 * s * (2.0 * rand(b) - 1.0)
        order = rand(b, 4).argsort(1)
        grey = rand(b) < self.p_gray
        do_blur = (rand(b) < self.p_blur) & self.blur
        sigma = self.blur_sigma[0] + (self.blur_sigma[1] - self.blur_sigma[0]) * rand(b)
        solarize = rand(b) < self.p_solarize
        return AugmentParams(
            top=top, left=left, height=h, width=w, flip=flip, jitter=jitter,
            brightness=brightness.float(), contrast=contrast.float(), saturation=saturation.float(),
            hue=hue.float(), order=order, grey=grey, blur=do_blur, sigma=sigma.float(), solarize=solarize,
        )  # fmt: skip

    # ------------------------------------------------------------------ application
    def apply(self, images: Tensor, params: AugmentParams) -> Tensor:
        """Apply given per-sample parameters: images [B, C, H, W] -> float32 [B, 3, size, size]
        (C = 1: computed on the one channel, see the module docstring)."""
        x = self._to_float(images)
        bsz, _, height, width = x.shape
        dev = x.device
        ry = _resample_matrix(params.top, params.height, height, self.size).to(dev)  # [B, S, H]
        rx = _resample_matrix(params.left, params.width, width, self.size)  # [B, S, W]
        rx = torch.where(params.flip.view(-1, 1, 1), rx.flip(1), rx).to(dev)
        # crop + resize + flip: Ry @ X @ Rx^T, computed in the cheaper association
        if height * self.size + self.size * self.size <= width * self.size + height * width:
            x = torch.matmul(torch.matmul(ry.unsqueeze(1), x), rx.transpose(1, 2).unsqueeze(1))
        else:
            x = torch.matmul(ry.unsqueeze(1), torch.matmul(x, rx.transpose(1, 2).unsqueeze(1)))
        x = x.clamp_(0.0, 1.0)
        x = self._jitter(x, params)
        grey = params.grey.to(dev).view(-1, 1, 1, 1)
        x = torch.where(grey, _grey(x).expand(-1, x.shape[1], -1, -1), x)
        if bool(params.blur.any()):
            x = self._blur(x, params)
        if bool(params.solarize.any()):  # torchvision's solarize at threshold 128/255: invert bright pixels
            solar = params.solarize.to(dev).view(-1, 1, 1, 1) & (x >= 128.0 / 255.0)
            x = torch.where(solar, 1.0 - x, x)
        return (x - self.mean) / self.std  # [B, 1 or 3, S, S] -> [B, 3, S, S]

    def forward(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """images uint8/float [B, 3 or 1, H, W] -> float32 [B, 3, size, size] (normalised)."""
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"images must be [B, 3, H, W] (or [B, 1, H, W]), got shape {tuple(images.shape)}")
        params = self.sample_params(images.shape[0], images.shape[2], images.shape[3], generator)
        return self.apply(images, params)

    # ------------------------------------------------------------------ pieces
    @staticmethod
    def _to_float(images: Tensor) -> Tensor:
        if images.dtype == torch.uint8:
            x = images.float().div_(255.0)
        elif images.is_floating_point():
            x = images.float()
        else:
            raise ValueError(f"images must be uint8 or floating point, got {images.dtype}")
        return x

    def _jitter(self, x: Tensor, params: AugmentParams) -> Tensor:
        """Colour jitter in each sample's own order: samples sharing an order (24 possible) are
        gathered once, get the four operations with their per-sample factors, and are written back."""
        active = params.jitter
        if not bool(active.any()):
            return x
        factors = (params.brightness, params.contrast, params.saturation, params.hue)
        order = params.order
        if x.shape[1] == 1:  # hue leaves equal channels exactly as they are: 6 orders instead of 24
            order = order[order != 3].view(-1, 3)
        weights = 4 ** torch.arange(order.shape[1] - 1, -1, -1)
        codes = (order * weights).sum(1)
        for code in torch.unique(codes[active]).tolist():
            sel = torch.nonzero(active & (codes == code)).flatten()
            sel_d = sel.to(x.device)
            xs = x[sel_d]
            for op in order[sel[0]].tolist():
                xs = self._colour_op(op, xs, factors[op][sel].to(x.device))
            x[sel_d] = xs
        return x

    @staticmethod
    def _colour_op(op: int, x: Tensor, f: Tensor) -> Tensor:
        if op == 0:  # brightness: blend with black
            return (x * f.view(-1, 1, 1, 1)).clamp_(0.0, 1.0)
        if op == 1:  # contrast: blend with the mean grey level
            return _blend(x, _grey(x).mean(dim=(1, 2, 3), keepdim=True), f)
        if op == 2:  # saturation: blend with the grey image
            return _blend(x, _grey(x), f)
        return _adjust_hue(x, f)

    def _blur(self, x: Tensor, params: AugmentParams) -> Tensor:
        k = self.blur_kernel
        bsz, ch, height, width = x.shape
        half = (k - 1) / 2.0
        t = torch.linspace(-half, half, k, dtype=torch.float32)
        sigma = torch.where(params.blur, params.sigma, torch.full_like(params.sigma, 1e-3))
        kern = torch.exp(-0.5 * (t[None, :] / sigma[:, None]) ** 2)
        kern = kern / kern.sum(1, keepdim=True)  # [B, k]; sigma 1e-3 -> identity kernel
        kern = kern.repeat_interleave(ch, 0).to(x.device)  # [B*C, k]
        pad = k // 2
        y = x.reshape(1, bsz * ch, height, width)
        y = F.pad(y, (pad, pad, pad, pad), mode="reflect") if pad < min(height, width) else F.pad(y, (pad,) * 4, mode="replicate")
        y = F.conv2d(y, kern.view(-1, 1, 1, k), groups=bsz * ch)
        y = F.conv2d(y, kern.view(-1, 1, k, 1), groups=bsz * ch)
        return y.view(bsz, ch, height, width)
