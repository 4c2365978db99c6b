"""The projected-Adam loop every attack runs, with per-row early stopping that saves real time.

Rows that succeed are dropped from the working batch (with their Adam moments), so the cost
falls as samples finish; masking the loss instead would save nothing. Finished rows leave once
the open ones fall to `compact_below` of the batch, so shapes change rarely; until then they
ride along without changing what was kept for them. Adam is written out by
hand over the per-row tensors because torch.optim.Adam cannot drop rows from its state; the
update is the same as torch.optim.Adam's (default betas, eps 1e-8, no weight decay).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from raysweep.attacks.problem import Problem, Work

KEEP_MODES = ("first_success", "highest_loss")
STEPS = ("adam", "sign")


@dataclass(frozen=True)
class LoopConfig:
    iterations: int = 40
    lr: float = 0.005
    step: str = "adam"  # "adam" (the paper) or "sign" (plain sign-gradient PGD, step size lr)
    early_stop: bool = True  # drop rows from the batch at their first success
    keep: str = "first_success"  # evaluation; "highest_loss" is the adversarial-training variant
    compact_below: float = 0.9  # drop finished rows once the open ones are <= this share of the batch
    betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8

    def __post_init__(self) -> None:
        if self.keep not in KEEP_MODES or self.step not in STEPS:
            raise ValueError(f"bad loop config: keep={self.keep!r}, step={self.step!r}")


@dataclass
class LoopResult:
    """Per row (in the order rows were given): the kept iterate and what the model said on it."""

    x_adv: torch.Tensor  # [N, C, H, W]
    var: torch.Tensor  # [N, ...]
    pred: torch.Tensor  # [N] model prediction on x_adv
    loss: torch.Tensor  # [N] cross-entropy of x_adv with the true label
    objective: torch.Tensor  # [N] the attack's objective at the kept iterate
    first_success: torch.Tensor  # [N] int64 iteration of the first success, -1 if none
    row_steps: int  # sum over gradient steps of the rows in the working batch (work done)


class _Adam:
    """Adam over a row-indexed parameter tensor whose rows can be dropped (minimises)."""

    def __init__(self, var: torch.Tensor, cfg: LoopConfig):
        self.m = torch.zeros_like(var)
        self.v = torch.zeros_like(var)
        self.cfg = cfg
        self.t = 0

    def step(self, var: torch.Tensor, grad: torch.Tensor) -> None:
        b1, b2 = self.cfg.betas
        self.t += 1
        self.m.mul_(b1).add_(grad, alpha=1 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        bc1, bc2 = 1 - b1**self.t, 1 - b2**self.t
        denom = (self.v.sqrt() / math.sqrt(bc2)).add_(self.cfg.adam_eps)
        var.addcdiv_(self.m, denom, value=-self.cfg.lr / bc1)

    def keep_rows(self, keep: torch.Tensor) -> None:
        self.m, self.v = self.m[keep], self.v[keep]


def run_loop(model: nn.Module, problem: Problem, work: Work, var0: torch.Tensor, cfg: LoopConfig) -> LoopResult:
    """Maximise problem.objective over var for cfg.iterations steps (iteration 0 = the start).

    Each iteration does one forward pass: it checks success on the current iterate (keeping a
    row's first successful iterate, or its highest-objective one), then steps from it.
    """
    n = var0.shape[0]
    y_all = work["y"]
    drop_rows = cfg.early_stop and cfg.keep == "first_success"
    first = torch.full((n,), -1, dtype=torch.long, device=var0.device)
    best = torch.full((n,), -math.inf, device=var0.device)
    kept: dict[str, torch.Tensor] = {}
    rows = torch.arange(n, device=var0.device)  # global row ids of the working batch
    var = var0.detach().clone()
    adam = _Adam(var, cfg)
    row_steps = 0
    for it in range(cfg.iterations + 1):
        last = it == cfg.iterations
        with torch.set_grad_enabled(not last):
            var.requires_grad_(not last)
            x_adv = problem.image(var, work)
            logits = model(x_adv)
            obj = problem.objective(logits, var, x_adv, work)
        with torch.no_grad():
            success = logits.argmax(dim=1) != work["y"]
            newly = success & (first[rows] < 0)
            first[rows] = torch.where(newly, it, first[rows])
            if cfg.keep == "highest_loss":
                store = obj > best[rows]
            else:
                store = (newly | (first[rows] < 0)) if last else newly
            _store(kept, n, rows, store, dict(x_adv=x_adv, var=var, logits=logits, objective=obj))
            best[rows] = torch.where(store, obj.detach(), best[rows])
        if last:
            break
        (grad,) = torch.autograd.grad(-obj.sum(), var)  # rows are independent (eval mode)
        with torch.no_grad():
            var = var.detach()
            if drop_rows:
                # one host sync per iteration; finished rows leave the batch (Adam moments
                # included) once enough have piled up, so shapes change rarely
                open_rows = first[rows] < 0
                n_open = int(open_rows.sum())
                if n_open == 0:
                    break
                if n_open <= cfg.compact_below * rows.numel():
                    stay = torch.nonzero(open_rows).squeeze(1)
                    var, grad, rows = var[stay], grad[stay], rows[stay]
                    work = {k: v[stay] for k, v in work.items()}
                    adam.keep_rows(stay)
            row_steps += rows.numel()
            if cfg.step == "adam":
                adam.step(var, grad)
            else:
                var.sub_(cfg.lr * grad.sign())
            var = problem.project(var, work)
    logits = kept.pop("logits")
    loss = F.cross_entropy(logits, y_all, reduction="none")
    return LoopResult(kept["x_adv"], kept["var"], logits.argmax(dim=1), loss, kept["objective"], first, row_steps)


def _store(kept: dict[str, torch.Tensor], n: int, rows: torch.Tensor, store: torch.Tensor,
           values: dict[str, torch.Tensor]) -> None:
    """kept[name][rows] = where(store, value, kept[name][rows]); no host sync."""
    full = rows.numel() == n  # rows is then arange(n): skip the gather/scatter
    for name, value in values.items():
        if name not in kept:
            kept[name] = value.new_zeros((n,) + tuple(value.shape[1:]))
        mask = store.view(-1, *([1] * (value.dim() - 1)))
        if full:
            kept[name] = torch.where(mask, value.detach(), kept[name])
        else:
            kept[name][rows] = torch.where(mask, value.detach(), kept[name][rows])
