"""The one list of recipes. Each recipe is a module read top to bottom."""

from __future__ import annotations

from ssl_train.recipes.base import Batch, EpochContext, Method, Recipe, StepContext, load_recipe_path
from ssl_train.recipes.dino import DINO
from ssl_train.recipes.simclr import SIMCLR

__all__ = ["RECIPES", "Batch", "EpochContext", "Method", "Recipe", "StepContext", "get_recipe", "list_recipes"]

RECIPES: dict[str, Recipe] = {r.name: r for r in (SIMCLR, DINO)}


def list_recipes() -> list[str]:
    """Names of all recipes."""
    return sorted(RECIPES)


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``, or ``"package.module:ATTR"`` for a user's own recipe;
    ``ValueError`` naming the known ones otherwise."""
    if ":" in name:
        return load_recipe_path(name)
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(
            f"unknown recipe {name!r}; known recipes: {', '.join(list_recipes())} (or package.module:ATTR)"
        ) from None
