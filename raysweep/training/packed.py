"""Training and test error of K models at once (packed trials: one GPU trains many small models at once; the paper's Sec. 3.1 training per model).

`train_packed` gives every model exactly what `raysweep.training.loop.train` gives it alone:
its own batch order (a CPU generator seeded with the model's seed, one `randperm` per epoch, as
`train_epoch` draws it), the same learning-rate schedule (`lr_at`: all models of a pack have the
same N, so the same batches per epoch), the same Adam and L2 weight decay (`make_optimizer` on
the pack: Adam is elementwise, the pack's loss is the sum of the K mean losses, so each model's
gradient and moments are its own), and its own BatchNorm statistics (PackedModel).

Two ways to run a pack, with the same numbers:
- fused: one PackedModel (vmap) step for all K models; pays on a GPU, where one small model's
  step is launch-bound (measured: 4.8 s on an H100 against 3.8 s on 2 CPU cores).
- sequential: the K models one after another through `train` itself. On CPU there is no launch
  overhead to save and vmap measured 0.6-0.9x of sequential (benchmarks/bench_pack.py), so CPU
  runs sequentially: packing must cost nothing there.
`fused=None` picks fused on CUDA for strategies with a fused form (raysweep.training.packed_strategy:
normal training, and regular adversarial training with its examples crafted on the pack) and
sequential otherwise.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable, Optional, Sequence

import torch
from torch import nn

from raysweep.data.batch import Split
from raysweep._core.errors import UserError
from raysweep.models.packed import PackedModel
from raysweep._core.tensors import cpu_copy
from raysweep.training.loop import TrainConfig, TrainResult, evaluate, make_optimizer, train
from raysweep.training.packed_strategy import FUSED_STRATEGIES, FusedLoss, fused_form
from raysweep.training.schedule import lr_at, num_batches
from raysweep.training.strategy import Strategy
# on_epoch(epoch, [metrics of model k], state_fn) of a fused pack (train_packed)
PackEpochCallback = Callable[[int, list[dict[str, float]], Callable[[], dict[str, Any]]], None]


def use_fused(device: torch.device, strategy_name: str, packable: bool = True) -> bool:
    """The default execution of a pack: fused only where it pays (CUDA) and is implemented."""
    return device.type == "cuda" and packable and strategy_name in FUSED_STRATEGIES


def train_packed(models: Sequence[nn.Module], splits: Sequence[Split], strategies: Sequence[Strategy],
                 cfg: TrainConfig, *, seeds: Sequence[int], device: torch.device | str,
                 fused: Optional[bool] = None, state: Optional[dict[str, Any]] = None,
                 on_epoch: Optional[PackEpochCallback] = None) -> list[TrainResult]:
    """Train models[k] in place on splits[k] with strategies[k] and batch-order seed seeds[k].

    Every model ends with the weights `train(models[k], splits[k], strategies[k], cfg,
    seed=seeds[k])` gives it (to float tolerance when fused). Returns one TrainResult per model.
    Fused only: `on_epoch(epoch, per_model_metrics, state_fn)` after every epoch, with `models`
    holding that epoch's weights; `state=state_fn()` resumes the whole pack exactly there.
    """
    if not (len(models) == len(splits) == len(strategies) == len(seeds)) or not models:
        raise UserError("a pack needs one split, strategy and seed per model")
    device = torch.device(device)
    form = fused_form(strategies)
    if fused is None:
        fused = form is not None and use_fused(device, getattr(strategies[0], "name", ""))
    if not fused:
        if state is not None or on_epoch is not None:
            raise UserError("epoch checkpoints of a pack are per model when it runs sequentially; use train()")
        return [train(m, s, st, cfg, seed=seed, device=device) for m, s, st, seed in zip(models, splits, strategies, seeds)]
    if form is None:
        name = getattr(strategies[0], "name", type(strategies[0]).__name__)
        raise UserError(f"strategy {name!r} (as configured) has no fused packed form; run the pack with fused=False")
    if len({len(s) for s in splits}) != 1:
        raise UserError("a fused pack needs the same N for every model (pack seeds of one cell)")
    return _train_fused(models, [s.to(device) for s in splits], strategies, form, cfg, seeds, device, state, on_epoch)


def _train_fused(models: Sequence[nn.Module], data: list[Split], strategies: Sequence[Strategy], form: FusedLoss,
                 cfg: TrainConfig, seeds: Sequence[int], device: torch.device,
                 state: Optional[dict[str, Any]] = None, on_epoch: Optional[PackEpochCallback] = None
                 ) -> list[TrainResult]:
    pack = PackedModel([m.to(device) for m in models]).train()
    opt = make_optimizer(pack, cfg)
    generators = [torch.Generator().manual_seed(s) for s in seeds]  # CPU: same order on every device
    start_epoch = _restore(state, pack, opt, generators, strategies) if state is not None else 0
    results = [TrainResult() for _ in models]
    for epoch in range(start_epoch, cfg.epochs):
        metrics = _fused_epoch(pack, data, form, opt, cfg, epoch, generators, device)
        for k, m in enumerate(metrics):
            results[k].history.append(m)
            results[k].train_time_s += m["epoch_time_s"]
        _unpack_into(pack, models)
        if on_epoch is not None:
            on_epoch(epoch, metrics, lambda e=epoch: _checkpoint(pack, opt, generators, strategies, e + 1))
    _unpack_into(pack, models)  # trained in place, like `train`
    return results


@torch.no_grad()
def _unpack_into(pack: PackedModel, models: Sequence[nn.Module]) -> None:
    for k, model in enumerate(models):
        model.load_state_dict(pack.unpack(k).state_dict())


def _checkpoint(pack: PackedModel, opt: torch.optim.Optimizer, generators: list[torch.Generator],
                strategies: Sequence[Strategy], epochs_done: int) -> dict[str, Any]:
    """The whole pack's training state (one Adam over the stacked parameters is the K Adams), with
    each strategy's own random stream (an attack's random starts), as `train` checkpoints it."""
    return {"epoch": epochs_done, "pack": cpu_copy(pack.state_dict()), "optimizer": cpu_copy(opt.state_dict()),
            "generators": [g.get_state() for g in generators],
            "strategies": [s.state_dict() if hasattr(s, "state_dict") else {} for s in strategies]}


def _restore(state: dict[str, Any], pack: PackedModel, opt: torch.optim.Optimizer,
             generators: list[torch.Generator], strategies: Sequence[Strategy]) -> int:
    if len(state["generators"]) != len(generators):
        raise UserError("the pack's checkpoint holds a different number of models; start the pack afresh")
    pack.load_state_dict(state["pack"])
    opt.load_state_dict(state["optimizer"])
    for g, s in zip(generators, state["generators"]):
        g.set_state(s)
    for strategy, s in zip(strategies, state.get("strategies", [])):
        if hasattr(strategy, "load_state_dict"):
            strategy.load_state_dict(s)
    return int(state["epoch"])


def _fused_epoch(pack: PackedModel, data: list[Split], form: FusedLoss, opt: torch.optim.Optimizer, cfg: TrainConfig,
                 epoch: int, generators: list[torch.Generator], device: torch.device) -> list[dict[str, float]]:
    """One epoch of all K models; per-model metrics as `train_epoch` reports them."""
    n, k = len(data[0]), pack.k
    batches = num_batches(n, cfg.batch_size)
    orders = [torch.randperm(n, generator=g).to(device) for g in generators]
    loss_sum = torch.zeros(k, device=device)
    wrong = torch.zeros(k, device=device, dtype=torch.long)
    counted = 0
    start = time.perf_counter()
    for b in range(batches):
        lr = lr_at(cfg.lr, cfg.lr_decay, epoch, b, batches)
        for group in opt.param_groups:
            group["lr"] = lr
        parts = [d.batch(o[b * cfg.batch_size:(b + 1) * cfg.batch_size], device) for d, o in zip(data, orders)]
        losses, logits = form(pack, parts)  # [K], clean logits [K, B, classes] or None
        opt.zero_grad(set_to_none=True)
        losses.sum().backward()  # sum of the K mean losses: each model's gradient is its own
        opt.step()
        loss_sum += losses.detach() * len(parts[0])
        if logits is not None:
            wrong += (logits.detach().argmax(2) != torch.stack([p.y for p in parts])).sum(1)
            counted += len(parts[0])
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = (time.perf_counter() - start) / k  # each model's share of the pack's wall time
    train_loss = (loss_sum / n).tolist()
    if not all(math.isfinite(v) for v in train_loss):
        raise UserError(f"training diverged in a pack in epoch {epoch + 1}; lower train.lr (now {cfg.lr})")
    return [{"epoch": float(epoch), "train_loss": train_loss[i],
             "train_error": wrong[i].item() / counted if counted else math.nan, "lr": lr,
             "epoch_time_s": seconds, "images": float(n), "images_per_s": n / seconds if seconds > 0 else math.nan}
            for i in range(k)]


@torch.no_grad()
def evaluate_packed(models: Sequence[nn.Module], split: Split, device: torch.device | str, *,
                    fused: Optional[bool] = None, batch_size: int = 1000) -> list[float]:
    """Test error of every model on all of `split` (what `evaluate` gives each alone)."""
    device = torch.device(device)
    if not (device.type == "cuda" if fused is None else fused):
        return [evaluate(m, split, device, batch_size) for m in models]
    pack = PackedModel([m.to(device) for m in models]).eval()
    wrong = torch.zeros(pack.k, device=device, dtype=torch.long)
    for start in range(0, len(split), batch_size):
        batch = split.batch(slice(start, start + batch_size), device)
        x = batch.x.unsqueeze(0).expand(pack.k, *batch.x.shape)  # every model sees the same test images
        wrong += (pack(x).argmax(2) != batch.y).sum(1)
    return [w / len(split) for w in wrong.tolist()]
