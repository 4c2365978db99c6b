"""One trial through raysweep.trial's entry point (run_trial), without Ray: the row it returns has
the columns the trial schema promises (and nothing the schema would refuse), the test error is a
rate, the same seed gives the same numbers (a different seed is the control that they can differ),
and on_epoch sees every epoch in order."""
from __future__ import annotations

import math

import numpy as np
import pytest

from raysweep.config import parse_spec
from raysweep.resolve import catalog
from raysweep.resolve.trials import expand
from raysweep.results.rows import ok_tables
from raysweep.results.schema import ATTACK_METRICS, DISTANCE_METRICS, EXAMPLE_RECORD_COLUMNS, trial_schema
from raysweep.trial.protocol import TrialHooks, TrialOutput
from raysweep.trial.run import run_trial

EPOCHS = 2


def _spec(seed: int):
    return parse_spec({
        "name": "one-trial",
        "dataset": {"name": "fonts", "options": {"max_fonts": 2, "train_size": 200, "test_size": 60}},
        "grid": {"n": [40], "seed": [seed]}, "strategies": [{"name": "normal"}],
        "train": {"epochs": EPOCHS, "batch_size": 20},
        "evaluate": {"attacks": [{"name": "linf", "samples": 12, "restarts": 1}],
                     "distances": [{"method": "true", "attack": "linf", "samples": 6}]},
    })


def _run(seed: int) -> tuple:
    spec = _spec(seed)
    cfg = expand(spec)[0]
    seen: list[tuple[int, dict]] = []
    out = run_trial(cfg, TrialHooks(on_epoch=lambda epoch, metrics, state_fn: seen.append((epoch, metrics))))
    return spec, cfg, out, seen


@pytest.fixture(scope="module")
def trials(tmp_path_factory):
    """Seed 3 twice and seed 4 once, in a private cache (one module-wide set-up: three tiny trials)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAYSWEEP_CACHE", str(tmp_path_factory.mktemp("cache")))
        catalog.load()
        yield {"a": _run(3), "b": _run(3), "other": _run(4)}


def test_the_row_has_the_columns_the_trial_schema_promises(trials):
    spec, cfg, out, _ = trials["a"]
    schema = trial_schema(spec)
    attack, dist = spec.evaluate.attacks[0].key, spec.evaluate.distances[0].key
    assert set(out.row) <= set(schema.names)  # nothing the schema would refuse
    for m in ATTACK_METRICS:
        assert f"{attack}.{m}" in out.row
    for m in DISTANCE_METRICS:
        assert f"{dist}.{m}" in out.row
    assert {"test_error", "train_error", "clean_acc", "train_time_s", "eval_time_s"} <= set(out.row)
    assert set(EXAMPLE_RECORD_COLUMNS) <= set(out.examples)
    trial, examples = ok_tables(cfg, out.row, out.examples, schema, started_at=0.0)
    assert trial.num_rows == 1 and trial.schema.equals(schema)
    assert examples.num_rows == 12  # one per attacked sample and restart
    # control: the schema check refuses a column it does not declare
    with pytest.raises(ValueError, match="not in the schema"):
        ok_tables(cfg, {**out.row, "made_up": 1.0}, out.examples, schema)


def test_test_error_is_a_rate_and_attack_numbers_are_rates(trials):
    spec, _, out, _ = trials["a"]
    attack = spec.evaluate.attacks[0].key
    assert 0.0 <= out.row["test_error"] <= 1.0
    assert 0.0 <= out.row[f"{attack}.success_rate_any"] <= 1.0
    assert out.row[f"{attack}.n_samples"] == 12
    assert 0.0 < out.row[f"{attack}.mean_linf"] <= spec.evaluate.attacks[0].params.get("eps", 0.3) + 1e-6


def test_same_seed_same_numbers_and_another_seed_differs(trials):
    _, cfg_a, a, _ = trials["a"]
    _, cfg_b, b, _ = trials["b"]
    _, cfg_o, other, _ = trials["other"]
    assert cfg_a.trial_id == cfg_b.trial_id != cfg_o.trial_id
    measured = [k for k, v in a.row.items() if isinstance(v, float) and not k.endswith("_time_s")
                and k not in ("started_at", "finished_at")]
    assert "test_error" in measured
    for k in measured:
        assert a.row[k] == b.row[k] or (math.isnan(a.row[k]) and math.isnan(b.row[k])), k
    np.testing.assert_array_equal(a.examples["adv_pred"], b.examples["adv_pred"])
    assert [e["test_error"] for e in a.epochs] == [e["test_error"] for e in b.epochs]
    # control: the comparison can fail -- another seed trains another model
    assert [e["train_loss"] for e in a.epochs] != [e["train_loss"] for e in other.epochs]


def test_on_epoch_sees_every_epoch_in_order(trials):
    _, _, out, seen = trials["a"]
    assert [e for e, _ in seen] == list(range(EPOCHS))  # on_epoch counts from 0, the epochs table from 1
    assert [r["epoch"] for r in out.epochs] == list(range(1, EPOCHS + 1))
    assert all(0.0 <= m["sample_test_error"] <= 1.0 for _, m in seen)
