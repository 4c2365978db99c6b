"""Transfer (black-box) attack (supplement E): L-inf Adam-PGD examples crafted on a held-out
source model, fed to the target model.

A (sample, restart) succeeds when the attack succeeded on the source and the target
misclassifies the transferred image; `correct` means correctly classified by both models, so
the success rates are over samples both models get right (the paper's denominator).
Records report the target's predictions; norms and first_success_iter come from the source.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from raysweep.attacks.base import Attack, build_config, eval_mode, model_device
from raysweep.attacks.pgd import PGDAttack, PGDConfig
from raysweep.attacks.records import AttackResult
from raysweep.attacks.registry import register_attack
from raysweep.data.batch import Batch
from raysweep._core.errors import UserError


@dataclass(frozen=True)
class TransferConfig(PGDConfig):
    pass


class TransferAttack(Attack):
    """Transfer of source-model PGD examples to the target (see the module docstring)."""

    config: TransferConfig

    def __call__(self, model: nn.Module, batch: Batch, *, manifold: Any = None, source_model: Optional[nn.Module] = None,
                 generator: Optional[torch.Generator] = None, keep_images: bool = False) -> AttackResult:
        self._check_needs(manifold, source_model)
        assert source_model is not None
        inner = PGDAttack(self.name, build_config(PGDConfig, self.name, self.config.__dict__))
        # attack the source with idx = batch position, so each record says which image it is
        positions = Batch(batch.x, batch.y, batch.z, batch.ctx, torch.arange(len(batch), device=batch.x.device))
        source = inner(source_model, positions, generator=generator, keep_images=True)
        assert source.x_adv is not None
        restarts, b = source.x_adv.shape[:2]
        device = model_device(model)
        with eval_mode(model), torch.no_grad():
            x = batch.x.to(device)
            y = batch.y.to(device)
            clean = model(x).argmax(dim=1).cpu().numpy()
            logits = model(source.x_adv.to(device).flatten(0, 1))  # [restarts * B, classes]
            y_rows = y.repeat(restarts)
            adv = logits.argmax(dim=1).cpu().numpy()
            loss = F.cross_entropy(logits, y_rows, reduction="none").cpu().numpy()
        position = source.records["sample"]
        row = source.records["restart"] * b + position  # row in the flattened [restarts * B]
        records = dict(source.records)
        if batch.idx is not None:
            records["sample"] = batch.idx.cpu().numpy().astype(np.int64)[position]
        label = records["label"]
        records["clean_pred"] = clean[position]
        records["adv_pred"] = adv[row]
        records["loss"] = loss[row]
        records["correct"] = source.records["correct"] & (clean[position] == label)
        records["success"] = source.records["success"] & (adv[row] != label)
        return AttackResult(records, source.x_adv if keep_images else None)

    def examples(self, model: nn.Module, batch: Batch, *, manifold: Any = None,
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
        raise UserError("the transfer attack has no adversarial-training variant; use linf or l2")


register_attack("transfer", TransferAttack, TransferConfig, "source_model", "regular",
                "transfer of L-inf PGD examples from a held-out source model (supplement E)", eps=0.3, norm="linf")
