"""The image-space Adam-PGD attack (Eq. 1, L-inf or L2) on K packed models at once
(packed trials: on a GPU one small model's attack is launch-bound).

Each model's records are what `attack(model, batch, generator=Generator().manual_seed(seed))`
gives it alone (to float tolerance):
- rows: the same chunks of the attacked batch as alone; within a chunk the pack's rows are laid
  out [restart, model, sample] (FlatPack), so every model sees its own rows;
- random start: drawn per model from that model's generator, with the shape it has alone, in the
  same order (one draw per chunk), then interleaved into the pack's layout;
- loss: the attack maximises the sum over rows of per-row cross-entropy; a row's logits depend
  only on its own model and image (eval mode), so the sum of per-model losses on per-model
  inputs keeps every (model, sample) gradient and Adam moment independent;
- early stopping stays per (model, sample): a row keeps its first successful iterate and stops
  counting. Finished rows are not dropped from the working batch (the loop's compaction would
  leave models with unequal rows, which one vmap cannot take); the loop still ends when every
  row of every model has succeeded. Dropping rows is a CPU saving -- on a GPU the step is
  launch-bound -- so CPU runs the attack per model (sequentially) by default.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import nn

from raysweep.attacks.base import eval_mode, model_device, working_rows
from raysweep.attacks.norms import random_start
from raysweep.attacks.pgd import ImageProblem, PGDAttack
from raysweep.attacks.problem import Work
from raysweep.attacks.records import AttackResult, concat_records
from raysweep.data.batch import Batch
from raysweep._core.errors import UserError
from raysweep.models.packed import FlatPack, PackedModel


class _PackedImageProblem(ImageProblem):
    """ImageProblem over the pack's rows whose random start is drawn model by model."""

    def __init__(self, batch: Batch, attack: "_PackedPGD"):
        cfg = attack.config
        super().__init__(batch, cfg.eps, cfg.norm, cfg.random_start, cfg.start)
        self.generators, self.k, self.b = attack.generators, attack.k, attack.b

    def init(self, work: Work, generator: Optional[torch.Generator]) -> torch.Tensor:
        x = work["x"]  # [restarts * K * b, C, H, W], layout [restart, model, sample]
        if not self.random_init:
            return torch.zeros_like(x)
        restarts = x.shape[0] // (self.k * self.b)
        img = tuple(x.shape[1:])
        starts = [random_start((restarts * self.b, *img), self.eps, self.norm, g, x.device, x.dtype, self.start)
                  .view(restarts, self.b, *img) for g in self.generators]  # alone: [restart * b] per model
        delta = torch.stack(starts, dim=1).reshape(x.shape)  # [restarts, K, b, ...] -> rows
        return self.project(delta, work)


class _PackedPGD(PGDAttack):
    """PGDAttack whose problem draws per-model starts and whose loop never drops rows."""

    def __init__(self, attack: PGDAttack, generators: Sequence[Optional[torch.Generator]]):
        super().__init__(attack.name, attack.config, attack.needs)
        self.generators, self.k, self.b = list(generators), len(generators), 0

    def problem(self, batch: Batch, manifold: Any) -> ImageProblem:
        return _PackedImageProblem(batch, self)

    def loop_config(self, *, early_stop: bool, keep: str) -> Any:
        # compact_cost inf: the compaction test never passes, so rows stay (see module docstring)
        return dataclasses.replace(super().loop_config(early_stop=early_stop, keep=keep), compact_cost=math.inf)


def attack_packed(attack: PGDAttack, models: Sequence[nn.Module], batch: Batch, seeds: Sequence[int], *,
                  fused: Optional[bool] = None, keep_images: bool = False) -> list[AttackResult]:
    """Attack every model on the same `batch`; model k's generator is seeded with seeds[k] (as
    raysweep.trial.attack_runs.run_attack seeds it). Returns one AttackResult per model."""
    if len(models) != len(seeds) or not models:
        raise UserError("a packed attack needs one seed per model")
    device = model_device(models[0])
    if fused is None:
        fused = device.type == "cuda"
    gens = [torch.Generator(device=device).manual_seed(s) for s in seeds]
    if not fused:
        return [attack(m, batch, generator=g, keep_images=keep_images) for m, g in zip(models, gens)]
    if not has_packed_form(attack):
        raise UserError(f"attack {attack.name!r} has no fused packed form; run it with fused=False")
    return attack_pack(attack, PackedModel(models), [batch] * len(models), gens, keep_images)


def has_packed_form(attack: Any) -> bool:
    """The one rule for which attacks run on a pack: image-space Adam-PGD (L-inf, L2, and the
    random-noise baselines, PGD with 0 iterations) that needs no manifold or source model."""
    return type(attack) is PGDAttack and attack.needs is None


def attack_pack(attack: PGDAttack, pack: PackedModel, batches: Sequence[Batch],
                generators: Sequence[Optional[torch.Generator]], keep_images: bool = False) -> list[AttackResult]:
    """The evaluation attack (`attack(model_k, batches[k], generator=generators[k])`) on every
    model of `pack` at once; the batches have one size (each model may attack its own images:
    a training batch), cut into the chunks a single model gets."""
    packed = _PackedPGD(attack, generators)
    flat, k, restarts = FlatPack(pack), pack.k, packed.config.restarts
    batches = [b.numbered().to(model_device(pack)) for b in batches]
    records: list[list[dict[str, np.ndarray]]] = [[] for _ in range(k)]
    images: list[list[torch.Tensor]] = [[] for _ in range(k)]
    with eval_mode(flat):
        # the chunks a single model gets (working_rows depends on the image size only)
        size = max(1, working_rows(packed.config.max_rows, batches[0].x) // restarts)
        for subs in zip(*(b.chunks(size) for b in batches)):
            b = len(subs[0])
            packed.b = flat.b = b
            rec, x_adv, _ = packed._attack_chunk(flat, Batch.cat(list(subs)), None, None)  # rows model-major
            for m in range(k):
                # record rows are [restart, model, sample]: model m's are r*K*b + m*b + i
                mine = (np.arange(restarts)[:, None] * k * b + m * b + np.arange(b)[None, :]).ravel()
                records[m].append({name: col[mine] for name, col in rec.items()})
                if keep_images:
                    images[m].append(x_adv[:, m * b:(m + 1) * b])
    return [AttackResult(concat_records(records[m]), torch.cat(images[m], dim=1) if keep_images else None, None)
            for m in range(k)]


def examples_pack(attack: PGDAttack, pack: PackedModel, batches: Sequence[Batch],
                  generators: Sequence[Optional[torch.Generator]]) -> torch.Tensor:
    """The training variant (`attack.examples(model_k, batches[k], generator=generators[k])`:
    all iterations, the highest-loss iterate) for every model of `pack` at once: [K, b, C, H, W]."""
    packed = _PackedPGD(attack, generators)
    flat = FlatPack(pack)
    packed.b = flat.b = len(batches[0])
    x_adv = packed.examples(flat, Batch.cat(list(batches)))  # one restart: rows [model, sample]
    return x_adv.view(pack.k, packed.b, *x_adv.shape[1:])
