"""Scoring one VAE-GAN weight lambda (Eq. 7-8) for the lambda search, without Ray.

`score_lambda` trains one VAE-GAN with the given lambda on the class's training images and
returns the objective of raysweep.manifold.lambda_objective (lower is better): on FONTS the true-manifold
distance of prior samples plus that of reconstructions; elsewhere held-out L1 + frechet_weight *
Frechet distance in the features of a classifier trained once per search.
"Held-out" means held out of the TRAINING split: `objective.held_out` seeded rows of the class's
training images are set aside before the VAE-GAN is fitted on the rest. The test split is never
read during the search, so the images later attacked and used for test error play no part in
choosing lambda (the feature classifier, too, trains on the training split only). The Optuna/Tune glue
is raysweep.tune.lambda_search; the best lambda per class lands in a table the actors read.
"""
from __future__ import annotations

from typing import Any, Optional

import optuna
import pandas as pd
import pyarrow as pa
import torch

from raysweep._core import storage
from raysweep.config.lambda_spec import LambdaSpec
from raysweep.data import load_dataset
from raysweep._core.device import default_device
from raysweep._core.errors import UserError
from raysweep.manifold.lambda_objective import QualityConfig, fonts_quality, learned_quality
from raysweep.manifold.true import TrueManifold
from raysweep.models import build_model
from raysweep.training.loop import TrainConfig, train
from raysweep.training.strategies import STRATEGIES
from raysweep.training.strategy import StrategyContext
from raysweep.vaegan.config import VAEGANConfig, paper_lambda
from raysweep.vaegan.job import class_rows
from raysweep.vaegan.fit import train_vaegan

METRIC = "objective"
AGNOSTIC = -1  # the class column of the class-agnostic model's row


def _feature_path(spec: LambdaSpec) -> str:
    return storage.join(spec.out_dir(), "feature_classifier.pt")


def ensure_feature_classifier(spec: LambdaSpec, ds, device: torch.device) -> None:
    """Train the classifier whose features the Frechet distance uses, once per search (not FONTS)."""
    if storage.exists(_feature_path(spec)):
        return

    model = build_model(spec.objective.classifier, ds.image_shape, ds.n_classes, seed=spec.seed)
    strategy = STRATEGIES.build("normal", ctx=StrategyContext(device=device))
    train(model, ds.train, strategy, TrainConfig(epochs=spec.objective.classifier_epochs), seed=spec.seed, device=device)
    storage.save_torch(_feature_path(spec), {k: v.cpu() for k, v in model.state_dict().items()})


def penultimate_features(model: torch.nn.Module):
    """images -> the input of the classifier's last linear layer (its penultimate features)."""
    last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    store: dict[str, torch.Tensor] = {}
    last.register_forward_hook(lambda mod, inp, out: store.__setitem__("f", inp[0]))
    model.eval()

    def features(x: torch.Tensor) -> torch.Tensor:
        model(x)
        return store["f"]

    return features


def _load_features(spec: LambdaSpec, ds, device: torch.device):
    model = build_model(spec.objective.classifier, ds.image_shape, ds.n_classes)
    model.load_state_dict(storage.load_torch(_feature_path(spec)))
    return penultimate_features(model.to(device))


def has_true_manifold(ds) -> bool:
    return ds.train.z is not None and "prototypes" in ds.meta


def held_out_split(labels: torch.Tensor, cls: Optional[int], held_out: int, train_size: Optional[int],
                   seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(fit rows, held-out rows) of class `cls` in the training split: a seeded permutation of
    the class's rows, the first `held_out` held out, the rest (capped at train_size) fitted."""
    rows = class_rows(labels, cls, None, 0)
    if len(rows) <= held_out:
        raise UserError(f"class {cls}: {len(rows)} training images cannot spare objective.held_out={held_out} "
                        "for scoring; lower objective.held_out")
    perm = rows[torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed))]
    fit = perm[held_out:] if train_size is None else perm[held_out:held_out + train_size]
    return fit.sort().values, perm[:held_out].sort().values


def score_lambda(spec: LambdaSpec, cls: Optional[int], lam: float, device: Optional[torch.device] = None) -> dict[str, float]:
    """Train one VAE-GAN with weight `lam` on class `cls` (None: all classes) and score it."""
    device = device or default_device()
    ds = load_dataset(spec.dataset.name, **spec.dataset.options)
    train_rows, held_rows = held_out_split(ds.train.y, cls, spec.objective.held_out, spec.train_size, spec.seed)
    cfg = VAEGANConfig.for_dataset(spec.dataset.name, ds.image_shape, cls, **{**spec.vaegan, "lam": float(lam)})
    model, losses = train_vaegan(ds.train.x[train_rows], cfg, seed=spec.seed, device=device)
    held_out = ds.train.subset(held_rows)
    qcfg = QualityConfig(n_samples=spec.objective.held_out, frechet_weight=spec.objective.frechet_weight)
    if has_true_manifold(ds):
        true = TrueManifold.from_dataset(ds).to(device)
        scores = fonts_quality(model, true, ds.train.subset(train_rows), held_out, qcfg, spec.seed)
    else:
        x = held_out.batch(device=device).x
        scores = learned_quality(model, x, _load_features(spec, ds, device), qcfg, spec.seed)
    return {METRIC: float(scores["combined"]), **{k: float(v) for k, v in scores.items()},
            "loss_enc": losses.get("loss_enc", float("nan")), "l1_train": losses.get("l1", float("nan"))}


# -- the Optuna studies' bookkeeping (no Ray; the Tune glue is raysweep.tune.lambda_search) ----

def study(spec: LambdaSpec, cls: Optional[int]):
    return optuna.create_study(study_name=spec.study_name(cls), storage=spec.study_url(),
                               direction="minimize", load_if_exists=True)


def completed(study) -> list:
    return [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]


def _or_nan(value: Optional[float]) -> float:
    """A table cell for a value that may be missing (the paper's lambda on another data set)."""
    return float("nan") if value is None else float(value)


def best_row(spec: LambdaSpec, cls: Optional[int]) -> dict[str, Any]:
    trials = completed(study(spec, cls))
    if not trials:
        raise UserError(f"study {spec.study_name(cls)!r} has no completed trial; see the trial errors under "
                        f"{storage.join(spec.out_dir(), 'tune')} and re-run")
    best = min(trials, key=lambda t: t.value)
    return {"dataset": spec.dataset.name, "kind": spec.kind, "class": AGNOSTIC if cls is None else int(cls),
            "lambda": float(best.params["lambda"]), METRIC: float(best.value),
            "paper_lambda": _or_nan(paper_lambda(spec.dataset.name, cls)), "n_trials": len(trials),
            # not the study_db URL: it may hold a database password, and this table goes to shared storage
            "study_name": spec.study_name(cls)}


def search_classes(spec: LambdaSpec, n_classes: int) -> list[Optional[int]]:
    if spec.kind == "data":
        return [None]
    classes = spec.classes if spec.classes is not None else list(range(n_classes))
    bad = [c for c in classes if c >= n_classes]
    if bad:
        raise UserError(f"classes: {bad[0]} is not a label of {spec.dataset.name} (0..{n_classes - 1}); fix the list")
    return classes


def write_table(df: pd.DataFrame, path: str) -> None:
    storage.write_parquet(path, pa.Table.from_pandas(df, preserve_index=False))


def read_table(path: str) -> pd.DataFrame:
    table = storage.read_parquet(path)
    if table is None:
        raise UserError(f"lambda table {path!r} not found; run `raysweep tune-lambda SPEC` first or fix the path")
    return table.to_pandas()


def read_lambda_table(path: Optional[str], kind: str = "class") -> dict[Optional[int], float]:
    """{class (None for the class-agnostic model): lambda} from a tune-lambda Parquet table."""
    if path is None:
        return {}
    df = read_table(path)
    df = df[df["kind"] == kind]
    return {(None if c < 0 else int(c)): float(lam) for c, lam in zip(df["class"], df["lambda"])}
