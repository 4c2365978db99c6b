"""The APGD optimiser (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an
ensemble of diverse parameter-free attacks", Algorithm 1), batched, with per-row early stopping.

Per row: a step of size eta (2 eps at the start) along sign(grad) (L-inf) or grad / ||grad||_2
(L2), projected onto the eps-ball and the [0, 1] box (Eq. 2), then the momentum step
x <- P(x + 0.75 (z - x) + 0.25 (x - x_prev)) (plain step on the first iteration). At the
checkpoints w_j (22% of the iterations, then periods shrinking by 3% to at least 6%) a row
halves eta and restarts from its highest-objective point when (1) its objective rose in at
most rho = 0.75 of the steps since the last checkpoint, or (2) eta was not halved at the last
checkpoint and the best objective has not improved since. Rows are independent (the model is
in eval mode), so dropping a row at its first misclassification (as raysweep.attacks.loop does,
with the same adaptive compaction) changes no other row and no success.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from raysweep.attacks.loop import KEEP_MODES, LoopResult, OpenCount, compaction, flush, keep_rows
from raysweep.attacks.norms import row_norm
from raysweep.attacks.problem import Problem, Work


@dataclass(frozen=True)
class APGDLoopConfig:
    iterations: int = 100
    eps: float = 0.3  # the first step size is 2 eps (Algorithm 1's eta^(0))
    norm: str = "linf"
    rho: float = 0.75  # condition 1: halve eta when the objective rose in <= rho of the steps
    early_stop: bool = True  # drop rows from the batch at their first success
    keep: str = "first_success"  # or "highest_loss": the highest-objective iterate (training)
    compact_cost: float = 0.5  # see raysweep.attacks.loop.LoopConfig
    alpha: float = 0.75  # momentum weight of the new step (Algorithm 1)

    def __post_init__(self) -> None:
        if self.keep not in KEEP_MODES or self.norm not in ("linf", "l2"):
            raise ValueError(f"bad APGD loop config: keep={self.keep!r}, norm={self.norm!r}")

    def checkpoints(self) -> tuple[int, int, int]:
        """(first period, shrink per checkpoint, shortest period), as AutoAttack rounds them."""
        n = self.iterations
        return max(int(0.22 * n), 1), max(int(0.03 * n), 1), max(int(0.06 * n), 1)


def _evaluate(model: nn.Module, problem: Problem, var: torch.Tensor, work: Work,
              need_grad: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Objective [N], logits [N, K] and the objective's gradient in var (zeros if not needed)."""
    var = var.detach().requires_grad_(need_grad)
    with torch.set_grad_enabled(need_grad):
        x_adv = problem.image(var, work)
        logits = model(x_adv)
        obj = problem.objective(logits, var, x_adv, work)
    if not need_grad:
        return obj.detach(), logits.detach(), torch.zeros_like(var)
    (grad,) = torch.autograd.grad(obj.sum(), var)  # rows are independent (eval mode)
    return obj.detach(), logits.detach(), grad


def _direction(grad: torch.Tensor, norm: str) -> torch.Tensor:
    if norm == "linf":
        return grad.sign()
    return grad / (row_norm(grad, "l2").view(-1, *([1] * (grad.dim() - 1))) + 1e-12)


def _per_row(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.view(-1, *([1] * (like.dim() - 1)))


def _step(st: dict[str, torch.Tensor], problem: Problem, work: Work, cfg: APGDLoopConfig, first: bool) -> torch.Tensor:
    """Algorithm 1's update from st["var"]: the projected gradient step z, then momentum."""
    var = st["var"]
    z = problem.project(var + _per_row(st["step"], var) * _direction(st["grad"], cfg.norm), work)
    if first:
        return z
    momentum = var - st["prev"]  # after a restart at the best point: best - previous iterate, as AutoAttack
    return problem.project(var + cfg.alpha * (z - var) + (1 - cfg.alpha) * momentum, work)


def _checkpoint(st: dict[str, torch.Tensor], period: int, rho: float) -> None:
    """Halve eta and go back to the best point where condition 1 or 2 holds (in place)."""
    oscillating = st["rises"] <= period * rho
    stalled = ~st["reduced"] & (st["check_obj"] >= st["best_obj"])
    reduce = oscillating | stalled
    st["reduced"] = reduce
    st["check_obj"] = st["best_obj"].clone()
    st["step"] = torch.where(reduce, st["step"] / 2, st["step"])
    mask = _per_row(reduce, st["var"])
    st["var"] = torch.where(mask, st["best_var"], st["var"])
    st["grad"] = torch.where(mask, st["best_grad"], st["grad"])
    st["rises"] = torch.zeros_like(st["rises"])


def _chosen(st: dict[str, torch.Tensor], work: Work, problem: Problem, keep: str) -> dict[str, torch.Tensor]:
    """Per working row, what the result reports: the first successful iterate (evaluation),
    else (and always for training) the highest-objective one."""
    if keep == "highest_loss":
        use_first = torch.zeros_like(st["first"], dtype=torch.bool)
    else:
        use_first = st["first"] >= 0
    var = torch.where(_per_row(use_first, st["var"]), st["first_var"], st["best_var"])
    return {"x_adv": problem.image(var, work).detach(), "var": var,
            "logits": torch.where(use_first[:, None], st["first_logits"], st["best_logits"]),
            "objective": torch.where(use_first, st["first_obj"], st["best_obj"])}


def _first_step(work: Work, cfg: APGDLoopConfig, n: int, var0: torch.Tensor) -> torch.Tensor:
    """Algorithm 1's eta^(0) = 2 eps per row: work["eps"] where a problem gives each row its own eps
    (raysweep.attacks.min_eps bisects eps per sample), else the config's."""
    if "eps" in work:
        return (2 * work["eps"]).to(device=var0.device, dtype=var0.dtype)
    return torch.full((n,), 2 * cfg.eps, device=var0.device, dtype=var0.dtype)


def run_apgd(model: nn.Module, problem: Problem, work: Work, var0: torch.Tensor, cfg: APGDLoopConfig) -> LoopResult:
    """Maximise problem.objective with APGD for cfg.iterations steps from var0 (iteration 0 is
    the start); success is misclassification of work["y"] at any evaluated iterate."""
    n = var0.shape[0]
    y_all = work["y"]
    drop_rows = cfg.early_stop and cfg.keep == "first_success"
    obj, logits, grad = _evaluate(model, problem, var0, work, cfg.iterations > 0)
    var = var0.detach().clone()
    first = torch.where(logits.argmax(dim=1) != work["y"], 0, -1)
    st = {"rows": torch.arange(n, device=var0.device), "first": first, "var": var, "prev": var, "grad": grad,
          "step": _first_step(work, cfg, n, var0),
          "best_var": var.clone(), "best_grad": grad.clone(), "best_obj": obj, "best_logits": logits,
          "first_var": var.clone(), "first_logits": logits.clone(), "first_obj": obj.clone(),
          "rises": torch.zeros_like(obj), "prev_obj": obj, "check_obj": obj.clone(),
          "reduced": torch.ones_like(first, dtype=torch.bool)}
    out: dict[str, torch.Tensor] = {}
    period, shrink, shortest = cfg.checkpoints()
    since_check, row_steps = 0, 0
    counter = OpenCount(lagged=drop_rows and var0.is_cuda)
    for it in range(cfg.iterations):
        with torch.no_grad():
            new = _step(st, problem, work, cfg, first=it == 0)
        row_steps += new.shape[0]
        obj, logits, grad = _evaluate(model, problem, new, work, need_grad=it < cfg.iterations - 1)
        with torch.no_grad():
            st["prev"], st["var"], st["grad"] = st["var"], new, grad
            newly = (logits.argmax(dim=1) != work["y"]) & (st["first"] < 0)
            st["first"] = torch.where(newly, it + 1, st["first"])
            keep_rows(st, newly, {"first_var": new, "first_logits": logits, "first_obj": obj})
            better = obj > st["best_obj"]
            keep_rows(st, better, {"best_var": new, "best_grad": grad, "best_logits": logits})
            st["best_obj"] = torch.where(better, obj, st["best_obj"])
            st["rises"] = st["rises"] + (obj > st["prev_obj"]).to(obj.dtype)
            st["prev_obj"] = obj
            since_check += 1
            if since_check == period:
                _checkpoint(st, period, cfg.rho)
                period, since_check = max(period - shrink, shortest), 0
            if drop_rows:
                n_open = counter.update(st["first"] < 0)
                if n_open == 0:
                    break
                stay = None if n_open is None else compaction(st["first"] < 0, n_open, cfg.iterations - it - 1,
                                                              cfg.compact_cost)
                if stay is not None:
                    done = torch.nonzero(st["first"] >= 0).squeeze(1)
                    flush(out, n, st, _chosen(st, work, problem, cfg.keep), done)
                    st = {k: v[stay] for k, v in st.items()}
                    work = {k: v[stay] for k, v in work.items()}
    with torch.no_grad():
        flush(out, n, st, _chosen(st, work, problem, cfg.keep), torch.arange(st["rows"].numel(), device=var0.device))
        loss = torch.nn.functional.cross_entropy(out["logits"], y_all, reduction="none")
    return LoopResult(out["x_adv"], out["var"], out["logits"].argmax(dim=1), loss, out["objective"], out["first"],
                      row_steps)


def dlr(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """The DLR loss (Croce & Hein 2020, Eq. 6 and its targeted version), maximised.

    Untargeted: -(z_y - max_{j != y} z_j) / (z_pi1 - z_pi3); targeted:
    -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2), pi the logits sorted in decreasing order.
    With fewer than 4 classes (ours) pi3 and pi4 fall back to the smallest logit.
    """
    k = logits.shape[1]
    if k < 3:
        raise ValueError("the DLR loss needs at least 3 classes; use loss='ce'")
    ranked = logits.sort(dim=1, descending=True).values
    pi1, pi3, pi4 = ranked[:, 0], ranked[:, min(2, k - 1)], ranked[:, min(3, k - 1)]
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    if target is None:
        others = logits.masked_fill(torch.nn.functional.one_hot(y, k).bool(), -math.inf)
        return -(z_y - others.amax(dim=1)) / (pi1 - pi3 + 1e-12)
    z_t = logits.gather(1, target[:, None]).squeeze(1)
    return -(z_y - z_t) / (pi1 - 0.5 * (pi3 + pi4) + 1e-12)
