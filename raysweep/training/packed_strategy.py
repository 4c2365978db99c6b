"""Fused packed forms of the training strategies (packed trials): one pack step for K models.

A fused form turns the K models' clean batches (one per model, equal sizes) into the K losses
each model's strategy would compute alone, with the pack's forward passes doing all K at once:
- normal (Sec. 3.1): cross-entropy of each model on its own batch;
- regular adversarial training (Eq. 2; `adversarial`, variants half / full / weak): each model's
  batch is split clean / perturbed as alone (`_mix.split`), the perturbed part crafted against
  that model (L-inf or L2 Adam-PGD on the pack, raysweep.training.packed_attack, each model's
  random start drawn from its own strategy's generator in the order it draws alone), then
  (CE_clean + CE_adv) / 2 per model from one train-mode pass (`_mix.mixed_loss`'s recipe);
- its random-noise baseline (`random_image`): the same with zero iterations (the Eq. 19 draw).
Strategies whose examples depend on a manifold or drop rows (`keep`) have no fused form yet: a
learned manifold's latent bound drops a different number of rows per model, which one vmap
cannot take. `fused_form(strategies)` is None for them and the pack runs sequentially.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch
import torch.nn.functional as F

from raysweep.data.batch import Batch
from raysweep.models.packed import PackedModel
from raysweep.training.packed_attack import attack_pack, examples_pack, has_packed_form
from raysweep.training.strategies._craft import AttackCraft, all_kept
from raysweep.training.strategies._mix import MixedStrategy, eval_mode, split
from raysweep.training.strategies.normal import NormalTraining
from raysweep.training.strategy import Strategy

# fused(pack, batches) -> (losses [K], clean logits [K, B, classes] for the train error, or None
# where the strategy alone reports none)
FusedLoss = Callable[[PackedModel, Sequence[Batch]], tuple[torch.Tensor, Optional[torch.Tensor]]]

# the strategy names that can have a fused form (the sweep driver decides packs from names alone,
# before any strategy is built; fused_form then checks the built strategies)
FUSED_STRATEGIES = ("normal", "adversarial", "random_image")


def _per_model_ce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of each model: logits [K, B, classes], y [K, B] -> [K]."""
    k = logits.shape[0]
    return F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(k, -1).mean(1)


def _normal(pack: PackedModel, batches: Sequence[Batch]) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    logits = pack(torch.stack([b.x for b in batches]))  # [K, B, classes]
    return _per_model_ce(logits, torch.stack([b.y for b in batches])), logits


def _image_attack_craft(strategy: Strategy) -> Optional[AttackCraft]:
    """The strategy's craft if it is an image-space PGD that keeps every row, else None."""
    craft = getattr(strategy, "craft", None) if isinstance(strategy, MixedStrategy) else None
    if not isinstance(craft, AttackCraft) or not has_packed_form(craft.attack):
        return None
    return craft if craft.manifold is None and craft.keep is all_kept else None


def _mixed(strategies: Sequence[MixedStrategy], crafts: Sequence[AttackCraft]) -> FusedLoss:
    attack, early_stop, fraction = crafts[0].attack, crafts[0].early_stop, strategies[0].adv_fraction
    generators = [c.generator for c in crafts]

    def loss(pack: PackedModel, batches: Sequence[Batch]) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        parts = [split(b, fraction) for b in batches]
        clean = [c for c, _ in parts]
        targets = [t for _, t in parts]
        n_clean, n_adv = len(clean[0]), len(targets[0])
        if n_adv:
            with eval_mode(pack):
                if early_stop:  # weak: the evaluation attack, each sample stopped at its first success
                    x_adv = torch.stack([r.x_adv[0] for r in attack_pack(attack, pack, targets, generators, True)])
                else:
                    x_adv = examples_pack(attack, pack, targets, generators)  # [K, b, C, H, W]
            x = torch.cat([torch.stack([c.x for c in clean]), x_adv.detach().to(clean[0].x.dtype)], dim=1)
        else:
            x = torch.stack([c.x for c in clean])
        logits = pack(x)  # [K, B_clean + B_adv, classes]: one train-mode pass, BN sees both parts
        losses = []
        if n_clean:
            losses.append(_per_model_ce(logits[:, :n_clean], torch.stack([c.y for c in clean])))
        if n_adv:
            losses.append(_per_model_ce(logits[:, n_clean:], torch.stack([t.y for t in targets])))
        return torch.stack(losses).mean(0), None  # alone, mixed strategies report no train error

    return loss


def fused_form(strategies: Sequence[Strategy]) -> Optional[FusedLoss]:
    """The fused loss of a pack whose members train with `strategies` (one configuration, one
    generator each), or None where this configuration has no fused form."""
    if all(isinstance(s, NormalTraining) for s in strategies):
        return _normal
    crafts = [_image_attack_craft(s) for s in strategies]
    if any(c is None for c in crafts):
        return None
    if len({(c.attack.config, c.early_stop, s.adv_fraction) for c, s in zip(crafts, strategies)}) != 1:
        return None  # members configured differently cannot share a pack step
    return _mixed(list(strategies), crafts)
