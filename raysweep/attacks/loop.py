"""The projected-Adam loop every attack runs, with per-row early stopping that saves real time.

Rows that succeed are dropped from the working batch (with their Adam moments), so the cost
falls as samples finish; masking the loss instead would save nothing. Dropping is adaptive: a
compaction copies every open row's state once, so finished rows leave only when the steps they
would still cost (finished rows x iterations left) pay for that copy (`compact_cost` row-steps
per open row); until then they ride along without changing what was kept for them. On robust
models, where few rows finish, the loop thus never copies and costs less than a plain loop
(adversarially trained FONTS CNN at eps 0.03, 2 threads: 63 against 95 us of CPU time per
row-iteration, torch.optim.Adam loop over the same model): the attack differentiates a cheaper
copy of the model (raysweep.attacks.fast_model), Adam is one fused kernel and the L-inf
projection one clamp.
Adam keeps its moments in per-row tensors because torch.optim.Adam cannot drop rows from its
state; the update is torch.optim.Adam's own (fused; default betas, eps 1e-8, no weight decay).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.adam import adam

from raysweep.attacks.problem import Problem, Work

KEEP_MODES = ("first_success", "highest_loss")
# "adam": torch.optim.Adam on the raw gradient (the paper); "sign": plain sign-gradient PGD;
# "adam_sign": Adam on sign(grad) (foolbox's LinfAdamPGD); "adam_scaled": Adam on each row's
# gradient divided by its largest entry, so Adam's eps (1e-8) cannot swamp a row whose
# cross-entropy has saturated (confidently classified samples have |grad| ~ 1e-10)
STEPS = ("adam", "sign", "adam_sign", "adam_scaled")


@dataclass(frozen=True)
class LoopConfig:
    iterations: int = 40
    lr: float = 0.005
    step: str = "adam"  # "adam" (the paper) or "sign" (plain sign-gradient PGD, step size lr)
    early_stop: bool = True  # drop rows from the batch at their first success
    keep: str = "first_success"  # evaluation; "highest_loss" is the adversarial-training variant
    # what copying one open row's state costs, in row-steps (forward + backward of one row);
    # finished rows leave once (finished x iterations left) >= compact_cost x open rows. The
    # copies are ~10 row-sized tensors, far cheaper than a CNN's forward and backward pass
    # (bench_attacks.py measures both); 0 drops rows at every success.
    compact_cost: float = 0.5
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
    # iteration 0, the start (every row is still in the batch then): its variable, cross-entropy
    # and success, so a caller can see how far the optimiser moved from the random start
    start_var: Optional[torch.Tensor] = None  # [N, ...]
    start_loss: Optional[torch.Tensor] = None  # [N]
    start_success: Optional[torch.Tensor] = None  # [N] bool


class _Adam:
    """Adam over a row-indexed parameter tensor whose rows can be dropped (minimises).

    The update is torch.optim.Adam's fused kernel (torch.optim.adam.adam, fused=True) on CPU and
    CUDA: one pass over the batch instead of eight, which matters because each elementwise pass
    over the full working batch costs about as much as a small conv layer on CPU.
    """

    def __init__(self, var: torch.Tensor, cfg: LoopConfig):
        self.m = torch.zeros_like(var)
        self.v = torch.zeros_like(var)
        self.cfg = cfg
        self.t = 0
        self.fused = var.device.type in ("cpu", "cuda") and var.dtype in (torch.float32, torch.float64)
        self.step_t = torch.zeros((), dtype=torch.float32, device=var.device)  # the fused kernel's count

    def step(self, var: torch.Tensor, grad: torch.Tensor) -> None:
        b1, b2 = self.cfg.betas
        self.t += 1
        if self.fused:
            adam([var], [grad], [self.m], [self.v], [], [self.step_t], fused=True, amsgrad=False, beta1=b1,
                 beta2=b2, lr=self.cfg.lr, weight_decay=0.0, eps=self.cfg.adam_eps, maximize=False)
            return
        self.m.mul_(b1).add_(grad, alpha=1 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        bc1, bc2 = 1 - b1**self.t, 1 - b2**self.t
        denom = (self.v.sqrt() / math.sqrt(bc2)).add_(self.cfg.adam_eps)
        var.addcdiv_(self.m, denom, value=-self.cfg.lr / bc1)

    def keep_rows(self, keep: torch.Tensor) -> None:
        self.m, self.v = self.m[keep], self.v[keep]


class OpenCount:
    """How many rows are still open, read without stalling a GPU: on CUDA the count is copied
    to pinned memory asynchronously and read one iteration later (None until then), so the
    host never waits for the iteration it just queued. On CPU it is read at once."""

    def __init__(self, lagged: bool):
        self.lagged = lagged
        self.pending: Optional[tuple[torch.Tensor, torch.cuda.Event]] = None

    def update(self, open_rows: torch.Tensor) -> Optional[int]:
        if not self.lagged:
            return int(open_rows.sum())
        host = torch.empty((), dtype=torch.long, pin_memory=True)
        host.copy_(open_rows.sum(), non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        previous, self.pending = self.pending, (host, event)
        if previous is None:
            return None
        previous[1].synchronize()
        return int(previous[0])


def run_loop(model: nn.Module, problem: Problem, work: Work, var0: torch.Tensor, cfg: LoopConfig) -> LoopResult:
    """Maximise problem.objective over var for cfg.iterations steps (iteration 0 = the start).

    Each iteration does one forward pass: it checks success on the current iterate (keeping a
    row's first successful iterate, or its highest-objective one), then steps from it. What is
    kept lives in per-row buffers that shrink with the working batch; rows that leave are
    written to the full-size result.
    """
    n = var0.shape[0]
    y_all = work["y"]
    drop_rows = cfg.early_stop and cfg.keep == "first_success"
    track = {"rows": torch.arange(n, device=var0.device),  # global row ids of the working batch
             "first": torch.full((n,), -1, dtype=torch.long, device=var0.device),
             "best": torch.full((n,), -math.inf, device=var0.device)}
    kept: dict[str, torch.Tensor] = {}  # per working row: the kept iterate and its outputs
    out: dict[str, torch.Tensor] = {}  # per row of the whole problem, filled as rows leave
    var = var0.detach().clone()
    adam = _Adam(var, cfg)
    counter = OpenCount(lagged=drop_rows and var0.is_cuda)
    row_steps = 0
    start: dict[str, torch.Tensor] = {}
    for it in range(cfg.iterations + 1):
        last = it == cfg.iterations
        with torch.set_grad_enabled(not last):
            var.requires_grad_(not last)
            x_adv = problem.image(var, work)
            logits = model(x_adv)
            obj = problem.objective(logits, var, x_adv, work)
        with torch.no_grad():
            success = logits.argmax(dim=1) != work["y"]
            if it == 0:
                start = {"loss": F.cross_entropy(logits.detach(), work["y"], reduction="none"), "success": success}
            newly = success & (track["first"] < 0)
            track["first"] = torch.where(newly, it, track["first"])
            if cfg.keep == "highest_loss":
                store = obj > track["best"]
            else:
                store = (newly | (track["first"] < 0)) if last else newly
            keep_rows(kept, store, dict(x_adv=x_adv, var=var, logits=logits, objective=obj))
            track["best"] = torch.where(store, obj.detach(), track["best"])
        if last:
            break
        (grad,) = torch.autograd.grad(-obj.sum(), var)  # rows are independent (eval mode)
        with torch.no_grad():
            var = var.detach()
            if drop_rows:
                n_open = counter.update(track["first"] < 0)
                if n_open == 0:
                    break
                left = cfg.iterations - it - 1  # steps still to come after this one
                stay = None if n_open is None else compaction(track["first"] < 0, n_open, left, cfg.compact_cost)
                if stay is not None:
                    # finished rows leave the batch, their Adam moments with them
                    flush(out, n, track, kept, torch.nonzero(track["first"] >= 0).squeeze(1))
                    var, grad = var[stay], grad[stay]
                    work = {k: v[stay] for k, v in work.items()}
                    track = {k: v[stay] for k, v in track.items()}
                    kept = {k: v[stay] for k, v in kept.items()}
                    adam.keep_rows(stay)
                    if stay.numel() == 0:
                        break
            row_steps += var.shape[0]
            if cfg.step == "sign":
                var.sub_(cfg.lr * grad.sign())
            else:
                adam.step(var, _adam_input(grad, cfg.step))
            var = problem.project(var, work)
    flush(out, n, track, kept, torch.arange(track["rows"].numel(), device=var0.device))
    loss = F.cross_entropy(out["logits"], y_all, reduction="none")
    return LoopResult(out["x_adv"], out["var"], out["logits"].argmax(dim=1), loss, out["objective"], out["first"],
                      row_steps, var0, start["loss"], start["success"])


def _adam_input(grad: torch.Tensor, step: str) -> torch.Tensor:
    if step == "adam_sign":
        return grad.sign()
    if step == "adam_scaled":
        scale = grad.flatten(1).abs().amax(dim=1).clamp_min(1e-30)
        return grad / scale.view(-1, *([1] * (grad.dim() - 1)))
    return grad


def compaction(open_rows: torch.Tensor, n_open: int, left: int, cost: float) -> Optional[torch.Tensor]:
    """Rows to keep in the working batch, or None to leave it as it is.

    Only when it pays: the finished rows' remaining steps (n_done x left) must cover the copy
    of the open rows (cost x n_open row-steps). CPU: then the open rows. CUDA: the open rows
    padded with finished ones to a power of two, once that is smaller than the batch; every new
    batch shape costs cuDNN new convolution plans, and power-of-two sizes recur, so their plans
    are cached (small batches cost about the same on a GPU anyway).
    """
    size = open_rows.shape[0]
    if n_open == size or (size - n_open) * left < cost * n_open:
        return None
    if not open_rows.is_cuda:
        return torch.nonzero(open_rows).squeeze(1)
    if 1 << max(n_open - 1, 0).bit_length() >= size:
        return None
    stay = torch.nonzero(open_rows).squeeze(1)
    target = 1 << max(stay.numel() - 1, 0).bit_length() if stay.numel() else 0
    pad = torch.nonzero(~open_rows).squeeze(1)[: target - stay.numel()]  # finished rows ride along
    return torch.cat([stay, pad])


def keep_rows(kept: dict[str, torch.Tensor], store: torch.Tensor, values: dict[str, torch.Tensor]) -> None:
    """kept[name] = where(store, value, kept[name]) row-wise.

    On CUDA a full-batch `where` (no host sync); on CPU, where a sync is free, only the stored
    rows are copied, so iterations where nothing new is kept (most of them on a robust model)
    cost nothing here.
    """
    rows = None if store.is_cuda else torch.nonzero(store).squeeze(1)
    for name, value in values.items():
        value = value.detach()
        if name not in kept:
            kept[name] = torch.zeros_like(value)
        if rows is None:
            kept[name] = torch.where(store.view(-1, *([1] * (value.dim() - 1))), value, kept[name])
        elif rows.numel():
            kept[name][rows] = value[rows]


def flush(out: dict[str, torch.Tensor], n: int, track: dict[str, torch.Tensor], kept: dict[str, torch.Tensor],
           idx: torch.Tensor) -> None:
    """Write working rows `idx` (kept iterate, first success) into the full-size result."""
    rows = track["rows"][idx]
    for name, value in [*kept.items(), ("first", track["first"])]:
        if name not in out:
            out[name] = value.new_full((n,) + tuple(value.shape[1:]), -1 if name == "first" else 0)
        out[name][rows] = value[idx]
