"""The shared attack base: device, eval mode, restarts, chunking, the loop, records.

Hyperparameters come in at construction (a frozen config), data at call time. Subclasses only
say how to build their Problem (what is optimised and under which constraints).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Optional

import numpy as np
import torch
from torch import nn

from raysweep.attacks.fast_model import attack_model
from raysweep.attacks.loop import STEPS, LoopConfig, LoopResult, run_loop
from raysweep.attacks.norms import image_norms
from raysweep.attacks.problem import Problem, repeat_rows
from raysweep.attacks.records import AttackResult, concat_records, to_records
from raysweep.data.batch import Batch
from raysweep._core.device import default_device
from raysweep._core.errors import UserError
from raysweep._core.params import typed


@dataclass(frozen=True)
class AttackConfig:
    """Hyperparameters shared by the optimising attacks (defaults: the paper, supplement E)."""

    iterations: int = 40
    lr: float = 0.005  # Adam learning rate (or sign-step size when step == "sign")
    restarts: int = 5
    early_stop: bool = True  # stop each sample at its first success, keeping that iterate
    step: str = "adam"  # "adam" (the paper), "sign", "adam_sign", "adam_scaled" (loop.STEPS)
    max_rows: int = 10000  # rows (samples x restarts) per working batch; bounds memory

    def validate(self) -> None:
        if self.iterations < 0 or self.restarts < 1 or self.max_rows < 1:
            raise UserError("attack needs iterations >= 0, restarts >= 1 and max_rows >= 1; fix the attack parameters")
        if self.step not in STEPS:
            raise UserError(f"unknown attack step {self.step!r}; use one of: {', '.join(STEPS)}")
        for name in ("eps", "eta"):
            if getattr(self, name, 0.0) < 0:
                raise UserError(f"attack {name} must be >= 0, got {getattr(self, name)}")


def build_config(cls: type, attack: str, params: dict[str, Any]) -> Any:
    """cls(**params), names and types checked (raysweep._core.params), then the config's own checks."""
    config = typed(cls, params, f"attack {attack!r}")
    config.validate()
    return config


def model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else default_device()


@contextmanager
def eval_mode(*models: nn.Module) -> Iterator[None]:
    """Attack in eval mode (train-mode BN/dropout silently weakens attacks); restore every
    module's previous mode afterwards, even a mixed one."""
    saved = [(m, m.training) for model in models for m in model.modules()]
    for model in models:
        model.eval()
    try:
        yield
    finally:
        for module, mode in saved:
            module.training = mode


class Attack:
    """Base of every attack. `attack(model, batch, ...)` -> AttackResult (the Attack contract)."""

    config: AttackConfig

    def __init__(self, name: str, config: AttackConfig, needs: Optional[str] = None):
        self.name = name
        self.config = config
        self.needs = needs

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.config})"

    # -- what subclasses provide -------------------------------------------------------------
    def problem(self, batch: Batch, manifold: Any) -> Problem:
        raise NotImplementedError

    # -- evaluation --------------------------------------------------------------------------
    def __call__(self, model: nn.Module, batch: Batch, *, manifold: Any = None, source_model: Optional[nn.Module] = None,
                 generator: Optional[torch.Generator] = None, keep_images: bool = False) -> AttackResult:
        self._check_needs(manifold, source_model)
        if len(batch) == 0:
            raise UserError(f"attack {self.name!r} got an empty batch; attack at least one sample")
        device = model_device(model)
        batch = batch.numbered().to(device)
        parts, images, codes = [], [], []
        with eval_mode(model):
            fast = attack_model(model)  # BN folded etc.: the same logits up to float rounding
            for sub in batch.chunks(max(1, working_rows(self.config.max_rows, batch.x) // self.config.restarts)):
                rec, x_adv, z_adv = self._attack_chunk(fast, sub, manifold, generator)
                parts.append(rec)
                if keep_images:
                    images.append(x_adv)
                    codes.append(z_adv)
        x_all = torch.cat(images, dim=1) if keep_images else None
        z_all = torch.cat(codes, dim=1) if keep_images and codes[0] is not None else None
        return AttackResult(concat_records(parts), x_all, z_all)

    def _attack_chunk(self, model: nn.Module, batch: Batch, manifold: Any, generator: Optional[torch.Generator]
                      ) -> tuple[dict[str, np.ndarray], torch.Tensor, Optional[torch.Tensor]]:
        problem = self.problem(batch, manifold)
        restarts = self.config.restarts
        with torch.no_grad():
            clean_pred = model(problem.x_ref).argmax(dim=1)
        loop_cfg = self.loop_config(early_stop=self.config.early_stop, keep="first_success")
        out, attacked = self._optimise(model, problem, restarts, loop_cfg, generator)
        b = len(batch)
        # rows that were not attacked (excluded by the problem) keep the clean reference
        x_adv = repeat_rows(problem.x_ref, restarts)
        adv_pred = repeat_rows(clean_pred, restarts)
        first = torch.full_like(adv_pred, -1)
        loss = torch.full(adv_pred.shape, float("nan"), device=adv_pred.device)
        latent = torch.full(adv_pred.shape, float("nan"), device=adv_pred.device)
        if out is not None:
            x_adv[attacked], adv_pred[attacked], first[attacked] = out.x_adv, out.pred, out.first_success
            loss[attacked] = out.loss
            var_norm = problem.latent_norm(out.var)
            if var_norm is not None:
                latent[attacked] = var_norm.float()
        valid = repeat_rows(problem.valid, restarts)
        y = repeat_rows(problem.y, restarts)
        columns = {
            "sample": repeat_rows(batch.idx, restarts),
            "restart": torch.arange(restarts, device=y.device).repeat_interleave(b),
            "label": y, "clean_pred": repeat_rows(clean_pred, restarts), "adv_pred": adv_pred,
            "correct": repeat_rows(clean_pred == problem.y, restarts), "valid": valid,
            "success": (adv_pred != y) & valid, "first_success_iter": first,
            **image_norms(x_adv - repeat_rows(problem.x_ref, restarts)),
            "latent_norm": latent, "loss": loss,
            "outside_bound": repeat_rows(getattr(problem, "outside", torch.zeros_like(problem.valid)), restarts),
        }
        shape = (restarts, b) + tuple(x_adv.shape[1:])
        z_adv = self._latent_codes(problem, out, attacked, restarts)
        return to_records(columns), x_adv.view(shape), z_adv

    def loop_config(self, *, early_stop: bool, keep: str) -> Any:
        """The optimiser's settings for one call (evaluation or the training variant)."""
        return LoopConfig(self.config.iterations, self.config.lr, self.config.step, early_stop, keep)

    def run(self, model: nn.Module, problem: Problem, work: dict[str, torch.Tensor], cfg: Any,
            generator: Optional[torch.Generator]) -> LoopResult:
        """Optimise the rows of `work` from the problem's start (APGD brings its own optimiser)."""
        return run_loop(model, problem, work, problem.init(work, generator), cfg)

    def _optimise(self, model: nn.Module, problem: Problem, restarts: int, cfg: Any,
                  generator: Optional[torch.Generator]) -> tuple[Optional[LoopResult], torch.Tensor]:
        """Run the optimiser on the valid rows (restarts stacked into the batch dimension)."""
        work = problem.rows(restarts)
        attacked = torch.nonzero(repeat_rows(problem.valid, restarts)).squeeze(1)
        if attacked.numel() == 0:
            return None, attacked
        work = {k: v[attacked] for k, v in work.items()}
        return self.run(model, problem, work, cfg, generator), attacked

    def _latent_codes(self, problem: Problem, out: Optional[LoopResult], attacked: torch.Tensor,
                      restarts: int) -> Optional[torch.Tensor]:
        """z + zeta per row for latent attacks ([restarts, B, d]), else None."""
        z = getattr(problem, "z", None)
        if z is None:
            return None
        z_rows = repeat_rows(z, restarts).clone()
        if out is not None:
            z_rows[attacked] = z_rows[attacked] + out.var
        return z_rows.view(restarts, len(problem.y), -1)

    # -- adversarial training ----------------------------------------------------------------
    def examples(self, model: nn.Module, batch: Batch, *, manifold: Any = None,
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """The training variant: one restart, all iterations, the highest-loss iterate per
        sample; returns only the images [B, C, H, W] (rows the problem excludes keep x_ref)."""
        return self.training_examples(model, batch, manifold=manifold, generator=generator).x_adv

    def training_examples(self, model: nn.Module, batch: Batch, *, manifold: Any = None,
                          generator: Optional[torch.Generator] = None) -> "TrainingExamples":
        """`examples` with what the inner problem did to each attacked row: loss and success at
        the random start and at the kept iterate, and how far the optimiser moved from the start."""
        self._check_needs(manifold, None)
        device = model_device(model)
        batch = batch.numbered().to(device)
        cfg = self.loop_config(early_stop=False, keep="highest_loss")
        with eval_mode(model):
            problem = self.problem(batch, manifold)
            out, attacked = self._optimise(attack_model(model), problem, 1, cfg, generator)
        x_adv = problem.x_ref.detach().clone()
        if out is not None:
            x_adv[attacked] = out.x_adv
        return TrainingExamples(x_adv, problem.x_ref, batch.y, attacked, out)

    def _check_needs(self, manifold: Any, source_model: Optional[nn.Module]) -> None:
        if self.needs in ("true", "class", "data") and manifold is None:
            raise UserError(f"attack {self.name!r} needs a manifold ({self.needs!r}); pass manifold=...")
        if self.needs == "source_model" and source_model is None:
            raise UserError(f"attack {self.name!r} needs a source model; pass source_model=...")


# On CPU a working batch of more than ~2^19 input values costs more per row: the activations of
# one forward and backward pass stop fitting the caches and the allocator's cached blocks. Measured
# on the attack copy of the FONTS CNN (raysweep.attacks.fast_model, 2 threads, fwd + bwd): 21-23
# us per row at 300-900 rows, 26 at 1335, 38 at 2000. GPUs want the biggest batch that fits, so
# max_rows alone bounds them.
CPU_ROW_VALUES = 1 << 19


def working_rows(max_rows: int, x: torch.Tensor) -> int:
    """Rows (samples x restarts) per working batch on x's device."""
    if x.is_cuda:
        return max_rows
    return max(1, min(max_rows, CPU_ROW_VALUES // max(1, x[0].numel())))


@dataclass(frozen=True)
class TrainingExamples:
    """What `Attack.training_examples` made of a batch: the images, and per attacked row the
    inner problem's outcome (adversarial training's inner maximisation, Eq. 2), for the
    epochs table: did the attack leave its random start, or is the perturbed half noise?"""

    x_adv: torch.Tensor  # [B, C, H, W]
    x_ref: torch.Tensor  # [B, C, H, W] the images the perturbations are measured from
    y: torch.Tensor  # [B]
    attacked: torch.Tensor  # [A] row indices the optimiser ran on
    out: Optional[LoopResult]  # None when no row was attacked

    def summary(self) -> dict[str, torch.Tensor]:
        """Sums over the attacked rows (device tensors, no host sync): rows, successes and
        cross-entropy at the start and at the kept iterate, L2 distance of the kept iterate
        from the start (in the optimised variable) and of the image from x_ref."""
        out = self.out
        if out is None or out.start_var is None:
            return {}
        delta = (self.x_adv[self.attacked] - self.x_ref[self.attacked]).flatten(1)
        return {
            "rows": torch.tensor(float(self.attacked.numel()), device=delta.device),
            "success": (out.pred != self.y[self.attacked]).sum().float(),
            "loss": out.loss.sum(),
            "start_success": out.start_success.sum().float(),
            "start_loss": out.start_loss.sum(),
            "drift_l2": (out.var - out.start_var).flatten(1).norm(dim=1).sum(),
            "delta_l2": delta.norm(dim=1).sum(),
        }
