"""Thin adapters: torchattacks and AutoAttack (pyautoattack) attacks usable by name in specs.

    {name: torchattacks, params: {attack: PGD, eps: 0.3, alpha: 0.01, steps: 40}, restarts: 2}
    {name: autoattack, params: {norm: Linf, eps: 0.3, version: custom, attacks: [apgd-ce]}}

so a sweep can cross-check raysweep's own attacks with implementations a user already trusts.
Both produce the same per-(sample, restart) records as every raysweep attack
(raysweep.attacks.records), so tables, metrics and distances treat them alike. Restart k reruns
the peer with torch seeded from the caller's generator (the peers draw from the global RNG;
it is forked, so the caller's stream is left untouched). The peers report no iteration of
success (`first_success_iter` is -1) and no latent code (`latent_norm` NaN); `loss` is the
cross-entropy at x_adv.

An entry is registered only when its package is installed (the optional extra `[peers]`); the
package itself is imported when an attack is built, because importing torchattacks alone
takes about 1.5 s and every trial loads the registries.
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from raysweep.attacks.base import eval_mode, model_device
from raysweep.attacks.norms import image_norms
from raysweep.attacks.records import AttackResult, concat_records, to_records
from raysweep.attacks.registry import ATTACKS
from raysweep.data.batch import Batch
from raysweep._core.errors import UserError

# x, y (on the model's device) -> x_adv; built once per call from the model
Perturb = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class PeerAttack:
    """A peer library's attack behind the raysweep attack contract (image space, no manifold)."""

    needs = None

    def __init__(self, name: str, make: Callable[[nn.Module], Perturb], restarts: int, params: dict[str, Any]):
        if restarts < 1:
            raise UserError(f"attack {name!r}: restarts must be >= 1, got {restarts}")
        self.name, self._make, self.restarts, self.params = name, make, restarts, params
        # Like every attack, a frozen dataclass of all its parameters (raysweep.resolve.validate writes
        # them out into the spec, so a default left out and written out give the same trial id).
        fields = [(k, Any) for k in params] + [("restarts", int)]
        self.config = dataclasses.make_dataclass(f"{name}_config", fields, frozen=True)(**params, restarts=restarts)

    def __repr__(self) -> str:
        return f"PeerAttack({self.name!r}, restarts={self.restarts}, {self.params})"

    def _run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.Tensor:
        with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
            torch.manual_seed(seed)
            x_adv = self._make(model)(x, y).detach()
        return x_adv.clamp(0, 1)

    def __call__(self, model: nn.Module, batch: Batch, *, manifold: Any = None, source_model: Optional[nn.Module] = None,
                 generator: Optional[torch.Generator] = None, keep_images: bool = False) -> AttackResult:
        if len(batch) == 0:
            raise UserError(f"attack {self.name!r} got an empty batch; attack at least one sample")
        device = model_device(model)
        b = batch.to(device)
        idx = b.idx if b.idx is not None else torch.arange(len(b), device=device)
        seeds = torch.randint(0, 2**31 - 1, (self.restarts,), generator=generator).tolist()
        parts, images = [], []
        with eval_mode(model):
            with torch.no_grad():
                clean_pred = model(b.x).argmax(1)
            for restart, seed in enumerate(seeds):
                x_adv = self._run(model, b.x, b.y, seed)
                with torch.no_grad():
                    logits = model(x_adv)
                adv_pred = logits.argmax(1)
                parts.append(to_records({
                    "sample": idx, "restart": torch.full_like(idx, restart), "label": b.y, "clean_pred": clean_pred,
                    "adv_pred": adv_pred, "correct": clean_pred == b.y, "valid": torch.ones_like(b.y, dtype=torch.bool),
                    "success": adv_pred != b.y, "first_success_iter": torch.full_like(idx, -1),
                    **image_norms(x_adv - b.x), "latent_norm": torch.full(idx.shape, float("nan")),
                    "loss": F.cross_entropy(logits, b.y, reduction="none"),
                }))
                if keep_images:
                    images.append(x_adv)
        return AttackResult(concat_records(parts), torch.stack(images) if keep_images else None)

    def examples(self, model: nn.Module, batch: Batch, *, manifold: Any = None,
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Adversarial training with a peer: one run, the images only [B, C, H, W]."""
        device = model_device(model)
        b = batch.to(device)
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        with eval_mode(model):
            return self._run(model, b.x, b.y, seed)


def _torchattacks(restarts: int = 1, attack: str = "PGD", **kw: Any) -> PeerAttack:
    """any torchattacks attack by class name, e.g. attack=PGD eps=0.3 alpha=0.01 steps=40 (torchattacks)"""
    torchattacks = importlib.import_module("torchattacks")
    cls = getattr(torchattacks, attack, None)
    if not inspect.isclass(cls):
        raise UserError(f"torchattacks has no attack {attack!r}; use a class name such as PGD, PGDL2, FGSM, CW, APGD")
    try:
        inspect.signature(cls).bind(None, **kw)  # the model comes first; check the names now, not in a trial
    except TypeError as e:
        raise UserError(f"torchattacks.{attack}: {e}; see its documentation for the parameters") from None
    return PeerAttack("torchattacks", lambda model: cls(model, **kw), restarts, {"attack": attack, **kw})


AUTOATTACK_NORMS = ("Linf", "L2", "L1")


def _autoattack(restarts: int = 1, norm: str = "Linf", eps: float = 0.3, version: str = "standard",
                attacks: Optional[list[str]] = None, batch_size: int = 500,
                n_iter: Optional[int] = None) -> PeerAttack:
    """AutoAttack (Croce and Hein 2020) via pyautoattack: version standard, plus, rand, or custom attacks"""
    if norm not in AUTOATTACK_NORMS:
        raise UserError(f"autoattack norm must be one of {', '.join(AUTOATTACK_NORMS)}, got {norm!r}")
    if (version == "custom") != bool(attacks):
        raise UserError("autoattack: name `attacks` (e.g. [apgd-ce, apgd-t]) exactly when version is custom")
    AutoAttack = importlib.import_module("pyautoattack").AutoAttack

    def make(model: nn.Module) -> Perturb:
        def perturb(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            seed = int(torch.randint(0, 2**31 - 1, (1,)))  # from the forked, seeded global RNG
            aa = AutoAttack(model, norm=norm, eps=eps, version=version, seed=seed, device=x.device,
                            attacks=list(attacks) if attacks else None)
            if n_iter is not None:  # fewer iterations than AutoAttack's 100, for smoke runs
                for sub in (aa.apgd, aa.apgd_targeted, aa.fab):
                    sub.n_iter = n_iter
            return aa.run_standard_evaluation(x, y, batch_size=batch_size)[0]  # (x_adv, y_adv)
        return perturb

    params = {"norm": norm, "eps": eps, "version": version, "attacks": attacks, "batch_size": batch_size,
              "n_iter": n_iter}
    return PeerAttack("autoattack", make, restarts, params)


# attack name -> (the package it needs, what it is); names whose package is missing stay
# unregistered, and raysweep.resolve.validate and `raysweep list attacks` say how to install them
PEER_ATTACKS = {"torchattacks": ("torchattacks", "any torchattacks attack by class name"),
                "autoattack": ("pyautoattack", "AutoAttack (Croce & Hein 2020), standard or custom")}
PEERS_EXTRA = "pip install -e '.[peers]' (or `make peers`)"


def missing_peer(name: str) -> str | None:
    """The install hint for a peer attack whose package is missing, else None."""
    if name in PEER_ATTACKS and importlib.util.find_spec(PEER_ATTACKS[name][0]) is None:
        return f"attack {name!r} needs the package {PEER_ATTACKS[name][0]}, which is not installed; {PEERS_EXTRA}"
    return None


if importlib.util.find_spec("torchattacks") is not None:
    ATTACKS.register("torchattacks", PEER_ATTACKS["torchattacks"][1], family="regular")(_torchattacks)
if importlib.util.find_spec("pyautoattack") is not None:
    ATTACKS.register("autoattack", PEER_ATTACKS["autoattack"][1], family="regular")(_autoattack)
