"""Which manifold an attack, a strategy or a distance method works on, as the claims name it.

Claims 1-3b are decided once per manifold a sweep measured: the true FONTS
manifold (Sec. 3.1), the learned class-specific VAE-GANs and the learned class-agnostic one
(Sec. 3.1, supplement G) approximate it to different degrees, so a verdict on one says nothing
about another. The registries' `needs` say which manifold an entry uses.
"""
from __future__ import annotations

from typing import Callable, Iterable, Optional, TypeVar

import pandas as pd

from raysweep.analysis import load as L

TRUE, LEARNED_CLASS, LEARNED_DATA, KNN = "true", "learned-class", "learned-data", "knn"
# registry `needs` -> the name in claims.json; knn measures to the training images (claim 1 only)
BY_NEED = {"true": TRUE, "class": LEARNED_CLASS, "data": LEARNED_DATA, "train": KNN}
ORDER = (TRUE, LEARNED_CLASS, LEARNED_DATA, KNN)  # exact first, then the approximations
LEARNED = (LEARNED_CLASS, LEARNED_DATA)
NEED_OF = {v: k for k, v in BY_NEED.items()}  # claims.json name -> registry need / manifolds-table kind

K = TypeVar("K")


def of_attack(trials: pd.DataFrame, key: str) -> Optional[str]:
    from raysweep.attacks import ATTACKS  # lazy: torch-free table reading (load.attack_family)

    name = L.attack_names(trials).get(key, key)
    return BY_NEED.get(ATTACKS.get(name).needs) if name in ATTACKS else None


def of_strategy(name: str) -> Optional[str]:
    from raysweep.training.strategies import STRATEGIES  # lazy: torch-free table reading (load.attack_family)

    return BY_NEED.get(STRATEGIES.get(name).needs) if name in STRATEGIES else None


def of_distance(name: str) -> Optional[str]:
    """A distance method's manifold; a method no registry knows stands for itself."""
    from raysweep.manifold.distance import DISTANCES  # lazy: torch-free table reading (load.attack_family)

    return BY_NEED.get(DISTANCES.get(name).needs, name) if name in DISTANCES else name


def _rank(manifold: str) -> tuple:
    return (ORDER.index(manifold) if manifold in ORDER else len(ORDER), manifold)


def group(keys: Iterable[K], manifold_of: Callable[[K], Optional[str]]) -> dict[str, list[K]]:
    """Keys per manifold, manifolds in ORDER, keys in their given order; unknown ones dropped."""
    out: dict[str, list[K]] = {}
    for k in keys:
        m = manifold_of(k)
        if m is not None:
            out.setdefault(m, []).append(k)
    return {m: out[m] for m in sorted(out, key=_rank)}


def pick(groups: dict[str, list[K]], manifold: Optional[str]) -> tuple[Optional[str], list[K]]:
    """(manifold, its keys): the one asked for, or the first measured one for None."""
    if manifold is None:
        return next(iter(groups.items()), (None, []))
    return manifold, groups.get(manifold, [])
