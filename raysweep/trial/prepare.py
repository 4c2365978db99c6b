"""One trial's classifier made ready and trained: the class-balanced subset of N training images,
the model initialised from the seed, the strategy and its learning curves (Sec. 3.1, 3.4-3.6)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import torch

from raysweep.config.trial_config import TrialConfig
from raysweep.data import Dataset
from raysweep.data.batch import Split
from raysweep.data.subset import subset
from raysweep.models import build_model
from raysweep.trial.attack_runs import attacked_rows
from raysweep.trial.protocol import TrialHooks
from raysweep.training.epoch_log import EPOCH_TEST_SAMPLES, EpochLog
from raysweep.training.loop import train
from raysweep.training.strategies import STRATEGIES  # the package: importing it registers every strategy
from raysweep.training.strategy import Strategy, StrategyContext


@dataclass
class Prepared:
    """One trial ready to train: its model (initialised from the seed), data subset, strategy and
    learning-curve hook (resumed from the checkpoint's rows, if any)."""

    model: torch.nn.Module
    split: Split  # the N training images
    strategy: Strategy
    log: EpochLog

    def stats(self, train_time_s: float, history: list[dict[str, float]], family: Optional[str]) -> dict[str, Any]:
        last = history[-1] if history else {}
        return {"train_time_s": train_time_s, "train_error": last.get("train_error", float("nan")),
                "strategy_family": family, "curve_time_s": self.log.seconds, "epochs": self.log.rows}


def prepare(cfg: TrialConfig, ds: Dataset, manifolds: dict[str, Any], device: torch.device,
            state: Optional[dict[str, Any]] = None, on_epoch: Optional[Callable[..., None]] = None) -> Prepared:
    """Subset, model and strategy of one trial (Sec. 3.1 and 3.4-3.6), not yet trained."""
    idx = subset(ds.train.y, cfg.n, cfg.seed)
    split = ds.train.subset(torch.as_tensor(idx))
    model = build_model(cfg.arch.name, ds.image_shape, ds.n_classes, seed=cfg.seed, **cfg.arch.options)
    ctx = StrategyContext(manifolds=manifolds, dataset_meta=ds.meta,
                          generator=torch.Generator().manual_seed(cfg.seed + 1), device=device)
    strategy = STRATEGIES.build(cfg.strategy.name, ctx=ctx, **cfg.strategy.params)
    log = EpochLog(model, ds.test.subset(attacked_rows(len(ds.test), EPOCH_TEST_SAMPLES)), device,
                   on_epoch, state)  # learning curves, on the same images every trial
    return Prepared(model, split, strategy, log)


def build_and_train(cfg: TrialConfig, ds: Dataset, manifolds: dict[str, Any], hooks: TrialHooks,
                    device: torch.device) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Subset, model, strategy, training (Sec. 3.1 and 3.4-3.6); returns the model and train stats."""
    p = prepare(cfg, ds, manifolds, device, hooks.state, hooks.on_epoch)
    result = train(p.model, p.split, p.strategy, cfg.train, seed=cfg.seed, device=device, state=hooks.state,
                   on_epoch=p.log)
    return p.model, p.stats(result.train_time_s, result.history, cfg.facts.strategy_family)
