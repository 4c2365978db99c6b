"""One trial of a sweep, without Ray: one classifier trained and evaluated (Sec. 3), or a pack of
them run in one process.

protocol.py (what a trial function is handed and returns), artifacts.py (the cached data set,
the manifolds and the transfer source model a trial is provided with), prepare.py (subset,
model, strategy, training), attack_runs.py (each configured attack, built once per trial),
distances.py (distances of adversarial examples to the manifold), evaluate.py (test error,
attacks, distances, the row), run.py (`run_trial`, the default trial function), pack.py and
pack_eval.py (packed trials), source_model.py (the transfer attack's source classifier).

`raysweep.trial:run_trial` is the spec's default `trial:` (DEFAULT_TRIAL_FN, part of every
trial id), so it is importable from the package itself.
"""
from raysweep.trial.run import run_trial

__all__ = ["run_trial"]
