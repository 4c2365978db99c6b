"""FGSM (Goodfellow, Shlens and Szegedy 2015): x + eps * sign(grad_x CE(f(x), y)), clipped to
[0, 1]; one step, so every restart gives the same example. Wrapped in raysweep's PeerAttack,
which turns any `perturb(x, y) -> x_adv` into the attack contract's per-(sample, restart)
records (success, norms, loss), so its rows land in the tables like any built-in attack's."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from raysweep.attacks import ATTACKS
from raysweep.attacks.peers import PeerAttack


def _fgsm(model, eps: float):
    def perturb(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = x.clone().requires_grad_(True)
        grad, = torch.autograd.grad(F.cross_entropy(model(x), y), x)
        return (x + eps * grad.sign()).clamp(0, 1)
    return perturb


@ATTACKS.register("fgsm", family="regular")
def fgsm(eps: float = 0.3, restarts: int = 1) -> PeerAttack:
    """FGSM, one L-inf sign-gradient step of size eps (example plugin)"""
    if eps < 0:
        raise ValueError(f"fgsm eps must be >= 0, got {eps}")
    return PeerAttack("fgsm", lambda model: _fgsm(model, eps), restarts, {"eps": eps})
