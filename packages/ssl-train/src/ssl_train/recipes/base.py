"""What a recipe is: a typed config, a builder of the method's parts, and one step function."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

__all__ = ["Batch", "MethodParts", "Recipe", "StepContext", "normalize_images"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``[B, 3, H, W]`` -> float ``[B, 3, H, W]`` scaled to [0, 1] and ImageNet-normalised."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
    return (images.float() / 255.0 - mean) / std


@dataclass
class Batch:
    """One training batch: uint8 images ``[B, 3, H, W]``, labels ``[B]``, dataset indices ``[B]``."""

    images: torch.Tensor
    labels: torch.Tensor
    indices: torch.Tensor


@dataclass
class StepContext:
    """Read-only facts a step may need: the augmentation generator and where the run is."""

    generator: torch.Generator
    step: int
    epoch: int
    total_steps: int
    autocast: Callable[[], Any]
    """Context manager factory for the run's mixed precision (a step enters it around the model)."""


@dataclass
class MethodParts:
    """Everything a method trains or keeps.

    Attributes:
        trunk: the backbone (an ``ssl_models`` trunk); what benchmarks evaluate.
        heads: the heads trained with it, in order.
        loss: the loss module; its ``state_dict`` holds the loss's buffers (queues, centers, banks).
        augment: the batched training augmentation.
        extra: further modules that must be checkpointed (momentum encoders, teachers).
    """

    trunk: nn.Module
    heads: list[nn.Module]
    loss: nn.Module
    augment: nn.Module
    extra: dict[str, nn.Module] = field(default_factory=dict)

    def trained_modules(self) -> list[nn.Module]:
        """Modules whose parameters the optimizer updates."""
        return [self.trunk, *self.heads]

    def all_modules(self) -> dict[str, nn.Module]:
        """Every module with state, by a stable name (what a checkpoint stores)."""
        named: dict[str, nn.Module] = {"trunk": self.trunk, "loss": self.loss}
        named.update({f"head{i}": h for i, h in enumerate(self.heads)})
        named.update({f"extra.{k}": m for k, m in self.extra.items()})
        return named

    def to(self, device: torch.device) -> "MethodParts":
        for module in self.all_modules().values():
            module.to(device)
        self.augment.to(device)
        return self


@dataclass(frozen=True)
class Recipe:
    """A method as data: its config class, how to build its parts, and its training step.

    Attributes:
        name: the recipe's name on the command line.
        summary: one line for ``ssl recipes list``.
        config_class: dataclass with the method's defaults (VISSL's where VISSL has them).
        build: ``config -> MethodParts``.
        step: ``(batch, parts, context) -> metrics``; ``metrics["loss"]`` is the scalar to minimise.
    """

    name: str
    summary: str
    config_class: type
    build: Callable[[Any], MethodParts]
    step: Callable[[Batch, MethodParts, StepContext], dict[str, torch.Tensor]]
