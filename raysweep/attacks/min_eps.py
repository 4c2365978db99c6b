"""Each sample's smallest successful eps, by bisection over eps with APGD: claim 4's
robustness measure where a success rate at one eps saturates.

Claim 4 of Stutz, Hein, Schiele (CVPR 2019, Sec. 3.5, Fig. 6) asks whether regular robustness
moves with test error. A success rate at one eps cannot tell once it is saturated (normal models
broken at eps 0.3 whatever their test error; the paper's MLPs, supplement F). A per-sample
minimal perturbation can: the minimum-norm view of robustness of FMN (Pintor et al. 2021, "Fast
Minimum-norm Adversarial Attacks through Adaptive Norm Constraints"), found here by bisection
over eps with a fixed-eps attack, APGD (Croce & Hein 2020), whose first step is 2 eps of each
row, so one attack serves every eps without a step size to tune.

Per sample a bracket [lo, hi]: hi an eps at which APGD found an adversarial example (tightened
to that example's own norm), lo one at which it found none. Samples broken at the attack's eps
start from [0, eps]; each of `steps` rounds attacks every such sample at its own (lo + hi) / 2,
all in one batch (per-row eps). The answer is hi: any adversarial example bounds the true
minimum from above, so hi >= it always, and hi - lo <= eps / 2^steps (lo errs high only where
APGD misses an example it should find). Misclassified clean samples get 0; samples APGD never
breaks at eps get eps and are censored (their minimum is above eps, or beyond APGD).

Summaries over the correctly classified samples, censored ones counted as eps (`metrics`):
median, mean and the number censored. mean / eps is the area under the robust-accuracy curve
over [0, eps] of those samples, so 1 - mean / eps is the success rate averaged over all eps' in
[0, eps]: the success rate's scale, without its ceiling (raysweep.analysis.claims_regular).
Cost: `steps` runs of the attack beside its own run at eps, whose records give the start
(`found`). Shapes: x [B, C, H, W] in [0, 1]; per-sample results [B].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from raysweep.attacks.apgd import APGDAttack, APGDProblem
from raysweep.attacks.base import eval_mode, model_device, working_rows
from raysweep.attacks.fast_model import attack_model
from raysweep.attacks.norms import project_ball, random_start, row_norm
from raysweep.attacks.problem import Work, repeat_rows
from raysweep.data.batch import Batch
from raysweep._core.errors import UserError


def check_attack(attack: Any) -> APGDAttack:
    """The attack, if it can be bisected over eps (an APGD attack: its step follows eps)."""
    if not isinstance(attack, APGDAttack):
        raise UserError(f"min_eps_steps needs an APGD attack (apgd_ce, apgd_ce_l2, apgd_t, apgd_t_l2), "
                        f"not {attack.name!r}; remove min_eps_steps or attack with APGD")
    return attack


class RowEpsProblem(APGDProblem):
    """APGD's image-space problem with its own eps per sample (eps: [B])."""

    def __init__(self, batch: Batch, attack: APGDAttack, eps: torch.Tensor):
        super().__init__(batch, attack.config)
        self.row_eps = eps.to(batch.x)

    def rows(self, restarts: int) -> Work:
        x, eps = repeat_rows(self.x_ref, restarts), repeat_rows(self.row_eps, restarts)
        lo, hi = -x, 1 - x  # the [0, 1] box, intersected with each row's eps-box under L-inf
        if self.norm == "linf":
            e = eps.view(-1, *([1] * (x.dim() - 1)))
            lo, hi = torch.maximum(lo, -e), torch.minimum(hi, e)
        return {"x": x, "y": repeat_rows(self.y, restarts), "lo": lo, "hi": hi, "eps": eps}

    def init(self, work: Work, generator: Optional[torch.Generator]) -> torch.Tensor:
        # every start kind is linear in eps: draw at eps 1, scale each row to its own
        x = work["x"]
        unit = random_start(tuple(x.shape), 1.0, self.norm, generator, x.device, x.dtype, self.start)
        return self.project(unit * work["eps"].view(-1, *([1] * (x.dim() - 1))), work)

    def project(self, var: torch.Tensor, work: Work) -> torch.Tensor:
        if self.norm == "l2":
            var = project_ball(var, work["eps"], "l2")  # per-row eps broadcasts like a scalar
        return torch.clamp(var, work["lo"], work["hi"])


def broken_at(attack: APGDAttack, model: nn.Module, batch: Batch, eps: torch.Tensor,
              generator: Optional[torch.Generator]) -> torch.Tensor:
    """Per sample the smallest norm of an adversarial example APGD finds at its own eps over the
    restarts ([B]; inf where none), in working batches as the attack's own call cuts them."""
    restarts, out = attack.config.restarts, []
    size = max(1, working_rows(attack.config.max_rows, batch.x) // restarts)
    cfg = attack.loop_config(early_stop=True, keep="first_success")
    for start in range(0, len(batch), size):
        part = slice(start, start + size)
        problem = RowEpsProblem(batch.select(part), attack, eps[part])
        work = problem.rows(restarts)
        res = attack.run(model, problem, work, cfg, generator)
        norm = row_norm(res.x_adv - work["x"], attack.config.norm)
        norm = torch.where(res.pred != work["y"], norm, torch.full_like(norm, float("inf")))
        out.append(norm.view(restarts, -1).amin(dim=0))  # rows are restart-major
    return torch.cat(out)


@dataclass(frozen=True)
class MinEps:
    """Per sample: smallest successful eps found, clean correctness, censoring; the attack's eps."""

    eps: np.ndarray  # [B]; 0 misclassified, the attack's eps when censored
    correct: np.ndarray  # [B] bool, classified correctly before the attack
    censored: np.ndarray  # [B] bool, correct and never broken at the attack's eps
    bound: float

    def metrics(self) -> dict[str, float | int]:
        """median_min_eps, mean_min_eps (correct samples, censored as eps) and n_censored."""
        v = self.eps[self.correct]
        return {"median_min_eps": float(np.median(v)) if v.size else float("nan"),
                "mean_min_eps": float(v.mean()) if v.size else float("nan"), "n_censored": int(self.censored.sum())}


def min_eps(attack: APGDAttack, model: nn.Module, batch: Batch, steps: int = 7,
            generator: Optional[torch.Generator] = None, found: Optional[torch.Tensor] = None) -> MinEps:
    """Bisect each sample's smallest successful eps (module docstring). `found`: per sample the
    smallest norm of an adversarial example already found at the attack's eps (inf: none), e.g.
    from the attack's own records; without it the attack runs at eps first."""
    check_attack(attack)
    bound = float(attack.config.eps)
    batch = batch.to(model_device(model))
    with eval_mode(model):
        fast = attack_model(model)  # BN folded: the copy every attack runs on
        with torch.no_grad():
            correct = fast(batch.x).argmax(dim=1) == batch.y
        # brackets in float64, so the bound and the answers compare exactly with the config's eps
        full = torch.full((len(batch),), bound, device=batch.x.device, dtype=torch.float64)
        hi = (found if found is not None else broken_at(attack, fast, batch, full, generator)).to(full)
        hi = torch.where(correct, hi, torch.zeros_like(hi))
        open_ = correct & torch.isfinite(hi)
        hi = torch.where(open_, hi.clamp(max=bound), hi)
        lo = torch.zeros_like(hi)
        rows = torch.nonzero(open_).squeeze(1)
        for _ in range(steps if rows.numel() else 0):
            mid = (lo[rows] + hi[rows]) / 2
            norm = broken_at(attack, fast, batch.select(rows), mid, generator).to(mid)
            hit = torch.isfinite(norm)
            hi[rows] = torch.where(hit, torch.minimum(mid, norm), hi[rows])
            lo[rows] = torch.where(hit, lo[rows], mid)
    censored = correct & ~open_
    value = torch.where(censored, torch.full_like(hi, bound), hi)
    return MinEps(value.cpu().numpy(), correct.cpu().numpy(), censored.cpu().numpy(), bound)


def found_in_records(records: dict[str, np.ndarray], batch: Batch, norm: str) -> torch.Tensor:
    """Per batch sample the smallest `norm` of the attack's successful restarts (inf: none)."""
    ok = records["success"].astype(bool)
    best: dict[int, float] = {}
    for s, v in zip(records["sample"][ok].tolist(), records[norm][ok].tolist()):
        best[s] = min(v, best.get(s, float("inf")))
    return torch.tensor([best.get(int(s), float("inf")) for s in batch.idx.tolist()])


def min_eps_metrics(attack: Any, model: nn.Module, batch: Batch, records: dict[str, np.ndarray],
                    steps: int, seed: int) -> dict[str, float | int]:
    """`median_min_eps`, `mean_min_eps`, `n_censored` of the attacked samples, for the trial row's
    block of this attack (the attack's records at eps are the bisection's start, so n_censored
    matches its robust samples)."""
    attack = check_attack(attack)
    gen = torch.Generator(device=batch.x.device).manual_seed(seed)
    result = min_eps(attack, model, batch, steps, gen, found_in_records(records, batch, attack.config.norm))
    return result.metrics()
