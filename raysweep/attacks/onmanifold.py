"""On-manifold attacks (Eq. 3 of the paper; supplement E): Adam-PGD over a latent perturbation.

For any Manifold (raysweep.manifold.base): z, ctx, valid = manifold.codes(batch); maximise the
cross-entropy of dec(z + zeta, ctx) with ||zeta|| <= eta (L-inf by default, or L2) and
z + zeta in [manifold.lower, manifold.upper]. Correctness and image-space norms are measured
against dec(z) (for the FONTS true manifold dec(z) is the image itself); the records' `real_l2`
is ||x_adv - x||_2 to the real test image x, the delta of Fig. 3's distance ratio. Samples with
valid == False (a learned code outside its bound) or a code outside the box are excluded and
counted in n_excluded; every sample whose code fell outside the box before the manifold clamped
or excluded it is marked in the records' `outside_bound` (AttackResult.bound_counts; the choice
between clamping and excluding a learned code is raysweep.manifold.learned's, documented there
against Sec. 3.3 and supplement E). Variants: the FONTS true manifold (z = theta, eta 0.3, box = the
preset), class-specific VAE-GANs (z = encoder mean, eta 0.3, box [-2, 2]^10) and the
class-agnostic "on-data" VAE-GAN (eta 0.1). Shapes: z [B, d], images [B, C, H, W].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch

from raysweep.attacks.base import Attack, AttackConfig
from raysweep.attacks.norms import check_norm, project, random_start, row_norm
from raysweep.attacks.problem import Work, cross_entropy_objective, repeat_rows
from raysweep.attacks.records import REAL_L2
from raysweep.attacks.registry import register_attack
from raysweep.data.batch import Batch

_BOX_TOL = 1e-5  # codes this close outside the box count as inside (float round-off)


@dataclass(frozen=True)
class LatentConfig(AttackConfig):
    eta: float = 0.3
    norm: str = "linf"
    random_start: bool = True

    def validate(self) -> None:
        super().validate()
        check_norm(self.norm)


class LatentProblem:
    """zeta in latent space: x_adv = dec(z + zeta, ctx)."""

    def __init__(self, batch: Batch, manifold: Any, eta: float, norm: str, random_init: bool = True):
        self.manifold = manifold
        bounded = getattr(manifold, "bounded_codes", None)  # learned manifolds say what they clamped
        z, ctx, valid, outside = bounded(batch) if bounded is not None else (*manifold.codes(batch), None)
        lower = manifold.lower.to(z.device, z.dtype)
        upper = manifold.upper.to(z.device, z.dtype)
        inside = ((z >= lower - _BOX_TOL) & (z <= upper + _BOX_TOL)).all(dim=1)
        self.valid = valid.to(torch.bool) & inside
        self.outside = ~inside if outside is None else outside.to(torch.bool) | ~inside  # [B]
        self.z = torch.minimum(torch.maximum(z.detach(), lower), upper)  # round-off onto the box
        self.ctx = ctx
        self.lower, self.upper = lower, upper
        with torch.no_grad():
            self.x_ref = manifold.decode(self.z, ctx)
        self.y = batch.y
        self.eta, self.norm, self.random_init = eta, norm, random_init

    def rows(self, restarts: int) -> Work:
        work = {"z": repeat_rows(self.z, restarts), "y": repeat_rows(self.y, restarts)}
        if self.ctx is not None:
            work["ctx"] = repeat_rows(self.ctx, restarts)
        return work

    def init(self, work: Work, generator: Optional[torch.Generator]) -> torch.Tensor:
        z = work["z"]
        if not self.random_init:
            return torch.zeros_like(z)
        zeta = random_start(tuple(z.shape), self.eta, self.norm, generator, z.device, z.dtype)
        return self.project(zeta, work)

    def image(self, var: torch.Tensor, work: Work) -> torch.Tensor:
        return self.manifold.decode(work["z"] + var, work.get("ctx"))

    def project(self, var: torch.Tensor, work: Work) -> torch.Tensor:
        return project(var, work["z"], self.eta, self.norm, self.lower, self.upper)

    def objective(self, logits: torch.Tensor, var: torch.Tensor, x_adv: torch.Tensor, work: Work) -> torch.Tensor:
        return cross_entropy_objective(logits, work["y"])

    def latent_norm(self, var: torch.Tensor) -> torch.Tensor:
        return row_norm(var, self.norm)


class OnManifoldAttack(Attack):
    """Adam-PGD over zeta (see the module docstring)."""

    config: LatentConfig

    def problem(self, batch: Batch, manifold: Any) -> LatentProblem:
        manifold = manifold.to(batch.x.device)
        return LatentProblem(batch, manifold, self.config.eta, self.config.norm, self.config.random_start)

    def _attack_chunk(self, model: Any, batch: Batch, manifold: Any, generator: Optional[torch.Generator]
                      ) -> tuple[dict[str, np.ndarray], torch.Tensor, Optional[torch.Tensor]]:
        """The base records plus `real_l2`: the image-space delta to the real image x, not to dec(z)
        (a learned manifold's reconstruction differs from x, and Sec. 3.2 divides by x_adv - x)."""
        records, x_adv, z_adv = super()._attack_chunk(model, batch, manifold, generator)
        real = (x_adv - batch.x.unsqueeze(0)).flatten(2).norm(dim=2)  # [restarts, B], restart-major rows
        records[REAL_L2] = real.reshape(-1).detach().cpu().numpy().astype(np.float32)
        return records, x_adv, z_adv


register_attack("onmanifold_true", OnManifoldAttack, LatentConfig, "true", "on-manifold",
                "on-manifold attack on the true manifold (FONTS theta), eta 0.3 (Eq. 3)", eta=0.3)
register_attack("onmanifold_class", OnManifoldAttack, LatentConfig, "class", "on-manifold",
                "on-class-manifold attack on class-specific VAE-GANs, eta 0.3 (Eq. 3)", eta=0.3)
register_attack("onmanifold_data", OnManifoldAttack, LatentConfig, "data", "on-manifold",
                "on-data-manifold attack on the class-agnostic VAE-GAN, eta 0.1 (Eq. 3)", eta=0.1)
