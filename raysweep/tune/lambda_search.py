"""Optuna picks the VAE-GAN weight lambda (Eq. 7-8) per class, through Ray Tune (issue 5 item 5).

One Optuna study per class (OptunaSearch cannot be mixed with grid_search), lambda log-uniform in
the spec's range, `budget` completed trials per class counted in the study itself, so a re-run
after an interruption only runs what is missing. Each trial trains one VAE-GAN with its lambda on
the class's training images and returns the objective of raysweep.manifold.quality (lower is
better): on FONTS the true-manifold distance of prior samples plus that of reconstructions; else
held-out L1 + frechet_weight * Frechet distance in a classifier's features (the classifier is
trained once per search, before the studies). The best lambda per class goes to
`<storage>/<name>/lambda.parquet`; the manifold actors read it (ManifoldOptions.lambda_table).
"""
from __future__ import annotations

import io
import os
from typing import Any, Optional

import pandas as pd
import torch

from raysweep.config.lambda_spec import LambdaSpec
from raysweep.device import default_device
from raysweep.errors import UserError
from raysweep.tune.vaegan_trainable import class_rows, load_torch, read_bytes, save_torch, write_bytes

METRIC = "objective"
AGNOSTIC = -1  # the class column of the class-agnostic model's row


def trial_resources(cpu: float, gpu: float) -> dict[str, float]:
    """Tune resources; the GPU share is dropped (one warning) on a cluster without GPUs."""
    import ray

    if gpu > 0 and ray.cluster_resources().get("GPU", 0) <= 0:
        print("raysweep: warning: the cluster has no GPUs; lambda trials run on CPU")
        gpu = 0.0
    return {"cpu": cpu, "gpu": gpu}  # always name CPU: a GPU-only request gets 0 CPUs


# -- one trial (no Ray in these functions) ------------------------------------------------------

def _feature_path(spec: LambdaSpec) -> str:
    return f"{spec.out_dir()}/feature_classifier.pt"


def ensure_feature_classifier(spec: LambdaSpec, ds, device: torch.device) -> None:
    """Train the classifier whose features the Frechet distance uses, once per search (not FONTS)."""
    if read_bytes(_feature_path(spec)) is not None:
        return
    from raysweep.models.classifiers import build_model
    from raysweep.training.loop import TrainConfig, train
    from raysweep.training.strategy import STRATEGIES, StrategyContext
    import raysweep.training.strategies  # noqa: F401  (registers "normal")

    model = build_model(spec.objective.classifier, ds.image_shape, ds.n_classes, seed=spec.seed)
    strategy = STRATEGIES.build("normal", ctx=StrategyContext(device=device))
    train(model, ds.train, strategy, TrainConfig(epochs=spec.objective.classifier_epochs), seed=spec.seed, device=device)
    save_torch(_feature_path(spec), {k: v.cpu() for k, v in model.state_dict().items()})


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
    from raysweep.models.classifiers import build_model

    model = build_model(spec.objective.classifier, ds.image_shape, ds.n_classes)
    model.load_state_dict(load_torch(_feature_path(spec)))
    return penultimate_features(model.to(device))


def score_lambda(spec: LambdaSpec, cls: Optional[int], lam: float, device: Optional[torch.device] = None) -> dict[str, float]:
    """Train one VAE-GAN with weight `lam` on class `cls` (None: all classes) and score it."""
    from raysweep.data.dataset import load_dataset
    from raysweep.manifold.quality import QualityConfig, fonts_quality, learned_quality
    from raysweep.manifold.vaegan_train import VAEGANConfig, train_vaegan

    device = device or default_device()
    ds = load_dataset(spec.dataset.name, **spec.dataset.options)
    train_rows = class_rows(ds.train.y, cls, spec.train_size, spec.seed)
    cfg = VAEGANConfig.for_dataset(spec.dataset.name, cls, **{**spec.vaegan, "lam": float(lam)})
    model, losses = train_vaegan(ds.train.x[train_rows], cfg, seed=spec.seed, device=device)
    held_out = ds.test.subset(class_rows(ds.test.y, cls, spec.objective.held_out, spec.seed))
    qcfg = QualityConfig(n_samples=spec.objective.held_out, frechet_weight=spec.objective.frechet_weight)
    if _has_true_manifold(ds):
        true = _true_manifold(ds).to(device)
        scores = fonts_quality(model, true, ds.train.subset(class_rows(ds.train.y, cls, None, 0)), held_out, qcfg, spec.seed)
    else:
        x = held_out.batch(device=device).x
        scores = learned_quality(model, x, _load_features(spec, ds, device), qcfg, spec.seed)
    return {METRIC: float(scores["combined"]), **{k: float(v) for k, v in scores.items()},
            "loss_enc": losses.get("loss_enc", float("nan")), "l1_train": losses.get("l1", float("nan"))}


def _has_true_manifold(ds) -> bool:
    return ds.train.z is not None and "prototypes" in ds.meta


def _true_manifold(ds):
    from raysweep.manifold.true import TrueManifold

    return TrueManifold.from_dataset(ds)


def lambda_trial(config: dict[str, Any], *, spec_json: str, cls: Optional[int]) -> None:
    """Tune function trainable: one lambda, one report with the objective (what Optuna reads)."""
    from ray import tune

    spec = LambdaSpec.model_validate_json(spec_json)
    tune.report(score_lambda(spec, cls, config["lambda"]))


# -- one study per class (Ray Tune + OptunaSearch) ---------------------------------------------

def _study(spec: LambdaSpec, cls: Optional[int]):
    import optuna

    return optuna.create_study(study_name=spec.study_name(cls), storage=spec.study_url(),
                               direction="minimize", load_if_exists=True)


def completed(study) -> list:
    import optuna

    return [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]


def search_class(spec: LambdaSpec, cls: Optional[int]) -> None:
    """Run the trials this class's study still lacks to reach `budget` completed trials."""
    import optuna
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    done = len(completed(_study(spec, cls)))
    todo = spec.budget - done
    if todo <= 0:
        return
    searcher = OptunaSearch(
        space={"lambda": optuna.distributions.FloatDistribution(spec.lambda_range.low, spec.lambda_range.high, log=True)},
        metric=METRIC, mode="min", study_name=spec.study_name(cls),
        storage=optuna.storages.RDBStorage(spec.study_url()),
        # A resumed run must not replay the first run's proposals: the seed moves on with `done`.
        seed=spec.seed * 1_000_003 + (cls if cls is not None else AGNOSTIC) * 1009 + done,
    )
    trainable = tune.with_parameters(lambda_trial, spec_json=spec.model_dump_json(), cls=cls)
    tuner = tune.Tuner(
        tune.with_resources(trainable, trial_resources(spec.resources.cpu, spec.resources.gpu)),
        tune_config=tune.TuneConfig(search_alg=searcher, num_samples=todo, max_concurrent_trials=spec.concurrency),
        run_config=tune.RunConfig(name=f"{spec.study_name(cls)}-from{done}", storage_path=_tune_dir(spec),
                                  failure_config=tune.FailureConfig(max_failures=1), verbose=0),
    )
    tuner.fit()


def _tune_dir(spec: LambdaSpec) -> str:
    out = spec.out_dir()
    return f"{out}/tune" if "://" in out else os.path.abspath(f"{out}/tune")


def best_row(spec: LambdaSpec, cls: Optional[int]) -> dict[str, Any]:
    from raysweep.manifold.vaegan_train import paper_lambda

    study = _study(spec, cls)
    trials = completed(study)
    if not trials:
        raise UserError(f"study {spec.study_name(cls)!r} has no completed trial; see the trial errors under "
                        f"{_tune_dir(spec)} and re-run")
    best = min(trials, key=lambda t: t.value)
    return {"dataset": spec.dataset.name, "kind": spec.kind, "class": AGNOSTIC if cls is None else int(cls),
            "lambda": float(best.params["lambda"]), METRIC: float(best.value),
            "paper_lambda": float(paper_lambda(spec.dataset.name, cls)), "n_trials": len(trials),
            "study_name": spec.study_name(cls), "study_db": spec.study_url()}


# -- the whole search ---------------------------------------------------------------------------

def search_classes(spec: LambdaSpec, n_classes: int) -> list[Optional[int]]:
    if spec.kind == "data":
        return [None]
    classes = spec.classes if spec.classes is not None else list(range(n_classes))
    bad = [c for c in classes if c >= n_classes]
    if bad:
        raise UserError(f"classes: {bad[0]} is not a label of {spec.dataset.name} (0..{n_classes - 1}); fix the list")
    return classes


def run_lambda_search(spec: LambdaSpec) -> pd.DataFrame:
    """Tune lambda for every class of the spec; write and return the lambda table.

    Needs a running Ray (ray.init). Re-running resumes: each study continues its trial count.
    """
    from raysweep.data.dataset import load_dataset

    ds = load_dataset(spec.dataset.name, **spec.dataset.options)  # also fills the data cache once
    if "://" not in spec.out_dir():
        os.makedirs(spec.out_dir(), exist_ok=True)
    if not _has_true_manifold(ds):
        ensure_feature_classifier(spec, ds, default_device())
    rows = []
    for cls in search_classes(spec, ds.n_classes):
        search_class(spec, cls)
        rows.append(best_row(spec, cls))
    table = pd.DataFrame(rows)
    write_table(table, spec.table_path())
    return table


def write_table(df: pd.DataFrame, path: str) -> None:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    write_bytes(path, buf.getvalue())  # temporary name + rename: never half a table


def read_table(path: str) -> pd.DataFrame:
    data = read_bytes(path)
    if data is None:
        raise UserError(f"lambda table {path!r} not found; run `raysweep tune-lambda SPEC` first or fix the path")
    return pd.read_parquet(io.BytesIO(data))
