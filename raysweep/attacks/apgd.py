"""APGD-CE and APGD-T (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an
ensemble of diverse parameter-free attacks"), L-inf and L2, in the attack registry.

The stronger attacks AutoAttack runs, beside the paper's Adam-PGD, so that a regular-robustness
number can be checked against an attack that has no step size to tune (raysweep.attacks.apgd_loop
has the optimiser). Registered names (family "regular"):
- `apgd_ce`: cross-entropy, L-inf, eps 0.3; `apgd_ce_l2`: the same on the L2 ball, eps 1.5.
- `apgd_t`: the targeted DLR loss (Eq. 6 targeted) towards each of the clean image's 2nd..10th
  most likely classes in turn (`n_targets` 9), L-inf eps 0.3; `apgd_t_l2`: L2, eps 1.5.
Defaults are AutoAttack's: 100 iterations, 1 restart, rho 0.75, and its random start on the
ball's surface (`start="sphere"`; "paper" and "box" as for `linf`). Every name takes `norm`, so
`{name: apgd_ce, norm: l2, eps: ...}` also works; the _l2 names exist for the L2 eps default.

Records follow the attack contract: one row per (sample, restart); each sample stops at its
first misclassified iterate and keeps it, samples never misclassified keep their
highest-loss iterate. For APGD-T one restart runs the targets one after another and a sample
leaves at its first success (as AutoAttack does); `first_success_iter` then counts evaluated
iterates over the targets run, (iterations + 1) per target. The training variant
(`attack.examples`) runs all iterations (all targets) and keeps the iterate with the highest
cross-entropy. Shapes: x [B, C, H, W] in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import nn

from raysweep.attacks.apgd_loop import APGDLoopConfig, dlr, run_apgd
from raysweep.attacks.base import Attack
from raysweep.attacks.loop import LoopResult
from raysweep.attacks.norms import START_KINDS, check_norm
from raysweep.attacks.pgd import ImageProblem
from raysweep.attacks.problem import Work, cross_entropy_objective
from raysweep.attacks.registry import register_attack
from raysweep.data.batch import Batch
from raysweep._core.errors import UserError

LOSSES = ("ce", "dlr", "dlr_targeted")


@dataclass(frozen=True)
class APGDConfig:
    eps: float = 0.3
    norm: str = "linf"
    iterations: int = 100  # per restart (APGD-T: per restart and target)
    restarts: int = 1
    loss: str = "ce"  # "ce" (APGD-CE), "dlr" (untargeted DLR), "dlr_targeted" (APGD-T)
    n_targets: int = 9  # APGD-T: targets are the clean image's 2nd..(n_targets + 1)-th logits
    rho: float = 0.75  # Algorithm 1's oscillation threshold
    start: str = "sphere"  # AutoAttack's random start on the ball's surface
    early_stop: bool = True  # each sample stops at its first success, keeping that iterate
    max_rows: int = 10000  # rows (samples x restarts) per working batch; bounds memory
    compact_cost: float = 0.5  # see raysweep.attacks.loop.LoopConfig

    def validate(self) -> None:
        check_norm(self.norm)
        if self.eps < 0:
            raise UserError(f"attack eps must be >= 0, got {self.eps}")
        if self.iterations < 0 or self.restarts < 1 or self.max_rows < 1 or self.n_targets < 1:
            raise UserError("APGD needs iterations >= 0, restarts >= 1, n_targets >= 1 and max_rows >= 1; "
                            "fix the attack parameters")
        if self.loss not in LOSSES:
            raise UserError(f"unknown APGD loss {self.loss!r}; use one of: {', '.join(LOSSES)}")
        if self.start not in START_KINDS:
            raise UserError(f"unknown random start {self.start!r}; use one of: {', '.join(START_KINDS)}")
        if not 0 < self.rho <= 1:
            raise UserError(f"APGD rho must be in (0, 1], got {self.rho}")

    @property
    def targeted(self) -> bool:
        return self.loss == "dlr_targeted"


class APGDProblem(ImageProblem):
    """The image-space problem of `linf`/`l2` with APGD's objectives (work["target"]: APGD-T)."""

    def __init__(self, batch: Batch, config: APGDConfig):
        super().__init__(batch, config.eps, config.norm, True, config.start)
        self.loss = config.loss

    def objective(self, logits: torch.Tensor, var: torch.Tensor, x_adv: torch.Tensor, work: Work) -> torch.Tensor:
        if self.loss == "ce":
            return cross_entropy_objective(logits, work["y"])
        if logits.shape[1] < 3:
            raise UserError(f"APGD's DLR loss needs at least 3 classes, the model has {logits.shape[1]}; "
                            "use apgd_ce")
        return dlr(logits, work["y"], work["target"] if self.loss == "dlr_targeted" else None)


class APGDAttack(Attack):
    """APGD-CE / APGD-T (see the module docstring)."""

    config: APGDConfig

    def problem(self, batch: Batch, manifold: Any) -> APGDProblem:
        return APGDProblem(batch, self.config)

    def loop_config(self, *, early_stop: bool, keep: str) -> APGDLoopConfig:
        c = self.config
        return APGDLoopConfig(c.iterations, c.eps, c.norm, c.rho, early_stop, keep, c.compact_cost)

    def run(self, model: nn.Module, problem: APGDProblem, work: Work, cfg: APGDLoopConfig,
            generator: Optional[torch.Generator]) -> LoopResult:
        if not self.config.targeted:
            return run_apgd(model, problem, work, problem.init(work, generator), cfg)
        with torch.no_grad():
            ranked = model(work["x"]).argsort(dim=1, descending=True)  # [N, K] classes by clean logit
        n_targets = min(self.config.n_targets, ranked.shape[1] - 1)
        n = work["y"].shape[0]
        todo = torch.arange(n, device=work["y"].device)
        total: Optional[LoopResult] = None
        for j in range(n_targets):
            sub = {k: v[todo] for k, v in work.items()}
            sub["target"] = ranked[todo, j + 1]
            # starts are drawn for every row, so which rows are left never changes anyone's start
            start = problem.init(work, generator)[todo]
            part = run_apgd(model, problem, sub, start, cfg)
            total = _merge(total, part, todo, j * (cfg.iterations + 1), cfg.keep)
            if cfg.early_stop and cfg.keep == "first_success":
                todo = todo[part.first_success < 0]  # a sample leaves at its first success
                if todo.numel() == 0:
                    break
        assert total is not None
        return total


def _merge(total: Optional[LoopResult], part: LoopResult, rows: torch.Tensor, offset: int, keep: str) -> LoopResult:
    """Fold one target's result (for `rows`) into the running result.

    A row keeps its first success (at the first target that found one); otherwise, and always
    for training, the iterate with the highest cross-entropy over the targets run so far.
    """
    if total is None:
        first = torch.where(part.first_success >= 0, part.first_success + offset, part.first_success)
        return LoopResult(part.x_adv, part.var, part.pred, part.loss, part.objective, first, part.row_steps)
    open_before = total.first_success[rows] < 0
    higher = part.loss > total.loss[rows]
    take = higher if keep == "highest_loss" else open_before & ((part.first_success >= 0) | higher)
    at = rows[take]
    for field in ("x_adv", "var", "pred", "loss", "objective"):
        getattr(total, field)[at] = getattr(part, field)[take]
    found = open_before & (part.first_success >= 0)
    total.first_success[rows[found]] = part.first_success[found] + offset
    total.row_steps += part.row_steps
    return total


register_attack("apgd_ce", APGDAttack, APGDConfig, None, "regular",
                "APGD-CE, L-inf eps 0.3, 100 its (Croce & Hein 2020)", eps=0.3, norm="linf", loss="ce")
register_attack("apgd_ce_l2", APGDAttack, APGDConfig, None, "regular",
                "APGD-CE, L2 eps 1.5, 100 its (Croce & Hein 2020)", eps=1.5, norm="l2", loss="ce")
register_attack("apgd_t", APGDAttack, APGDConfig, None, "regular",
                "APGD-T, targeted DLR, 9 targets, L-inf eps 0.3, 100 its (Croce & Hein 2020)",
                eps=0.3, norm="linf", loss="dlr_targeted")
register_attack("apgd_t_l2", APGDAttack, APGDConfig, None, "regular",
                "APGD-T, targeted DLR, 9 targets, L2 eps 1.5, 100 its (Croce & Hein 2020)",
                eps=1.5, norm="l2", loss="dlr_targeted")
