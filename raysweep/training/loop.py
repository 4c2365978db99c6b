"""The classifier training loop (Sec. 3.1 and the reference implementation) and evaluation.

One loop for every strategy: the strategy turns a clean batch into a loss (see strategy.py), the
loop owns the data order, the optimiser, the learning-rate schedule, metrics and checkpoints.
Data stays in memory as tensors on the training device; batches are cut by index, no DataLoader.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch
from torch import nn

from raysweep.config.schema import TrainSpec
from raysweep.data.batch import Batch, Split
from raysweep._core.errors import UserError
from raysweep._core.tensors import cpu_copy
from raysweep.training.schedule import lr_at, num_batches
from raysweep.training.strategy import Strategy

# on_epoch(epoch, metrics, state_dict_fn): called after every epoch; `state_dict_fn()` returns a
# checkpoint that `train(..., state=...)` resumes from exactly.
EpochCallback = Callable[[int, dict[str, float], Callable[[], dict[str, Any]]], None]


# The spec's typed training block is the loop's config: validated once, at load, by pydantic.
TrainConfig = TrainSpec


@dataclass
class TrainResult:
    """What training produced besides the (trained in place) model.

    history: one metrics dict per epoch run by this call (see `_epoch_metrics`).
    train_time_s: wall time of the epochs run by this call.
    """

    history: list[dict[str, float]] = field(default_factory=list)
    train_time_s: float = 0.0

    @property
    def images_per_s(self) -> float:
        seen = sum(m["images"] for m in self.history)
        return seen / self.train_time_s if self.train_time_s > 0 else math.nan


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Adam:
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)


def _loss_and_logits(strategy: Strategy, model: nn.Module, batch: Batch) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """The strategy's loss and, if it offers `loss_and_logits`, its clean logits for train error."""
    both = getattr(strategy, "loss_and_logits", None)
    if both is not None:
        return both(model, batch)
    return strategy.loss(model, batch), None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_epoch(model: nn.Module, data: Split, strategy: Strategy, opt: torch.optim.Optimizer,
                cfg: TrainConfig, epoch: int, generator: torch.Generator, device: torch.device) -> dict[str, float]:
    """One pass over `data` (already on `device`) in a seeded random order; returns its metrics."""
    n = len(data)
    batches = num_batches(n, cfg.batch_size)
    order = torch.randperm(n, generator=generator).to(device)
    # Sums stay on the device so the loop never waits for the GPU; one sync at the end.
    loss_sum = torch.zeros((), device=device)
    wrong = torch.zeros((), device=device, dtype=torch.long)
    counted = 0
    model.train()
    start = time.perf_counter()
    for b in range(batches):
        lr = lr_at(cfg.lr, cfg.lr_decay, epoch, b, batches)
        for group in opt.param_groups:
            group["lr"] = lr
        batch = data.batch(order[b * cfg.batch_size:(b + 1) * cfg.batch_size], device)
        loss, logits = _loss_and_logits(strategy, model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum += loss.detach() * len(batch)
        if logits is not None:
            wrong += (logits.detach().argmax(1) != batch.y).sum()
            counted += len(batch)
    _sync(device)
    seconds = time.perf_counter() - start
    train_loss = loss_sum.item() / n
    if not math.isfinite(train_loss):  # checked once per epoch: a per-step check would sync the GPU
        name = getattr(strategy, "name", type(strategy).__name__)
        raise UserError(f"training diverged: the {name} loss became {train_loss} in epoch {epoch + 1}; "
                        f"lower train.lr (now {cfg.lr}) or check the strategy's parameters")
    stats = getattr(strategy, "epoch_stats", None)  # what a perturbed half did (perturbed_log.py)
    return {
        **(stats() if stats is not None else {}),
        "epoch": float(epoch),
        "train_loss": train_loss,
        "train_error": wrong.item() / counted if counted else math.nan,
        "lr": lr,
        "epoch_time_s": seconds,
        "images": float(n),
        "images_per_s": n / seconds if seconds > 0 else math.nan,
    }


def _checkpoint(model: nn.Module, opt: torch.optim.Optimizer, generator: torch.Generator,
                strategy: Strategy, epochs_done: int) -> dict[str, Any]:
    """Everything `train` needs to continue exactly after `epochs_done` epochs (copies, on CPU)."""
    state = {
        "epoch": epochs_done,
        "model": cpu_copy(model.state_dict()),
        "optimizer": cpu_copy(opt.state_dict()),
        "generator": generator.get_state(),
    }
    if hasattr(strategy, "state_dict"):  # e.g. a strategy's own random stream
        state["strategy"] = strategy.state_dict()
    return state


def _restore(state: dict[str, Any], model: nn.Module, opt: torch.optim.Optimizer,
             generator: torch.Generator, strategy: Strategy) -> int:
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])  # moves the moments onto the parameters' device
    generator.set_state(state["generator"])
    if "strategy" in state and hasattr(strategy, "load_state_dict"):
        strategy.load_state_dict(state["strategy"])
    return int(state["epoch"])


def train(model: nn.Module, split: Split, strategy: Strategy, cfg: TrainConfig = TrainConfig(), *,
          seed: int, device: torch.device | str, start_epoch: int = 0, state: Optional[dict[str, Any]] = None,
          on_epoch: Optional[EpochCallback] = None) -> TrainResult:
    """Train `model` in place on `split` with `strategy` for `cfg.epochs` epochs (Adam, Sec. 3.1).

    `seed` fixes the batch order (initialisation is `build_model(..., seed=...)`'s job). To
    resume, pass the dict that `on_epoch`'s `state_dict_fn()` returned: training continues from
    its epoch with the same weights, optimiser moments and batch order, so the final weights equal
    those of an uninterrupted run. `start_epoch` without `state` only shifts the schedule.
    """
    if len(split) == 0:
        raise UserError("the training split is empty; choose N >= 1")
    device = torch.device(device)
    model.to(device)
    data = split.to(device)  # uint8 on the device once; each batch is converted to float there
    opt = make_optimizer(model, cfg)
    generator = torch.Generator().manual_seed(seed)  # CPU generator: same order on every device
    if state is not None:
        start_epoch = _restore(state, model, opt, generator, strategy)
    result = TrainResult()
    for epoch in range(start_epoch, cfg.epochs):
        metrics = train_epoch(model, data, strategy, opt, cfg, epoch, generator, device)
        result.history.append(metrics)
        result.train_time_s += metrics["epoch_time_s"]
        if on_epoch is not None:
            on_epoch(epoch, metrics, lambda e=epoch: _checkpoint(model, opt, generator, strategy, e + 1))
    return result


@torch.no_grad()
def evaluate(model: nn.Module, split: Split, device: torch.device | str, batch_size: int = 1000) -> float:
    """Test error (fraction misclassified) of `model` on all of `split`, in eval mode.

    The model's previous train/eval mode is restored afterwards.
    """
    if len(split) == 0:
        raise UserError("cannot evaluate on an empty split")
    device = torch.device(device)
    was_training = model.training
    model.eval()
    try:
        wrong = torch.zeros((), device=device, dtype=torch.long)
        for start in range(0, len(split), batch_size):
            batch = split.batch(slice(start, start + batch_size), device)
            wrong += (model(batch.x).argmax(1) != batch.y).sum()
        return wrong.item() / len(split)
    finally:
        model.train(was_training)
