"""Optuna picks the VAE-GAN weight lambda (Eq. 7-8) per class, through Ray Tune.

One Optuna study per class (OptunaSearch cannot be mixed with grid_search), lambda log-uniform in
the spec's range, `budget` completed trials per class counted in the study itself (the studies'
bookkeeping is raysweep.manifold.lambda_score), so a re-run after an interruption only runs what is
missing. Each trial is raysweep.manifold.lambda_score's
`score_lambda`; the best lambda per class goes to `<storage>/<name>/lambda.parquet`, which the
manifold actors read (manifolds.options.lambda_table).
"""
from __future__ import annotations

from typing import Any, Optional

import optuna
import pandas as pd
from ray import tune

from raysweep._core import storage
from raysweep.config.lambda_spec import LambdaSpec
from raysweep.data import load_dataset
from raysweep._core.device import default_device
from raysweep.manifold.lambda_score import (
    AGNOSTIC, METRIC, best_row, completed, ensure_feature_classifier, has_true_manifold, score_lambda, search_classes,
    study, write_table,
)
from raysweep.tune.vaegan_trainable import trial_resources


def lambda_trial(config: dict[str, Any], *, spec_json: str, cls: Optional[int]) -> None:
    """Tune function trainable: one lambda, one report with the objective (what Optuna reads)."""
    spec = LambdaSpec.model_validate_json(spec_json)
    tune.report(score_lambda(spec, cls, config["lambda"]))


def _tune_dir(spec: LambdaSpec) -> str:
    return storage.join(spec.out_dir(), "tune")


def search_class(spec: LambdaSpec, cls: Optional[int]) -> None:
    """Run the trials this class's study still lacks to reach `budget` completed trials."""
    from ray.tune.search.optuna import OptunaSearch  # lazy: 1.5 s at import (measured), for the search only

    done = len(completed(study(spec, cls)))
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


def run_lambda_search(spec: LambdaSpec) -> pd.DataFrame:
    """Tune lambda for every class of the spec; write and return the lambda table.

    Needs a running Ray (ray.init). Re-running resumes: each study continues its trial count.
    """
    ds = load_dataset(spec.dataset.name, **spec.dataset.options)  # also fills the data cache once
    out = storage.resolve(spec.out_dir())
    storage.make_dir(out)
    if not has_true_manifold(ds):
        ensure_feature_classifier(spec, ds, default_device())
    rows = []
    for cls in search_classes(spec, ds.n_classes):
        search_class(spec, cls)
        rows.append(best_row(spec, cls))
    table = pd.DataFrame(rows)
    write_table(table, spec.table_path())
    return table
