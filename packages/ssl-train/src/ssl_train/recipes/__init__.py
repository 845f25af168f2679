"""The one list of recipes. Each recipe is a module read top to bottom."""

from __future__ import annotations

from ssl_train.recipes.base import Batch, MethodParts, Recipe, StepContext, normalize_images
from ssl_train.recipes.simclr import SIMCLR

__all__ = [
    "RECIPES",
    "Batch",
    "MethodParts",
    "Recipe",
    "StepContext",
    "get_recipe",
    "list_recipes",
    "normalize_images",
]

RECIPES: dict[str, Recipe] = {r.name: r for r in (SIMCLR,)}


def list_recipes() -> list[str]:
    """Names of all recipes."""
    return sorted(RECIPES)


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; ``ValueError`` naming the known ones otherwise."""
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; known recipes: {', '.join(list_recipes())}") from None
