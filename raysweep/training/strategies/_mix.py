"""What every adversarial training strategy shares (Eq. 2, 4, 5; supplement H, Eq. 22).

A strategy replaces a share of each clean batch with perturbed examples (adversarial or, for the
baselines, random), crafted with the model in eval mode, and then takes ONE train-mode forward
pass over the concatenated batch, loss = (CE_clean + CE_adv) / 2, so batch-norm statistics see
both parts (the authors' recipe; reference-implementation.md, "Adversarial training").
Only how the perturbed examples are made differs between strategies: that is the `craft`
function each strategy file supplies; the variants of supplement H are a `Variant` value.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

import torch
import torch.nn.functional as F
from torch import nn

from raysweep.data.batch import Batch
from raysweep._core.errors import UserError


@dataclass(frozen=True)
class Variant:
    """Supplement H: how much of a batch is perturbed and how strong the inner problem is.

    adv_fraction: share of each batch replaced by perturbed examples (paper default 0.5).
    early_stop:   stop each sample at its first adversarial example ("weak"); otherwise run all
                  iterations and keep the highest-loss iterate.
    """

    adv_fraction: float
    early_stop: bool


VARIANTS: dict[str, Variant] = {
    "half": Variant(adv_fraction=0.5, early_stop=False),  # the paper's default
    "full": Variant(adv_fraction=1.0, early_stop=False),
    "weak": Variant(adv_fraction=0.5, early_stop=True),
}


def get_variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise UserError(f"unknown training variant {name!r}; use one of: {', '.join(VARIANTS)}")
    return VARIANTS[name]


def check_fraction(name: str, value: float) -> float:
    if not 0.0 <= float(value) <= 1.0:
        raise UserError(f"strategy parameter {name}={value} is outside [0, 1]; give a fraction")
    return float(value)


# craft(model, batch) -> (x_pert [k, C, H, W] in [0,1], keep [k] bool). `keep` drops samples a
# strategy cannot perturb (learned manifolds: codes outside the latent bound).
Craft = Callable[[nn.Module, Batch], tuple[torch.Tensor, torch.Tensor]]


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode inside the block (attacking in train mode silently weakens the attack and
    pollutes BN running statistics), the previous mode restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def split(batch: Batch, adv_fraction: float) -> tuple[Batch, Batch]:
    """(clean part, part to perturb): the last round(B * adv_fraction) rows are perturbed; the
    loop already shuffles batches, so which rows does not matter."""
    b = len(batch)
    k = int(round(b * adv_fraction))
    if adv_fraction > 0 and b > 0:
        k = max(k, 1)
    cut = torch.arange(b, device=batch.x.device)
    return batch.select(cut[: b - k]), batch.select(cut[b - k :])


def mixed_loss(model: nn.Module, clean: Batch, x_adv: torch.Tensor, y_adv: torch.Tensor) -> torch.Tensor:
    """(CE_clean + CE_adv) / 2 from one forward pass on cat([clean, adversarial]); when one part
    is empty the loss is the other part's CE."""
    x = torch.cat([clean.x, x_adv.detach().to(clean.x.dtype)])  # [B_clean + B_adv, C, H, W]
    logits = model(x)
    n = len(clean)
    parts = []
    if n:
        parts.append(F.cross_entropy(logits[:n], clean.y))
    if len(x_adv):
        parts.append(F.cross_entropy(logits[n:], y_adv))
    return torch.stack(parts).mean()


class MixedStrategy:
    """A strategy = a name + a craft function + the share of each batch it perturbs.

    `generator` is the random stream the craft function draws from (random starts, random
    transformations); its state goes into the loop's checkpoints so a resumed run is exact.
    """

    def __init__(self, name: str, craft: Craft, adv_fraction: float, generator: Optional[torch.Generator] = None):
        self.name = name
        self.craft = craft
        self.adv_fraction = check_fraction("adv_fraction", adv_fraction)
        self.generator = generator

    def state_dict(self) -> dict[str, Any]:
        return {} if self.generator is None else {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.generator is not None and "generator" in state:
            self.generator.set_state(state["generator"])

    def epoch_stats(self) -> dict[str, float]:
        """The perturbed half's per-epoch record (raysweep.training.perturbed_log), when the
        craft function keeps one; the training loop adds it to the epoch's metrics."""
        log = getattr(self.craft, "log", None)
        return log.take() if log is not None else {}

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        clean, target = split(batch, self.adv_fraction)
        with eval_mode(model):
            x_adv, keep = self.craft(model, target)
        if not bool(keep.any()) and len(clean) == 0:
            clean = target  # nothing could be perturbed: train on the clean images rather than skip
        return mixed_loss(model, clean, x_adv[keep], target.y[keep])


def uniform_box(lower: torch.Tensor, upper: torch.Tensor, n: int, generator: Optional[torch.Generator]) -> torch.Tensor:
    """n samples [n, d] uniform in the box [lower, upper], drawn on the generator's device (a
    seeded CPU generator gives the same numbers whatever device trains)."""
    device = generator.device if generator is not None else torch.device("cpu")
    u = torch.rand(n, lower.numel(), generator=generator, device=device)
    return lower.to(device) + u * (upper.to(device) - lower.to(device))
