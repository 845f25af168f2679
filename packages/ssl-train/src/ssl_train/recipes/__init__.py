"""The one list of recipes. Each recipe is a module read top to bottom."""

from __future__ import annotations

from ssl_train.recipes.base import Batch, EpochContext, Method, Recipe, StepContext, load_recipe_path
from ssl_train.recipes.clusterfit import CLUSTERFIT
from ssl_train.recipes.colorization import COLORIZATION
from ssl_train.recipes.deepclusterv2 import DEEPCLUSTERV2
from ssl_train.recipes.dino import DINO
from ssl_train.recipes.jigsaw import JIGSAW
from ssl_train.recipes.npid import NPID, NPIDPP
from ssl_train.recipes.pirl import PIRL
from ssl_train.recipes.rotnet import ROTNET
from ssl_train.recipes.simclr import SIMCLR
from ssl_train.recipes.moco import MOCO
from ssl_train.recipes.swav import SWAV
from ssl_train.recipes.byol import BYOL
from ssl_train.recipes.simsiam import SIMSIAM
from ssl_train.recipes.barlow_twins import BARLOW_TWINS
from ssl_train.recipes.vicreg import VICREG
from ssl_train.recipes.supervised import SUPERVISED

__all__ = ["RECIPES", "Batch", "EpochContext", "Method", "Recipe", "StepContext", "get_recipe", "list_recipes"]

RECIPES: dict[str, Recipe] = {r.name: r for r in (SIMCLR, DINO, MOCO, SWAV, BYOL, SIMSIAM, BARLOW_TWINS, VICREG, SUPERVISED,
                                                NPID, NPIDPP, PIRL, DEEPCLUSTERV2, CLUSTERFIT, ROTNET, JIGSAW, COLORIZATION)}


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
