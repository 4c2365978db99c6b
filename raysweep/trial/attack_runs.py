"""A trial's configured attacks, each built once per trial, and how one runs on the test images
(Sec. 3.1-3.3): which images (the same seeded draw in every trial), which manifold or source
model it gets, its seeded generator, and the few pictures the report shows (Fig. 2)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from raysweep.attacks import ATTACKS, Attack
from raysweep.attacks.records import AttackResult
from raysweep.config.schema import AttackSpec, EvaluateSpec
from raysweep.data.batch import Batch
from raysweep.trial.artifacts import SOURCE_MODEL

SAMPLE_IMAGES = 6  # test images per attack kept as pictures (Fig. 2)


@dataclass(frozen=True)
class ConfiguredAttack:
    """One `evaluate.attacks` entry, built: `attack` as configured, and `pictures`, the same with
    one restart for the sample pictures (the attack itself when it has one restart already).
    Attacks hold hyperparameters only, never data, so one object serves every run in a trial."""

    spec: AttackSpec
    attack: Attack
    pictures: Attack


def build_attacks(evaluate: EvaluateSpec) -> dict[str, ConfiguredAttack]:
    """attack key -> its ConfiguredAttack, each attack built once (hyperparameters only, no data)."""
    out = {}
    for a in evaluate.attacks:
        attack = ATTACKS.build(a.name, **a.build_params())
        one = a.model_copy(update={"restarts": 1}).build_params()
        pictures = attack if one == a.build_params() else ATTACKS.build(a.name, **one)
        out[a.key] = ConfiguredAttack(a, attack, pictures)
    return out


def attacked_rows(n_test: int, samples: int) -> torch.Tensor:
    """The test rows every trial attacks: a fixed seeded draw, so all trials of a sweep attack the
    same images (paired comparisons) and no data set's file order (FONTS cycles through fonts)
    decides which fonts or classes are attacked."""
    perm = torch.randperm(n_test, generator=torch.Generator().manual_seed(0))
    return perm[: min(samples, n_test)].sort().values


def run_attack(attack: Attack, model: torch.nn.Module, batch: Batch, manifolds: dict[str, Any], seed: int,
               keep_images: bool) -> AttackResult:
    """One attack on the given test images, its random starts seeded by the trial's seed."""
    need = attack.needs
    gen = torch.Generator(device=batch.x.device).manual_seed(seed)
    if need == "source_model":  # transfer (supplement E): the sweep's source model, served like manifolds
        return attack(model, batch, source_model=manifolds.get(SOURCE_MODEL), generator=gen, keep_images=keep_images)
    return attack(model, batch, manifold=manifolds.get(need) if need else None, generator=gen,
                  keep_images=keep_images)


def sample_images(attack: ConfiguredAttack, model: torch.nn.Module, batch: Batch, manifolds: dict[str, Any],
                  seed: int) -> dict[str, torch.Tensor]:
    """The attack once more on the first SAMPLE_IMAGES attacked images, one restart, images kept:
    2% of a 300-sample attack, where keeping every attack's images would cost memory."""
    k = min(SAMPLE_IMAGES, len(batch))
    small = batch.select(torch.arange(k, device=batch.x.device))
    result = run_attack(attack.pictures, model, small, manifolds, seed, keep_images=True)
    success = torch.as_tensor(result.records["success"][:k].astype(bool))
    return {"idx": small.idx.cpu(), "label": small.y.cpu(), "x": small.x.detach().cpu().half(),
            "x_adv": result.x_adv[0].detach().cpu().half(), "success": success}
